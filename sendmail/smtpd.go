package sendmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailout/internal/text"
)

// ErrIncomplete is what [Serve] returns when its input ended in the middle
// of a transaction (after MAIL, or inside DATA): that message was not
// relayed. Callers exit 75 (EX_TEMPFAIL).
var ErrIncomplete = errors.New("input ended in the middle of a message: it was not sent")

// Envelope is one message's MAIL FROM and RCPT TO addresses as the client
// gave them, without the angle brackets; From is "" for "<>".
type Envelope struct {
	From string
	To   []string
}

// DeliverFunc relays one message of an SMTP dialogue. msg is the message
// as received (dot-unstuffed); an error reading it means the client went
// away, and nothing may be sent. It returns the text of the 250 reply, or
// an error: a *Reply is sent as it is, a *DataError becomes 554 5.6.0 and
// any other error 451 4.3.0 (a local problem the client may retry).
type DeliverFunc func(ctx context.Context, env Envelope, msg io.Reader) (string, error)

// Reply is an SMTP reply for the end of DATA, such as the relay's own
// refusal passed back.
type Reply struct {
	// Code is the three-digit reply code: 4xx or 5xx, or 250 for a message
	// accepted with a remark.
	Code int
	// Text is the reply text, one line; an RFC 3463 code at its start
	// ("5.1.1 ...") becomes the reply's enhanced status code.
	Text string
}

// Error is the reply as it goes on the wire, without CRLF.
func (r *Reply) Error() string { return fmt.Sprintf("%d %s", r.Code, r.Text) }

// ServeOptions configure [Serve].
type ServeOptions struct {
	// Domain names this host in the greeting and the EHLO reply.
	Domain string
	// Deliver relays each message; it is called once the final "." is in,
	// and its answer is the reply to it.
	Deliver DeliverFunc
	// Logf receives what the dialogue cannot tell the client (a protocol
	// error of go-smtp's, for instance); nil discards it.
	Logf func(format string, args ...any)
}

// Serve speaks SMTP as a server on in and out, as sendmail -bs does: the
// 220 greeting, EHLO/HELO (8BITMIME, SMTPUTF8, PIPELINING and SIZE
// offered, AUTH not: the caller is local), MAIL, RCPT, DATA, RSET, NOOP and
// QUIT, for any number of messages. It returns nil after QUIT or at the end
// of the input between messages, and [ErrIncomplete] when the input ended
// inside one.
func Serve(ctx context.Context, in io.Reader, out io.Writer, o ServeOptions) error {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	conn := &stdioConn{in: in, out: out, closed: make(chan struct{})}
	st := &dialogue{ctx: ctx, o: o}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{d: st}, nil
	}))
	srv.Domain = o.Domain
	srv.EnableSMTPUTF8 = true
	// A message line of any length gets in, as it does piped: the fix-ups
	// fold it (go-smtp's default of 2000 would drop the connection on a
	// line of minified HTML).
	srv.MaxLineLength = 0
	srv.ErrorLog = logger(logf)
	l := newOneConnListener(conn)
	go func() {
		select {
		case <-conn.closed:
		case <-ctx.Done():
			// A blocked read of stdin cannot be interrupted: close the
			// connection under it and return.
		}
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	// The listener closes only after the connection (or with ctx, which
	// closes the connection too): its last reply is out.
	<-conn.closed
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.broken || conn.endedWithoutQuit() && st.open {
		return ErrIncomplete
	}
	return ctx.Err()
}

// Refuse answers an SMTP client that mailout cannot serve at all (no
// usable configuration) with a 421 in place of the greeting, as RFC 5321
// allows, so the client reports why.
func Refuse(out io.Writer, why string) error {
	_, err := fmt.Fprintf(out, "421 4.3.0 %s\r\n", text.OneLine(why))
	return err
}

// dialogue is the state the exit status depends on.
type dialogue struct {
	ctx    context.Context
	o      ServeOptions
	mu     sync.Mutex
	open   bool // MAIL given, the transaction not yet over
	broken bool // a message's data ended before its final "."
}

func (d *dialogue) setOpen(open bool) {
	d.mu.Lock()
	d.open = open
	d.mu.Unlock()
}

// session is one go-smtp session: one envelope at a time.
type session struct {
	d   *dialogue
	env Envelope
}

func (s *session) Reset() {
	s.env = Envelope{}
	s.d.setOpen(false)
}

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.env = Envelope{From: from}
	s.d.setOpen(true)
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.env.To = append(s.env.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	tr := &trackingReader{r: r}
	reply, err := s.d.o.Deliver(s.d.ctx, s.env, tr)
	if tr.err != nil {
		// The client went away inside DATA: whatever Deliver made of the
		// half message, it was told not to send it.
		s.d.mu.Lock()
		s.d.broken = true
		s.d.mu.Unlock()
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "message incomplete: not sent"}
	}
	if err != nil {
		return smtpError(err)
	}
	if reply == "" {
		reply = "OK"
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: text.OneLine(reply)}
}

// smtpError is the reply for a failed delivery.
func smtpError(err error) *smtp.SMTPError {
	var r *Reply
	var de *DataError
	switch {
	case errors.As(err, &r) && r.Code >= 200 && r.Code < 600:
		enh, msg := splitEnhanced(r.Code, text.OneLine(r.Text))
		return &smtp.SMTPError{Code: r.Code, EnhancedCode: enh, Message: msg}
	case errors.As(err, &de):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: text.OneLine(err.Error())}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: text.OneLine(err.Error())}
}

// splitEnhanced takes an RFC 3463 code ("5.1.1") off the start of text
// when its class matches code's, else gives the generic X.0.0.
func splitEnhanced(code int, text string) (smtp.EnhancedCode, string) {
	enh := smtp.EnhancedCode{code / 100, 0, 0}
	first, rest, _ := strings.Cut(text, " ")
	var a, b, c int
	if n, err := fmt.Sscanf(first, "%d.%d.%d", &a, &b, &c); err == nil && n == 3 && a == code/100 &&
		fmt.Sprintf("%d.%d.%d", a, b, c) == first {
		return smtp.EnhancedCode{a, b, c}, rest
	}
	return enh, text
}

// trackingReader remembers the first read error other than io.EOF: go-smtp
// reports a DATA section cut short by the end of the input that way.
type trackingReader struct {
	r   io.Reader
	err error
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// stdioConn is stdin and stdout as the one connection go-smtp serves.
type stdioConn struct {
	in     io.Reader
	out    io.Writer
	once   sync.Once
	closed chan struct{}
	mu     sync.Mutex
	sawEOF bool
	quit   bool // the 221 to QUIT went out
}

func (c *stdioConn) Read(p []byte) (int, error) {
	n, err := c.in.Read(p)
	if err == io.EOF {
		c.mu.Lock()
		c.sawEOF = true
		c.mu.Unlock()
	}
	return n, err
}

// endedWithoutQuit reports whether the input ended with no QUIT: after
// QUIT an open transaction was abandoned by the client, not cut short.
func (c *stdioConn) endedWithoutQuit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sawEOF && !c.quit
}

// Write passes go-smtp's replies on, but for its 502 to a command out of
// sequence (RCPT before MAIL, DATA before RCPT): RFC 5321 section 4.2.4
// says 503 there, and 502 means the command is not implemented. go-smtp
// writes (and flushes) each reply line on its own.
func (c *stdioConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("221 ")) {
		c.mu.Lock()
		c.quit = true
		c.mu.Unlock()
	}
	if bytes.HasPrefix(p, outOfSequence) {
		if _, err := c.out.Write(append([]byte("503"), p[3:]...)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.out.Write(p)
}

var outOfSequence = []byte("502 5.5.1 Missing ")

func (c *stdioConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *stdioConn) LocalAddr() net.Addr              { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr             { return stdioAddr{} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdin/stdout" }

// oneConnListener hands out its one connection, then blocks until closed.
type oneConnListener struct {
	conns  chan net.Conn // holds the one connection until accepted
	closed chan struct{}
	once   sync.Once
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return stdioAddr{} }

// logger adapts Logf to go-smtp's Logger.
type logger func(format string, args ...any)

func (f logger) Printf(format string, v ...any) { f(format, v...) }
func (f logger) Println(v ...any)               { f("%s", strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }
