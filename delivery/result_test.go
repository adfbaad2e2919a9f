package delivery

import (
	"errors"
	"testing"
)

var errLogin = errors.New("grant expired;\n  run 'mailout profile login work'")

func isLogin(err error) bool { return errors.Is(err, errLogin) }

func TestResultDeferIf(t *testing.T) {
	wrapped := &Error{Kind: AuthFailed, Op: "auth", Err: errLogin}
	other := &Error{Kind: Rejected, Op: "rcpt", Code: 550, Reply: "no such user"}
	tests := []struct {
		name      string
		in        RecipientResult
		later     func(error) bool
		want      Status
		wantReply string
	}{
		{"refused for a login", RecipientResult{Address: "a", Status: Refused, Err: wrapped, Reply: "old"}, isLogin,
			Deferred, "auth: grant expired; run 'mailout profile login work'"},
		{"refused for something else", RecipientResult{Address: "b", Status: Refused, Err: other, Reply: "550 no such user"}, isLogin,
			Refused, "550 no such user"},
		{"accepted is left alone", RecipientResult{Address: "c", Status: Accepted, Reply: "250 ok"}, func(error) bool { return true },
			Accepted, "250 ok"},
		{"already deferred keeps its reply", RecipientResult{Address: "d", Status: Deferred, Err: wrapped, Reply: "451 later"}, isLogin,
			Deferred, "451 later"},
		{"refused without an error", RecipientResult{Address: "e", Status: Refused}, func(error) bool { return true },
			Refused, ""},
		{"nil predicate", RecipientResult{Address: "f", Status: Refused, Err: wrapped, Reply: "old"}, nil,
			Refused, "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{Recipients: []RecipientResult{tt.in}}
			res.DeferIf(tt.later)
			got := res.Recipients[0]
			if got.Status != tt.want || got.Reply != tt.wantReply {
				t.Errorf("DeferIf: %s = %s %q, want %s %q", got.Address, got.Status, got.Reply, tt.want, tt.wantReply)
			}
			if got.Err != tt.in.Err {
				t.Errorf("DeferIf changed Err to %v", got.Err)
			}
		})
	}
}

func TestResultDeferIfNil(t *testing.T) {
	var res *Result
	res.DeferIf(func(error) bool { return true }) // a failed Deliver may return no Result: must not panic
}
