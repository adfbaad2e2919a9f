package delivery

import (
	"context"
	"slices"
	"testing"
	"time"

	"mailout/internal/dnstest"
	"mailout/message"
)

func pipelinePool(t *testing.T, host string, port int) *RelayPool {
	t.Helper()
	r := NewRelay(RelayOptions{Host: host, Port: port, TLS: TLSNone, Timeout: 5 * time.Second})
	p := r.Pool()
	t.Cleanup(func() { p.Close() })
	return p
}

func envTo(to ...string) message.Envelope {
	return message.Envelope{From: "a@example.test", To: to}
}

// Send holds each message back until the next one's envelope goes out, and
// still gives every message its own outcome, in order: refusals at RCPT,
// a refused end of data, and the last one at Flush.
func TestRelayPoolSendHoldsBackOneMessage(t *testing.T) {
	srv := startRawServer(t, false, "PIPELINING")
	p := pipelinePool(t, "127.0.0.1", srv.port())
	ctx := context.Background()

	if out := p.Send(ctx, envTo("b@example.test"), rawMessage("Subject: one\r\n\r\n.leading dot\r\n")); len(out) != 0 {
		t.Fatalf("first Send decided %d messages, want none (held back)", len(out))
	}
	// The server refuses the second message's content; the refusal is
	// read when the third message's envelope goes out.
	out := p.Send(ctx, envTo("c@example.test", "bad@example.test"), rawMessage("Subject: two\r\n\r\nFAIL451\r\n"))
	if len(out) != 1 || out[0].Err != nil || out[0].Result.Recipients[0].Status != Accepted {
		t.Fatalf("second Send: %+v, want the first message accepted", out)
	}
	out = p.Send(ctx, envTo("d@example.test"), rawMessage("Subject: three\r\n\r\nhi\r\n"))
	if len(out) != 1 {
		t.Fatalf("third Send decided %d messages, want 1", len(out))
	}
	rs := out[0].Result.Recipients
	if len(rs) != 2 || rs[0].Address != "c@example.test" || rs[0].Status != Deferred || rs[1].Address != "bad@example.test" || rs[1].Status != Refused {
		t.Errorf("second message: %+v, want c deferred (451 at end of data) and bad rejected", rs)
	}
	if err := rs[0].Err; !Retryable(err) {
		t.Errorf("c's error %v: want a temporary failure that may be retried", err)
	}
	st, ok := p.Flush()
	if !ok || st.Err != nil || st.Result.Recipients[0].Status != Accepted {
		t.Fatalf("Flush: %+v %v, want the third message accepted", st, ok)
	}
	if _, ok := p.Flush(); ok {
		t.Error("a second Flush found a message held")
	}
	msgs := srv.messages()
	if len(msgs) != 3 || msgs[0] != "Subject: one\r\n\r\n..leading dot\r\n" || msgs[2] != "Subject: three\r\n\r\nhi\r\n" {
		t.Errorf("the server got %q, want the three messages intact (dot-stuffed)", msgs)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.conns != 1 {
		t.Errorf("%d connections, want 1", srv.conns)
	}
}

// The end of one message and the envelope of the next reach the server
// together: one round trip per message.
func TestRelayPoolSendPipelinesTheNextEnvelope(t *testing.T) {
	f := startRawServer(t, false, "PIPELINING")
	p := pipelinePool(t, "127.0.0.1", f.port())
	ctx := context.Background()
	var decided int
	for i := range 5 {
		for _, st := range p.Send(ctx, envTo("b@example.test"), rawMessage("Subject: "+string(rune('a'+i))+"\r\n\r\nhi\r\n")) {
			if st.Err != nil {
				t.Fatal(st.Err)
			}
			decided++
		}
	}
	if st, ok := p.Flush(); !ok || st.Err != nil {
		t.Fatalf("Flush: %+v %v", st, ok)
	}
	decided++
	p.Close()
	f.serving.Wait()
	if decided != 5 {
		t.Errorf("%d outcomes for 5 messages", decided)
	}
	want := []bool{true, true, true, true, false} // the last went alone, at Flush
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ahead) != 5 {
		t.Fatalf("the server saw %d ends of data, want 5", len(f.ahead))
	}
	for i, a := range f.ahead {
		if a != want[i] {
			t.Errorf("end of data %d: next MAIL in the same write = %v, want %v", i+1, a, want[i])
		}
	}
}

// A connection lost before the held message's reply leaves that message
// undecided (the server may have taken it: not retried at once), while the
// next one, whose content never went, is sent on a fresh connection.
func TestRelayPoolSendConnectionLostWhileHeld(t *testing.T) {
	f := startRawServer(t, true, "PIPELINING")
	p := pipelinePool(t, "127.0.0.1", f.port())
	ctx := context.Background()
	if out := p.Send(ctx, envTo("b@example.test"), rawMessage("Subject: one\r\n\r\nhi\r\n")); len(out) != 0 {
		t.Fatalf("first Send: %+v, want it held", out)
	}
	out := p.Send(ctx, envTo("c@example.test"), rawMessage("Subject: two\r\n\r\nhi\r\n"))
	if len(out) != 1 {
		t.Fatalf("second Send decided %d messages, want the first", len(out))
	}
	if !LostInData(out[0].Err) || out[0].Result.Recipients[0].Status != Deferred {
		t.Errorf("first message: %v %+v, want lost in data, deferred", out[0].Err, out[0].Result.Recipients)
	}
	st, ok := p.Flush()
	if !ok || st.Err != nil || st.Result.Recipients[0].Address != "c@example.test" {
		t.Fatalf("Flush: %+v %v, want the second message accepted on a new connection", st, ok)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns != 2 || len(f.bodies) != 2 {
		t.Errorf("%d connections, %d messages taken; want 2 and 2", f.conns, len(f.bodies))
	}
}

// A server without PIPELINING gets one message at a time, each decided
// by its own Send.
func TestRelayPoolSendWithoutPipelining(t *testing.T) {
	srv := startRawServer(t, false)
	p := pipelinePool(t, "127.0.0.1", srv.port())
	for range 2 {
		out := p.Send(context.Background(), envTo("b@example.test"), rawMessage("Subject: x\r\n\r\nhi\r\n"))
		if len(out) != 1 || out[0].Err != nil {
			t.Fatalf("Send: %+v, want the message decided at once", out)
		}
	}
	if _, ok := p.Flush(); ok {
		t.Error("Flush found a message held without PIPELINING")
	}
}

// Signed pools of a relay pipeline too: every message goes out behind a
// DKIM-Signature that verifies, and one that cannot be signed is decided
// after the message held back before it, so outcomes keep their order.
func TestSignedRelayPoolPipelines(t *testing.T) {
	key := edKey(t)
	dns := dnstest.Start(t, `sel._domainkey.example.test. TXT "`+DKIMRecord(key)+`"`)
	srv := startRawServer(t, false, "PIPELINING")
	pools, err := NewPools(Options{Relay: RelayOptions{Host: "127.0.0.1", Port: srv.port(), TLS: TLSNone, Timeout: 5 * time.Second},
		DKIM: &DKIMOptions{Domain: "example.test", Selector: "sel", Key: key}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := pools[0].(Pipeliner)
	if !ok {
		t.Fatalf("a signed relay pool (%T) does not pipeline", pools[0])
	}
	defer p.Close()
	ctx := context.Background()
	env := message.Envelope{From: "s@example.test", To: []string{"x@a.test"}}
	if out := p.Send(ctx, env, composed(t, "one\n")); len(out) != 0 {
		t.Fatalf("first Send: %+v, want it held", out)
	}
	out := p.Send(ctx, env, rawMessage("Subject: no From, so no signature\r\n\r\nx\r\n"))
	if len(out) != 2 || out[0].Err != nil || KindOf(out[1].Err) != Data {
		t.Fatalf("second Send: %+v, want the first accepted, then this one refused (kind Data)", out)
	}
	if out := p.Send(ctx, env, composed(t, "three\n")); len(out) != 0 {
		t.Fatalf("third Send: %+v, want it held", out)
	}
	if out := p.Send(ctx, env, composed(t, "four\n")); len(out) != 1 || out[0].Err != nil {
		t.Fatalf("fourth Send: %+v, want the third accepted", out)
	}
	if st, ok := p.Flush(); !ok || st.Err != nil {
		t.Fatalf("Flush: %+v %v", st, ok)
	}
	msgs := srv.messages()
	if len(msgs) != 3 {
		t.Fatalf("the server got %d messages, want 3", len(msgs))
	}
	srv.mu.Lock()
	ahead := slices.Clone(srv.ahead)
	srv.mu.Unlock()
	if !slices.Equal(ahead, []bool{false, true, false}) {
		t.Errorf("next MAIL with each end of data: %v, want [false true false] (the third's went with the fourth's envelope)", ahead)
	}
	for _, m := range msgs {
		// rawServer keeps the content as sent, dot-stuffed and all.
		verify(t, dns, []byte(m))
	}
}
