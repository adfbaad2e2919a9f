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

// TestBearerMechanisms: with a bearer token, auto picks OAUTHBEARER when
// offered, else XOAUTH2; a refused token is answered through the 334 error
// challenge and ends in AuthFailed; -v never shows the token.
func TestBearerMechanisms(t *testing.T) {
	const good = "at-good-token"
	for _, tt := range []struct {
		mechs    []string
		mech     string // profile auth
		token    string
		wantMech string
		wantKind Kind
	}{
		{[]string{"PLAIN", "XOAUTH2", "OAUTHBEARER"}, "auto", good, "OAUTHBEARER", 0},
		{[]string{"PLAIN", "XOAUTH2"}, "auto", good, "XOAUTH2", 0},
		{[]string{"XOAUTH2", "OAUTHBEARER"}, "xoauth2", good, "XOAUTH2", 0},
		{[]string{"OAUTHBEARER"}, "oauthbearer", "at-revoked", "", AuthFailed},
		{[]string{"XOAUTH2"}, "auto", "at-revoked", "", AuthFailed},
		{[]string{"PLAIN"}, "auto", good, "", Unavailable},
	} {
		srv := smtptest.Start(t, smtptest.Options{Mechanisms: tt.mechs, AllowInsecureAuth: true,
			Bearer: func(user, tok string) bool { return user == "me@example.test" && tok == good }})
		var v bytes.Buffer
		r := NewRelay(RelayOptions{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, Timeout: 5 * time.Second, Verbose: &v,
			Auth: Auth{Mechanism: tt.mech, Username: "me@example.test", Bearer: true,
				Secret: func(context.Context) (string, error) { return tt.token, nil }}})
		env := message.Envelope{From: "me@example.test", To: []string{"you@example.test"}}
		_, err := r.Deliver(context.Background(), env, rawMessage("Subject: x\r\n\r\nhi\r\n"))
		if KindOf(err) != tt.wantKind {
			t.Errorf("%v %s: err = %v, want kind %v", tt.mechs, tt.mech, err, tt.wantKind)
			continue
		}
		if strings.Contains(v.String(), tt.token) || (err != nil && strings.Contains(err.Error(), tt.token)) {
			t.Errorf("%v %s: the token leaked:\n%s", tt.mechs, tt.mech, v.String())
		}
		if tt.wantMech != "" {
			msgs, _ := srv.Wait(1, 5*time.Second)
			if len(msgs) != 1 || msgs[0].AuthMech != tt.wantMech {
				t.Errorf("%v %s: server saw %+v, want AUTH %s", tt.mechs, tt.mech, msgs, tt.wantMech)
			}
		}
	}
}

// TestSecretErrorKeepsKind: an *Error from the secret source (an OAuth
// grant that needs a login, an identity provider that is down) keeps its
// kind instead of becoming a configuration failure.
func TestSecretErrorKeepsKind(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mechanisms: []string{"XOAUTH2"}, AllowInsecureAuth: true, Users: map[string]string{"u": "x"}})
	r := NewRelay(RelayOptions{Host: srv.Host(), Port: srv.Port(), TLS: TLSNone, Timeout: 5 * time.Second,
		Auth: Auth{Username: "u", Bearer: true, Secret: func(context.Context) (string, error) {
			return "", &Error{Kind: Temporary, Op: "oauth", Err: context.DeadlineExceeded}
		}}})
	_, err := r.Deliver(context.Background(), message.Envelope{From: "u@example.test", To: []string{"v@example.test"}}, rawMessage("Subject: x\r\n\r\nhi\r\n"))
	if KindOf(err) != Temporary {
		t.Fatalf("err = %v, want Temporary", err)
	}
}
