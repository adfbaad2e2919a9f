package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"mailout/delivery"
	"mailout/message"
)

func TestOutcomeOf(t *testing.T) {
	errDown := errors.New("connect: connection refused")
	errLater := &delivery.Error{Kind: delivery.Temporary, Op: "rcpt", Code: 451, Reply: "try later"}
	errNoUser := &delivery.Error{Kind: delivery.Rejected, Op: "rcpt", Code: 550, Reply: "no such user"}
	rr := func(addr string, st delivery.Status, err error) delivery.RecipientResult {
		return delivery.RecipientResult{Address: addr, Status: st, Err: err}
	}
	tests := []struct {
		name      string
		rcpts     []string
		res       *delivery.Result
		err       error
		delivered []string
		temporary map[string]string // recipient -> error text
		permanent map[string]string
	}{
		{
			name: "all accepted", rcpts: []string{"a", "b"},
			res:       &delivery.Result{Recipients: []delivery.RecipientResult{rr("a", delivery.Accepted, nil), rr("b", delivery.Accepted, nil)}},
			delivered: []string{"a", "b"}, temporary: map[string]string{}, permanent: map[string]string{},
		},
		{
			name: "mixed", rcpts: []string{"a", "b", "c"}, err: errNoUser,
			res: &delivery.Result{Recipients: []delivery.RecipientResult{
				rr("a", delivery.Accepted, nil), rr("b", delivery.Deferred, errLater), rr("c", delivery.Refused, errNoUser)}},
			delivered: []string{"a"},
			temporary: map[string]string{"b": errLater.Error()},
			permanent: map[string]string{"c": errNoUser.Error()},
		},
		{
			name: "nil result keeps everyone with the error", rcpts: []string{"a", "b"}, err: errDown,
			temporary: map[string]string{"a": errDown.Error(), "b": errDown.Error()}, permanent: map[string]string{},
		},
		{
			name: "nil result and no error", rcpts: []string{"a"},
			temporary: map[string]string{"a": "no result"}, permanent: map[string]string{},
		},
		{
			name: "undecided recipient takes the error", rcpts: []string{"a", "b"}, err: errDown,
			res:       &delivery.Result{Recipients: []delivery.RecipientResult{rr("a", delivery.Accepted, nil)}},
			delivered: []string{"a"}, temporary: map[string]string{"b": errDown.Error()}, permanent: map[string]string{},
		},
		{
			name: "undecided recipient without an error", rcpts: []string{"a", "b"},
			res:       &delivery.Result{Recipients: []delivery.RecipientResult{rr("b", delivery.Refused, errNoUser)}},
			temporary: map[string]string{"a": "no result"}, permanent: map[string]string{"b": errNoUser.Error()},
		},
		{
			name: "no recipients", rcpts: nil, err: errDown,
			temporary: map[string]string{}, permanent: map[string]string{},
		},
	}
	text := func(m map[string]error) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			if v == nil {
				out[k] = "<nil>"
			} else {
				out[k] = v.Error()
			}
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OutcomeOf(tt.rcpts, tt.res, tt.err)
			if !reflect.DeepEqual(got.Delivered, tt.delivered) {
				t.Errorf("Delivered = %q, want %q", got.Delivered, tt.delivered)
			}
			if g := text(got.Temporary); !reflect.DeepEqual(g, tt.temporary) {
				t.Errorf("Temporary = %q, want %q", g, tt.temporary)
			}
			if g := text(got.Permanent); !reflect.DeepEqual(g, tt.permanent) {
				t.Errorf("Permanent = %q, want %q", g, tt.permanent)
			}
		})
	}
}

// fakeTransport accepts every recipient but those in refuse, and keeps
// what it was given.
type fakeTransport struct {
	route  string
	refuse map[string]error
	env    message.Envelope
	body   string
}

func (f *fakeTransport) Deliver(_ context.Context, env message.Envelope, msg message.Message) (*delivery.Result, error) {
	var b bytes.Buffer
	if _, err := msg.WriteTo(&b); err != nil {
		return nil, err
	}
	f.env, f.body = env, b.String()
	res := &delivery.Result{Transport: f.route}
	var last error
	for _, rc := range env.To {
		if err := f.refuse[rc]; err != nil {
			res.Recipients = append(res.Recipients, delivery.RecipientResult{Address: rc, Status: delivery.Refused, Err: err})
			last = err
			continue
		}
		res.Recipients = append(res.Recipients, delivery.RecipientResult{Address: rc, Status: delivery.Accepted})
	}
	return res, last
}

func TestDeliverVia(t *testing.T) {
	errLogin := errors.New("grant expired")
	errNoUser := &delivery.Error{Kind: delivery.Rejected, Op: "rcpt", Code: 550, Reply: "no such user"}
	errBuild := errors.New("profile \"work\": no configuration file")
	builds := map[Route]int{}
	trs := map[Route]*fakeTransport{}
	failing := Route{Profile: "broken"}
	build := func(e Entry) (delivery.Transport, error) {
		builds[e.Route]++
		if e.Route == failing {
			return nil, errBuild
		}
		tr := &fakeTransport{route: e.Route.Transport, refuse: map[string]error{
			"gone@example.test":  errNoUser,
			"login@example.test": &delivery.Error{Kind: delivery.AuthFailed, Op: "auth", Err: errLogin},
		}}
		trs[e.Route] = tr
		return tr, nil
	}
	deliver := DeliverVia(build, func(err error) bool { return errors.Is(err, errLogin) })
	smtp, api := Route{Transport: "smtp", Server: "relay.test"}, Route{Transport: "mailgun", Profile: "mg"}
	msg := "Subject: hi\r\n\r\nhello\r\n"

	e := Entry{Sender: "me@example.test", Recipients: []string{"a@example.test", "gone@example.test", "login@example.test"}, Route: smtp}
	out := deliver(context.Background(), e, strings.NewReader(msg+"trailing bytes past size"), int64(len(msg)))
	if !reflect.DeepEqual(out.Delivered, []string{"a@example.test"}) {
		t.Errorf("Delivered = %q", out.Delivered)
	}
	if err := out.Permanent["gone@example.test"]; err != errNoUser {
		t.Errorf("Permanent[gone] = %v, want %v", err, errNoUser)
	}
	if err := out.Temporary["login@example.test"]; !errors.Is(err, errLogin) {
		t.Errorf("Temporary[login] = %v, want the login error (kept, not bounced)", err)
	}
	if len(out.Permanent) != 1 || len(out.Temporary) != 1 {
		t.Errorf("outcome = %+v", out)
	}
	tr := trs[smtp]
	if tr.body != msg {
		t.Errorf("transport got %q, want %q (size bytes of the spooled file)", tr.body, msg)
	}
	if want := (message.Envelope{From: e.Sender, To: e.Recipients}); !reflect.DeepEqual(tr.env, want) {
		t.Errorf("envelope = %+v, want %+v", tr.env, want)
	}

	// The same route reuses its transport; another route gets its own.
	for _, r := range []Route{smtp, api, api, smtp} {
		deliver(context.Background(), Entry{Recipients: []string{"a@example.test"}, Route: r}, strings.NewReader(msg), int64(len(msg)))
	}
	if builds[smtp] != 1 || builds[api] != 1 {
		t.Errorf("builds = %v, want one per route", builds)
	}

	// A transport that cannot be built keeps every recipient, and is
	// tried again next time.
	for i := 1; i <= 2; i++ {
		out := deliver(context.Background(), Entry{Recipients: []string{"a", "b"}, Route: failing}, strings.NewReader(msg), int64(len(msg)))
		if len(out.Delivered) != 0 || len(out.Permanent) != 0 || out.Temporary["a"] != errBuild || out.Temporary["b"] != errBuild {
			t.Errorf("outcome with a failing build = %+v", out)
		}
		if builds[failing] != i {
			t.Errorf("failing route built %d times after %d entries", builds[failing], i)
		}
	}
}

func TestDeliverViaWithoutKeep(t *testing.T) {
	errLogin := &delivery.Error{Kind: delivery.AuthFailed, Op: "auth", Err: errors.New("grant expired")}
	tr := &fakeTransport{refuse: map[string]error{"a": errLogin}}
	deliver := DeliverVia(func(Entry) (delivery.Transport, error) { return tr, nil }, nil)
	out := deliver(context.Background(), Entry{Recipients: []string{"a"}}, strings.NewReader(""), 0)
	if out.Permanent["a"] != errLogin {
		t.Errorf("without keep, a refusal is permanent: outcome = %+v", out)
	}
}

func TestBounceMessage(t *testing.T) {
	created := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	now := created.Add(5 * 24 * time.Hour)
	e := Entry{ID: "20250102T150405-0123456789ab", Sender: "sender@example.com", Created: created,
		Recipients: []string{"lost@example.net", "gone@example.org"}, LastError: "connect: connection refused"}
	rnd := func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{7}, 64)) }
	env, m, err := BounceMessage(e, "not delivered within 5d", "host.example.com", now, rnd())
	if err != nil {
		t.Fatal(err)
	}
	if want := (message.Envelope{From: "", To: []string{"sender@example.com"}}); !reflect.DeepEqual(env, want) {
		t.Errorf("envelope = %+v, want %+v (null sender)", env, want)
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(b.String(), "\r\n", "\n")
	for _, want := range []string{
		"From: Mail Delivery System <MAILER-DAEMON@host.example.com>\n",
		"To: sender@example.com\n",
		"Subject: Undelivered Mail Returned to Sender\n",
		"Date: Tue, 07 Jan 2025 15:04:05 +0000\n",
		"Auto-Submitted: auto-replied\n",
		"@host.example.com>\n", // Message-ID
		"This is mailout on host.example.com.\n\nYour message (queue id 20250102T150405-0123456789ab, sent Thu, 02 Jan 2025 15:04:05 +0000) could not be delivered to:\n\n    lost@example.net\n    gone@example.org\n\nReason: not delivered within 5d\nLast error: connect: connection refused\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bounce lacks %q:\n%s", want, got)
		}
	}
	// Same inputs, same bytes.
	_, m2, err := BounceMessage(e, "not delivered within 5d", "host.example.com", now, rnd())
	if err != nil {
		t.Fatal(err)
	}
	var b2 bytes.Buffer
	m2.WriteTo(&b2)
	if b2.String() != b.String() {
		t.Errorf("bounce not reproducible:\n%s\n---\n%s", b.String(), b2.String())
	}
}

func TestBounceMessageErrors(t *testing.T) {
	ok := Entry{Sender: "sender@example.com", Recipients: []string{"a@example.net"}}
	tests := []struct {
		name string
		e    Entry
		rand io.Reader
	}{
		{"bad sender", Entry{Sender: "not an address", Recipients: []string{"a@example.net"}}, bytes.NewReader(make([]byte, 64))},
		{"sender with a line break", Entry{Sender: "a@example.com\r\nBcc: x@example.com", Recipients: []string{"a@example.net"}}, bytes.NewReader(make([]byte, 64))},
		{"no randomness", ok, bytes.NewReader(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, m, err := BounceMessage(tt.e, "expired", "host.test", time.Unix(0, 0), tt.rand); err == nil {
				t.Errorf("BounceMessage(%q) = %v, want an error", tt.e.Sender, m)
			}
		})
	}
}

func TestHonorRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 15, 0, 0, 0, time.FixedZone("CET", 3600))
	preset := time.Date(2025, 1, 2, 13, 1, 0, 0, time.UTC)
	retry := func(d time.Duration) error {
		return &delivery.Error{Kind: delivery.Temporary, Op: "send", Code: 429, RetryAfter: d}
	}
	tests := []struct {
		name     string
		attempts int
		next     time.Time
		err      error
		want     time.Time
	}{
		{"nil error", 1, time.Time{}, nil, time.Time{}},
		{"not a delivery error", 1, time.Time{}, errors.New("timeout"), time.Time{}},
		{"no Retry-After", 1, time.Time{}, retry(0), time.Time{}},
		{"shorter than the back-off", 1, time.Time{}, retry(30 * time.Second), time.Time{}},
		{"equal to the back-off", 1, time.Time{}, retry(time.Minute), time.Time{}},
		{"longer than the back-off", 1, time.Time{}, retry(10 * time.Minute), now.Add(10 * time.Minute).UTC()},
		{"wrapped", 1, time.Time{}, fmt.Errorf("send: %w", retry(time.Hour)), now.Add(time.Hour).UTC()},
		{"shorter than a later back-off", 3, time.Time{}, retry(3 * time.Minute), time.Time{}},
		{"shorter keeps a preset time", 1, preset, retry(time.Second), preset},
		{"longer replaces a preset time", 1, preset, retry(2 * time.Hour), now.Add(2 * time.Hour).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Entry{Attempts: tt.attempts, NextAttempt: tt.next}
			e.HonorRetryAfter(tt.err, now)
			if !e.NextAttempt.Equal(tt.want) || e.NextAttempt.Location() != tt.want.Location() {
				t.Errorf("HonorRetryAfter(%v) with %d attempts: NextAttempt = %v, want %v", tt.err, tt.attempts, e.NextAttempt, tt.want)
			}
		})
	}
}
