package delivery

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailout/internal/smtptest"
	"mailout/message"
)

// The pools of one Relay keep one session each, ask for the secret once,
// and let wrong credentials cost one AUTH, however many pools start at once.
func TestRelayPools(t *testing.T) {
	for _, tt := range []struct {
		name     string
		password string
		wantKind Kind
	}{
		{"good credentials", "s3cret", 0},
		{"wrong credentials", "wrong", AuthFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Users: map[string]string{"alice": "s3cret"}, AllowInsecureAuth: true})
			var asked atomic.Int32
			o := Options{Relay: RelayOptions{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, Timeout: 5 * time.Second,
				Auth: Auth{Username: "alice", Secret: func(context.Context) (string, error) {
					asked.Add(1)
					return tt.password, nil
				}}}}
			const workers, each = 4, 3
			pools, err := NewPools(o, workers)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			kinds := make([]Kind, workers*each)
			for w, p := range pools {
				wg.Go(func() {
					defer p.Close()
					for i := range each {
						env := message.Envelope{From: "alice@example.test", To: []string{"bob@example.test"}}
						_, err := p.Deliver(context.Background(), env, rawMessage("Subject: x\r\n\r\nhi\r\n"))
						kinds[w*each+i] = KindOf(err)
					}
				})
			}
			wg.Wait()
			for i, k := range kinds {
				if k != tt.wantKind {
					t.Errorf("message %d: kind %v, want %v", i, k, tt.wantKind)
				}
			}
			if n := asked.Load(); n != 1 {
				t.Errorf("the secret was asked for %d times, want once", n)
			}
			if tt.wantKind != 0 {
				if n := strings.Count(srv.Transcript(), "\nAUTH "); n != 1 {
					t.Errorf("%d AUTH attempts, want 1:\n%s", n, srv.Transcript())
				}
				return
			}
			if n := len(srv.Messages()); n != workers*each {
				t.Errorf("the server got %d messages, want %d", n, workers*each)
			}
			if n := srv.Connections(); n < 1 || n > workers {
				t.Errorf("%d connections for %d pools, want 1 to %d (one session each)", n, workers, workers)
			}
		})
	}
}

// A bearer token source is asked at every new session, so a session opened
// late in a long batch gets a current token, not the first one.
func TestRelayPoolsAskABearerSourcePerSession(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mechanisms: []string{"XOAUTH2"}, AllowInsecureAuth: true,
		Bearer: func(_, tok string) bool { return strings.HasPrefix(tok, "token-") }})
	var asked atomic.Int32
	o := Options{Relay: RelayOptions{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, Timeout: 5 * time.Second,
		Auth: Auth{Username: "alice", Bearer: true, Secret: func(context.Context) (string, error) {
			return fmt.Sprintf("token-%d", asked.Add(1)), nil
		}}}}
	pools, err := NewPools(o, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pools {
		env := message.Envelope{From: "alice@example.test", To: []string{"bob@example.test"}}
		if _, err := p.Deliver(context.Background(), env, rawMessage("Subject: x\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	if n, c := asked.Load(), srv.Connections(); n != 2 || c != 2 {
		t.Errorf("the token source was asked %d times for %d sessions, want 2 for 2", n, c)
	}
}
