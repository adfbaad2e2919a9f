package smtptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/wneessen/go-mail/smtp"
)

const testMsg = "From: a@example.test\r\nTo: x@example.test\r\nSubject: hi\r\n\r\nbody\r\n.leading dot\r\n"

// dial connects a go-mail SMTP client to srv and sends EHLO.
func dial(t *testing.T, srv *Server) *gosmtp.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c, err := gosmtp.NewClient(conn, "localhost")
	if err != nil {
		conn.Close()
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	return c
}

func tlsConfig(srv *Server, name string) *tls.Config {
	cfg := srv.ClientTLSConfig()
	cfg.ServerName = name
	return cfg
}

// send runs one transaction and returns the server's final reply text.
func send(c *gosmtp.Client, from string, to []string, data string) (string, error) {
	if err := c.Mail("<" + from + ">"); err != nil {
		return "", fmt.Errorf("MAIL: %w", err)
	}
	for _, r := range to {
		if err := c.Rcpt("<" + r + ">"); err != nil {
			return "", fmt.Errorf("RCPT %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", fmt.Errorf("DATA: %w", err)
	}
	if _, err := io.WriteString(w, data); err != nil {
		return "", fmt.Errorf("write: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("end of data: %w", err)
	}
	return w.(*gosmtp.DataCloser).ServerResponse(), nil
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != code {
		t.Fatalf("error = %v, want SMTP reply %d", err, code)
	}
}

func TestPlainDelivery(t *testing.T) {
	srv := Start(t, Options{})
	c := dial(t, srv)
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised without Options.STARTTLS")
	}
	if ok, _ := c.Extension("8BITMIME"); !ok {
		t.Error("8BITMIME not advertised")
	}
	resp, err := send(c, "a@example.test", []string{"x@example.test", "Y@Example.test"}, testMsg)
	if err != nil {
		t.Fatal(err)
	}
	if resp != "2.0.0 OK: queued as 1" {
		t.Errorf("final reply = %q, want %q", resp, "2.0.0 OK: queued as 1")
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "a@example.test" || strings.Join(m.To, ",") != "x@example.test,Y@Example.test" {
		t.Errorf("envelope = %q -> %q", m.From, m.To)
	}
	if string(m.Data) != testMsg || m.Size != int64(len(testMsg)) || m.SHA256 != sha256.Sum256([]byte(testMsg)) {
		t.Errorf("data = %q (size %d)", m.Data, m.Size)
	}
	if m.TLS || m.AuthUser != "" || m.Helo != "client.example.test" || m.Body != "8BITMIME" || m.QueueID != "1" {
		t.Errorf("message = %+v", m)
	}
	pm, err := m.Parse()
	if err != nil || pm.Header.Get("Subject") != "hi" {
		t.Errorf("Parse: subject %q, err %v", pm.Header.Get("Subject"), err)
	}
	// A second transaction on the same connection.
	if resp, err := send(c, "", []string{"z@example.test"}, "Subject: 2\r\n\r\n"); err != nil || !strings.HasSuffix(resp, "queued as 2") {
		t.Fatalf("second send = %q, %v", resp, err)
	}
	if got := srv.Messages()[1].From; got != "" {
		t.Errorf("null sender recorded as %q", got)
	}
	if srv.Connections() != 1 {
		t.Errorf("Connections = %d, want 1", srv.Connections())
	}
	if tr := srv.Transcript(); !strings.Contains(tr, "EHLO client.example.test") || !strings.Contains(tr, "queued as 1") {
		t.Errorf("transcript lacks the dialogue:\n%s", tr)
	}
}

func TestSTARTTLSAndAuthOnlyAfterTLS(t *testing.T) {
	srv := Start(t, Options{STARTTLS: true, Users: map[string]string{"alice": "pw"}})
	c := dial(t, srv)
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not advertised")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH advertised before TLS without AllowInsecureAuth")
	}
	// MAIL before AUTH is refused.
	wantCode(t, c.Mail("<a@example.test>"), 530)
	if err := c.StartTLS(tlsConfig(srv, "localhost")); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("AUTH after TLS = %v %q, want PLAIN LOGIN", ok, mechs)
	}
	if err := c.Auth(gosmtp.PlainAuth("", "alice", "pw", "localhost", false)); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if _, err := send(c, "a@example.test", []string{"x@example.test"}, testMsg); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if !m.TLS || m.AuthUser != "alice" || m.AuthMech != "PLAIN" {
		t.Errorf("TLS=%v AuthUser=%q AuthMech=%q", m.TLS, m.AuthUser, m.AuthMech)
	}
}

func TestCAFileVerifiesForAllNames(t *testing.T) {
	srv := Start(t, Options{Addr: "127.0.0.2:0", STARTTLS: true, CertHosts: []string{"mx1.example.test", "10.9.8.7"}})
	if srv.Host() != "127.0.0.2" {
		t.Fatalf("Host = %q", srv.Host())
	}
	pemBytes, err := os.ReadFile(srv.CAFile())
	if err != nil || !bytes.Equal(pemBytes, srv.CertPEM()) {
		t.Fatalf("CAFile: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CA file holds no certificate")
	}
	for _, name := range []string{"localhost", "127.0.0.1", "127.0.0.2", "127.0.0.9", "::1", "mx1.example.test", "10.9.8.7"} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, srv)
			if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: name}); err != nil {
				t.Fatalf("StartTLS as %s: %v", name, err)
			}
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		c := dial(t, srv)
		if err := c.StartTLS(&tls.Config{ServerName: "localhost"}); err == nil {
			t.Fatal("StartTLS verified the self-signed cert against system roots")
		}
	})
	t.Run("wrong name", func(t *testing.T) {
		c := dial(t, srv)
		if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "other.example.test"}); err == nil {
			t.Fatal("StartTLS accepted a name not in the cert")
		}
	})
	dir := srv.CAFile()
	srv.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CA file still there after Close: %v", err)
	}
}

func TestAuthMechanisms(t *testing.T) {
	users := map[string]string{"alice": "correct horse", "bob@example.test": "tok-123"}
	mechs := []string{MechPlain, MechLogin, MechCRAMMD5, MechSCRAMSHA256, MechXOAUTH2}
	srv := Start(t, Options{AllowInsecureAuth: true, Users: users, Mechanisms: []string{"plain", "LOGIN", "cram-md5", "SCRAM-SHA-256", "XOAUTH2"}})
	clients := map[string]func(user, pass string) gosmtp.Auth{
		MechPlain:       func(u, p string) gosmtp.Auth { return gosmtp.PlainAuth("", u, p, "localhost", true) },
		MechLogin:       func(u, p string) gosmtp.Auth { return gosmtp.LoginAuth(u, p, "localhost", true) },
		MechCRAMMD5:     gosmtp.CRAMMD5Auth,
		MechSCRAMSHA256: gosmtp.ScramSHA256Auth,
		MechXOAUTH2:     gosmtp.XOAuth2Auth,
	}
	for _, mech := range mechs {
		for _, user := range []string{"alice", "bob@example.test"} {
			t.Run(mech+"/"+user+"/ok", func(t *testing.T) {
				c := dial(t, srv)
				if ok, adv := c.Extension("AUTH"); !ok || adv != "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 XOAUTH2" {
					t.Fatalf("AUTH advertised %v %q", ok, adv)
				}
				if err := c.Auth(clients[mech](user, users[user])); err != nil {
					t.Fatalf("Auth: %v", err)
				}
				srv.Reset()
				if _, err := send(c, "a@example.test", []string{"x@example.test"}, testMsg); err != nil {
					t.Fatal(err)
				}
				m := srv.Messages()[0]
				if m.AuthUser != user || m.AuthMech != mech {
					t.Errorf("AuthUser=%q AuthMech=%q, want %q %q", m.AuthUser, m.AuthMech, user, mech)
				}
			})
		}
		t.Run(mech+"/wrong password", func(t *testing.T) {
			c := dial(t, srv)
			wantCode(t, c.Auth(clients[mech]("alice", "wrong")), 535)
		})
		t.Run(mech+"/unknown user", func(t *testing.T) {
			c := dial(t, srv)
			wantCode(t, c.Auth(clients[mech]("mallory", "correct horse")), 535)
		})
	}
}

func TestSCRAMPlusNotOffered(t *testing.T) {
	srv := Start(t, Options{STARTTLS: true, Users: map[string]string{"alice": "pw"}, Mechanisms: []string{MechSCRAMSHA256}})
	c := dial(t, srv)
	if err := c.StartTLS(tlsConfig(srv, "localhost")); err != nil {
		t.Fatal(err)
	}
	st, _ := c.TLSConnectionState()
	wantCode(t, c.Auth(gosmtp.ScramSHA256PlusAuth("alice", "pw", &st)), 504)
}

// rawConn speaks SMTP by hand for exchanges the go-mail client cannot make.
type rawConn struct {
	t *testing.T
	*textproto.Conn
}

func dialRaw(t *testing.T, srv *Server) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := &rawConn{t, textproto.NewConn(conn)}
	t.Cleanup(func() { r.Close() })
	r.expect(220)
	r.cmd(250, "EHLO raw.example.test")
	return r
}

func (r *rawConn) expect(code int) string {
	r.t.Helper()
	_, msg, err := r.ReadResponse(code)
	if err != nil {
		r.t.Fatalf("want %d: %v", code, err)
	}
	return msg
}

func (r *rawConn) cmd(code int, line string) string {
	r.t.Helper()
	if err := r.PrintfLine("%s", line); err != nil {
		r.t.Fatal(err)
	}
	return r.expect(code)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAuthEdgeCases(t *testing.T) {
	srv := Start(t, Options{AllowInsecureAuth: true, Users: map[string]string{"alice": "pw"},
		Mechanisms: []string{MechPlain, MechLogin, MechSCRAMSHA256, MechXOAUTH2, MechCRAMMD5}})
	t.Run("LOGIN with initial response", func(t *testing.T) {
		r := dialRaw(t, srv)
		if got := r.cmd(334, "AUTH LOGIN "+b64("alice")); got != b64("Password:") {
			t.Errorf("challenge = %q", got)
		}
		r.cmd(235, b64("pw"))
	})
	t.Run("LOGIN challenges", func(t *testing.T) {
		r := dialRaw(t, srv)
		if got := r.cmd(334, "AUTH LOGIN"); got != b64("Username:") {
			t.Errorf("challenge = %q", got)
		}
		r.cmd(334, b64("alice"))
		r.cmd(535, b64("nope"))
	})
	t.Run("PLAIN without initial response", func(t *testing.T) {
		r := dialRaw(t, srv)
		r.cmd(334, "AUTH PLAIN")
		r.cmd(235, b64("\x00alice\x00pw"))
		r.cmd(503, "AUTH PLAIN "+b64("\x00alice\x00pw"))
	})
	t.Run("PLAIN authzid of another user", func(t *testing.T) {
		r := dialRaw(t, srv)
		r.cmd(535, "AUTH PLAIN "+b64("bob\x00alice\x00pw"))
	})
	t.Run("cancelled", func(t *testing.T) {
		r := dialRaw(t, srv)
		r.cmd(334, "AUTH LOGIN")
		r.cmd(501, "*")
		r.cmd(530, "MAIL FROM:<a@example.test>")
	})
	t.Run("SCRAM channel binding refused", func(t *testing.T) {
		r := dialRaw(t, srv)
		r.cmd(535, "AUTH SCRAM-SHA-256 "+b64("p=tls-exporter,,n=alice,r=abc"))
	})
	t.Run("SCRAM bad proof", func(t *testing.T) {
		r := dialRaw(t, srv)
		first := r.cmd(334, "AUTH SCRAM-SHA-256 "+b64("n,,n=alice,r=abc"))
		sf, _ := base64.StdEncoding.DecodeString(first)
		nonce := strings.TrimPrefix(strings.Split(string(sf), ",")[0], "r=")
		if !strings.HasPrefix(nonce, "abc") || len(nonce) <= 3 || !strings.Contains(string(sf), ",i=4096") {
			t.Fatalf("server-first = %q", sf)
		}
		r.cmd(535, b64("c=biws,r="+nonce+",p="+b64(strings.Repeat("x", 32))))
	})
	t.Run("XOAUTH2 bad token", func(t *testing.T) {
		r := dialRaw(t, srv)
		ch := r.cmd(334, "AUTH XOAUTH2 "+b64("user=alice\x01auth=Bearer bad\x01\x01"))
		if js, _ := base64.StdEncoding.DecodeString(ch); !strings.Contains(string(js), `"status":"401"`) {
			t.Errorf("error challenge = %q", js)
		}
		r.cmd(535, "")
	})
	t.Run("CRAM-MD5 challenge", func(t *testing.T) {
		r := dialRaw(t, srv)
		ch, _ := base64.StdEncoding.DecodeString(r.cmd(334, "AUTH CRAM-MD5"))
		if !strings.HasPrefix(string(ch), "<") || !strings.HasSuffix(string(ch), "@smtptest.invalid>") {
			t.Errorf("challenge = %q", ch)
		}
		r.cmd(535, b64("alice 00"))
	})
	t.Run("no users", func(t *testing.T) {
		open := Start(t, Options{AllowInsecureAuth: true})
		r := dialRaw(t, open)
		r.cmd(535, "AUTH PLAIN "+b64("\x00alice\x00pw"))
		r.cmd(250, "MAIL FROM:<a@example.test>") // no AUTH required without Users
	})
}

func TestUnknownMechanismAndNoAuthAdvertised(t *testing.T) {
	if _, err := New(Options{Mechanisms: []string{"NTLM"}}); err == nil {
		t.Fatal("New accepted an unknown mechanism")
	}
	srv := Start(t, Options{AllowInsecureAuth: true, Users: map[string]string{"alice": "pw"}, NoAuthAdvertised: true})
	c := dial(t, srv)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatal("AUTH advertised with NoAuthAdvertised")
	}
	wantCode(t, c.Auth(gosmtp.PlainAuth("", "alice", "pw", "localhost", true)), 502)

	// LOGIN not offered: 504.
	srv2 := Start(t, Options{AllowInsecureAuth: true, Users: map[string]string{"alice": "pw"}, Mechanisms: []string{MechPlain}})
	wantCode(t, dial(t, srv2).Auth(gosmtp.LoginAuth("alice", "pw", "localhost", true)), 504)
}

func TestImplicitTLS(t *testing.T) {
	srv := Start(t, Options{ImplicitTLS: true, Users: map[string]string{"alice": "pw"}})
	conn, err := tls.Dial("tcp", srv.Addr(), tlsConfig(srv, "127.0.0.1"))
	if err != nil {
		t.Fatalf("tls.Dial: %v", err)
	}
	c, err := gosmtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered inside implicit TLS")
	}
	if err := c.Auth(gosmtp.LoginAuth("alice", "pw", "127.0.0.1", false)); err != nil {
		t.Fatal(err)
	}
	if _, err := send(c, "a@example.test", []string{"x@example.test"}, testMsg); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages()[0]; !m.TLS || m.AuthMech != MechLogin {
		t.Errorf("message = %+v", m)
	}
	// A plain-text client sees no greeting it understands.
	raw, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(raw, "EHLO x\r\n")
	b, _ := io.ReadAll(raw)
	if bytes.HasPrefix(b, []byte("220")) {
		t.Errorf("implicit TLS server spoke plain text: %q", b)
	}
}

func TestBrokenTLSThenFallBack(t *testing.T) {
	srv := Start(t, Options{BrokenTLS: true})
	c := dial(t, srv)
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("BrokenTLS does not advertise STARTTLS")
	}
	if err := c.StartTLS(tlsConfig(srv, "localhost")); err == nil {
		t.Fatal("StartTLS succeeded with BrokenTLS")
	}
	// The client falls back to plain text on a new connection.
	c2 := dial(t, srv)
	if _, err := send(c2, "a@example.test", []string{"x@example.test"}, testMsg); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages()[0]; m.TLS {
		t.Error("message recorded as TLS")
	}
	// Heal TLS at run time.
	srv.SetOptions(func(o *Options) { o.BrokenTLS = false })
	if err := dial(t, srv).StartTLS(tlsConfig(srv, "localhost")); err != nil {
		t.Fatalf("StartTLS after healing: %v", err)
	}
}

func TestGreetingRejectThenUp(t *testing.T) {
	srv := Start(t, Options{Greeting: &Reply{Code: 421, Enhanced: "4.3.2", Text: "try later"}})
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	_, err = gosmtp.NewClient(conn, "localhost")
	wantCode(t, err, 421)
	if !strings.Contains(err.Error(), "4.3.2 try later") {
		t.Errorf("greeting error = %v", err)
	}
	srv.SetOptions(func(o *Options) { o.Greeting = nil })
	if _, err := send(dial(t, srv), "a@example.test", []string{"x@example.test"}, testMsg); err != nil {
		t.Fatal(err)
	}
	if srv.Connections() != 2 {
		t.Errorf("Connections = %d, want 2", srv.Connections())
	}
}

func TestDownThenUp(t *testing.T) {
	addr := FreeAddr(t)
	_, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to free address: %v, want connection refused", err)
	}
	srv := Start(t, Options{Addr: addr})
	if srv.Addr() != addr {
		t.Fatalf("Addr = %s, want %s", srv.Addr(), addr)
	}
	if _, err := send(dial(t, srv), "a@example.test", []string{"x@example.test"}, testMsg); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		t.Fatal("still listening after Close")
	}
	// Up again on the same address right away.
	srv2 := Start(t, Options{Addr: addr})
	if _, err := send(dial(t, srv2), "a@example.test", []string{"x@example.test"}, testMsg); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, o := range []Options{
		{Hang: true},
		{Greeting: &Reply{Code: 554}},
		{DataDelay: time.Hour},
		{STARTTLS: true},
		{ImplicitTLS: true},
		{DropInData: true},
	} {
		srv, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		for range 3 {
			conn, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
			if o.DataDelay > 0 || o.DropInData {
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				go func() {
					c, err := gosmtp.NewClient(conn, "localhost")
					if err == nil {
						send(c, "a@example.test", []string{"x@example.test"}, testMsg)
					}
				}()
			}
		}
		time.Sleep(50 * time.Millisecond) // let the server reach its blocking points
		if err := srv.Close(); err != nil {
			t.Errorf("Close(%+v): %v", o, err)
		}
		for _, c := range conns {
			c.Close()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestHang(t *testing.T) {
	srv := Start(t, Options{Hang: true})
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = gosmtp.NewClient(conn, "localhost")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("NewClient against a hanging server: %v, want timeout", err)
	}
	// Close must not wait for the hanging connection.
	conn2, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestReplies(t *testing.T) {
	srv := Start(t, Options{
		RcptReplies: map[string]Reply{
			"busy@example.test":   {Code: 450, Enhanced: "4.2.1", Text: "mailbox busy"},
			"<Gone@Example.test>": {Code: 550, Enhanced: "5.1.1", Text: "no such user"},
			"fine@example.test":   {Code: 250},
		},
	})
	c := dial(t, srv)
	if err := c.Mail("<a@example.test>"); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt("<BUSY@example.test>")
	wantCode(t, err, 450)
	if !strings.Contains(err.Error(), "4.2.1 mailbox busy") {
		t.Errorf("RCPT error = %v", err)
	}
	wantCode(t, c.Rcpt("<gone@example.test>"), 550)
	if err := c.Rcpt("<fine@example.test>"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}

	srv.SetOptions(func(o *Options) { o.MailReply = &Reply{Code: 451, Text: "local error"} })
	wantCode(t, c.Mail("<a@example.test>"), 451)

	srv.SetOptions(func(o *Options) {
		o.MailReply = nil
		o.DataReply = &Reply{Code: 554, Enhanced: "5.7.1", Text: "spam"}
	})
	_, err = send(c, "a@example.test", []string{"x@example.test"}, testMsg)
	wantCode(t, err, 554)
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("rejected message recorded (%d)", n)
	}

	srv.SetOptions(func(o *Options) { o.DataReply = &Reply{Code: 250, Enhanced: "2.0.0", Text: "Ok: queued as 4ABCDEF"} })
	resp, err := send(c, "a@example.test", []string{"x@example.test"}, testMsg)
	if err != nil || resp != "2.0.0 Ok: queued as 4ABCDEF" {
		t.Fatalf("custom data reply = %q, %v", resp, err)
	}
	if m := srv.Messages(); len(m) != 1 || m[0].QueueID != "" {
		t.Errorf("messages = %+v", m)
	}
	if _, err := New(Options{DataReply: &Reply{Code: 99}}); err == nil {
		t.Error("New accepted reply code 99")
	}
	if _, err := New(Options{MailReply: &Reply{Code: 450, Enhanced: "4.x.1"}}); err == nil {
		t.Error("New accepted a bad enhanced code")
	}
}

func TestDropInData(t *testing.T) {
	srv := Start(t, Options{DropInData: true})
	c := dial(t, srv)
	_, err := send(c, "a@example.test", []string{"x@example.test"}, testMsg+strings.Repeat("x", 1<<20))
	if err == nil {
		t.Fatal("send succeeded although the server dropped the connection")
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		t.Fatalf("got SMTP reply %v, want a connection error", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages recorded", n)
	}
	// Small message, dropped after the final "." arrived.
	c2 := dial(t, srv)
	if _, err := send(c2, "a@example.test", []string{"x@example.test"}, testMsg); err == nil {
		t.Fatal("small send succeeded")
	}
}

func TestDataDelay(t *testing.T) {
	srv := Start(t, Options{DataDelay: time.Minute})
	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := gosmtp.NewClient(conn, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = send(c, "a@example.test", []string{"x@example.test"}, testMsg)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("send = %v, want timeout", err)
	}
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v with a delayed DATA reply", d)
	}
}

func TestLargeMessageDiscardDataAndLongLines(t *testing.T) {
	srv := Start(t, Options{DiscardData: true})
	c := dial(t, srv)
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	b.WriteString(strings.Repeat("y", 100_000) + "\r\n") // longer than go-smtp's default 2000
	for b.Len() < 2<<20 {
		b.WriteString(".dot-stuffed line of text in a large message\r\n")
	}
	data := b.String()
	if _, err := send(c, "a@example.test", []string{"x@example.test"}, data); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if m.Data != nil || m.Size != int64(len(data)) || m.SHA256 != sha256.Sum256([]byte(data)) {
		t.Errorf("Data nil=%v Size=%d want %d, hash ok=%v", m.Data == nil, m.Size, len(data), m.SHA256 == sha256.Sum256([]byte(data)))
	}
	if _, err := m.Parse(); err == nil {
		t.Error("Parse of discarded data succeeded")
	}
}

func TestMaxLineLength(t *testing.T) {
	srv := Start(t, Options{MaxLineLength: 1000})
	c := dial(t, srv)
	if _, err := send(c, "a@example.test", []string{"x@example.test"}, strings.Repeat("z", 5000)+"\r\n"); err == nil {
		t.Fatal("line over MaxLineLength accepted")
	}
}

func TestMaxMessageBytes(t *testing.T) {
	srv := Start(t, Options{MaxMessageBytes: 1000})
	c := dial(t, srv)
	if ok, p := c.Extension("SIZE"); !ok || p != "1000" {
		t.Errorf("SIZE = %v %q", ok, p)
	}
	_, err := send(c, "a@example.test", []string{"x@example.test"}, strings.Repeat("line\r\n", 500))
	wantCode(t, err, 552)
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages recorded", n)
	}
}

func TestSMTPUTF8AndDSN(t *testing.T) {
	srv := Start(t, Options{SMTPUTF8: true, DSN: true})
	c := dial(t, srv)
	for _, ext := range []string{"SMTPUTF8", "DSN", "8BITMIME"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("%s not advertised", ext)
		}
	}
	c.SetDSNMailReturnOption("HDRS")
	c.SetDSNRcptNotifyOption("FAILURE,DELAY")
	if _, err := send(c, "jörg@exämple.test", []string{"ü@example.test", "x@example.test"}, testMsg); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if !m.UTF8 || m.From != "jörg@exämple.test" || m.Ret != "HDRS" || strings.Join(m.Notify, ";") != "FAILURE,DELAY;FAILURE,DELAY" {
		t.Errorf("message = %+v", m)
	}

	plain := Start(t, Options{})
	if ok, _ := dial(t, plain).Extension("SMTPUTF8"); ok {
		t.Error("SMTPUTF8 advertised by default")
	}
}

func TestWait(t *testing.T) {
	srv := Start(t, Options{})
	if _, err := srv.Wait(1, 50*time.Millisecond); err == nil {
		t.Fatal("Wait returned no error without messages")
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				errs <- err
				return
			}
			c, err := gosmtp.NewClient(conn, "localhost")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_, err = send(c, fmt.Sprintf("s%d@example.test", i), []string{"x@example.test"}, testMsg)
			errs <- err
		}()
	}
	msgs, err := srv.Wait(n, 30*time.Second)
	if err != nil || len(msgs) != n {
		t.Fatalf("Wait: %d messages, %v", len(msgs), err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.QueueID] = true
	}
	if len(ids) != n {
		t.Errorf("queue ids not unique: %v", ids)
	}
	// Messages returns copies.
	msgs[0].Data[0] = 'X'
	msgs[0].To[0] = "changed"
	if m := srv.Messages()[0]; m.Data[0] == 'X' || m.To[0] == "changed" {
		t.Error("Messages shares memory with the server")
	}
}

func TestCloseWithOpenConnectionsAndConcurrentSetOptions(t *testing.T) {
	srv, err := New(Options{STARTTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // flip faults while clients run
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			srv.SetOptions(func(o *Options) {
				o.DataReply = nil
				if i%2 == 0 {
					o.DataReply = &Reply{Code: 451}
				}
				o.RcptReplies = map[string]Reply{"x@example.test": {Code: 250}}
			})
			time.Sleep(time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			conn, err := srv.Dial(ctx, "tcp", "mx.example.test:25")
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			c, err := gosmtp.NewClient(conn, "localhost")
			if err != nil {
				conn.Close()
				continue
			}
			send(c, "a@example.test", []string{"x@example.test"}, testMsg)
			srv.Messages()
			c.Close()
		}
	}()
	// An idle connection left open.
	idle := dial(t, srv)
	_ = idle
	time.Sleep(200 * time.Millisecond)
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	cancel()
	wg.Wait()
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := srv.Wait(1<<20, time.Minute); err == nil {
		t.Error("Wait on a closed server returned no error")
	}
}

func TestSetOptionsKeepsFixedFields(t *testing.T) {
	srv := Start(t, Options{})
	srv.SetOptions(func(o *Options) { o.SMTPUTF8 = true; o.Domain = "changed.test"; o.Hang = false })
	if o := srv.Options(); o.SMTPUTF8 || o.Domain != "smtptest.invalid" {
		t.Errorf("fixed fields changed: %+v", o)
	}
	defer func() {
		if recover() == nil {
			t.Error("SetOptions accepted an unknown mechanism")
		}
	}()
	srv.SetOptions(func(o *Options) { o.Mechanisms = []string{"GSSAPI"} })
}
