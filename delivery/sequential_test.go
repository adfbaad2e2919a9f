package delivery

import (
	"context"
	"testing"
	"time"

	"mailout/message"
)

func TestSequentialSessionWithoutPipelining(t *testing.T) {
	srv := startRawServer(t, false)
	r := NewRelay(RelayOptions{Host: "127.0.0.1", Port: srv.port(), TLS: TLSNone, Timeout: 5 * time.Second})
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
	if got := srv.messages(); len(got) != 1 || got[0] != "Subject: x\r\n\r\nhello\r\n" {
		t.Errorf("server got %q", got)
	}
}
