package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/wneessen/go-mail/smtp"

	"mailout/message"
)

// TLSMode says how a connection is protected.
type TLSMode string

// TLS modes, as in the tls profile key and the --tls flag.
const (
	TLSStartTLS      TLSMode = "starttls"      // STARTTLS required, certificate verified
	TLSImplicit      TLSMode = "tls"           // TLS from the first byte (port 465)
	TLSOpportunistic TLSMode = "opportunistic" // STARTTLS when offered; plaintext when absent or when the handshake fails
	TLSNone          TLSMode = "none"          // never TLS
)

// Auth holds what AUTH needs. The secret is fetched only when the server
// offers AUTH, so a keyring is never touched by a send that needs none.
type Auth struct {
	Mechanism string // auto (default), plain, login, cram-md5, xoauth2, oauthbearer, scram-sha-256, none
	Username  string // empty: no AUTH
	// Secret returns the password or token. An *Error it returns is kept
	// as it is (an OAuth grant that needs a new login, an identity provider
	// that is down); any other error is a configuration failure.
	Secret func(ctx context.Context) (string, error)
	// Bearer says Secret returns an OAuth access token: auto then picks
	// OAUTHBEARER, else XOAUTH2.
	Bearer bool
	// Rejected, when set, is told the secret the server refused with a
	// 5xx to AUTH, so that an OAuth source stops handing out that token.
	Rejected func(secret string)
	// AllowPlaintext permits AUTH without TLS to a non-loopback server.
	AllowPlaintext bool
}

// dialConfig is what one SMTP connection needs.
type dialConfig struct {
	Addr      string // host:port to dial
	Host      string // server name: TLS verification, AUTH
	Helo      string
	TLS       TLSMode
	TLSConfig *tls.Config
	Auth      Auth
	Timeout   time.Duration
	Dial      DialFunc
	Log       *transcript
}

// conn is an established SMTP session, after EHLO, TLS and AUTH.
type conn struct {
	c      *smtp.Client
	raw    net.Conn
	host   string
	tls    bool
	broken bool
	stop   func() bool
	log    *transcript
	mech   string // the AUTH mechanism used, "" without AUTH
	// outcome is how an MX connection is protected, for its results;
	// zero for a relay.
	outcome tlsOutcome
	// held is the message sendAhead wrote whose reply is still unread.
	held *held
}

// held is a message whose data is written and ended but whose reply is
// still to be read, so that the next message's envelope can follow its end
// of data in the same write (RFC 2920 section 3.1).
type held struct {
	to       []string // the envelope's recipients
	accepted []string
	res      *Result // the recipients refused at RCPT
	errs     []error
}

// sent is the outcome of one message on a conn.
type sent struct {
	rs  []RecipientResult
	err error
}

// open dials and brings a session up to the point where MAIL can be sent.
func open(ctx context.Context, cfg dialConfig) (*conn, error) {
	cn, err := openOnce(ctx, cfg, cfg.TLS)
	var fe *fallbackError
	if errors.As(err, &fe) {
		cfg.Log.note("TLS handshake with %s failed (%v); retrying without TLS", cfg.Host, fe.err)
		return openOnce(ctx, cfg, TLSNone)
	}
	return cn, err
}

// errNoSTARTTLS is a server without STARTTLS where TLS is required.
var errNoSTARTTLS = errors.New("server does not offer STARTTLS")

// fallbackError marks an opportunistic STARTTLS whose handshake failed:
// the connection is unusable, so the caller reconnects in plaintext.
type fallbackError struct{ err error }

func (e *fallbackError) Error() string { return e.err.Error() }

func tlsConfig(cfg dialConfig) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	return tc
}

func openOnce(ctx context.Context, cfg dialConfig, mode TLSMode) (*conn, error) {
	cfg.Log.note("connecting to %s", cfg.Addr)
	raw, err := dial(ctx, cfg.Dial, cfg.Addr, cfg.Timeout)
	if err != nil {
		return nil, netError("connect", cfg.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(err error) (*conn, error) {
		stop()
		raw.Close()
		return nil, err
	}
	var nc net.Conn = raw
	if mode == TLSImplicit {
		tc := tls.Client(raw, tlsConfig(cfg))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(netError("tls", cfg.Host, err))
		}
		cfg.Log.note("TLS established: %s", tlsSummary(tc.ConnectionState()))
		nc = tc
	}
	c, err := smtp.NewClient(nc, cfg.Host)
	if err != nil {
		return fail(greetingError(cfg, err))
	}
	if cfg.Log != nil {
		c.SetLogger(goMailLogger{cfg.Log})
		c.SetDebugLog(true)
	}
	helo := cfg.Helo
	if helo == "" {
		helo = addressLiteral(raw.LocalAddr())
	}
	if err := c.Hello(helo); err != nil {
		return fail(replyError("ehlo", cfg.Host, "", err))
	}
	cn := &conn{c: c, raw: raw, host: cfg.Host, tls: mode == TLSImplicit, stop: stop, log: cfg.Log}
	offered, _ := c.Extension("STARTTLS")
	switch {
	case mode == TLSStartTLS && !offered:
		c.Close()
		return fail(&Error{Kind: Unavailable, Op: "tls", Host: cfg.Host, Err: fmt.Errorf("%w; use --tls tls for port 465, or tls = \"opportunistic\" to allow plaintext", errNoSTARTTLS)})
	case (mode == TLSStartTLS || mode == TLSOpportunistic) && offered:
		if err := c.StartTLS(tlsConfig(cfg)); err != nil {
			c.Close()
			if mode == TLSOpportunistic {
				stop()
				raw.Close()
				return nil, &fallbackError{err: err}
			}
			return fail(replyErrorTLS(cfg.Host, err))
		}
		cn.tls = true
		if st, err := c.GetTLSConnectionState(); err == nil {
			cfg.Log.note("TLS established: %s", tlsSummary(*st))
		}
	}
	if err := authenticate(ctx, cn, cfg); err != nil {
		c.Close()
		return fail(err)
	}
	return cn, nil
}

// greetingError reports a failure while waiting for the 220 greeting. A
// timeout there names the address and says the connection itself worked,
// which points at a server (or a port) that accepts TCP and says nothing.
func greetingError(cfg dialConfig, err error) *Error {
	e := replyError("connect", cfg.Host, "", err)
	// The idle deadline (cfg.Timeout) is what fires while reading it.
	if errors.Is(err, os.ErrDeadlineExceeded) {
		e.Op, e.Host = "greeting", cfg.Addr
		e.Detail = fmt.Sprintf("connected, but no greeting within %s", cfg.Timeout)
	}
	return e
}

// addressLiteral is RFC 5321's name for a client without a domain name:
// the connection's local address, "[192.0.2.1]" or "[IPv6:2001:db8::1]".
func addressLiteral(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP == nil {
		return "[127.0.0.1]"
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		return "[" + ip4.String() + "]"
	}
	return "[IPv6:" + ta.IP.String() + "]"
}

func replyErrorTLS(host string, err error) *Error {
	e := replyError("starttls", host, "", err)
	var rhe tls.RecordHeaderError
	var oe *net.OpError
	remoteAlert := errors.As(err, &oe) && oe.Op == "remote error"
	if e.Code == 0 && (remoteAlert || errors.As(err, &rhe)) {
		return &Error{Kind: Unavailable, Op: "tls", Host: host, Err: fmt.Errorf("TLS handshake failed: %w", err)}
	}
	if e.Kind == Temporary && e.Code == 0 {
		// A handshake that fails for any reason other than the network is
		// a TLS problem a retry will not fix.
		var ne net.Error
		if !errors.As(err, &ne) {
			e.Kind = Unavailable
			e.Op = "tls"
		}
	}
	return e
}

func tlsSummary(st tls.ConnectionState) string {
	s := tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	if len(st.PeerCertificates) > 0 {
		s += ", certificate " + st.PeerCertificates[0].Subject.String()
	}
	return s
}

func isLoopback(c net.Conn) bool {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.IsLoopback()
	}
	return false
}

func authenticate(ctx context.Context, cn *conn, cfg dialConfig) error {
	a := cfg.Auth
	mech := strings.ToLower(a.Mechanism)
	if a.Username == "" || mech == "none" {
		return nil
	}
	ok, list := cn.c.Extension("AUTH")
	if !ok {
		return &Error{Kind: Unavailable, Op: "auth", Host: cfg.Host, Err: errors.New("server offers no AUTH but a username is configured; set auth = \"none\" to send without it")}
	}
	if !cn.tls && !isLoopback(cn.raw) && !a.AllowPlaintext {
		return &Error{Kind: Unavailable, Op: "auth", Host: cfg.Host, Err: errors.New("refusing to send credentials without TLS; use tls = \"starttls\" or \"tls\", or set allow_plaintext_auth = true")}
	}
	offered := map[string]bool{}
	for _, m := range strings.Fields(strings.ToUpper(list)) {
		offered[m] = true
	}
	chosen := ""
	if mech == "" || mech == "auto" {
		prefs := []string{"SCRAM-SHA-256", "PLAIN", "LOGIN"}
		if a.Bearer {
			prefs = []string{"OAUTHBEARER", "XOAUTH2"}
		}
		for _, m := range prefs {
			if offered[m] {
				chosen = m
				break
			}
		}
		if chosen == "" {
			return &Error{Kind: Unavailable, Op: "auth", Host: cfg.Host, Err: fmt.Errorf("no supported AUTH mechanism among %q; set auth explicitly", list)}
		}
	} else {
		chosen = strings.ToUpper(mech)
		if !offered[chosen] {
			return &Error{Kind: Unavailable, Op: "auth", Host: cfg.Host, Err: fmt.Errorf("server does not offer AUTH %s (it offers %q)", chosen, list)}
		}
	}
	if a.Secret == nil {
		return &Error{Kind: Config, Op: "auth", Err: errors.New("no password source")}
	}
	secret, err := a.Secret(ctx)
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return de
		}
		return &Error{Kind: Config, Op: "auth", Err: err}
	}
	var sa smtp.Auth
	switch chosen {
	case "PLAIN":
		sa = smtp.PlainAuth("", a.Username, secret, cfg.Host, true)
	case "LOGIN":
		sa = smtp.LoginAuth(a.Username, secret, cfg.Host, true)
	case "CRAM-MD5":
		sa = smtp.CRAMMD5Auth(a.Username, secret)
	case "SCRAM-SHA-256":
		sa = smtp.ScramSHA256Auth(a.Username, secret)
	case "XOAUTH2":
		sa = smtp.XOAuth2Auth(a.Username, secret)
	case "OAUTHBEARER":
		sa = oauthBearer(a.Username, secret, cfg.Addr)
	default:
		return &Error{Kind: Config, Op: "auth", Err: fmt.Errorf("unsupported auth mechanism %q", mech)}
	}
	cfg.Log.note("authenticating as %s with %s", a.Username, chosen)
	if err := cn.c.Auth(sa); err != nil {
		e := replyError("auth", cfg.Host, "", err)
		if e.Code/100 == 5 {
			e.Kind = AuthFailed
			if a.Rejected != nil {
				a.Rejected(secret)
			}
		}
		return e
	}
	cn.mech = chosen
	return nil
}

// send runs one MAIL/RCPT/DATA transaction. Recipients refused at RCPT
// are reported and the message still goes to the accepted ones.
func (cn *conn) send(ctx context.Context, env message.Envelope, msg message.Message) ([]RecipientResult, error) {
	res := &Result{}
	if utf8Needed(env) {
		if ok, _ := cn.c.Extension("SMTPUTF8"); !ok {
			err := &Error{Kind: Unavailable, Op: "mail", Host: cn.host, Err: errors.New("an address has a non-ASCII local part and the server does not offer SMTPUTF8")}
			res.failAll(env.To, cn.host, err)
			return res.Recipients, err
		}
	}
	var (
		accepted []string
		errs     []error
		w        io.WriteCloser
		fatal    *Error
	)
	if ok, _ := cn.c.Extension("PIPELINING"); ok {
		accepted, w, fatal = cn.pipelinedEnvelope(env, res, &errs)
	} else {
		accepted, w, fatal = cn.envelope(env, res, &errs)
	}
	if fatal != nil {
		res.failAll(remaining(env.To, res.Recipients), cn.host, fatal)
		return orderLike(env.To, res.Recipients), Worst(append(errs, fatal)...)
	}
	if len(accepted) == 0 {
		return orderLike(env.To, res.Recipients), Worst(errs...)
	}
	if _, err := msg.WriteTo(w); err != nil {
		cn.broken = true
		var ie *message.InputError
		if errors.As(err, &ie) {
			return nil, err
		}
		e := netError("data", cn.host, err)
		res.failAll(accepted, cn.host, e)
		return orderLike(env.To, res.Recipients), Worst(append(errs, e)...)
	}
	reply, err := cn.endData(w)
	r := cn.ended(&held{to: env.To, accepted: accepted, res: res, errs: errs}, reply, err)
	return r.rs, r.err
}

// ended gives a message its outcome from the reply to its end of data.
func (cn *conn) ended(h *held, reply string, err error) sent {
	res := h.res
	if err != nil {
		cn.log.line("<-", "%v", err)
		e := replyError("data", cn.host, "", err)
		cn.broken = cn.broken || e.Code == 0
		res.failAll(h.accepted, cn.host, e)
		return sent{orderLike(h.to, res.Recipients), Worst(append(h.errs, e)...)}
	}
	cn.log.line("<-", "%s", reply)
	for _, a := range h.accepted {
		res.Recipients = append(res.Recipients, RecipientResult{Address: a, Status: Accepted, Host: cn.host, Reply: reply})
	}
	return sent{orderLike(h.to, res.Recipients), Worst(h.errs...)}
}

// pipelines reports whether the server takes commands in groups.
func (cn *conn) pipelines() bool {
	ok, _ := cn.c.Extension("PIPELINING")
	return ok
}

// sendAhead is send through a server that offers PIPELINING, except that
// the message's end of data is left in the write buffer and its reply
// unread (cn.held): the next sendAhead writes its envelope behind it, so
// one write and one round trip carry the end of one message and the
// envelope of the next. It returns the outcome of the message held before,
// if there was one, and this message's own unless it is now held.
func (cn *conn) sendAhead(env message.Envelope, msg message.Message) (prev, cur *sent) {
	fail := func(err *Error) *sent {
		res := &Result{}
		res.failAll(env.To, cn.host, err)
		return &sent{res.Recipients, err}
	}
	if utf8Needed(env) {
		if ok, _ := cn.c.Extension("SMTPUTF8"); !ok {
			return cn.flushHeld(), fail(&Error{Kind: Unavailable, Op: "mail", Host: cn.host, Err: errors.New("an address has a non-ASCII local part and the server does not offer SMTPUTF8")})
		}
	}
	if e := cn.writeEnvelope(env); e != nil {
		if cn.broken {
			return cn.lostHeld(e), fail(e)
		}
		return cn.flushHeld(), fail(e)
	}
	if cn.held != nil {
		if prev = cn.readHeld(); cn.broken {
			return prev, fail(netError("mail", cn.host, errors.New("connection lost before the server answered MAIL")))
		}
	}
	res := &Result{}
	var errs []error
	accepted, w, fatal := cn.readEnvelope(env, res, &errs)
	if fatal != nil {
		res.failAll(remaining(env.To, res.Recipients), cn.host, fatal)
		return prev, &sent{orderLike(env.To, res.Recipients), Worst(append(errs, fatal)...)}
	}
	if len(accepted) == 0 {
		return prev, &sent{orderLike(env.To, res.Recipients), Worst(errs...)}
	}
	if _, err := msg.WriteTo(w); err != nil {
		cn.broken = true
		var ie *message.InputError
		if errors.As(err, &ie) {
			return prev, &sent{nil, err}
		}
		e := netError("data", cn.host, err)
		res.failAll(accepted, cn.host, e)
		return prev, &sent{orderLike(env.To, res.Recipients), Worst(append(errs, e)...)}
	}
	w.end()
	cn.held = &held{to: env.To, accepted: accepted, res: res, errs: errs}
	return prev, nil
}

// flushHeld sends the held message's end of data and reads its reply; nil
// when no message is held.
func (cn *conn) flushHeld() *sent {
	if cn.held == nil {
		return nil
	}
	if err := cn.c.Text.W.Flush(); err != nil {
		cn.broken = true
		return cn.lostHeld(netError("data", cn.host, err))
	}
	return cn.readHeld()
}

// readHeld reads the reply to the held message's end of data.
func (cn *conn) readHeld() *sent {
	h := cn.held
	cn.held = nil
	code, msg, err := cn.c.Text.ReadResponse(250)
	r := cn.ended(h, fmt.Sprintf("%d %s", code, msg), err)
	return &r
}

// lostHeld fails the held message, if any, with a connection lost before
// its reply: the server may have taken it, so it is not retried at once.
func (cn *conn) lostHeld(e *Error) *sent {
	h := cn.held
	if h == nil {
		return nil
	}
	cn.held = nil
	if e.Op != "data" {
		e = &Error{Kind: e.Kind, Op: "data", Host: e.Host, Err: e.Err}
	}
	h.res.failAll(h.accepted, cn.host, e)
	return &sent{orderLike(h.to, h.res.Recipients), Worst(append(h.errs, e)...)}
}

// remaining lists the recipients without a result yet.
func remaining(all []string, done []RecipientResult) []string {
	seen := make(map[string]bool, len(done))
	for _, r := range done {
		seen[r.Address] = true
	}
	var out []string
	for _, a := range all {
		if !seen[a] {
			out = append(out, a)
		}
	}
	return out
}

// envelope sends MAIL, each RCPT and DATA one at a time. Refused
// recipients go into res; a failure that ends the transaction is returned.
func (cn *conn) envelope(env message.Envelope, res *Result, errs *[]error) ([]string, io.WriteCloser, *Error) {
	dsnMail, dsnRcpt := cn.dsnParams(env)
	if err := cn.c.Mail("<" + env.From + ">" + dsnMail); err != nil {
		e := replyError("mail", cn.host, "", err)
		cn.broken = e.Code == 0
		return nil, nil, e
	}
	var accepted []string
	for _, rcpt := range env.To {
		if err := cn.c.Rcpt("<" + rcpt + ">" + dsnRcpt); err != nil {
			e := replyError("rcpt", cn.host, rcpt, err)
			if e.Code == 0 {
				cn.broken = true
				return nil, nil, e
			}
			res.Recipients = append(res.Recipients, RecipientResult{Address: rcpt, Status: statusFor(e), Host: cn.host, Reply: replyText(e), Err: e})
			*errs = append(*errs, e)
			continue
		}
		accepted = append(accepted, rcpt)
	}
	if len(accepted) == 0 {
		cn.c.Reset()
		return nil, nil, nil
	}
	w, err := cn.c.Data()
	if err != nil {
		e := replyError("data", cn.host, "", err)
		cn.broken = e.Code == 0
		return nil, nil, e
	}
	return accepted, w, nil
}

// pipelinedEnvelope sends MAIL, every RCPT and DATA in one write and then
// reads the replies in order (RFC 2920): two round trips per message
// instead of three plus one per recipient.
func (cn *conn) pipelinedEnvelope(env message.Envelope, res *Result, errs *[]error) ([]string, io.WriteCloser, *Error) {
	if e := cn.writeEnvelope(env); e != nil {
		return nil, nil, e
	}
	accepted, w, fatal := cn.readEnvelope(env, res, errs)
	if w == nil {
		// A nil *dotWriter in the interface would not compare to nil.
		return accepted, nil, fatal
	}
	return accepted, w, fatal
}

// writeEnvelope writes MAIL, every RCPT and DATA behind whatever the write
// buffer holds and sends them in one write.
func (cn *conn) writeEnvelope(env message.Envelope) *Error {
	t := cn.c.Text
	params := ""
	if ok, _ := cn.c.Extension("8BITMIME"); ok {
		params += " BODY=8BITMIME"
	}
	if utf8Needed(env) {
		params += " SMTPUTF8"
	}
	dsnMail, dsnRcpt := cn.dsnParams(env)
	cmds := make([]string, 0, len(env.To)+2)
	cmds = append(cmds, "MAIL FROM:<"+env.From+">"+params+dsnMail)
	for _, r := range env.To {
		cmds = append(cmds, "RCPT TO:<"+r+">"+dsnRcpt)
	}
	cmds = append(cmds, "DATA")
	// Every command is checked before any is written: the buffer may
	// hold a message's end of data, which must go out alone then.
	for _, c := range cmds {
		if strings.ContainsAny(c, "\r\n") {
			return &Error{Kind: Data, Op: "mail", Err: errors.New("an address contains a line break")}
		}
	}
	for _, c := range cmds {
		cn.log.line("->", "%s", c)
		t.W.WriteString(c + "\r\n")
	}
	if err := t.W.Flush(); err != nil {
		cn.broken = true
		return netError("mail", cn.host, err)
	}
	return nil
}

// readEnvelope reads the replies to writeEnvelope's commands, in order.
// Refused recipients go into res; a failure that ends the transaction is
// returned. With a recipient accepted and DATA too, it returns the writer
// for the message's content.
func (cn *conn) readEnvelope(env message.Envelope, res *Result, errs *[]error) ([]string, *dotWriter, *Error) {
	t := cn.c.Text
	read := func(op, rcpt string, expect int) *Error {
		code, msg, err := t.ReadResponse(expect)
		if err != nil {
			e := replyError(op, cn.host, rcpt, err)
			cn.broken = cn.broken || e.Code == 0
			if e.Code != 0 {
				cn.log.line("<-", "%d %s", e.Code, e.Reply)
			}
			return e
		}
		cn.log.line("<-", "%d %s", code, msg)
		return nil
	}
	mailErr := read("mail", "", 250)
	if mailErr != nil && cn.broken {
		return nil, nil, mailErr
	}
	var accepted []string
	for _, rcpt := range env.To {
		e := read("rcpt", rcpt, 25)
		switch {
		case e != nil && cn.broken:
			return nil, nil, e
		case mailErr != nil:
			// The server refused MAIL; its RCPT and DATA replies say so again.
		case e != nil:
			res.Recipients = append(res.Recipients, RecipientResult{Address: rcpt, Status: statusFor(e), Host: cn.host, Reply: replyText(e), Err: e})
			*errs = append(*errs, e)
		default:
			accepted = append(accepted, rcpt)
		}
	}
	dataErr := read("data", "", 354)
	if dataErr != nil && cn.broken {
		return nil, nil, dataErr
	}
	if dataErr == nil && (mailErr != nil || len(accepted) == 0) {
		// DATA was accepted with no recipient: end the empty message
		// and let the server refuse it.
		w := t.DotWriter()
		w.Close()
		t.ReadResponse(0)
	}
	switch {
	case mailErr != nil:
		return nil, nil, mailErr
	case len(accepted) == 0:
		return nil, nil, nil
	case dataErr != nil:
		return nil, nil, dataErr
	}
	return accepted, newDotWriter(t.W), nil
}

// endData ends the message and returns the server's reply to it.
func (cn *conn) endData(w io.WriteCloser) (string, error) {
	if dc, ok := w.(*smtp.DataCloser); ok {
		if err := dc.Close(); err != nil {
			return "", err
		}
		return "250 " + dc.ServerResponse(), nil
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	code, msg, err := cn.c.Text.ReadResponse(250)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d %s", code, msg), nil
}

// orderLike returns results in the envelope's recipient order.
func orderLike(order []string, rs []RecipientResult) []RecipientResult {
	idx := make(map[string]int, len(order))
	for i, a := range order {
		if _, dup := idx[a]; !dup {
			idx[a] = i
		}
	}
	out := make([]RecipientResult, len(rs))
	copy(out, rs)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && idx[out[j-1].Address] > idx[out[j].Address]; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out
}

func utf8Needed(env message.Envelope) bool {
	if message.NeedsSMTPUTF8(env.From) {
		return true
	}
	for _, r := range env.To {
		if message.NeedsSMTPUTF8(r) {
			return true
		}
	}
	return false
}

// close ends the session politely.
func (cn *conn) close() {
	cn.flushHeld() // a caller that wanted its outcome asked for it first
	if !cn.broken {
		cn.c.Quit()
	}
	cn.c.Close()
	cn.stop()
	cn.raw.Close()
}
