package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"sync"
	"time"

	"mailout/delivery"
	"mailout/message"
)

// errNoResult is the temporary failure of a recipient that a delivery
// neither accepted nor refused and that came without an error.
var errNoResult = errors.New("no result")

// OutcomeOf translates one delivery of an entry into what the spool keeps:
// accepted recipients are delivered, deferred ones stay for a later try,
// and every other status is a permanent failure, each with its own error.
// A recipient of recipients that res does not name (res is nil, or the
// transport stopped early) was not decided, so it stays pending with err,
// or "no result" when err is nil: a spool never drops a recipient it has
// no answer for.
func OutcomeOf(recipients []string, res *delivery.Result, err error) Outcome {
	out := Outcome{Temporary: map[string]error{}, Permanent: map[string]error{}}
	decided := map[string]bool{}
	if res != nil {
		for _, rr := range res.Recipients {
			decided[rr.Address] = true
			switch rr.Status {
			case delivery.Accepted:
				out.Delivered = append(out.Delivered, rr.Address)
			case delivery.Deferred:
				out.Temporary[rr.Address] = rr.Err
			default:
				out.Permanent[rr.Address] = rr.Err
			}
		}
	}
	if err == nil {
		err = errNoResult
	}
	for _, rc := range recipients {
		if !decided[rc] {
			out.Temporary[rc] = err
		}
	}
	return out
}

// DeliverVia returns the DeliverFunc of a flush that sends each entry
// through the transport of its route. build makes that transport; it is
// called once per route for the life of the DeliverFunc, so that an API's
// keep-alive connections and a key asked for once serve every entry sent
// the same way. A route whose transport cannot be built is tried again for
// the next entry, and the entry's recipients stay pending with build's
// error. keep, when not nil, says which refusals are to stay in the queue
// as if they were temporary (see [delivery.Result.DeferIf]): an OAuth grant
// that needs a new login keeps the mail until someone logs in, rather than
// bouncing it.
func DeliverVia(build func(Entry) (delivery.Transport, error), keep func(error) bool) DeliverFunc {
	var (
		mu         sync.Mutex
		transports = map[Route]delivery.Transport{}
	)
	transportFor := func(e Entry) (delivery.Transport, error) {
		mu.Lock()
		defer mu.Unlock()
		if tr, ok := transports[e.Route]; ok {
			return tr, nil
		}
		tr, err := build(e)
		if err == nil {
			transports[e.Route] = tr
		}
		return tr, err
	}
	return func(ctx context.Context, e Entry, msg io.ReaderAt, size int64) Outcome {
		tr, err := transportFor(e)
		if err != nil {
			return OutcomeOf(e.Recipients, nil, err)
		}
		res, err := tr.Deliver(ctx, message.Envelope{From: e.Sender, To: e.Recipients, DSN: e.DSN}, sectionMessage{msg, size})
		res.DeferIf(keep)
		return OutcomeOf(e.Recipients, res, err)
	}
}

// sectionMessage is a spooled message read through an io.ReaderAt, as
// often as the transport needs (DKIM, several MX hosts).
type sectionMessage struct {
	r io.ReaderAt
	n int64
}

func (m sectionMessage) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, io.NewSectionReader(m.r, 0, m.n))
}

// BounceMessage composes the bounce that tells the sender of an expired
// entry which recipients never got the message, and why (reason, as
// [FlushOptions.Bounce] receives it). It comes from MAILER-DAEMON at host,
// is marked Auto-Submitted, and its envelope has the null sender, so a
// bounce can never bounce. now dates it and rand seeds its Message-ID:
// both are parameters so that a bounce is reproducible in tests. The
// caller delivers it and must never queue it. Errors are returned as
// message gives them: they become the entry's BounceError.
func BounceMessage(e Entry, reason, host string, now time.Time, rand io.Reader) (message.Envelope, message.Message, error) {
	from := &mail.Address{Name: "Mail Delivery System", Address: "MAILER-DAEMON@" + host}
	to, err := message.ParseAddress(e.Sender)
	if err != nil {
		return message.Envelope{}, nil, err
	}
	id, err := message.NewMessageID(rand, now, host)
	if err != nil {
		return message.Envelope{}, nil, err
	}
	body := fmt.Sprintf("This is mailout on %s.\n\nYour message (queue id %s, sent %s) could not be delivered to:\n\n    %s\n\nReason: %s\nLast error: %s\n",
		host, e.ID, e.Created.Format(time.RFC1123Z), strings.Join(e.Recipients, "\n    "), reason, e.LastError)
	m, err := message.New(message.Spec{From: from, To: []*mail.Address{to}, Subject: "Undelivered Mail Returned to Sender",
		Date: now, MessageID: id, Headers: []message.Field{{Name: "Auto-Submitted", Value: "auto-replied"}}, Text: message.Bytes(body)})
	if err != nil {
		return message.Envelope{}, nil, err
	}
	return message.Envelope{From: "", To: []string{to.Address}}, m, nil
}

// HonorRetryAfter makes a new entry wait as long as the server asked: when
// err carries a Retry-After (an HTTP API's 429 or 503) longer than the
// back-off after e.Attempts, NextAttempt becomes now plus that wait, so
// that a due flush does not knock again before the server said to. A
// shorter or missing Retry-After leaves NextAttempt as it is, for
// [Spool.Put] to apply the back-off.
func (e *Entry) HonorRetryAfter(err error, now time.Time) {
	var de *delivery.Error
	if errors.As(err, &de) && de.RetryAfter > Backoff(e.Attempts) {
		e.NextAttempt = now.Add(de.RetryAfter).UTC()
	}
}
