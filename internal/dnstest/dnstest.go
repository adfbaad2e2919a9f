// Package dnstest runs an authoritative DNS server on the loopback
// interface for tests, built on github.com/miekg/dns. It answers from
// records given in zone-file syntax (RFC 1035 section 5) over UDP and TCP
// on the same port, and can fail names on purpose (SERVFAIL, no answer).
//
// [Server.Resolver] returns a *net.Resolver that sends every query to the
// server, to be injected wherever code takes a resolver:
//
//	dns := dnstest.Start(t,
//		"example.test. 300 IN MX 10 mx1.example.test.",
//		"mx1.example.test. IN A 127.0.0.2",
//	)
//	mxs, err := dns.Resolver().LookupMX(ctx, "example.test.")
//
// Programs started by a test (testscript) cannot take a *net.Resolver; give
// them [Server.Addr] instead, "127.0.0.1:PORT", e.g. through a profile's
// resolver setting.
//
// # Answers
//
//   - Names are case-insensitive; relative names are taken as absolute
//     ("example.test" is "example.test.").
//   - A name with records of other types only, or an empty non-terminal
//     (a name with nothing but names below it), answers NOERROR with no
//     records (NODATA). Any other name answers NXDOMAIN. Go's resolver
//     reports both as a *net.DNSError with IsNotFound set.
//   - CNAMEs are followed within the server's data.
//   - TXT strings longer than 255 bytes are split into several strings of
//     one record, as DKIM keys need; LookupTXT joins them again.
//   - The AD bit is unset unless [Server.SetAD] marks the name's zone
//     as signed; TLSA records ("_25._tcp.mx.example.test. IN TLSA 3 1 1
//     HEX") are served like any other type.
//   - UDP answers larger than the client's buffer (512 bytes, or its EDNS0
//     size) are truncated with TC set, so the client retries over TCP.
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running DNS test server. Its methods are safe for concurrent
// use.
type Server struct {
	udp, tcp *dns.Server
	addr     string
	served   sync.WaitGroup

	mu       sync.Mutex
	zone     map[string][]dns.RR // canonical owner name -> records
	names    map[string]int      // canonical names that exist (owners and their ancestors) -> record count below
	servfail map[string]bool
	drop     map[string]bool
	secure   map[string]bool // zones whose answers carry the AD bit
	queries  []string

	closeOnce sync.Once
	closeErr  error
}

// New starts a server answering with records, each one resource record in
// zone-file syntax, e.g.
//
//	"example.test. 300 IN MX 10 mx1.example.test."
//	"mx1.example.test. IN A 127.0.0.2"
//	"mx1.example.test. IN AAAA ::1"
//	"nullmx.test. IN MX 0 ."                       (null MX, RFC 7505)
//	`sel._domainkey.example.test. IN TXT "v=DKIM1; k=rsa; p=MIIB…"`
//
// The TTL defaults to 3600 and the class to IN. The server listens on
// 127.0.0.1 with the same random port for UDP and TCP and is ready when New
// returns. Call [Server.Close] when done.
func New(records ...string) (*Server, error) {
	s := &Server{
		zone: map[string][]dns.RR{}, names: map[string]int{},
		servfail: map[string]bool{}, drop: map[string]bool{}, secure: map[string]bool{},
	}
	if err := s.Add(records...); err != nil {
		return nil, err
	}
	pc, l, err := listen()
	if err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	started := make(chan struct{}, 2)
	errc := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		s.served.Add(1)
		go func() {
			defer s.served.Done()
			if err := srv.ActivateAndServe(); err != nil {
				errc <- err
			}
		}()
	}
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			s.Close()
			return nil, fmt.Errorf("dnstest: %w", err)
		}
	}
	return s, nil
}

// listen opens UDP and TCP on one loopback port.
func listen() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = err // the TCP port was taken; try another
	}
	return nil, nil, lastErr
}

// Start is [New] for tests: it fails t on error and closes the server in
// t.Cleanup.
func Start(t testing.TB, records ...string) *Server {
	t.Helper()
	s, err := New(records...)
	if err != nil {
		t.Fatalf("dnstest.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Addr returns "127.0.0.1:PORT", the address for both UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Resolver returns a resolver that sends every query to this server (Go's
// own resolver; /etc/resolv.conf's servers are not used, but /etc/hosts
// still is, and its search list applies to names with no dot — use fully
// qualified names such as "example.test."). Error texts still name the
// resolv.conf server; don't assert on them.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.addr)
		},
	}
}

// Add adds records (same syntax as [New]). If one does not parse, none is
// added.
func (s *Server) Add(records ...string) error {
	rrs := make([]dns.RR, 0, len(records))
	for _, rec := range records {
		rr, err := dns.NewRR(rec)
		if err != nil {
			return fmt.Errorf("dnstest: record %q: %w", rec, err)
		}
		if rr == nil {
			return fmt.Errorf("dnstest: record %q: no resource record", rec)
		}
		if txt, ok := rr.(*dns.TXT); ok {
			txt.Txt = splitTXT(txt.Txt)
		}
		rr.Header().Name = dns.CanonicalName(rr.Header().Name)
		rrs = append(rrs, rr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		name := rr.Header().Name
		s.zone[name] = append(s.zone[name], rr)
		for _, n := range ancestors(name) {
			s.names[n]++
		}
	}
	return nil
}

// Remove deletes every record of the given names. Names that had records
// only below them stay as empty non-terminals (NODATA).
func (s *Server) Remove(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		name = dns.CanonicalName(name)
		for range s.zone[name] {
			for _, n := range ancestors(name) {
				if s.names[n]--; s.names[n] <= 0 {
					delete(s.names, n)
				}
			}
		}
		delete(s.zone, name)
	}
}

// ServFail makes the server answer SERVFAIL for name, any type. Go's
// resolver reports a *net.DNSError with IsTemporary set and IsNotFound
// unset.
func (s *Server) ServFail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail[dns.CanonicalName(name)] = true
}

// Drop makes the server ignore queries for name, any type, so lookups run
// into the caller's timeout. Use a context with a short deadline: Go's
// resolver otherwise waits 5 s per try (resolv.conf "timeout").
func (s *Server) Drop(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop[dns.CanonicalName(name)] = true
}

// SetAD makes the server set the AD (authenticated data) bit, or stop
// setting it, on every answer for zone and the names below it, as a
// validating resolver does for a DNSSEC-signed zone (RFC 4035 section
// 3.2.3). The innermost zone given decides, so a signed parent can have an
// unsigned child. Answers carry no signatures: DANE code trusts the AD bit
// of the resolver it is configured with, which is what this simulates.
func (s *Server) SetAD(zone string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secure[dns.CanonicalName(zone)] = on
}

// authenticated reports whether answers for name carry AD; the caller
// holds s.mu.
func (s *Server) authenticated(name string) bool {
	for _, z := range ancestors(name) {
		if on, ok := s.secure[z]; ok {
			return on
		}
	}
	return false
}

// Restore undoes [Server.ServFail] and [Server.Drop] for name.
func (s *Server) Restore(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = dns.CanonicalName(name)
	delete(s.servfail, name)
	delete(s.drop, name)
}

// Queries returns the questions received so far, in arrival order, each as
// "name. TYPE" with the name lowercased, e.g. "example.test. MX". Go's
// resolver asks A and AAAA in parallel, so their order varies.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

// Close stops both listeners and waits for the server goroutines. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if srv == nil {
				continue
			}
			if err := srv.Shutdown(); err != nil {
				errs = append(errs, err)
			}
		}
		s.served.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// ServeDNS answers one query; it implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		m.SetRcode(r, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := dns.CanonicalName(q.Name)

	s.mu.Lock()
	s.queries = append(s.queries, name+" "+dns.TypeToString[q.Qtype])
	drop, servfail := s.drop[name], s.servfail[name]
	if !drop && !servfail {
		m.SetReply(r)
		s.answer(m, q)
		m.AuthenticatedData = s.authenticated(name)
	}
	s.mu.Unlock()
	if drop {
		return
	}
	if servfail {
		m.SetRcode(r, dns.RcodeServerFailure)
	}
	m.Authoritative = true
	m.RecursionAvailable = true // keeps Go's resolver from calling empty answers lame referrals

	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(opt.UDPSize(), false)
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		m.Truncate(size)
	} else {
		m.Truncate(dns.MaxMsgSize)
	}
	w.WriteMsg(m)
}

// answer fills m for q; the caller holds s.mu.
func (s *Server) answer(m *dns.Msg, q dns.Question) {
	name := dns.CanonicalName(q.Name)
	owner := q.Name // the first owner keeps the query's spelling
	for range 8 {   // CNAME chain limit
		var cname *dns.CNAME
		found := false
		for _, rr := range s.zone[name] {
			t := rr.Header().Rrtype
			if t == q.Qtype || q.Qtype == dns.TypeANY {
				c := dns.Copy(rr)
				c.Header().Name = owner
				m.Answer = append(m.Answer, c)
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found || cname == nil {
			break
		}
		c := dns.Copy(cname).(*dns.CNAME)
		c.Hdr.Name = owner
		m.Answer = append(m.Answer, c)
		name = dns.CanonicalName(cname.Target)
		owner = cname.Target
	}
	if s.names[name] == 0 {
		// The name, or the end of its CNAME chain (RFC 6604), does not exist.
		m.Rcode = dns.RcodeNameError
	}
}

// ancestors returns name and every name above it, without the root:
// "a.b.test." -> "a.b.test.", "b.test.", "test.".
func ancestors(name string) []string {
	var out []string
	for _, off := range dns.Split(name) {
		out = append(out, name[off:])
	}
	return out
}

// splitTXT splits strings over 255 bytes into 255-byte pieces.
func splitTXT(txt []string) []string {
	var out []string
	for _, t := range txt {
		for len(t) > 255 {
			out = append(out, t[:255])
			t = t[255:]
		}
		out = append(out, t)
	}
	return out
}

var _ dns.Handler = (*Server)(nil)
