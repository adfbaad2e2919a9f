//go:build unix && !aix && (!solaris || illumos)

package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func deliverAll(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
	return Outcome{Delivered: e.Recipients}
}

// recorder is a DeliverFunc that counts deliveries per entry and recipient and keeps the
// bodies it was given.
type recorder struct {
	mu      sync.Mutex
	count   map[string]int    // "id rcpt" -> deliveries
	bodies  map[string]string // id -> message
	outcome func(Entry) Outcome
	delay   time.Duration
}

func newRecorder() *recorder {
	return &recorder{count: map[string]int{}, bodies: map[string]string{}}
}

func (r *recorder) deliver(ctx context.Context, e Entry, msg io.ReaderAt, size int64) Outcome {
	b, err := io.ReadAll(io.NewSectionReader(msg, 0, size))
	if err != nil {
		panic(err)
	}
	time.Sleep(r.delay)
	out := Outcome{Delivered: e.Recipients}
	if r.outcome != nil {
		out = r.outcome(e)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies[e.ID] = string(b)
	for _, rcpt := range out.Delivered {
		r.count[e.ID+" "+rcpt]++
	}
	return out
}

func TestFlushDeliversOnceAndEmpties(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)
	want := map[string]string{}
	for i := range 3 {
		body := fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", i*100000))
		id := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"a@example.org", "b@example.org"}, Attempts: 1}, body)
		want[id] = body
	}
	rec := newRecorder()
	r := s.Flush(t.Context(), FlushOptions{}, rec.deliver)
	if r.Delivered != 6 || r.Deferred != 0 || r.Failed != 0 || len(r.Errors) != 0 || len(r.Results) != 3 {
		t.Errorf("Flush = %+v, want 6 delivered", r)
	}
	for id, body := range want {
		if rec.bodies[id] != body {
			t.Errorf("entry %s delivered with %d bytes, want %d", id, len(rec.bodies[id]), len(body))
		}
		for _, rcpt := range []string{"a@example.org", "b@example.org"} {
			if n := rec.count[id+" "+rcpt]; n != 1 {
				t.Errorf("entry %s delivered %d times to %s", id, n, rcpt)
			}
		}
	}
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List after Flush = %v, want empty", got)
	}
	if des, _ := os.ReadDir(s.Dir()); len(des) != 0 {
		t.Errorf("files left in the queue folder: %v", des)
	}
	if r := s.Flush(t.Context(), FlushOptions{}, rec.deliver); r.Delivered != 0 || len(r.Results) != 0 {
		t.Errorf("second Flush = %+v, want nothing", r)
	}
}

func TestFlushPartialKeepsPending(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)
	id := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"a@x.org", "b@x.org", "c@x.org", "d@x.org"}, Attempts: 1}, "msg")
	c.Add(time.Minute)
	rec := newRecorder()
	rec.outcome = func(e Entry) Outcome {
		return Outcome{
			Delivered: []string{"a@x.org", "unknown@x.org"},
			Temporary: map[string]error{"b@x.org": errors.New("452 4.2.2 mailbox full")},
			Permanent: map[string]error{"c@x.org": errors.New("550 5.1.1 no such user")},
			// d@x.org: no result at all, stays pending
		}
	}
	r := s.Flush(t.Context(), FlushOptions{Due: true}, rec.deliver)
	if r.Delivered != 1 || r.Deferred != 2 || r.Failed != 1 || len(r.Errors) != 0 {
		t.Errorf("Flush = %+v, want 1 delivered, 2 deferred, 1 failed", r)
	}
	if len(r.Results) != 1 || r.Results[0].Entry.ID != id || r.Results[0].Outcome.Permanent["c@x.org"] == nil {
		t.Errorf("Results = %+v", r.Results)
	}
	got := list(t, s)
	if len(got) != 1 {
		t.Fatalf("List = %v, want the entry", got)
	}
	e := got[0]
	if !slices.Equal(e.Recipients, []string{"b@x.org", "d@x.org"}) || e.Attempts != 2 ||
		!e.NextAttempt.Equal(c.Now().Add(2*time.Minute)) || !e.Created.Equal(t0) {
		t.Errorf("entry after Flush = %+v, want b and d pending, 2 attempts, next in 2m", e)
	}
	if e.LastError != "b@x.org: 452 4.2.2 mailbox full; d@x.org: no delivery result" {
		t.Errorf("LastError = %q", e.LastError)
	}

	// The next flush sees only the pending recipients.
	c.Add(2 * time.Minute)
	rec.outcome = nil
	var seen []string
	r = s.Flush(t.Context(), FlushOptions{Due: true}, func(ctx context.Context, e Entry, msg io.ReaderAt, size int64) Outcome {
		seen = e.Recipients
		return rec.deliver(ctx, e, msg, size)
	})
	if !slices.Equal(seen, []string{"b@x.org", "d@x.org"}) || r.Delivered != 2 {
		t.Errorf("second Flush delivered to %v (%+v), want b and d", seen, r)
	}
	if rec.count[id+" a@x.org"] != 1 || rec.count[id+" b@x.org"] != 1 || rec.count[id+" c@x.org"] != 0 {
		t.Errorf("deliveries = %v", rec.count)
	}
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List = %v, want empty", got)
	}
}

func TestFlushSameTemporaryErrorIsKeptAsIs(t *testing.T) {
	s := newSpool(t, newClock(t0))
	put(t, s, Entry{Recipients: []string{"a@x.org", "b@x.org"}}, "msg")
	refused := errors.New("dial tcp 127.0.0.1:25: connection refused")
	s.Flush(t.Context(), FlushOptions{}, func(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
		return Outcome{Temporary: map[string]error{"a@x.org": refused, "b@x.org": refused}}
	})
	if e := list(t, s)[0]; e.LastError != refused.Error() || e.Attempts != 1 {
		t.Errorf("entry = %+v, want LastError %q", e, refused)
	}
}

func TestFlushPermanentFailureRemoved(t *testing.T) {
	s := newSpool(t, newClock(t0))
	put(t, s, Entry{Recipients: []string{"a@x.org", "b@x.org"}}, "msg")
	r := s.Flush(t.Context(), FlushOptions{}, func(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
		return Outcome{Permanent: map[string]error{"a@x.org": errors.New("550"), "b@x.org": errors.New("550")}}
	})
	if r.Failed != 2 || r.Delivered != 0 || r.Deferred != 0 {
		t.Errorf("Flush = %+v, want 2 failed", r)
	}
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List = %v, want empty", got)
	}
}

func TestFlushDueAndBackoff(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)
	due := put(t, s, Entry{Recipients: []string{"a@x.org"}}, "due")                                    // attempts 0: due now
	later := put(t, s, Entry{Recipients: []string{"b@x.org"}, Attempts: 3}, "later")                   // due in 4m
	failing := put(t, s, Entry{Recipients: []string{"c@x.org"}, NextAttempt: t0.Add(-time.Hour)}, "f") // due

	var tried []string
	temp := func(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
		tried = append(tried, e.ID)
		if e.ID == failing {
			return Outcome{Temporary: map[string]error{"c@x.org": errors.New("421 busy")}}
		}
		return Outcome{Delivered: e.Recipients}
	}
	s.Flush(t.Context(), FlushOptions{Due: true}, temp)
	slices.Sort(tried) // all created in the same second: in random order
	want := []string{due, failing}
	slices.Sort(want)
	if !slices.Equal(tried, want) {
		t.Fatalf("due Flush tried %v, want %v", tried, want)
	}
	if due, err := s.HasDue(); due || err != nil {
		t.Errorf("HasDue = %v, %v; want false", due, err)
	}

	// failing: attempts 1, next at +1m; later: at +4m.
	wantTries := []struct {
		at    time.Duration
		due   int
		tried []string
	}{
		{30 * time.Second, 0, nil},
		{time.Minute, 1, []string{failing}},      // attempts 2, next at +3m
		{2 * time.Minute, 0, nil},                //
		{3 * time.Minute, 1, []string{failing}},  // attempts 3, next at +7m
		{4 * time.Minute, 1, []string{later}},    // delivered
		{6*time.Minute + 59*time.Second, 0, nil}, //
		{7 * time.Minute, 1, []string{failing}},  // attempts 4, next at +15m
	}
	for _, w := range wantTries {
		c.Set(t0.Add(w.at))
		if due, err := s.HasDue(); due != (w.due > 0) || err != nil {
			t.Errorf("at +%v: HasDue = %v, %v; want %v", w.at, due, err, w.due > 0)
		}
		tried = nil
		s.Flush(t.Context(), FlushOptions{Due: true}, temp)
		if !slices.Equal(tried, w.tried) {
			t.Errorf("at +%v: due Flush tried %v, want %v", w.at, tried, w.tried)
		}
	}
	e := list(t, s)[0]
	if e.Attempts != 4 || !e.NextAttempt.Equal(t0.Add(15*time.Minute)) || e.LastError != "421 busy" {
		t.Errorf("entry = %+v, want 4 attempts, next at +15m", e)
	}

	// Without Due, every entry is tried now.
	tried = nil
	s.Flush(t.Context(), FlushOptions{}, temp)
	if !slices.Equal(tried, []string{failing}) {
		t.Errorf("Flush tried %v, want %v", tried, []string{failing})
	}
}

func TestFlushExpiry(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)
	old := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"a@x.org", "b@x.org"}, Route: Route{Transport: "smtp", Profile: "work"},
		Attempts: 1, LastError: "421 busy"}, "old")
	c.Add(time.Second)
	null := put(t, s, Entry{Sender: "", Recipients: []string{"c@x.org"}}, "bounce")
	c.Add(100 * time.Hour)
	young := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"d@x.org"}, Attempts: 1}, "young")
	c.Add(20*time.Hour + time.Minute - time.Second)

	type bounce struct {
		e      Entry
		reason string
	}
	var bounces []bounce
	opts := FlushOptions{
		Due: true, MaxAge: 120 * time.Hour, KeepExpired: true,
		Bounce: func(_ context.Context, e Entry, reason string) error {
			bounces = append(bounces, bounce{e, reason})
			return nil
		},
	}
	var tried []string
	deliverTemp := func(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
		tried = append(tried, e.ID)
		return Outcome{Temporary: map[string]error{e.Recipients[0]: errors.New("421 busy")}}
	}
	r := s.Flush(t.Context(), opts, deliverTemp)
	if r.Expired != 2 || r.BounceFailed != 0 || !slices.Equal(tried, []string{young}) {
		t.Errorf("Flush = %+v, tried %v; want 2 expired, young tried", r, tried)
	}
	if len(bounces) != 1 || bounces[0].e.ID != old || !slices.Equal(bounces[0].e.Recipients, []string{"a@x.org", "b@x.org"}) ||
		bounces[0].reason != "not delivered within 120h1m; last error: 421 busy" {
		t.Errorf("bounces = %+v, want one for %s", bounces, old)
	}
	expiredIDs := func(errs []error) []string {
		var out []string
		for _, err := range errs {
			var x *ExpiredError
			if !errors.As(err, &x) {
				t.Errorf("unexpected error %v", err)
				continue
			}
			out = append(out, x.Entry.ID)
		}
		slices.Sort(out)
		return out
	}
	if got := expiredIDs(r.Errors); !slices.Equal(got, []string{old, null}) {
		t.Errorf("Flush reported expired %v, want %v", got, []string{old, null})
	}
	var x *ExpiredError
	if !errors.As(r.Errors[0], &x) || x.Error() != "queue entry "+old+": gave up after 120h1m for a@x.org, b@x.org (last error: 421 busy); bounce sent to me@example.com" {
		t.Errorf("first error = %v", r.Errors[0])
	}

	// The next List reports them, and the next flush too, which then forgets them.
	entries, errs := s.List()
	if !slices.Equal(ids(entries), []string{young}) || !slices.Equal(expiredIDs(errs), []string{old, null}) {
		t.Errorf("List = %v, %v", ids(entries), errs)
	}
	opts.KeepExpired = false
	r = s.Flush(t.Context(), opts, deliverTemp)
	if got := expiredIDs(r.Errors); r.Expired != 0 || !slices.Equal(got, []string{old, null}) {
		t.Errorf("next Flush = %+v, want the two expired entries reported", r)
	}
	if len(bounces) != 1 {
		t.Errorf("bounced %d times, want once", len(bounces))
	}
	if entries, errs := s.List(); len(entries) != 1 || len(errs) != 0 {
		t.Errorf("List = %v, %v; want young only, no report", ids(entries), errs)
	}

	// A bounce that fails is counted; the entry is given up all the same.
	c.Add(100 * time.Hour)
	opts.Bounce = func(context.Context, Entry, string) error { return errors.New("connection refused") }
	r = s.Flush(t.Context(), opts, deliverTemp)
	if r.Expired != 1 || r.BounceFailed != 1 || len(r.Errors) != 1 || !errors.As(r.Errors[0], &x) ||
		x.Bounced || x.BounceError != "connection refused" {
		t.Errorf("Flush = %+v, want one expired entry whose bounce failed", r)
	}
	if entries, errs := s.List(); len(entries) != 0 || len(errs) != 0 {
		t.Errorf("List = %v, %v; want nothing", entries, errs)
	}
}

func TestFlushConcurrentGoroutines(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)
	const n = 30
	for i := range n {
		put(t, s, Entry{Recipients: []string{"a@x.org", fmt.Sprintf("r%d@x.org", i)}}, fmt.Sprint(i))
	}
	rec := newRecorder()
	rec.delay = 2 * time.Millisecond
	var wg sync.WaitGroup
	reports := make([]FlushReport, 4)
	for i := range reports {
		wg.Go(func() {
			// Each goroutine its own Spool, as separate runs would have.
			reports[i] = openSpool(t, filepath.Dir(s.Dir()), c).Flush(t.Context(), FlushOptions{}, rec.deliver)
		})
	}
	wg.Wait()
	total, locked := 0, 0
	for _, r := range reports {
		total += r.Delivered
		locked += r.Locked
		if len(r.Errors) != 0 {
			t.Errorf("Flush errors = %v", r.Errors)
		}
	}
	if total != 2*n {
		t.Errorf("delivered %d recipients in all, want %d", total, 2*n)
	}
	if len(rec.count) != 2*n {
		t.Errorf("deliveries to %d entry recipients, want %d", len(rec.count), 2*n)
	}
	for k, v := range rec.count {
		if v != 1 {
			t.Errorf("%s delivered %d times", k, v)
		}
	}
	t.Logf("entries skipped as locked: %d", locked)
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List = %v, want empty", got)
	}
}

func TestFlushLeavesOtherUsersAlone(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)
	mine := put(t, s, Entry{Recipients: []string{"a@x.org"}}, "mine")

	// Another user's folder, with an entry of theirs (copied from ours for a valid shape).
	otherDir := filepath.Join(filepath.Dir(s.Dir()), strconv.Itoa(os.Getuid()+1))
	if err := os.Mkdir(otherDir, 0o700); err != nil {
		t.Fatal(err)
	}
	theirs := newID(t0)
	for _, ext := range []string{msgExt, envExt} {
		b, err := os.ReadFile(s.path(mine, ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(otherDir, theirs+ext), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() map[string]string {
		m := map[string]string{}
		filepath.WalkDir(otherDir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				fi, _ := d.Info()
				b, _ := os.ReadFile(path)
				m[path] = fmt.Sprint(fi.ModTime().UnixNano(), fi.Mode(), string(b))
			}
			return nil
		})
		return m
	}
	before := snapshot()

	c.Add(1000 * time.Hour) // expiry would remove theirs too, if Flush looked there
	rec := newRecorder()
	r := s.Flush(t.Context(), FlushOptions{MaxAge: time.Hour}, rec.deliver)
	if r.Expired != 1 || len(rec.count) != 0 {
		t.Errorf("Flush = %+v, deliveries %v; want only mine expired", r, rec.count)
	}
	after := snapshot()
	if len(before) != 2 || fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("other user's folder changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestDeleteWhileDelivering(t *testing.T) {
	s := newSpool(t, newClock(t0))
	id := put(t, s, Entry{Recipients: []string{"a@x.org"}}, "msg")
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan FlushReport)
	go func() {
		done <- s.Flush(context.Background(), FlushOptions{}, func(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
			close(inside)
			<-release
			return Outcome{Delivered: e.Recipients}
		})
	}()
	<-inside
	if err := s.Delete(id); !errors.Is(err, ErrLocked) {
		t.Errorf("Delete during delivery = %v, want ErrLocked", err)
	}
	if r := s.Flush(t.Context(), FlushOptions{}, deliverAll); r.Locked != 1 || r.Delivered != 0 {
		t.Errorf("concurrent Flush = %+v, want the entry skipped as locked", r)
	}
	close(release)
	if r := <-done; r.Delivered != 1 {
		t.Errorf("Flush = %+v", r)
	}
	if err := s.Delete(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete after delivery = %v, want ErrNotFound", err)
	}
}

func TestFlushStopsWhenCancelled(t *testing.T) {
	s := newSpool(t, newClock(t0))
	put(t, s, Entry{Recipients: []string{"a@x.org"}}, "1")
	put(t, s, Entry{Recipients: []string{"b@x.org"}}, "2")
	ctx, cancel := context.WithCancel(t.Context())
	r := s.Flush(ctx, FlushOptions{}, func(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
		cancel()
		return Outcome{Delivered: e.Recipients}
	})
	if r.Delivered != 1 || len(r.Errors) != 1 || !errors.Is(r.Errors[0], context.Canceled) {
		t.Errorf("Flush = %+v, want one delivered then context.Canceled", r)
	}
	if got := list(t, s); len(got) != 1 {
		t.Errorf("List = %v, want one entry left", got)
	}
}

func TestTryLockFlush(t *testing.T) {
	s := newSpool(t, newClock(t0))
	unlock, err := s.TryLockFlush()
	if err != nil {
		t.Fatalf("TryLockFlush = %v", err)
	}
	other := openSpool(t, filepath.Dir(s.Dir()), newClock(t0))
	if _, err := other.TryLockFlush(); !errors.Is(err, ErrLocked) {
		t.Errorf("second TryLockFlush = %v, want ErrLocked", err)
	}
	unlock()
	unlock() // harmless
	unlock2, err := other.TryLockFlush()
	if err != nil {
		t.Fatalf("TryLockFlush after unlock = %v", err)
	}
	unlock2()
	if entries, errs := s.List(); len(entries) != 0 || len(errs) != 0 {
		t.Errorf("List = %v, %v; the lock file is no entry", entries, errs)
	}
}

func TestEmptySpoolWritesNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "queue")
	s := openSpool(t, root, newClock(t0))
	if entries, errs := s.List(); len(entries) != 0 || len(errs) != 0 {
		t.Errorf("List = %v, %v", entries, errs)
	}
	if due, err := s.HasDue(); due || err != nil {
		t.Errorf("HasDue = %v, %v", due, err)
	}
	if r := s.Flush(t.Context(), FlushOptions{Due: true, MaxAge: time.Hour}, deliverAll); len(r.Errors) != 0 || len(r.Results) != 0 {
		t.Errorf("Flush = %+v", r)
	}
	if des, err := os.ReadDir(root); err != nil || len(des) != 0 {
		t.Errorf("queue folder holds %v (%v), want nothing", des, err)
	}
}

// An envelope's modification time is its entry's next attempt, after Put
// and after a flush that puts it off, so HasDue reads no envelope of an
// entry still waiting; one whose time has come it reads to be sure.
func TestEnvelopeTimeIsNextAttempt(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)
	id := put(t, s, Entry{Recipients: []string{"a@x.org"}, NextAttempt: t0.Add(time.Minute)}, "msg")
	mtime := func() time.Time {
		t.Helper()
		fi, err := os.Stat(s.path(id, envExt))
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime().UTC()
	}
	if got := mtime(); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("after Put: envelope time %v, want the next attempt %v", got, t0.Add(time.Minute))
	}
	if due, err := s.HasDue(); due || err != nil {
		t.Errorf("HasDue before the next attempt = %v, %v", due, err)
	}
	c.Set(t0.Add(time.Minute))
	if due, err := s.HasDue(); !due || err != nil {
		t.Errorf("HasDue at the next attempt = %v, %v; want true", due, err)
	}
	s.Flush(t.Context(), FlushOptions{Due: true}, func(context.Context, Entry, io.ReaderAt, int64) Outcome {
		return Outcome{Temporary: map[string]error{"a@x.org": errors.New("421 busy")}}
	})
	e := list(t, s)[0]
	if got := mtime(); !got.Equal(e.NextAttempt.UTC()) || !e.NextAttempt.After(c.Now()) {
		t.Errorf("after a deferral: envelope time %v, next attempt %v (now %v)", got, e.NextAttempt, c.Now())
	}
	// An envelope whose time has come but whose entry says otherwise (one
	// copied in, or a file system that keeps no times) is read and believed.
	os.Chtimes(s.path(id, envExt), t0, t0)
	if due, err := s.HasDue(); due || err != nil {
		t.Errorf("HasDue with a stale envelope time = %v, %v; want false", due, err)
	}
}
