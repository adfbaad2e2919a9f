// Package delivery hands a message to the outside world: an SMTP relay, or
// the recipients' MX hosts directly, optionally DKIM-signed. Every failure
// comes back classified (see Kind), per recipient where SMTP tells us, so
// callers can exit with the right code, queue what is pending, and name
// what was rejected.
package delivery

import (
	"context"

	"mailout/internal/text"
	"mailout/message"
)

// Transport delivers one message to the envelope's recipients.
//
// Deliver returns a result for every recipient. The error is nil when all
// were accepted; otherwise it is the *Error that decides the exit status
// (see Worst), and the result tells which recipients got the message.
type Transport interface {
	Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error)
}

// Status of one recipient after a delivery attempt.
type Status string

// Recipient statuses, as they appear in --json output.
const (
	Accepted Status = "accepted"
	Refused  Status = "rejected"
	Deferred Status = "deferred"
	Queued   Status = "queued"
)

// RecipientResult is the outcome for one recipient.
type RecipientResult struct {
	Address string
	Status  Status
	Host    string // server that accepted or refused it
	Reply   string // that server's reply, e.g. "250 2.0.0 Ok: queued as 4AB"
	Err     error  // the *Error when not accepted
	// TLS says how a direct MX delivery was protected: TLSByDANE,
	// TLSByMTASTS, TLSVerified, TLSByOpportunistic or TLSPlain; "" for a
	// relay or when no connection carried the message.
	TLS string
	// MTASTS is the MTA-STS mode applied to the recipient's domain
	// ("enforce", "testing"), "" when it has no policy.
	MTASTS string
	// TLSReport says what a testing MTA-STS policy would have refused.
	TLSReport string
}

// Result is the outcome of one Deliver call.
type Result struct {
	Transport  string // "smtp", "mx" or an HTTP API's name ("mailgun", ...)
	Recipients []RecipientResult
}

// Pending returns the recipients that failed temporarily: the ones a spool
// entry must keep.
func (r *Result) Pending() []string {
	var out []string
	for _, rr := range r.Recipients {
		if rr.Status == Deferred {
			out = append(out, rr.Address)
		}
	}
	return out
}

// Accepted counts accepted recipients.
func (r *Result) Accepted() int {
	n := 0
	for _, rr := range r.Recipients {
		if rr.Status == Accepted {
			n++
		}
	}
	return n
}

// DeferIf marks as deferred the refused recipients whose error satisfies
// later, with that error on one line as their reply. It exists for
// refusals that the user can cure without the message (an OAuth grant that
// needs a new login): a caller that queues what is pending then keeps the
// message instead of bouncing it, and the reply says what to do. A nil
// Result or predicate changes nothing.
func (r *Result) DeferIf(later func(error) bool) {
	if r == nil || later == nil {
		return
	}
	for i, rr := range r.Recipients {
		if rr.Status == Refused && rr.Err != nil && later(rr.Err) {
			r.Recipients[i].Status = Deferred
			r.Recipients[i].Reply = text.OneLine(rr.Err.Error())
		}
	}
}

// failAll marks every recipient not yet decided with err.
func (r *Result) failAll(rcpts []string, host string, err *Error) {
	for _, a := range rcpts {
		r.Recipients = append(r.Recipients, RecipientResult{Address: a, Status: statusFor(err), Host: host, Reply: replyText(err), Err: err})
	}
}

func statusFor(err *Error) Status {
	if err.Kind == Temporary {
		return Deferred
	}
	return Refused
}

func replyText(err *Error) string {
	if err.Code == 0 {
		return ""
	}
	return itoa(err.Code) + " " + err.Reply
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for n > 0 || i == len(b) {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
