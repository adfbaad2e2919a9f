package delivery

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"mailout/message"
)

// RelayOptions configure delivery through one SMTP server (a smarthost).
type RelayOptions struct {
	Host string
	Port int
	TLS  TLSMode
	// TLSConfig carries CA pool, client certificate and verification
	// settings; ServerName defaults to Host. Nil means system roots.
	TLSConfig *tls.Config
	Auth      Auth
	Helo      string        // EHLO name; an address literal of the local end when empty
	Timeout   time.Duration // per connect and per read/write of inactivity
	Dial      DialFunc      // nil means net.Dialer
	Verbose   io.Writer     // SMTP transcript, AUTH redacted; nil for none
}

// Relay delivers through one SMTP server.
type Relay struct {
	opts   RelayOptions
	log    *transcript
	shared relayShared // what its pools share, see Pool
}

// NewRelay returns a Relay.
func NewRelay(o RelayOptions) *Relay {
	r := &Relay{opts: o}
	if o.Verbose != nil {
		r.log = &transcript{w: o.Verbose}
	}
	return r
}

func (r *Relay) config() dialConfig {
	return dialConfig{
		Addr: net.JoinHostPort(r.opts.Host, strconv.Itoa(r.opts.Port)), Host: r.opts.Host,
		Helo: r.opts.Helo, TLS: r.opts.TLS, TLSConfig: r.opts.TLSConfig, Auth: r.opts.Auth,
		Timeout: r.opts.Timeout, Dial: r.opts.Dial, Log: r.log,
	}
}

// Deliver sends msg over a new connection.
func (r *Relay) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	s, err := r.Open(ctx)
	if err != nil {
		res := &Result{Transport: "smtp"}
		res.failAll(env.To, r.opts.Host, asError(err))
		return res, err
	}
	defer s.Close()
	return s.Deliver(ctx, env, msg)
}

// Open connects and authenticates once, for sending many messages.
func (r *Relay) Open(ctx context.Context) (*Session, error) {
	cn, err := open(ctx, r.config())
	if err != nil {
		return nil, err
	}
	return &Session{cn: cn}, nil
}

// Session is an open SMTP connection that can carry several messages (RSET
// between them), as batch sends need.
type Session struct {
	cn *conn
}

// Deliver sends one message on the session.
func (s *Session) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	rs, err := s.cn.send(ctx, env, msg)
	return &Result{Transport: "smtp", Recipients: rs}, err
}

// Broken reports whether the connection failed and must be replaced.
func (s *Session) Broken() bool { return s.cn.broken }

// Reset clears a failed transaction so the next message can start.
func (s *Session) Reset() error { return s.cn.c.Reset() }

// TLS reports whether the session is encrypted, and how.
func (s *Session) TLS() (tls.ConnectionState, bool) {
	st, err := s.cn.c.GetTLSConnectionState()
	if err != nil {
		return tls.ConnectionState{}, false
	}
	return *st, true
}

// AuthMechanism is the SASL mechanism the session authenticated with, ""
// when it did not authenticate.
func (s *Session) AuthMechanism() string { return s.cn.mech }

// Extensions returns the EHLO keywords the server offered.
func (s *Session) Extensions() []string {
	var out []string
	for _, k := range []string{"STARTTLS", "AUTH", "SIZE", "8BITMIME", "SMTPUTF8", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "CHUNKING"} {
		if ok, v := s.cn.c.Extension(k); ok {
			out = append(out, strings.TrimSpace(k+" "+v))
		}
	}
	return out
}

// Close sends QUIT and closes the connection.
func (s *Session) Close() error {
	s.cn.close()
	return nil
}

func asError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Kind: Temporary, Err: err}
}

// PinFingerprint makes cfg accept exactly the server certificate whose
// SHA-256 is fp (hex, colons allowed), instead of CA verification: the way
// to trust a self-signed relay.
func PinFingerprint(cfg *tls.Config, fp string) {
	want := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(st tls.ConnectionState) error {
		if len(st.PeerCertificates) == 0 {
			return &PinError{Want: want, Got: "(none)"}
		}
		got := Fingerprint(st.PeerCertificates[0].Raw)
		if got != want {
			return &PinError{Want: want, Got: got}
		}
		return nil
	}
}

// Fingerprint is the hex SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
