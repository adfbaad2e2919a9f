package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// TransportKind names a way to deliver, spelled as the profile key
// transport and the "transport" of --json output.
type TransportKind string

// Transport kinds New knows.
const (
	TransportSMTP TransportKind = "smtp" // through one relay (a smarthost)
	TransportMX   TransportKind = "mx"   // straight to each recipient domain's mail exchangers
	// The HTTP API transports, configured by Options.API.
	TransportGraph     TransportKind = "graph"
	TransportGmail     TransportKind = "gmail"
	TransportSES       TransportKind = "ses"
	TransportMailgun   TransportKind = "mailgun"
	TransportSparkPost TransportKind = "sparkpost"
)

// IsAPI reports whether k is one of the HTTP API transports.
func (k TransportKind) IsAPI() bool {
	_, ok := providers[string(k)]
	return ok
}

// Options describe a route: which transport, and everything it needs.
// The command layer fills them once from a profile and the command line;
// New turns them into a Transport, Probe tests them.
type Options struct {
	// Transport picks the transport; "" means TransportSMTP.
	Transport TransportKind
	// Relay configures TransportSMTP.
	Relay RelayOptions
	// MX configures TransportMX.
	MX MXOptions
	// API configures the HTTP API transports; its Kind is Transport.
	API APIOptions
	// DKIM, when set, signs every message before whatever transport
	// carries it.
	DKIM *DKIMOptions
	// Verbose receives the transcript of every transport; it fills the
	// transport's own Verbose when that is nil.
	Verbose io.Writer
	// Dial opens every connection; it fills the transport's own Dial when
	// that is nil. Nil means net.Dialer.
	Dial DialFunc
	// Now is the clock of what keeps state across messages (kept
	// sessions, tokens); nil means time.Now.
	Now func() time.Time
}

// New returns the transport o describes, DKIM-signing when o.DKIM is set.
func New(o Options) (Transport, error) {
	var t Transport
	switch o.kind() {
	case TransportSMTP:
		t = NewRelay(o.RelayConfig())
	case TransportMX:
		t = NewMX(o.MXConfig())
	default:
		if !o.kind().IsAPI() {
			return nil, o.unknown()
		}
		a, err := NewAPI(o.APIConfig())
		if err != nil {
			return nil, err
		}
		t = a
	}
	return o.Sign(t), nil
}

func (o Options) kind() TransportKind {
	if o.Transport == "" {
		return TransportSMTP
	}
	return o.Transport
}

func (o Options) unknown() error {
	return &Error{Kind: Config, Op: "transport", Err: fmt.Errorf("unknown transport %q", o.Transport)}
}

// RelayConfig is o.Relay with o's Verbose and Dial filled in: what New
// gives the relay, for callers that keep sessions of their own.
func (o Options) RelayConfig() RelayOptions {
	r := o.Relay
	if r.Verbose == nil {
		r.Verbose = o.Verbose
	}
	if r.Dial == nil {
		r.Dial = o.Dial
	}
	return r
}

// MXConfig is o.MX with o's Verbose and Dial filled in: what New gives
// the MX transport, for callers that pool its connections.
func (o Options) MXConfig() MXOptions {
	m := o.MX
	if m.Verbose == nil {
		m.Verbose = o.Verbose
	}
	if m.Dial == nil {
		m.Dial = o.Dial
	}
	return m
}

// APIConfig is o.API with o's kind, Verbose, Dial and Now filled in.
func (o Options) APIConfig() APIOptions {
	a := o.API
	a.Kind = string(o.kind())
	if a.Verbose == nil {
		a.Verbose = o.Verbose
	}
	if a.Dial == nil {
		a.Dial = o.Dial
	}
	if a.Now == nil {
		a.Now = o.Now
	}
	return a
}

// Sign wraps t in DKIM signing when o.DKIM is set and returns t
// otherwise: New applies it, and so do callers that build one transport
// per worker.
func (o Options) Sign(t Transport) Transport {
	if o.DKIM == nil {
		return t
	}
	return Sign(t, *o.DKIM)
}

// ProbeReport is what Probe found, for one kind of transport.
type ProbeReport struct {
	Transport TransportKind
	// Relay: the session one connection brought up.
	Server        string               // host:port
	Extensions    []string             // EHLO keywords offered
	TLS           *tls.ConnectionState // nil when the session is not encrypted
	AuthUser      string               // the configured username, "" for none
	AuthMechanism string               // the SASL mechanism used, "" when not authenticated
	// MX: each mail exchanger of the domain, and the domain's MTA-STS
	// policy when MTA-STS is on (nil when off).
	MX     []ProbeResult
	Policy *DomainPolicy
	// API: the endpoint, and what proved the credentials.
	URL         string
	Credentials string
}

// ErrNoDomain is returned by Probe of direct MX delivery without a domain
// whose mail exchangers to try.
var ErrNoDomain = errors.New("delivery: direct delivery needs a domain to probe")

// Probe connects as New(o) would deliver, without sending anything, for
// "profile test". Through a relay it brings one session up (EHLO, TLS,
// AUTH), records what it saw, and quits; domain is not used. Direct, it
// probes each mail exchanger of domain (see MX.Probe) and reads its
// MTA-STS policy as delivery would apply it. Through an HTTP
// API it proves the credentials (see API.Probe). The error is
// what prevented the probe, classified like a delivery's.
func Probe(ctx context.Context, o Options, domain string) (*ProbeReport, error) {
	rep := &ProbeReport{Transport: o.kind()}
	switch rep.Transport {
	case TransportSMTP:
		ro := o.RelayConfig()
		rep.Server = net.JoinHostPort(ro.Host, strconv.Itoa(ro.Port))
		rep.AuthUser = ro.Auth.Username
		s, err := NewRelay(ro).Open(ctx)
		if err != nil {
			return rep, err
		}
		defer s.Close()
		rep.Extensions = s.Extensions()
		if st, ok := s.TLS(); ok {
			rep.TLS = &st
		}
		rep.AuthMechanism = s.AuthMechanism()
		return rep, nil
	case TransportMX:
		if domain == "" {
			return nil, ErrNoDomain
		}
		m := NewMX(o.MXConfig())
		hosts, err := m.Probe(ctx, domain)
		rep.MX = hosts
		if err == nil && o.MX.MTASTS != "" && o.MX.MTASTS != MTASTSOff {
			pol := m.Policy(ctx, domain)
			rep.Policy = &pol
		}
		return rep, err
	}
	if !rep.Transport.IsAPI() {
		return nil, o.unknown()
	}
	a, err := NewAPI(o.APIConfig())
	if err != nil {
		return rep, err
	}
	rep.URL = a.base.String()
	rep.Credentials, err = a.Probe(ctx)
	return rep, err
}
