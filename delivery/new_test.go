package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mailout/internal/smtptest"
	"mailout/message"
)

var testEnv = message.Envelope{From: "me@example.test", To: []string{"you@example.test"}}

var testMsg = rawMessage("Subject: hi\r\nFrom: me@example.test\r\n\r\nhi\r\n")

func relayTo(t *testing.T, addr string, mode TLSMode) Options {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return Options{Transport: TransportSMTP, Relay: RelayOptions{Host: host, Port: n, TLS: mode}}
}

func TestNewPicksTheTransport(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		want string
	}{
		{Options{}, "*delivery.Relay"},
		{Options{Transport: TransportSMTP}, "*delivery.Relay"},
		{Options{Transport: TransportMX}, "*delivery.MX"},
		{Options{Transport: TransportMX, DKIM: &DKIMOptions{}}, "*delivery.signing"},
	} {
		tr, err := New(tt.o)
		if err != nil {
			t.Fatalf("New(%q) = %v", tt.o.Transport, err)
		}
		if got := typeName(tr); got != tt.want {
			t.Errorf("New(%q, dkim %v) = %s, want %s", tt.o.Transport, tt.o.DKIM != nil, got, tt.want)
		}
	}
	_, err := New(Options{Transport: "pigeon"})
	if KindOf(err) != Config || !strings.Contains(err.Error(), `"pigeon"`) {
		t.Errorf("New(pigeon) = %v (kind %v), want a configuration error naming it", err, KindOf(err))
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *Relay:
		return "*delivery.Relay"
	case *MX:
		return "*delivery.MX"
	case *signing:
		return "*delivery.signing"
	}
	return "?"
}

// The cause of a failure survives classification: callers can ask
// errors.Is / errors.As about it, and the message stays short.
func TestErrorsKeepTheirCause(t *testing.T) {
	srv, err := smtptest.New(smtptest.Options{STARTTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	down, err := smtptest.FreeAddrOn("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		tr, _ := New(relayTo(t, srv.Addr(), TLSNone))
		res, err := tr.Deliver(ctx, testEnv, testMsg)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Deliver with a cancelled context = %v, want errors.Is context.Canceled", err)
		}
		if !IsTemporary(err) || !strings.HasSuffix(err.Error(), ": interrupted") {
			t.Errorf("err = %q (kind %v), want a temporary %q", err, KindOf(err), "...: interrupted")
		}
		if len(res.Recipients) != 1 || res.Recipients[0].Status != Deferred || !errors.Is(res.Recipients[0].Err, context.Canceled) {
			t.Errorf("recipients = %+v, want one deferred with the cause", res.Recipients)
		}
	})
	t.Run("refused", func(t *testing.T) {
		tr, _ := New(relayTo(t, down, TLSNone))
		_, err := tr.Deliver(context.Background(), testEnv, testMsg)
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &oe) {
			t.Fatalf("Deliver to a closed port = %v, want ECONNREFUSED inside a *net.OpError", err)
		}
		if !IsTemporary(err) || !strings.HasSuffix(err.Error(), ": connection refused") {
			t.Errorf("err = %q, want a temporary %q", err, "...: connection refused")
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		// srv's certificate is self-signed: the system roots refuse it.
		tr, _ := New(relayTo(t, srv.Addr(), TLSStartTLS))
		_, err := tr.Deliver(context.Background(), testEnv, testMsg)
		var uae x509.UnknownAuthorityError
		if !errors.As(err, &uae) {
			t.Fatalf("Deliver to a self-signed server = %v (%T), want an x509.UnknownAuthorityError inside", err, errors.Unwrap(err))
		}
		if KindOf(err) != Unavailable || !strings.Contains(err.Error(), "certificate not trusted") {
			t.Errorf("err = %q (kind %v), want unavailable, certificate not trusted", err, KindOf(err))
		}
	})
	t.Run("no such domain", func(t *testing.T) {
		e := dnsError("nx.test", &net.DNSError{Err: "no such host", Name: "nx.test", IsNotFound: true})
		var dnse *net.DNSError
		if !errors.As(e, &dnse) || e.Kind != HostUnknown || e.Error() != "dns nx.test: no such domain" {
			t.Errorf("dnsError = %q (kind %v), want host unknown with the *net.DNSError inside", e, e.Kind)
		}
	})
}

func TestPredicates(t *testing.T) {
	dropped := &Error{Kind: Temporary, Op: "mail", Host: "h", Err: syscall.ECONNRESET}
	lost := &Error{Kind: Temporary, Op: "data", Host: "h", Err: syscall.ECONNRESET}
	busy := &Error{Kind: Temporary, Op: "data", Host: "h", Code: 451, Reply: "try later"}
	auth := &Error{Kind: AuthFailed, Op: "auth", Host: "h", Code: 535, Reply: "bad credentials"}
	config := &Error{Kind: Config, Op: "auth", Err: errors.New("no password source")}
	rejected := &Error{Kind: Rejected, Op: "rcpt", Host: "h", Code: 550, Reply: "no such user"}
	lineBreak := &Error{Kind: Data, Op: "mail", Err: errors.New("an address contains a line break")}
	for _, tt := range []struct {
		name                                   string
		err                                    error
		temporary, fatal, dropped, lost, retry bool
	}{
		{"dropped before MAIL", dropped, true, false, true, false, true},
		{"lost in DATA", lost, true, false, false, true, false},
		{"451 after DATA", busy, true, false, false, false, true},
		{"auth refused", auth, false, true, false, false, false},
		{"no secret", config, false, true, false, false, false},
		{"rejected", rejected, false, false, false, false, false},
		{"line break", lineBreak, false, false, false, false, false},
		{"wrapped", errors.Join(errors.New("row 3"), dropped), true, false, true, false, true},
		{"not a delivery error", errors.New("x"), false, false, false, false, false},
	} {
		got := [5]bool{IsTemporary(tt.err), IsFatal(tt.err), DroppedBeforeMail(tt.err), LostInData(tt.err), Retryable(tt.err)}
		want := [5]bool{tt.temporary, tt.fatal, tt.dropped, tt.lost, tt.retry}
		if got != want {
			t.Errorf("%s: IsTemporary, IsFatal, DroppedBeforeMail, LostInData, Retryable = %v, want %v", tt.name, got, want)
		}
	}
}

func TestProbeRelay(t *testing.T) {
	srv, err := smtptest.New(smtptest.Options{STARTTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	o := relayTo(t, srv.Addr(), TLSStartTLS)
	o.Relay.TLSConfig = srv.ClientTLSConfig()
	rep, err := Probe(context.Background(), o, "")
	if err != nil {
		t.Fatalf("Probe = %v", err)
	}
	if rep.Transport != TransportSMTP || rep.Server != srv.Addr() || rep.TLS == nil || len(rep.Extensions) == 0 {
		t.Errorf("Probe = %+v, want the relay's session over TLS", rep)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("Probe sent %d messages, want none", n)
	}
	if _, err := Probe(context.Background(), Options{Transport: TransportMX}, ""); !errors.Is(err, ErrNoDomain) {
		t.Errorf("Probe(mx, no domain) = %v, want ErrNoDomain", err)
	}
}
