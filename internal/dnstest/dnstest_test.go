package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// exchange asks the server directly, for what net.Resolver hides (rcodes).
func exchange(t *testing.T, s *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("exchange %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

func testServer(t *testing.T) *Server {
	return Start(t,
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. IN TXT \"v=spf1 -all\"",
		"mx1.example.test. IN A 127.0.0.2",
		"mx1.example.test. IN AAAA ::1",
		"mx2.example.test. IN A 127.0.0.3",
		"nomx.test. IN A 127.0.0.4",
		"nullmx.test. IN MX 0 .",
		"alias.example.test. IN CNAME mx1.example.test.",
		"dangling.example.test. IN CNAME gone.example.test.",
		"relative.test A 127.0.0.5",
		"sel._domainkey.example.test. IN TXT \"v=DKIM1; k=rsa; p=abc\"",
	)
}

func TestLookups(t *testing.T) {
	s := testServer(t)
	r := s.Resolver()

	mxs, err := r.LookupMX(ctx(t), "example.test.")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mx := range mxs {
		got = append(got, fmt.Sprintf("%s/%d", mx.Host, mx.Pref))
	}
	if strings.Join(got, " ") != "mx1.example.test./10 mx2.example.test./20" {
		t.Errorf("MX = %v", got)
	}

	if mxs, err := r.LookupMX(ctx(t), "EXAMPLE.Test."); err != nil || len(mxs) != 2 {
		t.Errorf("upper-case MX lookup = %v, %v", mxs, err)
	}

	ips, err := r.LookupIPAddr(ctx(t), "mx1.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	var ipStrs []string
	for _, ip := range ips {
		ipStrs = append(ipStrs, ip.String())
	}
	slices.Sort(ipStrs)
	if strings.Join(ipStrs, " ") != "127.0.0.2 ::1" {
		t.Errorf("IPs = %v", ipStrs)
	}

	if ips, err := r.LookupIPAddr(ctx(t), "relative.test"); err != nil || len(ips) != 1 || ips[0].String() != "127.0.0.5" {
		t.Errorf("relative record: %v, %v", ips, err)
	}

	cname, err := r.LookupCNAME(ctx(t), "alias.example.test.")
	if err != nil || cname != "mx1.example.test." {
		t.Errorf("CNAME = %q, %v", cname, err)
	}
	if ips, err := r.LookupIPAddr(ctx(t), "alias.example.test."); err != nil || len(ips) != 2 {
		t.Errorf("IPs via CNAME = %v, %v", ips, err)
	}

	txt, err := r.LookupTXT(ctx(t), "sel._domainkey.example.test.")
	if err != nil || len(txt) != 1 || txt[0] != "v=DKIM1; k=rsa; p=abc" {
		t.Errorf("TXT = %q, %v", txt, err)
	}
}

func TestNullMX(t *testing.T) {
	s := testServer(t)
	mxs, err := s.Resolver().LookupMX(ctx(t), "nullmx.test.")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "." || mxs[0].Pref != 0 {
		t.Fatalf("null MX = %v, %v", mxs, err)
	}
}

func TestNXDOMAINAndNODATA(t *testing.T) {
	s := testServer(t)
	cases := []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"absent.test.", dns.TypeMX, dns.RcodeNameError},
		{"nomx.test.", dns.TypeMX, dns.RcodeSuccess},                        // has A only
		{"NoMX.Test.", dns.TypeAAAA, dns.RcodeSuccess},                      // case-insensitive
		{"_domainkey.example.test.", dns.TypeTXT, dns.RcodeSuccess},         // empty non-terminal
		{"test.", dns.TypeSOA, dns.RcodeSuccess},                            // empty non-terminal
		{"x.sel._domainkey.example.test.", dns.TypeTXT, dns.RcodeNameError}, // below a leaf
		{"dangling.example.test.", dns.TypeA, dns.RcodeNameError},           // CNAME to nowhere
	}
	for _, tc := range cases {
		for _, network := range []string{"udp", "tcp"} {
			m := exchange(t, s, network, tc.name, tc.qtype)
			if m.Rcode != tc.rcode || !m.Authoritative {
				t.Errorf("%s %s over %s: rcode %s aa=%v, want %s", tc.name, dns.TypeToString[tc.qtype], network,
					dns.RcodeToString[m.Rcode], m.Authoritative, dns.RcodeToString[tc.rcode])
			}
			if tc.name != "dangling.example.test." && len(m.Answer) != 0 {
				t.Errorf("%s: answer %v, want none", tc.name, m.Answer)
			}
		}
	}

	// Go's resolver: both are "not found".
	r := s.Resolver()
	for _, name := range []string{"absent.test.", "nomx.test."} {
		_, err := r.LookupMX(ctx(t), name)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound || de.IsTemporary {
			t.Errorf("LookupMX(%s) = %v, want not found", name, err)
		}
	}
	if ips, err := r.LookupIPAddr(ctx(t), "nomx.test."); err != nil || len(ips) != 1 {
		t.Errorf("A of nomx.test = %v, %v", ips, err)
	}
}

func TestLongTXT(t *testing.T) {
	key := "v=DKIM1; k=rsa; p=" + strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 12) // 402 bytes
	s := Start(t, fmt.Sprintf("big._domainkey.example.test. IN TXT %q", key))
	m := exchange(t, s, "udp", "big._domainkey.example.test.", dns.TypeTXT)
	if len(m.Answer) != 1 {
		t.Fatalf("answer = %v", m.Answer)
	}
	if strs := m.Answer[0].(*dns.TXT).Txt; len(strs) != 2 || len(strs[0]) != 255 {
		t.Errorf("TXT strings lengths = %d", len(strs))
	}
	txt, err := s.Resolver().LookupTXT(ctx(t), "big._domainkey.example.test.")
	if err != nil || len(txt) != 1 || txt[0] != key {
		t.Fatalf("LookupTXT = %q, %v", txt, err)
	}

	// An answer over the UDP limit is truncated and retried over TCP.
	huge := strings.Repeat("k", 3000)
	if err := s.Add(fmt.Sprintf("huge.example.test. IN TXT %q", huge)); err != nil {
		t.Fatal(err)
	}
	if m := exchange(t, s, "udp", "huge.example.test.", dns.TypeTXT); !m.Truncated {
		t.Error("3000-byte TXT over UDP without EDNS0 not truncated")
	}
	txt, err = s.Resolver().LookupTXT(ctx(t), "huge.example.test.")
	if err != nil || len(txt) != 1 || txt[0] != huge {
		t.Fatalf("LookupTXT(huge) = %d records, %v", len(txt), err)
	}
}

func TestServFailAndRestore(t *testing.T) {
	s := testServer(t)
	s.ServFail("Example.TEST")
	r := s.Resolver()
	_, err := r.LookupMX(ctx(t), "example.test.")
	var de *net.DNSError
	if !errors.As(err, &de) || de.IsNotFound || !de.IsTemporary {
		t.Fatalf("LookupMX on SERVFAIL = %#v, want temporary, not not-found", err)
	}
	if m := exchange(t, s, "udp", "example.test.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode = %s", dns.RcodeToString[m.Rcode])
	}
	// Other names are unaffected.
	if _, err := r.LookupIPAddr(ctx(t), "mx1.example.test."); err != nil {
		t.Error(err)
	}
	s.Restore("example.test.")
	if _, err := r.LookupMX(ctx(t), "example.test."); err != nil {
		t.Errorf("after Restore: %v", err)
	}
}

func TestDrop(t *testing.T) {
	s := testServer(t)
	s.Drop("example.test.")
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Resolver().LookupMX(c, "example.test.")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout || de.IsNotFound {
		t.Fatalf("LookupMX on a dropped name = %#v, want timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("lookup took %v despite a 300ms deadline", d)
	}
	// Over TCP too.
	cl := &dns.Client{Net: "tcp", Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeMX)
	if _, _, err := cl.Exchange(m, s.Addr()); err == nil {
		t.Error("TCP query for a dropped name was answered")
	}
	if !slices.Contains(s.Queries(), "example.test. MX") {
		t.Errorf("Queries = %v", s.Queries())
	}
	s.Restore("example.test.")
	if _, err := s.Resolver().LookupMX(ctx(t), "example.test."); err != nil {
		t.Errorf("after Restore: %v", err)
	}
}

func TestAddRemove(t *testing.T) {
	s := Start(t)
	r := s.Resolver()
	if _, err := r.LookupMX(ctx(t), "late.test."); err == nil {
		t.Fatal("empty server answered")
	}
	if err := s.Add("late.test. 60 IN MX 5 mx.late.test."); err != nil {
		t.Fatal(err)
	}
	if mxs, err := r.LookupMX(ctx(t), "late.test."); err != nil || len(mxs) != 1 {
		t.Fatalf("after Add: %v, %v", mxs, err)
	}
	s.Remove("LATE.test.")
	if m := exchange(t, s, "udp", "late.test.", dns.TypeMX); m.Rcode != dns.RcodeNameError {
		t.Errorf("after Remove: %s", dns.RcodeToString[m.Rcode])
	}
	if m := exchange(t, s, "udp", "test.", dns.TypeMX); m.Rcode != dns.RcodeNameError {
		t.Errorf("ancestor after Remove: %s", dns.RcodeToString[m.Rcode])
	}
	for _, bad := range []string{"late.test. IN MX ten mx.", "", "; just a comment", "x.test. IN BOGUS 1"} {
		if err := s.Add("ok.test. IN A 127.0.0.1", bad); err == nil {
			t.Errorf("Add(%q) succeeded", bad)
		}
	}
	if m := exchange(t, s, "udp", "ok.test.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Error("a failed Add added records")
	}
	if _, err := New("bad record"); err == nil {
		t.Error("New accepted a bad record")
	}
}

func TestConcurrentAndClose(t *testing.T) {
	s, err := New("a.test. IN A 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r := s.Resolver()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				name := fmt.Sprintf("n%d-%d.test.", i, j)
				if err := s.Add(name + " IN A 127.0.0.1"); err != nil {
					t.Error(err)
					return
				}
				if _, err := r.LookupIPAddr(context.Background(), name); err != nil {
					t.Error(err)
					return
				}
				if j%5 == 0 {
					s.ServFail(name)
					s.Restore(name)
					s.Remove(name)
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := r.LookupIPAddr(c, "a.test."); err == nil {
		t.Error("lookup succeeded after Close")
	}
}

func TestSetAD(t *testing.T) {
	s := Start(t,
		"_25._tcp.mx.signed.test. IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"mx.signed.test. IN A 127.0.0.2",
		"mx.unsigned.signed.test. IN A 127.0.0.3",
	)
	if r := exchange(t, s, "udp", "_25._tcp.mx.signed.test.", dns.TypeTLSA); r.AuthenticatedData || len(r.Answer) != 1 {
		t.Fatalf("before SetAD: AD %v, %d answers", r.AuthenticatedData, len(r.Answer))
	}
	s.SetAD("signed.test", true)
	s.SetAD("unsigned.signed.test", false)
	r := exchange(t, s, "udp", "_25._tcp.mx.signed.test.", dns.TypeTLSA)
	if !r.AuthenticatedData {
		t.Error("TLSA answer of a signed zone without AD")
	}
	if tlsa, ok := r.Answer[0].(*dns.TLSA); !ok || tlsa.Usage != 3 || tlsa.Selector != 1 || tlsa.MatchingType != 1 {
		t.Errorf("TLSA answer %v", r.Answer[0])
	}
	if r := exchange(t, s, "udp", "nothing.signed.test.", dns.TypeA); !r.AuthenticatedData || r.Rcode != dns.RcodeNameError {
		t.Errorf("signed NXDOMAIN: AD %v rcode %d", r.AuthenticatedData, r.Rcode)
	}
	if r := exchange(t, s, "udp", "mx.unsigned.signed.test.", dns.TypeA); r.AuthenticatedData {
		t.Error("AD set in a child zone marked unsigned")
	}
}
