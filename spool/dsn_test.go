package spool

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"mailout/delivery"
	"mailout/message"
)

type envelopeRecorder struct{ got []message.Envelope }

func (r *envelopeRecorder) Deliver(_ context.Context, env message.Envelope, _ message.Message) (*delivery.Result, error) {
	r.got = append(r.got, env)
	res := &delivery.Result{}
	for _, a := range env.To {
		res.Recipients = append(res.Recipients, delivery.RecipientResult{Address: a, Status: delivery.Accepted})
	}
	return res, nil
}

// An entry keeps its sender's DSN request, and a flush's delivery asks
// it again; an entry without one stores no "dsn" at all.
func TestDSNKeptAndDelivered(t *testing.T) {
	s := newSpool(t, newClock(t0))
	dsn := message.DSN{Notify: "FAILURE,DELAY", Ret: "HDRS", EnvID: "env 1"}
	id := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"a@example.org"}, DSN: dsn}, "Subject: x\r\n\r\n")
	plain := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"b@example.org"}}, "Subject: y\r\n\r\n")

	if e, _ := readBody(t, s, id); e.DSN != dsn {
		t.Errorf("Open(%s).DSN = %+v, want %+v", id, e.DSN, dsn)
	}
	raw, err := os.ReadFile(s.path(plain, envExt))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(`"dsn"`)) {
		t.Errorf("an entry without DSN stores %s", raw)
	}

	rec := &envelopeRecorder{}
	deliver := DeliverVia(func(Entry) (delivery.Transport, error) { return rec, nil }, nil)
	for _, e := range list(t, s) {
		deliver(context.Background(), e, strings.NewReader(""), 0)
	}
	// The list is in queue-ID order, which is not the order of Put.
	byRcpt := map[string]message.DSN{}
	for _, env := range rec.got {
		byRcpt[env.To[0]] = env.DSN
	}
	if len(rec.got) != 2 || byRcpt["a@example.org"] != dsn || !byRcpt["b@example.org"].IsZero() {
		t.Errorf("delivered envelopes %+v, want a@ with %+v, b@ without", rec.got, dsn)
	}
}
