package delivery

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailout/internal/dnstest"
	"mailout/internal/smtptest"
	"mailout/message"
)

// mxLab is a DNS server plus SMTP servers on distinct loopback addresses
// that all listen on one port, as MX delivery dials every host on the same
// port.
type mxLab struct {
	port    int
	dns     *dnstest.Server
	servers map[string]*smtptest.Server // by IP
}

// startLab starts one SMTP server per entry of opts (keyed by loopback IP)
// on a common free port, retrying with another port if one is taken.
func startLab(t *testing.T, opts map[string]smtptest.Options, records ...string) *mxLab {
	t.Helper()
	var lastErr error
	for range 10 {
		free, err := smtptest.FreeAddrOn("127.0.0.2")
		if err != nil {
			t.Fatalf("FreeAddrOn: %v", err)
		}
		_, portStr, _ := net.SplitHostPort(free)
		port, _ := strconv.Atoi(portStr)
		lab := &mxLab{port: port, servers: map[string]*smtptest.Server{}}
		ok := true
		for ip, o := range opts {
			o.Addr = net.JoinHostPort(ip, portStr)
			srv, err := smtptest.New(o)
			if err != nil {
				lastErr = err
				ok = false
				break
			}
			lab.servers[ip] = srv
		}
		if !ok {
			for _, s := range lab.servers {
				s.Close()
			}
			continue
		}
		for _, s := range lab.servers {
			t.Cleanup(func() { s.Close() })
		}
		lab.dns = dnstest.Start(t, records...)
		return lab
	}
	t.Fatalf("no common free port for the MX servers: %v", lastErr)
	return nil
}

func (l *mxLab) mx(o MXOptions) *MX {
	o.Resolver = l.dns.Resolver()
	o.Port = l.port
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Helo == "" {
		o.Helo = "sender.example.test"
	}
	return NewMX(o)
}

func (l *mxLab) received(ip string) []smtptest.Message { return l.servers[ip].Messages() }

// rawMessage is a message given as its bytes.
type rawMessage []byte

func (m rawMessage) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(m)
	return int64(n), err
}

func testMessage() message.Message {
	return rawMessage("From: <s@example.test>\r\nTo: <r@example.test>\r\nSubject: hi\r\n\r\nhello\r\n")
}

func rcptsOf(msgs []smtptest.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.To...)
	}
	return out
}

func TestMXPreferenceOrderAndFallback(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {}, "127.0.0.3": {}},
		// Listed out of order: preference decides, not the answer's order.
		"pref.test. MX 20 mx2.pref.test.",
		"pref.test. MX 10 mx1.pref.test.",
		"mx1.pref.test. A 127.0.0.2",
		"mx2.pref.test. A 127.0.0.3",
		// The preferred host of fall.test does not listen.
		"fall.test. MX 10 down.fall.test.",
		"fall.test. MX 20 up.fall.test.",
		"down.fall.test. A 127.0.0.9",
		"up.fall.test. A 127.0.0.3",
	)
	m := lab.mx(MXOptions{})
	tests := []struct {
		rcpt, wantIP, wantHost string
	}{
		{"a@pref.test", "127.0.0.2", "mx1.pref.test"},
		{"b@fall.test", "127.0.0.3", "up.fall.test"},
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			res, err := m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{tt.rcpt}}, testMessage())
			if err != nil {
				t.Fatalf("Deliver(%s) = %v, want nil", tt.rcpt, err)
			}
			if got := rcptsOf(lab.received(tt.wantIP)); !slices.Contains(got, tt.rcpt) {
				t.Errorf("server %s got %v, want %s", tt.wantIP, got, tt.rcpt)
			}
			r := res.Recipients[0]
			if res.Transport != "mx" || r.Status != Accepted || r.Host != tt.wantHost || !strings.HasPrefix(r.Reply, "250 ") {
				t.Errorf("result = %+v (transport %q), want accepted by %s with a 250 reply", r, res.Transport, tt.wantHost)
			}
		})
	}
	if got := rcptsOf(lab.received("127.0.0.3")); slices.Contains(got, "a@pref.test") {
		t.Errorf("the less preferred mx2 got %v", got)
	}
}

func TestMXEqualPreferencesAreShuffled(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {}, "127.0.0.3": {}},
		"eq.test. MX 10 one.eq.test.",
		"eq.test. MX 10 two.eq.test.",
		"eq.test. MX 5 best.eq.test.",
		"one.eq.test. A 127.0.0.2",
		"two.eq.test. A 127.0.0.3",
		"best.eq.test. A 127.0.0.9", // down
	)
	for _, tt := range []struct {
		name     string
		shuffle  func(n int, swap func(i, j int))
		wantHost string
	}{
		{"kept", func(int, func(i, j int)) {}, "one.eq.test"},
		{"swapped", func(n int, swap func(i, j int)) { swap(0, n-1) }, "two.eq.test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var sizes []int
			m := lab.mx(MXOptions{Shuffle: func(n int, swap func(i, j int)) {
				sizes = append(sizes, n)
				tt.shuffle(n, swap)
			}})
			res, err := m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{"x@eq.test"}}, testMessage())
			if err != nil {
				t.Fatalf("Deliver = %v", err)
			}
			if got := res.Recipients[0].Host; got != tt.wantHost {
				t.Errorf("delivered via %q, want %q", got, tt.wantHost)
			}
			if !slices.Equal(sizes, []int{1, 2}) {
				t.Errorf("Shuffle called with group sizes %v, want [1 2]", sizes)
			}
		})
	}
}

func TestMXTwoDomainsOneTransactionEach(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {}, "127.0.0.3": {}},
		"a.test. MX 10 mx.a.test.",
		"mx.a.test. A 127.0.0.2",
		"b.test. MX 10 mx.b.test.",
		"mx.b.test. A 127.0.0.3",
	)
	env := message.Envelope{From: "s@example.test", To: []string{"x@a.test", "y@b.test", "z@A.TEST", "x@a.test"}}
	res, err := lab.mx(MXOptions{}).Deliver(context.Background(), env, testMessage())
	if err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	for ip, want := range map[string][]string{"127.0.0.2": {"x@a.test", "z@A.TEST"}, "127.0.0.3": {"y@b.test"}} {
		msgs := lab.received(ip)
		if len(msgs) != 1 || !slices.Equal(msgs[0].To, want) {
			t.Errorf("server %s got %d messages to %v, want one to %v", ip, len(msgs), rcptsOf(msgs), want)
		}
		if len(msgs) == 1 && msgs[0].Helo != "sender.example.test" {
			t.Errorf("server %s saw EHLO %q, want sender.example.test", ip, msgs[0].Helo)
		}
	}
	var got []string
	for _, r := range res.Recipients {
		got = append(got, r.Address+"="+string(r.Status)+"@"+r.Host)
	}
	want := []string{"x@a.test=accepted@mx.a.test", "y@b.test=accepted@mx.b.test", "z@A.TEST=accepted@mx.a.test"}
	if !slices.Equal(got, want) {
		t.Errorf("results = %v, want %v", got, want)
	}
}

func TestMXConnectionLevelFailuresTryTheNextHost(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{
		"127.0.0.2": {Greeting: &smtptest.Reply{Code: 421}},
		"127.0.0.3": {},
		"127.0.0.4": {BrokenTLS: true},
		"127.0.0.5": {STARTTLS: true},
	},
		"greet.test. MX 10 busy.greet.test.",
		"greet.test. MX 20 ok.greet.test.",
		"busy.greet.test. A 127.0.0.2",
		"ok.greet.test. A 127.0.0.3",
		// Two addresses for one host: the first is down.
		"multi.test. MX 10 mx.multi.test.",
		"mx.multi.test. A 127.0.0.9",
		"mx.multi.test. A 127.0.0.3",
		"broken.test. MX 10 mx.broken.test.",
		"mx.broken.test. A 127.0.0.4",
		"tls.test. MX 10 mx.tls.test.",
		"mx.tls.test. A 127.0.0.5",
	)
	m := lab.mx(MXOptions{})
	for _, tt := range []struct {
		rcpt, wantIP, wantHost string
		wantTLS                bool
	}{
		{"a@greet.test", "127.0.0.3", "ok.greet.test", false},
		{"b@multi.test", "127.0.0.3", "mx.multi.test", false},
		// STARTTLS offered but the handshake fails: plaintext on a new connection.
		{"c@broken.test", "127.0.0.4", "mx.broken.test", false},
		// The certificate does not name mx.tls.test: opportunistic TLS
		// encrypts anyway.
		{"d@tls.test", "127.0.0.5", "mx.tls.test", true},
	} {
		t.Run(tt.rcpt, func(t *testing.T) {
			res, err := m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{tt.rcpt}}, testMessage())
			if err != nil {
				t.Fatalf("Deliver(%s) = %v, want nil", tt.rcpt, err)
			}
			if h := res.Recipients[0].Host; h != tt.wantHost {
				t.Errorf("host = %q, want %q", h, tt.wantHost)
			}
			var found *smtptest.Message
			for _, msg := range lab.received(tt.wantIP) {
				if slices.Contains(msg.To, tt.rcpt) {
					found = &msg
				}
			}
			if found == nil {
				t.Fatalf("server %s did not get the message for %s", tt.wantIP, tt.rcpt)
			}
			if found.TLS != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", found.TLS, tt.wantTLS)
			}
		})
	}
}

func TestMXStartTLSPolicyVerifies(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{
		"127.0.0.2": {STARTTLS: true, CertHosts: []string{"mx.good.test"}},
		"127.0.0.3": {},
	},
		"good.test. MX 10 mx.good.test.",
		"mx.good.test. A 127.0.0.2",
		"plain.test. MX 10 mx.plain.test.",
		"mx.plain.test. A 127.0.0.3",
	)
	trusted := lab.servers["127.0.0.2"].ClientTLSConfig()
	for _, tt := range []struct {
		name     string
		rcpt     string
		cfg      MXOptions
		wantKind Kind
	}{
		{"verified", "a@good.test", MXOptions{TLS: TLSStartTLS, TLSConfig: trusted}, 0},
		{"unknown authority", "a@good.test", MXOptions{TLS: TLSStartTLS}, Unavailable},
		{"not offered", "a@plain.test", MXOptions{TLS: TLSStartTLS, TLSConfig: trusted}, Unavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := lab.mx(tt.cfg).Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{tt.rcpt}}, testMessage())
			if KindOf(err) != tt.wantKind {
				t.Fatalf("Deliver(%s) = %v (kind %v), want kind %v", tt.rcpt, err, KindOf(err), tt.wantKind)
			}
			if tt.wantKind == 0 && res.Recipients[0].Status != Accepted {
				t.Errorf("status = %s, want accepted", res.Recipients[0].Status)
			}
		})
	}
}

func TestMXRoutingFailures(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {}},
		"nullmx.test. MX 0 .",
		"implicit.test. A 127.0.0.2",
		"txtonly.test. TXT \"v=spf1 -all\"",
		"noaddr.test. MX 10 mx.noaddr.test.",
		"noaddr.test. MX 20 mx2.noaddr.test.",
		"mx.noaddr.test. TXT \"nothing here\"",
		"fail.test. MX 10 mx.fail.test.",
		"slow.test. MX 10 mx.slow.test.",
	)
	lab.dns.ServFail("fail.test.")
	lab.dns.Drop("slow.test.")
	m := lab.mx(MXOptions{Timeout: 300 * time.Millisecond})
	for _, tt := range []struct {
		rcpt     string
		wantKind Kind
		wantIn   string // the error names this
	}{
		{"a@nullmx.test", HostUnknown, "nullmx.test"},
		{"a@nx.test", HostUnknown, "nx.test"},
		{"a@txtonly.test", HostUnknown, "txtonly.test"},
		{"a@noaddr.test", HostUnknown, "noaddr.test"},
		{"a@fail.test", Temporary, "fail.test"},
		{"a@slow.test", Temporary, "slow.test"},
		{"a@implicit.test", 0, ""},
	} {
		t.Run(tt.rcpt, func(t *testing.T) {
			res, err := m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{tt.rcpt}}, testMessage())
			if KindOf(err) != tt.wantKind {
				t.Fatalf("Deliver(%s) = %v (kind %v), want kind %v", tt.rcpt, err, KindOf(err), tt.wantKind)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not name %s", err, tt.wantIn)
			}
			if len(res.Recipients) != 1 || res.Recipients[0].Address != tt.rcpt {
				t.Fatalf("results = %+v, want one for %s", res.Recipients, tt.rcpt)
			}
			want := map[Kind]Status{0: Accepted, HostUnknown: Refused, Temporary: Deferred}[tt.wantKind]
			if got := res.Recipients[0].Status; got != want {
				t.Errorf("status = %s, want %s", got, want)
			}
		})
	}
	if got := rcptsOf(lab.received("127.0.0.2")); !slices.Equal(got, []string{"a@implicit.test"}) {
		t.Errorf("implicit MX server got %v, want [a@implicit.test]", got)
	}
}

func TestMXMixedOutcome(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{
		"127.0.0.2": {RcptReplies: map[string]smtptest.Reply{
			"bad@ok.test":  {Code: 550, Enhanced: "5.1.1", Text: "no such user"},
			"busy@ok.test": {Code: 450, Enhanced: "4.2.1", Text: "mailbox busy"},
		}},
		"127.0.0.3": {},
	},
		"ok.test. MX 10 mx.ok.test.",
		"ok.test. MX 20 backup.ok.test.",
		"mx.ok.test. A 127.0.0.2",
		"backup.ok.test. A 127.0.0.3",
		"gone.test. MX 0 .",
	)
	m := lab.mx(MXOptions{})
	rcpts := []string{"good@ok.test", "bad@ok.test", "busy@ok.test", "x@gone.test"}
	res, err := m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: rcpts}, testMessage())
	if KindOf(err) != HostUnknown {
		t.Errorf("Deliver error = %v (kind %v), want the worst: host unknown", err, KindOf(err))
	}
	want := []Status{Accepted, Refused, Deferred, Refused}
	for i, r := range res.Recipients {
		if r.Address != rcpts[i] || r.Status != want[i] {
			t.Errorf("result %d = %s %s, want %s %s", i, r.Address, r.Status, rcpts[i], want[i])
		}
	}
	if r := res.Recipients[1]; !strings.HasPrefix(r.Reply, "550") || KindOf(r.Err) != Rejected {
		t.Errorf("rejected recipient: reply %q err %v, want 550 and kind rejected", r.Reply, r.Err)
	}
	// A 4xx at RCPT is final for this attempt: the backup MX gets nothing.
	if got := lab.received("127.0.0.3"); len(got) != 0 {
		t.Errorf("backup MX got %v, want nothing", rcptsOf(got))
	}
	if got := rcptsOf(lab.received("127.0.0.2")); !slices.Equal(got, []string{"good@ok.test"}) {
		t.Errorf("primary MX got %v, want [good@ok.test]", got)
	}

	// Without the permanent failures, a deferred recipient makes the
	// whole delivery temporary.
	_, err = m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{"good@ok.test", "busy@ok.test"}}, testMessage())
	if KindOf(err) != Temporary {
		t.Errorf("Deliver(good, busy) = %v, want kind temporary", err)
	}
}

func TestMXAllHostsDown(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {Greeting: &smtptest.Reply{Code: 554}}},
		"down.test. MX 10 mx1.down.test.",
		"down.test. MX 20 mx2.down.test.",
		"mx1.down.test. A 127.0.0.9",
		"mx2.down.test. A 127.0.0.8",
		"refuse.test. MX 10 mx.refuse.test.",
		"mx.refuse.test. A 127.0.0.2",
	)
	m := lab.mx(MXOptions{})
	for rcpt, want := range map[string]Kind{"a@down.test": Temporary, "a@refuse.test": Unavailable} {
		res, err := m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{rcpt}}, testMessage())
		if KindOf(err) != want {
			t.Errorf("Deliver(%s) = %v (kind %v), want kind %v", rcpt, err, KindOf(err), want)
		}
		if len(res.Recipients) != 1 || res.Recipients[0].Err == nil {
			t.Errorf("Deliver(%s) results = %+v, want one failed recipient", rcpt, res.Recipients)
		}
	}
}

func TestMXVerboseShowsRouting(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {}},
		"v.test. MX 10 mx.v.test.",
		"mx.v.test. A 127.0.0.2",
	)
	var b strings.Builder
	m := lab.mx(MXOptions{Verbose: &b})
	if _, err := m.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{"a@v.test"}}, testMessage()); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	for _, want := range []string{"MX for v.test: mx.v.test(10)", "-> MAIL FROM:<s@example.test>"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("transcript lacks %q:\n%s", want, b.String())
		}
	}
}

func TestProbe(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {STARTTLS: true}, "127.0.0.3": {}},
		"p.test. MX 10 mx1.p.test.",
		"p.test. MX 20 mx2.p.test.",
		"p.test. MX 30 mx3.p.test.",
		"mx1.p.test. A 127.0.0.2",
		"mx2.p.test. A 127.0.0.3",
		"mx3.p.test. A 127.0.0.9",
		"self.test. A 127.0.0.3",
		"null.test. MX 0 .",
	)
	m := lab.mx(MXOptions{})
	got, err := m.Probe(context.Background(), "p.test")
	if err != nil {
		t.Fatalf("Probe(p.test) = %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("Probe(p.test) = %+v, want 3 hosts", got)
	}
	want := []struct {
		host     string
		pref     uint16
		answered bool
		starttls bool
	}{{"mx1.p.test", 10, true, true}, {"mx2.p.test", 20, true, false}, {"mx3.p.test", 30, false, false}}
	for i, w := range want {
		g := got[i]
		if g.Host != w.host || g.Preference != w.pref || g.Answered != w.answered || g.STARTTLS != w.starttls {
			t.Errorf("Probe result %d = %+v, want host %s pref %d answered %v starttls %v", i, g, w.host, w.pref, w.answered, w.starttls)
		}
		if w.answered != (g.Err == nil) {
			t.Errorf("Probe result %d: err = %v with answered %v", i, g.Err, g.Answered)
		}
	}
	if len(lab.received("127.0.0.2")) != 0 {
		t.Errorf("Probe sent mail")
	}
	self, err := m.Probe(context.Background(), "self.test")
	if err != nil || len(self) != 1 || !self[0].Implicit || !self[0].Answered || self[0].Addr != "127.0.0.3" {
		t.Errorf("Probe(self.test) = %+v, %v, want one implicit MX answering at 127.0.0.3", self, err)
	}
	if _, err := m.Probe(context.Background(), "null.test"); KindOf(err) != HostUnknown {
		t.Errorf("Probe(null.test) = %v, want kind host unknown", err)
	}
}

func TestLookupSPF(t *testing.T) {
	dns := dnstest.Start(t,
		`spf.test. TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`spf.test. TXT "google-site-verification=abc"`,
		`two.test. TXT "v=spf1 -all"`,
		`two.test. TXT "v=spf1 +all"`,
		`other.test. TXT "v=spf10 nope"`,
		`nodata.test. A 127.0.0.1`,
	)
	dns.ServFail("broken.test.")
	for _, tt := range []struct {
		domain    string
		want      string
		wantFound bool
		wantErr   func(error) bool
	}{
		{"spf.test", "v=spf1 ip4:192.0.2.1 -all", true, nil},
		{"two.test", "v=spf1 -all", true, func(err error) bool { return errors.Is(err, ErrMultipleSPF) }},
		{"other.test", "", false, nil},
		{"nodata.test", "", false, nil},
		{"nx.test", "", false, nil},
		{"broken.test", "", false, func(err error) bool { return IsTemporary(err) }},
	} {
		t.Run(tt.domain, func(t *testing.T) {
			got, found, err := LookupSPF(context.Background(), dns.Resolver(), tt.domain)
			if got != tt.want || found != tt.wantFound {
				t.Errorf("LookupSPF(%q) = %q, %v, want %q, %v", tt.domain, got, found, tt.want, tt.wantFound)
			}
			if (err != nil) != (tt.wantErr != nil) || (err != nil && !tt.wantErr(err)) {
				t.Errorf("LookupSPF(%q) error = %v", tt.domain, err)
			}
		})
	}
}

func TestGroupByDomain(t *testing.T) {
	got := groupByDomain([]string{"a@X.test", "b@y.test", "c@x.TEST", "a@X.test", "d@xn--bcher-kva.test"})
	want := []domainGroup{
		{"x.test", []string{"a@X.test", "c@x.TEST"}},
		{"y.test", []string{"b@y.test"}},
		{"xn--bcher-kva.test", []string{"d@xn--bcher-kva.test"}},
	}
	if len(got) != len(want) {
		t.Fatalf("groupByDomain = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].domain != want[i].domain || !slices.Equal(got[i].rcpts, want[i].rcpts) {
			t.Errorf("group %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func FuzzIsSPF(f *testing.F) {
	for _, s := range []string{"v=spf1", "v=spf1 -all", "V=SPF1 a", "v=spf10", "", "v=spf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isSPF(s) && (!strings.HasPrefix(strings.ToLower(s), "v=spf1") || !isSPF(s+" a")) {
			t.Fatalf("isSPF(%q) = true for a record that is not v=spf1", s)
		}
		if !isSPF("v=spf1 " + s) {
			t.Fatalf("isSPF(%q) = false", "v=spf1 "+s)
		}
		if isSPF("v=spf1x" + s) {
			t.Fatalf("isSPF(%q) = true", "v=spf1x"+s)
		}
	})
}

// TestMXPoolReusesConnectionPerDomain checks that a pool sends many
// messages to one domain over one connection, and reconnects when the
// kept one is gone.
func TestMXPoolReusesConnectionPerDomain(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {}, "127.0.0.3": {}},
		"a.test. MX 10 mx.a.test.",
		"mx.a.test. A 127.0.0.2",
		"b.test. MX 10 mx.b.test.",
		"mx.b.test. A 127.0.0.3",
	)
	pool := lab.mx(MXOptions{}).Pool()
	defer pool.Close()
	ctx := context.Background()
	for i, to := range []string{"x@a.test", "y@b.test", "z@a.test", "w@a.test"} {
		if _, err := pool.Deliver(ctx, message.Envelope{From: "s@example.test", To: []string{to}}, testMessage()); err != nil {
			t.Fatalf("message %d to %s: %v", i, to, err)
		}
	}
	if n := lab.servers["127.0.0.2"].Connections(); n != 1 {
		t.Errorf("a.test saw %d connections for 3 messages, want 1", n)
	}
	if got := len(lab.received("127.0.0.2")); got != 3 {
		t.Errorf("a.test received %d messages, want 3", got)
	}
	// The server drops every connection: the pool reconnects.
	lab.servers["127.0.0.2"].Close()
	srv, err := smtptest.New(smtptest.Options{Addr: net.JoinHostPort("127.0.0.2", strconv.Itoa(lab.port))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := pool.Deliver(ctx, message.Envelope{From: "s@example.test", To: []string{"v@a.test"}}, testMessage()); err != nil {
		t.Fatalf("after the server restarted: %v", err)
	}
	if got := len(srv.Messages()); got != 1 {
		t.Errorf("restarted server received %d messages, want 1", got)
	}
}
