package smtptest_test

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	gosmtp "github.com/wneessen/go-mail/smtp"

	"mailout/internal/smtptest"
)

// A server that accepts everything; any SMTP client can deliver to it.
// In a test, use smtptest.Start(t, opts) instead of New and Close.
func Example() {
	srv, err := smtptest.New(smtptest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	msg := "Subject: hello\r\n\r\nHi Bob\r\n"
	if err := smtp.SendMail(srv.Addr(), nil, "alice@example.test", []string{"bob@example.test"}, []byte(msg)); err != nil {
		log.Fatal(err)
	}

	msgs, err := srv.Wait(1, 5*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	m := msgs[0]
	fmt.Println(m.From, m.To, m.QueueID)
	fmt.Printf("%q\n", m.Data)
	// Output:
	// alice@example.test [bob@example.test] 1
	// "Subject: hello\r\n\r\nHi Bob\r\n"
}

// STARTTLS with a self-signed certificate and mandatory AUTH. Clients
// trust CAFile (a PEM path, e.g. for a profile or env var) or
// ClientTLSConfig.
func Example_startTLSAndAuth() {
	srv, err := smtptest.New(smtptest.Options{
		STARTTLS:   true,
		Users:      map[string]string{"alice": "s3cret"},
		Mechanisms: []string{smtptest.MechSCRAMSHA256, smtptest.MechPlain},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		log.Fatal(err)
	}
	c, err := gosmtp.NewClient(conn, "localhost")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	cfg := srv.ClientTLSConfig()
	cfg.ServerName = "localhost"
	if err := c.StartTLS(cfg); err != nil {
		log.Fatal(err)
	}
	if err := c.Auth(gosmtp.ScramSHA256Auth("alice", "s3cret")); err != nil {
		log.Fatal(err)
	}
	if err := c.Mail("<alice@example.test>"); err != nil {
		log.Fatal(err)
	}
	if err := c.Rcpt("<bob@example.test>"); err != nil {
		log.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprint(w, "Subject: secure\r\n\r\nbody\r\n")
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	m := srv.Messages()[0]
	fmt.Println(m.TLS, m.AuthUser, m.AuthMech)
	// Output:
	// true alice SCRAM-SHA-256
}

// Injected replies: a recipient that is temporarily unavailable, and a
// server that answers 421 at connect until the test heals it.
func Example_faults() {
	srv, err := smtptest.New(smtptest.Options{
		Greeting: &smtptest.Reply{Code: 421, Enhanced: "4.3.2", Text: "down for maintenance"},
		RcptReplies: map[string]smtptest.Reply{
			"busy@example.test": {Code: 450, Enhanced: "4.2.1", Text: "mailbox busy"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	send := func(to string) error {
		return smtp.SendMail(srv.Addr(), nil, "alice@example.test", []string{to}, []byte("Subject: x\r\n\r\n"))
	}
	var te *textproto.Error
	if err := send("bob@example.test"); errors.As(err, &te) {
		fmt.Println("greeting:", te.Code, te.Msg)
	}

	srv.SetOptions(func(o *smtptest.Options) { o.Greeting = nil })
	if err := send("busy@example.test"); errors.As(err, &te) {
		fmt.Println("rcpt:", te.Code, te.Msg)
	}
	fmt.Println("delivered:", send("bob@example.test") == nil, len(srv.Messages()))
	// Output:
	// greeting: 421 4.3.2 down for maintenance
	// rcpt: 450 4.2.1 mailbox busy
	// delivered: true 1
}

// A server that is down at first and comes up later on the same address.
func ExampleFreeAddrOn() {
	addr, err := smtptest.FreeAddrOn("127.0.0.1")
	if err != nil {
		log.Fatal(err)
	}
	_, err = net.Dial("tcp", addr)
	fmt.Println("down:", err != nil && strings.Contains(err.Error(), "refused"))

	srv, err := smtptest.New(smtptest.Options{Addr: addr})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		conn.Close()
	}
	fmt.Println("up:", err == nil, srv.Addr() == addr)
	// Output:
	// down: true
	// up: true true
}
