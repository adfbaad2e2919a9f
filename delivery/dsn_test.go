package delivery

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"mailout/internal/smtptest"
	"mailout/message"
)

func TestXtext(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"env-1":            "env-1",
		"a+b=c":            "a+2Bb+3Dc",
		"two words":        "two+20words",
		"<id@example.com>": "<id@example.com>",
		"tab\there~!":      "tab+09here~!",
		"\x7f\xc3\xa9":     "+7F+C3+A9",
	} {
		if got := xtext(in); got != want {
			t.Errorf("xtext(%q) = %q, want %q", in, got, want)
		}
	}
}

var dsnEnvelope = message.Envelope{
	From: "s@example.test", To: []string{"a@example.test", "b@example.test"},
	DSN: message.DSN{Notify: "SUCCESS,FAILURE", Ret: "HDRS", EnvID: "id=1+x y"},
}

// TestDSNPipelined: the pipelined envelope carries RET, ENVID and NOTIFY
// to a server that offers DSN, and leaves them out (saying so in the
// transcript) for one that does not.
func TestDSNPipelined(t *testing.T) {
	for _, offer := range []bool{true, false} {
		srv := smtptest.Start(t, smtptest.Options{DSN: offer})
		var log bytes.Buffer
		r := NewRelay(RelayOptions{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, Timeout: 5 * time.Second, Verbose: &log})
		if _, err := r.Deliver(context.Background(), dsnEnvelope, rawMessage("Subject: x\r\n\r\nhi\r\n")); err != nil {
			t.Fatalf("DSN offered %v: Deliver: %v", offer, err)
		}
		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("DSN offered %v: server got %d messages", offer, len(msgs))
		}
		m := msgs[0]
		want := smtptest.Message{Ret: "HDRS", EnvID: "id=1+x y", Notify: []string{"SUCCESS,FAILURE", "SUCCESS,FAILURE"}}
		if !offer {
			want = smtptest.Message{Notify: []string{"", ""}}
		}
		if m.Ret != want.Ret || m.EnvID != want.EnvID || strings.Join(m.Notify, ";") != strings.Join(want.Notify, ";") {
			t.Errorf("DSN offered %v: server got RET %q ENVID %q NOTIFY %q, want %q %q %q", offer, m.Ret, m.EnvID, m.Notify, want.Ret, want.EnvID, want.Notify)
		}
		noted := strings.Contains(log.String(), "does not offer DSN")
		if noted == offer {
			t.Errorf("DSN offered %v: transcript notes its absence: %v\n%s", offer, noted, log.String())
		}
		if offer && !strings.Contains(log.String(), "-> MAIL FROM:<s@example.test> BODY=8BITMIME RET=HDRS ENVID=id+3D1+2Bx+20y\n") {
			t.Errorf("transcript lacks the xtext ENVID:\n%s", log.String())
		}
	}
}

func TestDSNSequential(t *testing.T) {
	for _, offer := range []bool{true, false} {
		var ext []string
		if offer {
			ext = []string{"DSN"}
		}
		srv := startRawServer(t, false, ext...)
		var log bytes.Buffer
		r := NewRelay(RelayOptions{Host: "127.0.0.1", Port: srv.port(), TLS: TLSNone, Timeout: 5 * time.Second, Verbose: &log})
		if _, err := r.Deliver(context.Background(), dsnEnvelope, rawMessage("Subject: x\r\n\r\nhi\r\n")); err != nil {
			t.Fatalf("DSN offered %v: Deliver: %v", offer, err)
		}
		got := srv.commands()
		want := []string{
			"MAIL FROM:<s@example.test> RET=HDRS ENVID=id+3D1+2Bx+20y BODY=8BITMIME",
			"RCPT TO:<a@example.test> NOTIFY=SUCCESS,FAILURE",
			"RCPT TO:<b@example.test> NOTIFY=SUCCESS,FAILURE",
		}
		if !offer {
			want = []string{"MAIL FROM:<s@example.test> BODY=8BITMIME", "RCPT TO:<a@example.test>", "RCPT TO:<b@example.test>"}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("DSN offered %v: server got\n%s\nwant\n%s", offer, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if noted := strings.Contains(log.String(), "does not offer DSN"); noted == offer {
			t.Errorf("DSN offered %v: transcript notes its absence: %v\n%s", offer, noted, log.String())
		}
	}
}

// TestDSNNotRequested: a message without a DSN request sends no DSN
// parameter and no note, DSN offered or not.
func TestDSNNotRequested(t *testing.T) {
	srv := startRawServer(t, false, "DSN")
	var log bytes.Buffer
	r := NewRelay(RelayOptions{Host: "127.0.0.1", Port: srv.port(), TLS: TLSNone, Timeout: 5 * time.Second, Verbose: &log})
	env := message.Envelope{From: "s@example.test", To: []string{"a@example.test"}}
	if _, err := r.Deliver(context.Background(), env, rawMessage("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	for _, c := range srv.commands() {
		if strings.Contains(c, "=") && !strings.HasSuffix(c, "BODY=8BITMIME") {
			t.Errorf("server got %q", c)
		}
	}
	if strings.Contains(log.String(), "DSN;") {
		t.Errorf("transcript mentions DSN:\n%s", log.String())
	}
}

// TestDSNMX: direct MX delivery carries the request to every domain's
// exchanger, over a kept connection too.
func TestDSNMX(t *testing.T) {
	lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {DSN: true}, "127.0.0.3": {DSN: true}},
		"a.test. MX 10 mx.a.test.",
		"mx.a.test. A 127.0.0.2",
		"b.test. MX 10 mx.b.test.",
		"mx.b.test. A 127.0.0.3",
	)
	env := message.Envelope{From: "s@example.test", To: []string{"x@a.test", "y@b.test"}, DSN: message.DSN{Notify: "NEVER", Ret: "FULL", EnvID: "e1"}}
	p := lab.mx(MXOptions{}).Pool()
	defer p.Close()
	for range 2 {
		if _, err := p.Deliver(context.Background(), env, testMessage()); err != nil {
			t.Fatalf("Deliver = %v", err)
		}
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		msgs := lab.received(ip)
		if len(msgs) != 2 {
			t.Fatalf("server %s got %d messages, want 2", ip, len(msgs))
		}
		for _, m := range msgs {
			if m.Ret != "FULL" || m.EnvID != "e1" || len(m.Notify) != 1 || m.Notify[0] != "NEVER" {
				t.Errorf("server %s got RET %q ENVID %q NOTIFY %q", ip, m.Ret, m.EnvID, m.Notify)
			}
		}
	}
}
