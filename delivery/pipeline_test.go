package delivery

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mailout/internal/smtptest"
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
	srv := smtptest.Start(t, smtptest.Options{RcptReplies: map[string]smtptest.Reply{
		"no@example.test": {Code: 550, Enhanced: "5.1.1", Text: "no such user"}}})
	p := pipelinePool(t, srv.Host(), srv.Port())
	ctx := context.Background()

	if out := p.Send(ctx, envTo("b@example.test"), rawMessage("Subject: one\r\n\r\n.leading dot\r\n")); len(out) != 0 {
		t.Fatalf("first Send decided %d messages, want none (held back)", len(out))
	}
	// The server refuses the second message's content (it decides at
	// DATA); the refusal is read when the third message's envelope goes
	// out.
	srv.SetOptions(func(o *smtptest.Options) {
		o.DataReply = &smtptest.Reply{Code: 451, Enhanced: "4.3.0", Text: "try later"}
	})
	out := p.Send(ctx, envTo("c@example.test", "no@example.test"), rawMessage("Subject: two\r\n\r\nhi\r\n"))
	if len(out) != 1 || out[0].Err != nil || out[0].Result.Recipients[0].Status != Accepted {
		t.Fatalf("second Send: %+v, want the first message accepted", out)
	}
	srv.SetOptions(func(o *smtptest.Options) { o.DataReply = nil })
	out = p.Send(ctx, envTo("d@example.test"), rawMessage("Subject: three\r\n\r\nhi\r\n"))
	if len(out) != 1 {
		t.Fatalf("third Send decided %d messages, want 1", len(out))
	}
	rs := out[0].Result.Recipients
	if len(rs) != 2 || rs[0].Address != "c@example.test" || rs[0].Status != Deferred || rs[1].Address != "no@example.test" || rs[1].Status != Refused {
		t.Errorf("second message: %+v, want c deferred (451 at end of data) and no rejected", rs)
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
	msgs := srv.Messages()
	if len(msgs) != 2 || !strings.Contains(string(msgs[0].Data), "\r\n.leading dot\r\n") || !strings.Contains(string(msgs[1].Data), "Subject: three") {
		t.Errorf("the server kept %d messages, want one and three intact: %+v", len(msgs), msgs)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// fakeRelay is a minimal SMTP server with PIPELINING that notes, for each
// end of data, whether the next MAIL came in the same read, and can drop
// the first connection after its first end of data instead of answering.
type fakeRelay struct {
	ln        net.Listener
	dropFirst bool
	mu        sync.Mutex
	ahead     []bool // per end of data: the next MAIL arrived with it
	got       []string
	conns     int
	accepting sync.WaitGroup
	serving   sync.WaitGroup
}

func startFakeRelay(t *testing.T, dropFirst bool) *fakeRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRelay{ln: ln, dropFirst: dropFirst}
	f.accepting.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			n := f.conns
			f.mu.Unlock()
			f.serving.Go(func() { f.serve(c, n == 1 && f.dropFirst) })
		}
	})
	t.Cleanup(func() { ln.Close(); f.accepting.Wait(); f.serving.Wait() })
	return f
}

func (f *fakeRelay) serve(c net.Conn, drop bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	say("220 fake ESMTP")
	inData := false
	var body strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if inData {
			if line != ".\r\n" {
				body.WriteString(line)
				continue
			}
			inData = false
			f.mu.Lock()
			f.got = append(f.got, body.String())
			f.mu.Unlock()
			body.Reset()
			if drop {
				return // taken, but never answered
			}
			// What the client sent with the end of data is in the
			// buffer already: a pipelining client's next MAIL.
			next, _ := r.Peek(r.Buffered())
			f.mu.Lock()
			f.ahead = append(f.ahead, strings.HasPrefix(string(next), "MAIL FROM:"))
			f.mu.Unlock()
			say("250 2.0.0 queued")
			continue
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-fake\r\n250-PIPELINING\r\n250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), cmd == "RSET", cmd == "NOOP":
			say("250 2.0.0 ok")
		case cmd == "DATA":
			inData = true
			say("354 go ahead")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("500 what")
		}
	}
}

func (f *fakeRelay) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// The end of one message and the envelope of the next reach the server
// together: one round trip per message.
func TestRelayPoolSendPipelinesTheNextEnvelope(t *testing.T) {
	f := startFakeRelay(t, false)
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
	f := startFakeRelay(t, true)
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
	if f.conns != 2 || len(f.got) != 2 {
		t.Errorf("%d connections, %d messages taken; want 2 and 2", f.conns, len(f.got))
	}
}

// A server without PIPELINING gets one message at a time, each decided
// by its own Send.
func TestRelayPoolSendWithoutPipelining(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		say := func(s string) { c.Write([]byte(s + "\r\n")) }
		say("220 fake")
		inData := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case inData && line == ".\r\n":
				inData = false
				say("250 ok")
			case inData:
			case strings.HasPrefix(line, "EHLO"):
				say("250-fake\r\n250 8BITMIME")
			case strings.HasPrefix(line, "DATA"):
				inData = true
				say("354 go")
			case strings.HasPrefix(line, "QUIT"):
				say("221 bye")
				return
			default:
				say("250 ok")
			}
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	p := pipelinePool(t, "127.0.0.1", ln.Addr().(*net.TCPAddr).Port)
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
