package delivery

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"mailout/internal/smtptest"
	"mailout/internal/ststest"
	"mailout/message"
	"mailout/mtasts"
)

func stsPolicy(mode string, mx ...string) string {
	s := "version: STSv1\r\nmode: " + mode + "\r\n"
	for _, h := range mx {
		s += "mx: " + h + "\r\n"
	}
	return s + "max_age: 86400\r\n"
}

// stsLab is an MX lab whose domain sts.test publishes an MTA-STS policy
// served by a test HTTPS server.
type stsLab struct {
	*mxLab
	sts *ststest.Server
}

func startSTSLab(t *testing.T, policy string, opts map[string]smtptest.Options, records ...string) *stsLab {
	t.Helper()
	records = append(records, `_mta-sts.sts.test. TXT "v=STSv1; id=1"`)
	lab := &stsLab{mxLab: startLab(t, opts, records...), sts: ststest.Start(t, "sts.test")}
	lab.sts.SetPolicy("sts.test", policy)
	return lab
}

// mxSTS is an MX transport applying MTA-STS as mode says, trusting the
// MX servers' certificates as roots.
func (l *stsLab) mxSTS(mode MTASTSMode, o MXOptions) *MX {
	roots := x509.NewCertPool()
	for _, s := range l.servers {
		roots.AppendCertsFromPEM(s.CertPEM())
	}
	o.MTASTS = mode
	o.Policies = &mtasts.Fetcher{Client: l.sts.Client()}
	o.TLSConfig = &tls.Config{RootCAs: roots}
	return l.mx(o)
}

func deliverTo(t *testing.T, m *MX, rcpt string) (RecipientResult, error) {
	t.Helper()
	res, err := m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{rcpt}}, testMessage())
	if res == nil || len(res.Recipients) != 1 {
		t.Fatalf("Deliver(%s) = %+v, %v: want one recipient result", rcpt, res, err)
	}
	return res.Recipients[0], err
}

func TestMTASTSEnforce(t *testing.T) {
	lab := startSTSLab(t, stsPolicy("enforce", "*.sts.test"), map[string]smtptest.Options{
		"127.0.0.2": {},                                                   // STARTTLS stripped
		"127.0.0.3": {STARTTLS: true},                                     // certificate not for the MX name
		"127.0.0.4": {STARTTLS: true, CertHosts: []string{"mx.sts.test"}}, // as the policy wants
	},
		"sts.test. MX 10 mx.sts.test.",
		"mx.sts.test. A 127.0.0.2",
	)
	m := lab.mxSTS(MTASTSEnforce, MXOptions{})
	for _, tt := range []struct{ ip, want string }{
		{"127.0.0.2", "server does not offer STARTTLS"},
		{"127.0.0.3", "certificate"},
	} {
		lab.dns.Remove("mx.sts.test.")
		lab.dns.Add("mx.sts.test. A " + tt.ip)
		r, err := deliverTo(t, m, "a@sts.test")
		if !IsTemporary(err) || r.Status != Deferred || r.MTASTS != "enforce" {
			t.Fatalf("%s: Deliver = %+v, %v; want a deferral under the enforced policy", tt.ip, r, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "MTA-STS policy of sts.test (mode enforce)") || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: error %q names neither the policy nor %q", tt.ip, msg, tt.want)
		}
		if n := len(lab.received(tt.ip)); n != 0 {
			t.Errorf("%s received %d messages despite the policy", tt.ip, n)
		}
	}
	lab.dns.Remove("mx.sts.test.")
	lab.dns.Add("mx.sts.test. A 127.0.0.4")
	r, err := deliverTo(t, m, "b@sts.test")
	if err != nil || r.TLS != TLSByMTASTS || r.MTASTS != "enforce" {
		t.Fatalf("valid host: %+v, %v; want delivered by mta-sts", r, err)
	}
	if msgs := lab.received("127.0.0.4"); len(msgs) != 1 || !msgs[0].TLS {
		t.Errorf("valid host received %+v, want one message over TLS", msgs)
	}
	if n := lab.sts.Fetches("sts.test"); n != 1 {
		t.Errorf("policy fetched %d times for 3 deliveries within max_age, want 1", n)
	}
}

func TestMTASTSEnforceSkipsHostsNotInPolicy(t *testing.T) {
	lab := startSTSLab(t, stsPolicy("enforce", "good.sts.test"), map[string]smtptest.Options{
		"127.0.0.2": {STARTTLS: true, CertHosts: []string{"evil.sts.test"}},
		"127.0.0.3": {STARTTLS: true, CertHosts: []string{"good.sts.test"}},
	},
		"sts.test. MX 10 evil.sts.test.",
		"sts.test. MX 20 good.sts.test.",
		"evil.sts.test. A 127.0.0.2",
		"good.sts.test. A 127.0.0.3",
	)
	r, err := deliverTo(t, lab.mxSTS(MTASTSEnforce, MXOptions{}), "a@sts.test")
	if err != nil || r.Host != "good.sts.test" || r.TLS != TLSByMTASTS {
		t.Fatalf("Deliver = %+v, %v; want delivered to the policy's host", r, err)
	}
	if n := len(lab.received("127.0.0.2")); n != 0 {
		t.Errorf("the host outside the policy received %d messages", n)
	}
	lab.dns.Remove("good.sts.test.")
	r, err = deliverTo(t, lab.mxSTS(MTASTSEnforce, MXOptions{}), "b@sts.test")
	if !IsTemporary(err) || !strings.Contains(err.Error(), "not allowed by the MTA-STS policy of sts.test") {
		t.Fatalf("only a host outside the policy: %+v, %v; want a deferral naming the policy", r, err)
	}
}

func TestMTASTSTestingDeliversAndReports(t *testing.T) {
	for _, tt := range []struct {
		name, policy string
		mode         MTASTSMode
	}{
		{"published testing", stsPolicy("testing", "mx.sts.test"), MTASTSEnforce},
		{"profile testing", stsPolicy("enforce", "mx.sts.test"), MTASTSTesting},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lab := startSTSLab(t, tt.policy, map[string]smtptest.Options{"127.0.0.2": {}},
				"sts.test. MX 10 mx.sts.test.", "mx.sts.test. A 127.0.0.2")
			r, err := deliverTo(t, lab.mxSTS(tt.mode, MXOptions{}), "a@sts.test")
			if err != nil || r.TLS != TLSPlain || r.MTASTS != "testing" {
				t.Fatalf("Deliver = %+v, %v; want delivered in plaintext under a testing policy", r, err)
			}
			if !strings.Contains(r.TLSReport, "would refuse mx.sts.test: no usable STARTTLS") {
				t.Errorf("report %q", r.TLSReport)
			}
		})
	}
}

func TestMTASTSOffAndNoPolicy(t *testing.T) {
	lab := startSTSLab(t, stsPolicy("enforce", "mx.sts.test"), map[string]smtptest.Options{"127.0.0.2": {}},
		"sts.test. MX 10 mx.sts.test.", "mx.sts.test. A 127.0.0.2",
		"none.test. MX 10 mx.sts.test.")
	r, err := deliverTo(t, lab.mxSTS(MTASTSOff, MXOptions{}), "a@sts.test")
	if err != nil || r.TLS != TLSPlain || r.MTASTS != "" || lab.sts.Fetches("sts.test") != 0 {
		t.Fatalf("mta_sts off: %+v, %v, %d fetches; want plaintext delivery without lookups", r, err, lab.sts.Fetches("sts.test"))
	}
	r, err = deliverTo(t, lab.mxSTS(MTASTSEnforce, MXOptions{}), "a@none.test")
	if err != nil || r.MTASTS != "" {
		t.Fatalf("domain without a policy: %+v, %v", r, err)
	}
}

// spkiHash is the "3 1 1" TLSA data of a test server's certificate.
func spkiHash(t *testing.T, srv *smtptest.Server) string {
	t.Helper()
	block, _ := pem.Decode(srv.CertPEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

func fullCertHex(t *testing.T, srv *smtptest.Server) string {
	block, _ := pem.Decode(srv.CertPEM())
	return hex.EncodeToString(block.Bytes)
}

func TestDANE(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{
		"127.0.0.2": {STARTTLS: true},
		"127.0.0.3": {STARTTLS: true, CertHosts: []string{"ta.dane.test"}},
		"127.0.0.4": {},
	},
		"dane.test. MX 10 mx.dane.test.", "mx.dane.test. A 127.0.0.2",
		"ta.test. MX 10 ta.dane.test.", "ta.dane.test. A 127.0.0.3",
		"plain.test. MX 10 plain.dane.test.", "plain.dane.test. A 127.0.0.4",
	)
	lab.dns.SetAD("dane.test", true)
	tlsa := func(host, rec string) {
		name := fmt.Sprintf("_%d._tcp.%s.", lab.port, host)
		lab.dns.Remove(name)
		if err := lab.dns.Add(name + " TLSA " + rec); err != nil {
			t.Fatal(err)
		}
	}
	m := lab.mx(MXOptions{DANE: &DNSSECResolver{Addr: lab.dns.Addr()}})

	// DANE-EE: the certificate is valid for no MX name and no root
	// trusts it; the TLSA record alone makes it good.
	tlsa("mx.dane.test", "3 1 1 "+spkiHash(t, lab.servers["127.0.0.2"]))
	r, err := deliverTo(t, m, "a@dane.test")
	if err != nil || r.TLS != TLSByDANE {
		t.Fatalf("DANE-EE match: %+v, %v; want delivered by dane", r, err)
	}
	tlsa("mx.dane.test", "3 0 0 "+fullCertHex(t, lab.servers["127.0.0.2"]))
	if r, err := deliverTo(t, m, "a@dane.test"); err != nil || r.TLS != TLSByDANE {
		t.Fatalf("DANE-EE full certificate: %+v, %v", r, err)
	}

	tlsa("mx.dane.test", "3 1 1 "+strings.Repeat("00", 32))
	r, err = deliverTo(t, m, "b@dane.test")
	if !IsTemporary(err) || !strings.Contains(err.Error(), "matches none of its 1 TLSA records") {
		t.Fatalf("DANE-EE mismatch: %+v, %v; want a deferral", r, err)
	}
	if n := len(lab.received("127.0.0.2")); n != 2 {
		t.Errorf("mismatch: server has %d messages, want the 2 earlier ones", n)
	}

	// AD unset: the same bad record is not trusted, so it does not count.
	lab.dns.SetAD("dane.test", false)
	if r, err := deliverTo(t, m, "c@dane.test"); err != nil || r.TLS != TLSByOpportunistic {
		t.Fatalf("AD unset: %+v, %v; want opportunistic delivery", r, err)
	}
	lab.dns.SetAD("dane.test", true)

	// DANE-TA: the self-signed certificate is its own trust anchor; the
	// name must then match.
	tlsa("ta.dane.test", "2 0 1 "+func() string {
		block, _ := pem.Decode(lab.servers["127.0.0.3"].CertPEM())
		sum := sha256.Sum256(block.Bytes)
		return hex.EncodeToString(sum[:])
	}())
	if r, err := deliverTo(t, m, "d@ta.test"); err != nil || r.TLS != TLSByDANE {
		t.Fatalf("DANE-TA: %+v, %v", r, err)
	}
	tlsa("mx.dane.test", "2 1 1 "+spkiHash(t, lab.servers["127.0.0.2"]))
	if _, err := deliverTo(t, m, "e@dane.test"); !IsTemporary(err) || !strings.Contains(err.Error(), "trust anchor") {
		t.Fatalf("DANE-TA for the wrong name: %v, want a deferral", err)
	}

	// A DANE host without STARTTLS is never used in clear.
	tlsa("plain.dane.test", "3 1 1 "+strings.Repeat("00", 32))
	if _, err := deliverTo(t, m, "f@plain.test"); !IsTemporary(err) || !strings.Contains(err.Error(), "DANE") {
		t.Fatalf("DANE host without STARTTLS: %v", err)
	}
	if n := len(lab.received("127.0.0.4")); n != 0 {
		t.Errorf("plaintext host received %d messages", n)
	}

	// A forged record (the validating resolver's SERVFAIL) on a signed host
	// defers; on an unsigned one it is a broken server, ignored.
	lab.dns.ServFail(fmt.Sprintf("_%d._tcp.mx.dane.test.", lab.port))
	if _, err := deliverTo(t, m, "g@dane.test"); !IsTemporary(err) || !strings.Contains(err.Error(), "TLSA lookup") {
		t.Fatalf("SERVFAIL on a signed host: %v, want a deferral", err)
	}
	lab.dns.SetAD("dane.test", false)
	if r, err := deliverTo(t, m, "h@dane.test"); err != nil || r.TLS != TLSByOpportunistic {
		t.Fatalf("SERVFAIL on an unsigned host: %+v, %v", r, err)
	}
}

func TestDANEWinsOverMTASTS(t *testing.T) {
	lab := startSTSLab(t, stsPolicy("enforce", "other.sts.test"), map[string]smtptest.Options{"127.0.0.2": {STARTTLS: true}},
		"sts.test. MX 10 mx.sts.test.", "mx.sts.test. A 127.0.0.2")
	lab.dns.SetAD("mx.sts.test", true)
	lab.dns.Add(fmt.Sprintf("_%d._tcp.mx.sts.test. TLSA 3 1 1 %s", lab.port, spkiHash(t, lab.servers["127.0.0.2"])))
	// Neither in the policy's mx list nor valid for its name: DANE decides.
	r, err := deliverTo(t, lab.mxSTS(MTASTSEnforce, MXOptions{DANE: &DNSSECResolver{Addr: lab.dns.Addr()}}), "a@sts.test")
	if err != nil || r.TLS != TLSByDANE || r.MTASTS != "enforce" {
		t.Fatalf("Deliver = %+v, %v; want delivered by dane", r, err)
	}
}

func TestProbeShowsTLSPolicy(t *testing.T) {
	lab := startSTSLab(t, stsPolicy("enforce", "mx.sts.test"), map[string]smtptest.Options{"127.0.0.2": {STARTTLS: true}},
		"sts.test. MX 10 mx.sts.test.", "sts.test. MX 20 mx2.sts.test.",
		"mx.sts.test. A 127.0.0.2", "mx2.sts.test. A 127.0.0.2")
	m := lab.mxSTS(MTASTSEnforce, MXOptions{})
	pol := m.Policy(context.Background(), "sts.test")
	if pol.MTASTS != "enforce" || pol.PolicyID != "1" || strings.Join(pol.MX, ",") != "mx.sts.test" {
		t.Errorf("Policy = %+v", pol)
	}
	prs, err := m.Probe(context.Background(), "sts.test")
	if err != nil || len(prs) != 2 {
		t.Fatalf("Probe = %+v, %v", prs, err)
	}
	if prs[0].TLSPolicy != TLSByMTASTS || prs[0].PolicyErr != nil || prs[1].PolicyErr == nil {
		t.Errorf("Probe = %+v", prs)
	}
}
