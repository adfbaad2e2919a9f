package sendmail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	const hello = "EHLO client.example\r\n"
	const one = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<root@localhost>\r\nDATA\r\n" +
		"Subject: x\r\n\r\n..dot\r\n.\r\n"
	tests := []struct {
		name      string
		in        string
		deliver   func(Envelope, string) (string, error)
		want      []string // reply lines, in order
		delivered int
		err       error
	}{
		{name: "one message and QUIT", in: hello + one + "QUIT\r\n",
			want: []string{"220 host.example ESMTP", "250-PIPELINING", "250-8BITMIME", "250-SMTPUTF8", "250 SIZE", "250 2.0.0 sent", "221 2.0.0"}, delivered: 1},
		{name: "end of input between messages is fine", in: hello + one, want: []string{"250 2.0.0 sent"}, delivered: 1},
		{name: "RSET abandons a transaction", in: hello + "MAIL FROM:<a@example.org>\r\nRSET\r\n", want: []string{"250 2.0.0 Session reset"}},
		{name: "commands out of sequence are 503", in: hello + "RCPT TO:<b@example.org>\r\nDATA\r\nMAIL FROM:<a@example.org>\r\nDATA\r\nQUIT\r\n",
			want: []string{"503 5.5.1 Missing MAIL FROM", "503 5.5.1 Missing RCPT TO", "250 ", "503 5.5.1 Missing RCPT TO", "221"}},
		{name: "QUIT abandons an open transaction", in: hello + "MAIL FROM:<a@example.org>\r\nQUIT\r\n", want: []string{"250 ", "221"}},
		{name: "end of input after MAIL", in: hello + "MAIL FROM:<a@example.org>\r\n", err: ErrIncomplete},
		{name: "end of input inside DATA", in: hello + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhalf",
			want: []string{"354"}, err: ErrIncomplete},
		{name: "the relay's refusal", in: hello + one + "QUIT\r\n",
			deliver: func(Envelope, string) (string, error) {
				return "", &Reply{Code: 550, Text: "5.1.1 no such user (relay r.example)"}
			},
			want: []string{"550 5.1.1 no such user (relay r.example)", "221"}, delivered: 1},
		{name: "a temporary refusal without an enhanced code", in: hello + one,
			deliver: func(Envelope, string) (string, error) { return "", &Reply{Code: 451, Text: "try later"} },
			want:    []string{"451 4.0.0 try later"}, delivered: 1},
		{name: "a message that cannot be sent", in: hello + one,
			deliver: func(Envelope, string) (string, error) { return "", dataErrorf("NUL in a header") },
			want:    []string{"554 5.6.0 NUL in a header"}, delivered: 1},
		{name: "a local failure is temporary", in: hello + one,
			deliver: func(Envelope, string) (string, error) { return "", errors.New("no profile\nto send with") },
			want:    []string{"451 4.3.0 no profile to send with"}, delivered: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n := 0
			deliver := func(_ context.Context, env Envelope, msg io.Reader) (string, error) {
				data, err := io.ReadAll(msg)
				if err != nil {
					return "", err
				}
				n++
				if env.From != "a@example.org" || strings.Join(env.To, ",") != "b@example.org,root@localhost" {
					t.Errorf("envelope %+v", env)
				}
				if !strings.Contains(string(data), "\r\n.dot\r\n") || strings.Contains(string(data), "..dot") {
					t.Errorf("data not dot-unstuffed: %q", data)
				}
				if tt.deliver != nil {
					return tt.deliver(env, string(data))
				}
				return "sent", nil
			}
			err := Serve(context.Background(), strings.NewReader(tt.in), &out, ServeOptions{Domain: "host.example", Deliver: deliver})
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Serve = %v, want %v; output:\n%s", err, tt.err, out.String())
			}
			if n != tt.delivered {
				t.Errorf("delivered %d messages, want %d", n, tt.delivered)
			}
			rest := out.String()
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("reply %q missing (in order) from:\n%s", w, out.String())
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(out.String(), "AUTH") {
				t.Errorf("AUTH offered:\n%s", out.String())
			}
		})
	}
}
