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
	"strings"
	"sync"
	"time"
)

// Outcome is what one delivery attempt did with the recipients of an entry. Recipients
// are reported exactly as they appear in [Entry.Recipients]; one the outcome does not name
// stays pending, as if it had failed temporarily.
type Outcome struct {
	Delivered []string
	Temporary map[string]error // recipient -> why it may succeed later
	Permanent map[string]error // recipient -> why it never will
}

// DeliverFunc delivers an entry's message to e.Recipients (the pending ones). msg holds the
// size bytes of the message and may be read as often as needed (DKIM, several MX hosts);
// it is only valid during the call and must not be closed.
type DeliverFunc func(ctx context.Context, e Entry, msg io.ReaderAt, size int64) Outcome

// FlushOptions tune [Spool.Flush].
type FlushOptions struct {
	// Due restricts the flush to entries whose back-off has passed ("queue flush --due").
	// Without it every entry is tried now ("queue flush").
	Due bool
	// MaxAge is max_queue_age: an entry created longer ago is given up on instead of being
	// tried, due or not. Zero means entries never expire.
	MaxAge time.Duration
	// Bounce tells the sender of an expired entry that e.Recipients never got the message;
	// reason says why. It is called once per expired entry, never for the null sender
	// (e.Sender == ""), and its error only counts in [FlushReport.BounceFailed]: the entry is
	// given up on all the same. The bounce itself must use the null sender and must never be
	// queued. Nil: no bounce.
	Bounce func(ctx context.Context, e Entry, reason string) error
	// KeepExpired leaves the tombstones of expired entries in place after reporting them,
	// for a flush whose report nobody reads (the detached drain). Otherwise Flush removes
	// the tombstones it reports.
	KeepExpired bool
}

// Result is one delivery attempt made by a flush.
type Result struct {
	Entry   Entry   // the entry as handed to the DeliverFunc
	Outcome Outcome // what the DeliverFunc returned
	// Err is set when the spool could not record the outcome: the entry may be tried again.
	Err error
}

// FlushReport says what a flush did. Delivered, Deferred and Failed count recipients;
// Expired, BounceFailed and Locked count entries.
type FlushReport struct {
	Delivered int // recipients that accepted the message
	Deferred  int // recipients still pending after a temporary failure
	Failed    int // recipients that failed permanently, removed from their entries
	Expired   int // entries given up on by this flush
	// BounceFailed counts expired entries whose bounce could not be sent.
	BounceFailed int
	// Locked counts entries skipped because another flush was delivering them.
	Locked int
	// Results has one element per delivery attempt, in the order made: the details behind
	// the counts (exit codes, log lines; a permanent failure the caller may bounce).
	Results []Result
	// Errors has every *BadEntryError found, an *ExpiredError for every entry given up on
	// (by this flush or an earlier one not yet reported), and the I/O errors met.
	Errors []error
}

// Flush delivers the user's entries, oldest first, through deliver. For each entry it takes
// the entry's lock (skipping it when another flush holds it), gives it up when older than
// o.MaxAge, skips it with o.Due when its back-off has not passed, and otherwise calls
// deliver. Delivered and permanently failed recipients are removed from the entry; when
// some remain, the entry's Attempts grows by one, NextAttempt becomes now+Backoff(Attempts)
// and LastError is set; when none remain, the entry is removed. Flush stops early, with
// ctx's error in the report, when ctx is done.
func (s *Spool) Flush(ctx context.Context, o FlushOptions, deliver DeliverFunc) FlushReport {
	var r FlushReport
	entries, errs := s.List()
	r.Errors = errs
	var reported []string // ids of the tombstones reported
	for _, err := range errs {
		if x, ok := err.(*ExpiredError); ok {
			reported = append(reported, x.Entry.ID)
		}
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			r.Errors = append(r.Errors, err)
			break
		}
		now := s.now()
		if o.Due && e.NextAttempt.After(now) && !expired(e, o.MaxAge, now) {
			continue // decided on a stale copy of the envelope; checked again under the lock
		}
		if x := s.flushEntry(ctx, o, deliver, e.ID, &r); x != nil {
			reported = append(reported, x.Entry.ID)
		}
	}
	if !o.KeepExpired && len(reported) > 0 {
		dir := filepath.Join(s.dir, expiredDir)
		for _, id := range reported {
			if err := os.Remove(filepath.Join(dir, id+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				r.Errors = append(r.Errors, fmt.Errorf("remove expired record: %w", err))
			}
		}
		if err := syncDir(dir); err != nil {
			r.Errors = append(r.Errors, fmt.Errorf("remove expired record: %w", err))
		}
	}
	return r
}

func expired(e Entry, maxAge time.Duration, now time.Time) bool {
	return maxAge > 0 && now.Sub(e.Created) >= maxAge
}

// flushEntry works on one entry under its lock. It returns the entry's *ExpiredError when it
// gave up on it.
func (s *Spool) flushEntry(ctx context.Context, o FlushOptions, deliver DeliverFunc, id string, r *FlushReport) *ExpiredError {
	msgPath := s.path(id, msgExt)
	f, err := os.Open(msgPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed by another flush since List
	}
	if err != nil {
		r.Errors = append(r.Errors, fmt.Errorf("queue entry %s: %w", id, err))
		return nil
	}
	defer f.Close()
	if err := tryLock(f); errors.Is(err, ErrLocked) {
		r.Locked++
		return nil
	} else if err != nil {
		r.Errors = append(r.Errors, fmt.Errorf("queue entry %s: lock: %w", id, err))
		return nil
	}
	// Under the lock, only what is on disk now counts: another flush may have updated the
	// entry since List, or removed it (envelope first, so a missing envelope says so).
	env, err := readEnvelope(s.path(id, envExt))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		r.Errors = append(r.Errors, err)
		return nil
	}
	e := env.entry(id)
	now := s.now()
	if expired(e, o.MaxAge, now) {
		x := s.expire(ctx, o, e, now, r)
		r.Errors = append(r.Errors, x)
		return x
	}
	if o.Due && e.NextAttempt.After(now) {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		r.Errors = append(r.Errors, fmt.Errorf("queue entry %s: %w", id, err))
		return nil
	}

	out := deliver(ctx, e, f, fi.Size())
	res := Result{Entry: e, Outcome: out}
	delivered := make(map[string]bool, len(out.Delivered))
	for _, rcpt := range out.Delivered {
		delivered[rcpt] = true
	}
	var pending []string
	tempErrs := map[string]string{}
	for _, rcpt := range e.Recipients {
		switch {
		case delivered[rcpt]:
			r.Delivered++
		case out.Permanent[rcpt] != nil:
			r.Failed++
		default:
			pending = append(pending, rcpt)
			if err := out.Temporary[rcpt]; err != nil {
				tempErrs[rcpt] = err.Error()
			} else {
				tempErrs[rcpt] = "no delivery result"
			}
		}
	}
	r.Deferred += len(pending)

	if len(pending) == 0 {
		err = s.remove(id)
	} else {
		env.Recipients = pending
		env.Attempts++
		env.NextAttempt = s.now().Add(Backoff(env.Attempts)).UTC()
		env.LastError = summarize(tempErrs)
		err = s.writeEnvelope(s.dir, id+envExt, env)
	}
	if err != nil {
		res.Err = fmt.Errorf("queue entry %s: record delivery: %w", id, err)
		r.Errors = append(r.Errors, res.Err)
	}
	r.Results = append(r.Results, res)
	return nil
}

// expire gives up on an entry: bounce, tombstone, removal. The caller holds its lock.
func (s *Spool) expire(ctx context.Context, o FlushOptions, e Entry, now time.Time, r *FlushReport) *ExpiredError {
	x := &ExpiredError{Entry: e, At: now}
	r.Expired++
	if e.Sender != "" && o.Bounce != nil {
		reason := fmt.Sprintf("not delivered within %s", roundDuration(now.Sub(e.Created)))
		if e.LastError != "" {
			reason += "; last error: " + e.LastError
		}
		if err := o.Bounce(ctx, e, reason); err != nil {
			x.BounceError = err.Error()
			r.BounceFailed++
		} else {
			x.Bounced = true
		}
	}
	env := toEnvelope(e)
	at := now.UTC()
	env.ExpiredAt, env.Bounced, env.BounceError = &at, x.Bounced, x.BounceError
	dir := filepath.Join(s.dir, expiredDir)
	err := os.Mkdir(dir, dirMode)
	if err == nil {
		err = os.Chmod(dir, dirMode)
	} else if errors.Is(err, fs.ErrExist) {
		err = nil
	}
	if err == nil {
		err = s.writeEnvelope(dir, e.ID+".json", env)
	}
	if err != nil {
		// The decision stands (the bounce may be out): the entry goes, only the record for
		// the next "queue list" is lost.
		r.Errors = append(r.Errors, fmt.Errorf("queue entry %s: record expiry: %w", e.ID, err))
	}
	if err := s.remove(e.ID); err != nil {
		r.Errors = append(r.Errors, fmt.Errorf("queue entry %s: remove expired entry: %w", e.ID, err))
	}
	return x
}

// summarize turns the temporary errors of the pending recipients into one LastError: the
// error alone when all share it, else "rcpt: error" pairs.
func summarize(errs map[string]string) string {
	rcpts := make([]string, 0, len(errs))
	same := true
	var first string
	for rcpt, msg := range errs {
		if len(rcpts) == 0 {
			first = msg
		} else if msg != first {
			same = false
		}
		rcpts = append(rcpts, rcpt)
	}
	if same {
		return first
	}
	slices.Sort(rcpts)
	parts := make([]string, len(rcpts))
	for i, rcpt := range rcpts {
		parts[i] = rcpt + ": " + errs[rcpt]
	}
	return strings.Join(parts, "; ")
}

// TryLockFlush takes the spool-wide flush lock, which the detached drain ("queue flush
// --due" started by a sending run) holds so that at most one runs at a time. It returns
// [ErrLocked] when another process holds it. The lock goes with the process, so a killed
// flush never leaves it stale. Per-entry locks keep concurrent flushes correct without it.
func (s *Spool) TryLockFlush() (unlock func(), err error) {
	if err := s.ensureDir(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, flushLock), os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("flush lock: %w", err)
	}
	err = f.Chmod(fileMode)
	if err == nil {
		err = tryLock(f)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("flush lock: %w", err)
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}
