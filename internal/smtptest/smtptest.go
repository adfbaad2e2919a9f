// Package smtptest runs a real SMTP server (RFC 5321) on the loopback
// interface for tests: it records what clients deliver and injects the
// faults a mail client must survive.
//
// The server is github.com/emersion/go-smtp with a recording backend. It
// speaks ESMTP with PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING and
// SIZE, and on request STARTTLS (RFC 3207), implicit TLS (RFC 8314), AUTH
// (RFC 4954) with PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, XOAUTH2 and
// OAUTHBEARER (RFC 7628),
// SMTPUTF8 (RFC 6531) and DSN (RFC 3461).
//
// # Use
//
// In a test, [Start] returns a running server that is closed by t.Cleanup:
//
//	srv := smtptest.Start(t, smtptest.Options{STARTTLS: true, Users: map[string]string{"alice": "s3cret"}})
//	// point the client at srv.Addr(), trust srv.CAFile() (or srv.ClientTLSConfig())
//	msgs, err := srv.Wait(1, 5*time.Second)
//
// Outside a test (a testscript Setup, a benchmark harness) use [New] and
// [Server.Close]. The server is ready when New returns: no sleeps needed.
//
// # Faults
//
// [Options] has switches for the failures a client must handle: a 421/554
// greeting ([Options.Greeting]), a server that never answers
// ([Options.Hang]), rejected MAIL, RCPT or DATA ([Reply]), a STARTTLS
// handshake that fails ([Options.BrokenTLS]), a connection dropped in the
// middle of DATA ([Options.DropInData]) and a slow final reply
// ([Options.DataDelay]). [Server.SetOptions] flips them while the server
// runs, e.g. to go from "421 try later" to accepting mail. For a server that
// is not listening at all, take an address from [FreeAddr] and call New
// with it later.
package smtptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Reply is an SMTP reply the server sends instead of the normal one.
type Reply struct {
	// Code is the three-digit reply code, e.g. 421, 450, 550.
	Code int
	// Enhanced is the RFC 3463 enhanced status code, e.g. "4.2.1". If empty,
	// "X.0.0" is sent, X being the first digit of Code.
	Enhanced string
	// Text is the human-readable part. If empty, a generic text is used.
	Text string
}

// String returns the reply as it appears on the wire, without CRLF.
func (r Reply) String() string {
	e := r.smtpError()
	ec := e.EnhancedCode
	if ec == smtp.EnhancedCodeNotSet {
		ec = smtp.EnhancedCode{r.Code / 100, 0, 0}
	}
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, ec[0], ec[1], ec[2], e.Message)
}

func (r Reply) smtpError() *smtp.SMTPError {
	ec, err := parseEnhanced(r.Enhanced)
	if err != nil {
		ec = smtp.EnhancedCodeNotSet
	}
	text := r.Text
	if text == "" {
		switch r.Code / 100 {
		case 2:
			text = "OK"
		case 4:
			text = "Temporary failure (smtptest)"
		default:
			text = "Permanent failure (smtptest)"
		}
	}
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: ec, Message: text}
}

func (r Reply) ok() bool { return r.Code/100 == 2 }

func (r Reply) validate() error {
	if r.Code < 200 || r.Code > 599 {
		return fmt.Errorf("reply code %d out of range 200-599", r.Code)
	}
	if _, err := parseEnhanced(r.Enhanced); err != nil {
		return err
	}
	if strings.ContainsAny(r.Text, "\r\n") {
		return fmt.Errorf("reply text %q contains a line break", r.Text)
	}
	return nil
}

func parseEnhanced(s string) (smtp.EnhancedCode, error) {
	if s == "" {
		return smtp.EnhancedCodeNotSet, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return smtp.EnhancedCode{}, fmt.Errorf("enhanced status code %q: want class.subject.detail", s)
	}
	var ec smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return smtp.EnhancedCode{}, fmt.Errorf("enhanced status code %q: bad number %q", s, p)
		}
		ec[i] = n
	}
	if ec[0] != 2 && ec[0] != 4 && ec[0] != 5 {
		return smtp.EnhancedCode{}, fmt.Errorf("enhanced status code %q: class must be 2, 4 or 5", s)
	}
	return ec, nil
}

// Options configures a [Server]. The zero value is a plain-text server on
// 127.0.0.1 with a random port that accepts every message.
//
// Fields marked "fixed" are read by [New] only; [Server.SetOptions] leaves
// them unchanged. All other fields may be changed at run time.
type Options struct {
	// Addr is the listen address (fixed). Default "127.0.0.1:0". Any
	// 127.0.0.0/8 address works on Linux, e.g. "127.0.0.2:0" for MX tests;
	// the port may be fixed, e.g. one from [FreeAddr].
	Addr string

	// STARTTLS offers STARTTLS (fixed) with a generated self-signed ECDSA
	// certificate valid for localhost, 127.0.0.1 to 127.0.0.9, ::1, the
	// listen IP and CertHosts. Clients trust it through [Server.CAFile],
	// [Server.CertPEM] or [Server.ClientTLSConfig].
	STARTTLS bool
	// CertHosts are extra DNS names or IP addresses for the certificate
	// (fixed), e.g. "mx1.example.test".
	CertHosts []string
	// ImplicitTLS starts TLS on the first byte, port-465 style (fixed).
	ImplicitTLS bool
	// BrokenTLS advertises STARTTLS (even without STARTTLS) but makes every
	// TLS handshake fail: the client gets a TLS alert after "220 Ready to
	// start TLS". With ImplicitTLS the handshake at connect fails. It may be
	// switched at run time only if STARTTLS, ImplicitTLS or BrokenTLS was set
	// at New.
	BrokenTLS bool

	// Users, when non-empty, requires AUTH before MAIL (530 5.7.0 otherwise).
	// It maps user names to passwords (for XOAUTH2 and OAUTHBEARER without
	// Bearer: to bearer tokens). With Users empty every AUTH attempt fails
	// with 535.
	Users map[string]string
	// Bearer, when set, checks the bearer tokens of XOAUTH2 and OAUTHBEARER
	// (e.g. against an oauthtest server's issued tokens) and requires AUTH
	// before MAIL like Users.
	Bearer func(user, token string) bool
	// Mechanisms are the SASL mechanisms offered, in order; default PLAIN,
	// LOGIN. Known: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, XOAUTH2,
	// OAUTHBEARER (see the Mech constants). Case-insensitive.
	Mechanisms []string
	// AllowInsecureAuth advertises and allows AUTH before TLS (fixed). Without
	// it, AUTH is offered only over TLS and answered "523 5.7.10" otherwise.
	AllowInsecureAuth bool
	// NoAuthAdvertised hides AUTH from the EHLO reply; an AUTH command then
	// gets "502 5.7.0 Authentication not supported".
	NoAuthAdvertised bool

	// Greeting, if set to a non-2xx reply (e.g. 421 or 554), is sent instead
	// of the 220 greeting and the connection is closed.
	Greeting *Reply
	// Hang accepts connections but never sends anything, so the client's own
	// timeout must fire. The connection stays open until the client gives up
	// or the server is closed.
	Hang bool
	// MailReply, if non-2xx, is the reply to every MAIL FROM.
	MailReply *Reply
	// RcptReplies maps a recipient address to the reply for its RCPT TO.
	// Keys match case-insensitively, with or without <>. Non-2xx replies
	// reject the recipient; 2xx entries accept it normally.
	RcptReplies map[string]Reply
	// DataReply is the reply after the final ".". Nil means
	// "250 2.0.0 OK: queued as N". A 2xx reply accepts the message with a
	// custom text; any other reply rejects it (it is not recorded).
	DataReply *Reply
	// DataDelay waits this long after the final "." before replying (e.g.
	// to outlast a client timeout). [Server.Close] cuts it short.
	DataDelay time.Duration
	// DropInData closes the connection in the middle of DATA, after reading
	// the first bytes of the message. Nothing is recorded.
	DropInData bool

	// RequestClientCert asks TLS clients for a certificate (fixed); the
	// common name of the one given is recorded in [Message.ClientCert].
	RequestClientCert bool

	// SMTPUTF8 advertises SMTPUTF8 (fixed). 8BITMIME is always advertised.
	SMTPUTF8 bool
	// DSN advertises DSN (fixed), allowing RET, ENVID, NOTIFY and ORCPT.
	DSN bool
	// DiscardData keeps only the size and SHA-256 of each message, not its
	// bytes (for large-message tests and benchmarks).
	DiscardData bool
	// MaxMessageBytes is advertised with SIZE and enforced with 552 5.3.4
	// (fixed). Zero means no limit.
	MaxMessageBytes int64
	// MaxLineLength limits the length of a command or message line (fixed);
	// a longer line makes go-smtp answer 500 and drop the connection. Zero
	// means 1 MiB; negative means unlimited.
	MaxLineLength int
	// Domain is the server name in the greeting (fixed). Default
	// "smtptest.invalid".
	Domain string
}

func (o Options) clone() Options {
	c := o
	c.CertHosts = slices.Clone(o.CertHosts)
	c.Mechanisms = slices.Clone(o.Mechanisms)
	if o.Users != nil {
		c.Users = make(map[string]string, len(o.Users))
		for k, v := range o.Users {
			c.Users[k] = v
		}
	}
	if o.RcptReplies != nil {
		c.RcptReplies = make(map[string]Reply, len(o.RcptReplies))
		for k, v := range o.RcptReplies {
			c.RcptReplies[strings.ToLower(strings.Trim(k, "<>"))] = v
		}
	}
	for _, p := range []**Reply{&c.Greeting, &c.MailReply, &c.DataReply} {
		if *p != nil {
			r := **p
			*p = &r
		}
	}
	for i, m := range c.Mechanisms {
		c.Mechanisms[i] = strings.ToUpper(m)
	}
	return c
}

func (o Options) validate() error {
	for _, m := range o.Mechanisms {
		if !knownMechanisms[strings.ToUpper(m)] {
			return fmt.Errorf("unknown SASL mechanism %q", m)
		}
	}
	for name, r := range map[string]*Reply{"Greeting": o.Greeting, "MailReply": o.MailReply, "DataReply": o.DataReply} {
		if r != nil {
			if err := r.validate(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	for rcpt, r := range o.RcptReplies {
		if err := r.validate(); err != nil {
			return fmt.Errorf("RcptReplies[%q]: %w", rcpt, err)
		}
	}
	return nil
}

// fixFrom copies the fields that only New reads from old into o.
func (o *Options) fixFrom(old Options) {
	o.Addr, o.STARTTLS, o.CertHosts, o.ImplicitTLS = old.Addr, old.STARTTLS, old.CertHosts, old.ImplicitTLS
	o.AllowInsecureAuth, o.SMTPUTF8, o.DSN = old.AllowInsecureAuth, old.SMTPUTF8, old.DSN
	o.MaxMessageBytes, o.MaxLineLength, o.Domain = old.MaxMessageBytes, old.MaxLineLength, old.Domain
	o.RequestClientCert = old.RequestClientCert
}

// Message is one message the server accepted.
type Message struct {
	// From is the reverse path without <>; "" for the null sender.
	From string
	// To are the accepted recipients without <>, in RCPT order.
	To []string
	// Data is the message as received after dot-unstuffing, CRLF line ends
	// kept, without the final ".". Nil with [Options.DiscardData].
	Data []byte
	// Size is the length of the message data in bytes.
	Size int64
	// SHA256 is the SHA-256 of the message data.
	SHA256 [32]byte
	// TLS tells whether the message came over TLS (STARTTLS or implicit).
	TLS bool
	// ClientCert is the common name of the client's TLS certificate, if it
	// gave one (see [Options.RequestClientCert]).
	ClientCert string
	// AuthUser and AuthMech are the authenticated user and SASL mechanism;
	// empty without AUTH.
	AuthUser, AuthMech string
	// Helo is the name the client gave in EHLO/HELO.
	Helo string
	// UTF8 tells whether MAIL FROM had the SMTPUTF8 parameter.
	UTF8 bool
	// Body is the BODY= parameter of MAIL FROM ("8BITMIME", "7BIT",
	// "BINARYMIME") or "".
	Body string
	// DeclaredSize is the SIZE= parameter of MAIL FROM, or 0.
	DeclaredSize int64
	// Ret and EnvID are the DSN parameters RET= and ENVID= of MAIL FROM.
	Ret, EnvID string
	// Notify holds each recipient's DSN NOTIFY= value ("SUCCESS,FAILURE"),
	// parallel to To; "" where absent.
	Notify []string
	// QueueID is the N of "queued as N" (1, 2, …), or "" with a custom
	// DataReply.
	QueueID string
}

// Parse parses Data as an RFC 5322 message (headers and body).
func (m Message) Parse() (*mail.Message, error) {
	if m.Data == nil {
		return nil, errors.New("smtptest: message data was discarded")
	}
	return mail.ReadMessage(bytes.NewReader(m.Data))
}

func (m Message) clone() Message {
	c := m
	c.To = slices.Clone(m.To)
	c.Notify = slices.Clone(m.Notify)
	if m.Data != nil {
		c.Data = slices.Clone(m.Data)
	}
	return c
}

// Server is a running SMTP test server. Its methods are safe for
// concurrent use.
type Server struct {
	srv        *smtp.Server
	ln         net.Listener
	addr       *net.TCPAddr
	cert       tls.Certificate
	certPEM    []byte
	dir        string
	caFile     string
	done       chan struct{} // closed by Close
	serveDone  chan struct{} // closed when Serve returns
	wg         sync.WaitGroup
	transcript cappedBuffer

	setMu sync.Mutex // serialises SetOptions

	mu       sync.Mutex
	opts     Options
	closed   bool
	msgs     []Message
	changed  chan struct{} // closed and replaced whenever msgs grows
	seq      int
	accepted int
	conns    map[*trackedConn]struct{}

	closeOnce sync.Once
	closeErr  error
}

const transcriptLimit = 1 << 20

// New starts a server with opts. It listens before it returns, so the
// server is ready for clients at once. Call [Server.Close] when done.
func New(opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("smtptest: %w", err)
	}
	o := opts.clone()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Domain == "" {
		o.Domain = "smtptest.invalid"
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtptest: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	cert, certPEM, err := newCert(append(slices.Clone(o.CertHosts), addr.IP.String()))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("smtptest: %w", err)
	}
	dir, err := os.MkdirTemp("", "smtptest-")
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("smtptest: %w", err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o644); err != nil {
		ln.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("smtptest: %w", err)
	}

	s := &Server{
		addr: addr, cert: cert, certPEM: certPEM, dir: dir, caFile: caFile,
		done: make(chan struct{}), serveDone: make(chan struct{}),
		opts: o, changed: make(chan struct{}), conns: make(map[*trackedConn]struct{}),
	}
	s.transcript.limit = transcriptLimit

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = o.Domain
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.Debug = &s.transcript
	srv.ReadTimeout, srv.WriteTimeout = 60*time.Second, 60*time.Second
	srv.AllowInsecureAuth = o.AllowInsecureAuth
	srv.EnableSMTPUTF8, srv.EnableDSN = o.SMTPUTF8, o.DSN
	srv.MaxMessageBytes = o.MaxMessageBytes
	switch {
	case o.MaxLineLength == 0:
		srv.MaxLineLength = 1 << 20
	case o.MaxLineLength < 0:
		srv.MaxLineLength = 0 // unlimited in go-smtp
	default:
		srv.MaxLineLength = o.MaxLineLength
	}
	var tlsCfg *tls.Config
	if o.STARTTLS || o.ImplicitTLS || o.BrokenTLS {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.getCertificate}
		if o.RequestClientCert {
			tlsCfg.ClientAuth = tls.RequestClientCert
		}
	}
	if o.STARTTLS || o.BrokenTLS {
		srv.TLSConfig = tlsCfg
	}
	s.srv = srv

	var l net.Listener = &trackingListener{Listener: ln, s: s}
	if o.ImplicitTLS {
		l = tls.NewListener(l, tlsCfg)
	}
	s.ln = &faultListener{Listener: l, s: s}
	go func() {
		defer close(s.serveDone)
		srv.Serve(s.ln)
	}()
	return s, nil
}

// Start is [New] for tests: it fails t on error and closes the server in
// t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("smtptest.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// FreeAddr returns a loopback address "127.0.0.1:PORT" on which nothing
// listens right now (it listens on port 0, notes the port and closes), for
// "server down" tests: dial it to get "connection refused", then start the
// server later with New(Options{Addr: addr}).
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := FreeAddrOn("127.0.0.1")
	if err != nil {
		t.Fatalf("smtptest.FreeAddr: %v", err)
	}
	return addr
}

// FreeAddrOn is [FreeAddr] for another host (e.g. "127.0.0.2") without a
// testing.TB.
func FreeAddrOn(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

// Addr returns the listen address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr.String() }

// Host returns the listen IP address, e.g. "127.0.0.1".
func (s *Server) Host() string { return s.addr.IP.String() }

// Port returns the listen port.
func (s *Server) Port() int { return s.addr.Port }

// Dial connects to the server whatever network and addr say (both are
// ignored), so it can stand in for a client's dial function and route every
// host, e.g. an MX name, here. With ImplicitTLS the caller still does the
// TLS handshake.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.Addr())
}

// CAFile returns the path of a PEM file holding the server certificate,
// which is its own CA. The file lives in a temporary directory that Close
// removes.
func (s *Server) CAFile() string { return s.caFile }

// CertPEM returns the PEM-encoded server certificate (the CA to trust).
func (s *Server) CertPEM() []byte { return slices.Clone(s.certPEM) }

// CertPool returns a pool holding only the server certificate.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.cert.Leaf)
	return p
}

// ClientTLSConfig returns a client TLS configuration that trusts the
// server certificate. ServerName is left empty: set it (or let the client
// set it) to "localhost", the listen IP or a name from CertHosts.
func (s *Server) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
}

// Options returns the options now in force.
func (s *Server) Options() Options {
	return s.options().clone()
}

func (s *Server) options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts // maps and pointers in s.opts are never mutated, only replaced
}

// SetOptions changes the options while the server runs: f gets a copy of
// the options in force and edits it. New connections and commands see the
// change; fields marked "fixed" in [Options] keep their values. Invalid
// replies or unknown mechanisms make SetOptions panic, as they are bugs in
// the test. f must not call SetOptions.
func (s *Server) SetOptions(f func(*Options)) {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	old := s.options()
	o := old.clone()
	f(&o)
	o.fixFrom(old)
	if err := o.validate(); err != nil {
		panic("smtptest: SetOptions: " + err.Error())
	}
	o = o.clone()
	s.mu.Lock()
	s.opts = o
	s.mu.Unlock()
}

// Messages returns copies of the accepted messages in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.clone()
	}
	return out
}

// Wait blocks until at least n messages have been accepted and returns
// copies of all of them. After timeout, or if the server is closed first,
// it returns the messages so far and an error.
func (s *Server) Wait(n int, timeout time.Duration) ([]Message, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		got, ch := len(s.msgs), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages(), nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return s.Messages(), fmt.Errorf("smtptest: %d of %d messages after %v", got, n, timeout)
		case <-s.done:
			return s.Messages(), fmt.Errorf("smtptest: server closed with %d of %d messages", got, n)
		}
	}
}

// Reset forgets the recorded messages and the transcript.
func (s *Server) Reset() {
	s.mu.Lock()
	s.msgs = nil
	s.mu.Unlock()
	s.transcript.reset()
}

// Connections returns the number of TCP connections accepted so far,
// including those refused by Greeting or held by Hang.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Transcript returns the SMTP dialogue seen so far, both directions
// interleaved as on the wire (after TLS decryption), capped at 1 MiB.
// Connections running at the same time are mixed, and a reply may be
// logged a moment after the client has read it. It is meant for failure
// messages, not for assertions on exact bytes.
func (s *Server) Transcript() string { return s.transcript.String() }

// Close stops listening, closes every connection, waits for all server
// goroutines and removes the CA file. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		err := s.ln.Close()
		<-s.serveDone // no new connections from here on
		s.mu.Lock()
		conns := make([]*trackedConn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		// Shutdown closes nothing new; it waits for the connection handlers,
		// which return now that their connections are closed.
		s.srv.Shutdown(context.Background())
		s.wg.Wait()
		if rerr := os.RemoveAll(s.dir); err == nil {
			err = rerr
		}
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		s.closeErr = err
	})
	return s.closeErr
}

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.options().BrokenTLS {
		return nil, errors.New("smtptest: BrokenTLS")
	}
	return &s.cert, nil
}

func (s *Server) record(m Message, defaultReply bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if defaultReply {
		m.QueueID = strconv.Itoa(s.seq)
	}
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	return m.QueueID
}

// trackingListener counts accepted connections and tracks them so that
// Close can close them.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, s: l.s}
		l.s.mu.Lock()
		closed := l.s.closed
		l.s.accepted++
		if !closed {
			l.s.conns[tc] = struct{}{}
		}
		l.s.mu.Unlock()
		if closed {
			c.Close()
			continue
		}
		return tc, nil
	}
}

type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// faultListener handles Greeting and Hang before go-smtp sees a connection.
// It sits above the TLS listener, so with ImplicitTLS its replies are
// encrypted.
type faultListener struct {
	net.Listener
	s *Server
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		o := l.s.options()
		switch {
		case o.Hang:
			l.s.wg.Add(1)
			go func() {
				defer l.s.wg.Done()
				io.Copy(io.Discard, c)
				c.Close()
			}()
		case o.Greeting != nil && !o.Greeting.ok():
			l.s.wg.Add(1)
			go func(r Reply) {
				defer l.s.wg.Done()
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				line := r.String() + "\r\n"
				io.WriteString(c, line)
				l.s.transcript.Write([]byte(line))
				c.Close()
			}(*o.Greeting)
		default:
			return c, nil
		}
	}
}

// cappedBuffer is a concurrency-safe buffer that keeps the first limit bytes.
type cappedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	limit     int
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room < len(p) {
		if room > 0 {
			b.buf.Write(p[:room])
		}
		b.truncated = true
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return b.buf.String() + "\n[smtptest: transcript truncated]\n"
	}
	return b.buf.String()
}

func (b *cappedBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
	b.truncated = false
}

// session is one SMTP session (from EHLO, and again after STARTTLS).
type session struct {
	s        *Server
	conn     *smtp.Conn
	authUser string
	authMech string
	cur      Message
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

func (ss *session) AuthMechanisms() []string {
	o := ss.s.options()
	if o.NoAuthAdvertised {
		return nil
	}
	if len(o.Mechanisms) == 0 {
		return slices.Clone(defaultMechanisms)
	}
	return slices.Clone(o.Mechanisms)
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	o := ss.s.options()
	if o.NoAuthAdvertised {
		return nil, smtp.ErrAuthUnsupported
	}
	if !slices.Contains(ss.AuthMechanisms(), mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return newSASLServer(mech, ss, o.Domain), nil
}

func (ss *session) password(user string) (string, bool) {
	p, ok := ss.s.options().Users[user]
	return p, ok
}

func (ss *session) bearer(user, token string) bool {
	if check := ss.s.options().Bearer; check != nil {
		return check(user, token)
	}
	return checkPassword(ss, user, token)
}

func (ss *session) authenticated(user, mech string) {
	ss.authUser, ss.authMech = user, mech
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	o := ss.s.options()
	if (len(o.Users) > 0 || o.Bearer != nil) && ss.authUser == "" {
		return errAuthRequired
	}
	if o.MailReply != nil && !o.MailReply.ok() {
		return o.MailReply.smtpError()
	}
	ss.cur = Message{From: from}
	if opts != nil {
		ss.cur.UTF8 = opts.UTF8
		ss.cur.Body = string(opts.Body)
		ss.cur.DeclaredSize = opts.Size
		ss.cur.Ret = string(opts.Return)
		ss.cur.EnvID = opts.EnvelopeID
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	o := ss.s.options()
	if r, ok := o.RcptReplies[strings.ToLower(to)]; ok && !r.ok() {
		return r.smtpError()
	}
	var notify []string
	if opts != nil {
		for _, n := range opts.Notify {
			notify = append(notify, string(n))
		}
	}
	ss.cur.To = append(ss.cur.To, to)
	ss.cur.Notify = append(ss.cur.Notify, strings.Join(notify, ","))
	return nil
}

func (ss *session) Data(r io.Reader) error {
	o := ss.s.options()
	if o.DropInData {
		var buf [512]byte
		for {
			n, err := r.Read(buf[:])
			if n > 0 || err != nil {
				break
			}
		}
		nc := ss.conn.Conn()
		if tc, ok := nc.(*tls.Conn); ok {
			nc = tc.NetConn() // drop, don't send close_notify
		}
		nc.Close()
		return errors.New("smtptest: DropInData")
	}

	h := sha256.New()
	var buf bytes.Buffer
	var w io.Writer = h
	if !o.DiscardData {
		w = io.MultiWriter(h, &buf)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return err
	}
	m := ss.cur
	m.Size = n
	copy(m.SHA256[:], h.Sum(nil))
	if !o.DiscardData {
		m.Data = buf.Bytes()
		if m.Data == nil {
			m.Data = []byte{}
		}
	}
	var st tls.ConnectionState
	st, m.TLS = ss.conn.TLSConnectionState()
	if len(st.PeerCertificates) > 0 {
		m.ClientCert = st.PeerCertificates[0].Subject.CommonName
	}
	m.Helo = ss.conn.Hostname()
	m.AuthUser, m.AuthMech = ss.authUser, ss.authMech

	if o.DataDelay > 0 {
		t := time.NewTimer(o.DataDelay)
		select {
		case <-t.C:
		case <-ss.s.done:
			t.Stop()
			return errors.New("smtptest: server closed")
		}
	}
	if o.DataReply != nil {
		if !o.DataReply.ok() {
			return o.DataReply.smtpError()
		}
		ss.s.record(m, false)
		return o.DataReply.smtpError()
	}
	id := ss.s.record(m, true)
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + id}
}

func (ss *session) Reset() { ss.cur = Message{} }

func (ss *session) Logout() error { return nil }
