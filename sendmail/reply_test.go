package sendmail

import (
	"errors"
	"testing"
)

func TestFailureReply(t *testing.T) {
	errRcpt := errors.New("rcpt bob@example.test: server relay.test said 550 5.1.1 no such user")
	errLocal := errors.New("open queue: permission denied")
	dataErr := dataErrorf("message contains a NUL byte")
	tests := []struct {
		name     string
		f        Failure
		wantCode int // 0: Err itself comes back
		wantText string
	}{
		{"some accepted", Failure{Err: errRcpt, Accepted: true, RelayCode: 550, RelayText: "5.1.1 no such user", RelayHost: "relay.test", Exit: exNoUser},
			250, "sent, but not to all: " + errRcpt.Error()},
		{"relay refused a recipient", Failure{Err: errRcpt, RelayCode: 550, RelayText: "5.1.1 no such user", RelayHost: "relay.test", Rcpt: "bob@example.test", Exit: exNoUser},
			550, "5.1.1 no such user (relay relay.test, for bob@example.test)"},
		{"relay refused the message", Failure{Err: errRcpt, RelayCode: 554, RelayText: "5.7.1 spam", RelayHost: "relay.test", Exit: exUnavailable},
			554, "5.7.1 spam (relay relay.test)"},
		{"relay said try later", Failure{Err: errRcpt, RelayCode: 451, RelayText: "4.3.0 busy", RelayHost: "relay.test", Exit: 75},
			451, "4.3.0 busy (relay relay.test)"},
		{"not a reply code", Failure{Err: errLocal, RelayCode: 250, RelayText: "ok", RelayHost: "relay.test", Exit: 70}, 0, ""},
		{"no such user", Failure{Err: errRcpt, Exit: exNoUser}, 550, errRcpt.Error()},
		{"no such host", Failure{Err: errRcpt, Exit: exNoHost}, 550, errRcpt.Error()},
		{"unavailable", Failure{Err: errRcpt, Exit: exUnavailable}, 554, errRcpt.Error()},
		{"usage", Failure{Err: errRcpt, Exit: exUsage}, 554, errRcpt.Error()},
		{"temporary", Failure{Err: errLocal, Exit: 75}, 0, ""},
		{"data error is left to Serve", Failure{Err: dataErr, Exit: 65}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.f.Reply()
			if tt.wantCode == 0 {
				if got != tt.f.Err {
					t.Errorf("Reply() = %v, want Err itself (%v)", got, tt.f.Err)
				}
				return
			}
			var r *Reply
			if !errors.As(got, &r) || r.Code != tt.wantCode || r.Text != tt.wantText {
				t.Errorf("Reply() = %v, want %d %s", got, tt.wantCode, tt.wantText)
			}
		})
	}
}
