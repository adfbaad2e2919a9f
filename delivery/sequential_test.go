package delivery

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailout/message"
)

// plainServer is a minimal SMTP server without PIPELINING, so the one-at-a-
// time path of a session is exercised (go-smtp always offers PIPELINING).
// It refuses RCPT for addresses starting with "bad" and records DATA.
func plainServer(t *testing.T) (addr string, got chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got = make(chan string, 4)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		say := func(s string) { c.Write([]byte(s + "\r\n")) }
		say("220 plain ESMTP")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				say("250-plain\r\n250 8BITMIME")
			case strings.HasPrefix(cmd, "MAIL"):
				say("250 ok")
			case strings.HasPrefix(cmd, "RCPT TO:<BAD"):
				say("550 5.1.1 no such user")
			case strings.HasPrefix(cmd, "RCPT"):
				say("250 ok")
			case cmd == "DATA":
				say("354 go ahead")
				var b strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
					b.WriteString(l)
				}
				got <- b.String()
				say("250 2.0.0 queued as 7")
			case cmd == "RSET":
				say("250 ok")
			case cmd == "QUIT":
				say("221 bye")
				return
			default:
				say("500 what")
			}
		}
	}()
	return l.Addr().String(), got
}

func TestSequentialSessionWithoutPipelining(t *testing.T) {
	addr, got := plainServer(t)
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	r := NewRelay(RelayOptions{Host: host, Port: port, TLS: TLSNone, Timeout: 5 * time.Second})
	env := message.Envelope{From: "s@example.test", To: []string{"ok@example.test", "bad@example.test"}}
	res, err := r.Deliver(context.Background(), env, rawMessage("Subject: x\r\n\r\nhello\r\n"))
	if KindOf(err) != Rejected {
		t.Fatalf("Deliver error = %v, want Rejected", err)
	}
	if len(res.Recipients) != 2 || res.Recipients[0].Status != Accepted || res.Recipients[1].Status != Refused {
		t.Fatalf("results = %+v", res.Recipients)
	}
	if res.Recipients[0].Reply != "250 2.0.0 queued as 7" {
		t.Errorf("reply = %q", res.Recipients[0].Reply)
	}
	select {
	case data := <-got:
		if data != "Subject: x\r\n\r\nhello\r\n" {
			t.Errorf("server got %q", data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server got no message")
	}
}
