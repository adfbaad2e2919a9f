package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mailout/delivery"
	"mailout/message"
)

// Mail is the message of one row, as [Deps.Compose] made it.
type Mail struct {
	Envelope message.Envelope
	Message  message.Message
	ID       string // its Message-ID, for the report
}

// RowResult is what became of one row: what its report line, the progress
// and the log show.
type RowResult struct {
	Row     int    // 1-based data row
	Line    int    // its first line in the CSV file
	Status  string // StatusSent, StatusQueued, StatusFailed or StatusSkipped
	Mail    *Mail  // nil when the row did not compose
	Result  *delivery.Result
	QueueID string // the spool entry of a queued row
	Err     error  // why it failed
	Bad     bool   // the row could not be read or keyed: it never reached a worker
}

// Tally counts the rows of a run so far.
type Tally struct {
	Sent, Queued, Failed, Skipped int
	Lines                         int // lines written to the report or the JSON stream
}

// Send attempts and back-off of a row whose delivery failed temporarily,
// when [SendOptions] leave them unset: a few, spaced out, so that a relay's
// brief hiccup does not fail rows, while a relay that stays down still
// fails them in seconds.
const (
	DefaultAttempts    = 3
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 30 * time.Second
	// RetryAfterMax caps a server's Retry-After (HTTP 429/503): a row
	// waits at most this long between tries, whatever the server asks.
	RetryAfterMax = 5 * time.Minute
)

// WindowPerWorker is how many journal lines per worker may wait for their
// commit while the sends go on: enough to keep them going through a commit
// of a few milliseconds (an fsync on a busy disk, and the writer waiting
// for a CPU), which at --parallel 4 and 10,000 messages a second is 20 to
// 50 lines; a smaller window stalls the sends. So a crash costs at most
// K = (WindowPerWorker+1) × Parallel rows sent again by the re-run: the
// lines waiting, and the messages in flight, which a server may have
// accepted just before (two per worker through a relay that pipelines,
// whose window is one line per worker smaller).
const WindowPerWorker = 16

// StopGrace is how long the messages being sent when a run is stopped
// (SIGINT, SIGTERM) may take to finish.
const StopGrace = 5 * time.Second

// SendOptions configure [Send].
type SendOptions struct {
	CSV     string   // the CSV file's path
	Key     string   // the journal key column; "" hashes the whole row
	Journal *Journal // nil: no journal, every row is sent; Send sets its window
	Limit   int      // send at most this many rows; 0: all
	// MaxErrors is the number of failed rows, bad rows included, after
	// which no new row starts; 0: never stop.
	MaxErrors int
	Parallel  int      // workers, one pool each; at most len(Deps.Pools)
	Limiter   *Limiter // nil: no rate limit
	// Count makes a first pass over the CSV that counts the rows to send
	// and finds the first, for [Deps.Start].
	Count bool
	// Attempts, Backoff and Sleep retry a temporary failure (see Retry);
	// zero values mean DefaultAttempts, Backoff(DefaultBackoffBase,
	// DefaultBackoffMax) and Sleep.
	Attempts int
	Backoff  func(i int) time.Duration
	Sleep    func(context.Context, time.Duration) error
	Report   string    // write one JSON line per row to this file; "" none
	JSON     io.Writer // and to this stream; nil none
}

// Deps is what Send needs from its caller.
type Deps struct {
	// Compose renders the message of a row; it runs on the workers.
	Compose func(Row) (*Mail, error)
	// Pools deliver, one per worker.
	Pools []delivery.Transport
	// Queue, when set, spools a message some recipients of which failed
	// temporarily (pending), marks them queued in res and returns the
	// spool entry and what is left of err (nil when nothing failed for
	// good); it runs on the workers.
	Queue func(m *Mail, res *delivery.Result, pending []string, err error) (queueID string, rest error)
	// Fatal says whether a row's error dooms every later row, so that
	// the run stops at once; nil means delivery.IsFatal.
	Fatal func(error) bool
	// Retryable says whether a delivery error may be tried again; nil
	// means delivery.Retryable.
	Retryable func(error) bool
	// Start, when Count is set, gets the number of rows to send and the
	// first of them (nil when none), and says whether to go on.
	Start func(pending int, first *Row) (bool, error)
	// Line turns a row's result into its report and JSON line; nil writes
	// none.
	Line func(RowResult) any
	// Row sees every row's result and the tally after it, on the run's
	// goroutine, in completion order.
	Row func(RowResult, Tally)
}

// ErrAborted is returned by [Send] when [Deps.Start] said no.
var ErrAborted = errors.New("batch: aborted")

// CSVError is an error opening or reading the CSV file: a *FormatError
// when its content cannot be read any further, else an I/O error.
type CSVError struct {
	Path string
	Err  error
}

func (e *CSVError) Error() string {
	var fe *FormatError
	if errors.As(e.Err, &fe) {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("read %s: %v", e.Path, e.Err)
}

func (e *CSVError) Unwrap() error { return e.Err }

// OutputError is an error writing the journal, the report or the JSON
// stream.
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return e.Err.Error() }

func (e *OutputError) Unwrap() error { return e.Err }

// KeyColumnError reports a key column the CSV header lacks.
type KeyColumnError struct {
	Key    string
	Header []string
}

func (e *KeyColumnError) Error() string {
	return fmt.Sprintf("--key %q: the CSV header has no such column (it has %s)", e.Key, strings.Join(e.Header, ", "))
}

// openCSV opens the CSV file at path and reads its header.
func openCSV(path string) (*Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, &message.InputError{Path: path, Err: err}
	}
	rows, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, &CSVError{Path: path, Err: err}
	}
	return rows, f, nil
}

// CheckCSV reads the header of the CSV file at path, so that a missing or
// malformed file, or a key column it lacks, stops a run before anything is
// asked or sent.
func CheckCSV(path, key string) error {
	rows, c, err := openCSV(path)
	if err != nil {
		return err
	}
	c.Close()
	if key != "" && !slices.Contains(rows.Header(), key) {
		return &KeyColumnError{Key: key, Header: rows.Header()}
	}
	return nil
}

// EachRow calls f with the valid rows of the CSV file at path, skipping the
// bad ones, until f returns false.
func EachRow(path string, f func(Row) bool) error {
	rows, c, err := openCSV(path)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		row, err := rows.Next()
		var rowErr *RowError
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &rowErr):
			continue
		case err != nil:
			return &CSVError{Path: path, Err: err}
		}
		if !f(row) {
			return nil
		}
	}
}

// Send mails every row of the CSV file that the journal does not have as
// sent: it counts them first (with Count) and asks Deps.Start, then runs
// o.Parallel workers, each composing a row's message and delivering it
// through its pool, retrying temporary failures with back-off and spooling
// with Deps.Queue what still fails temporarily. Every outcome goes to the
// journal (in the background, see [Journal.SetWindow]), the report, the
// JSON stream and Deps.Row.
//
// A bad row (wrong number of fields, no key) fails without a worker. The
// run stops taking rows after o.MaxErrors failed rows, at a fatal failure
// (authentication, configuration), when the journal cannot be written or
// ctx ends; the rows already started finish. Send then returns an error
// wrapping ErrTooManyFailures, the fatal row's error ("row 7: ..."), an
// *OutputError or ctx's error. Otherwise it returns a *CSVError when the
// CSV could not be read to its end, an *OutputError when a report or JSON
// line could not be written, or nil: failed rows alone are in the tally.
func Send(ctx context.Context, o SendOptions, d Deps) (Tally, error) {
	s := &sender{o: o, d: d, seen: map[keyHash]struct{}{}}
	if s.d.Fatal == nil {
		s.d.Fatal = delivery.IsFatal
	}
	if s.d.Retryable == nil {
		s.d.Retryable = delivery.Retryable
	}
	if s.o.Attempts == 0 {
		s.o.Attempts = DefaultAttempts
	}
	if s.o.Backoff == nil {
		s.o.Backoff = Backoff(DefaultBackoffBase, DefaultBackoffMax)
	}
	parallel := min(max(o.Parallel, 1), len(d.Pools))
	if parallel == 0 {
		return Tally{}, errors.New("batch: no transport to send with")
	}
	// Through a relay, each worker holds one row back while it sends the
	// next (see Work): two messages in flight, so the journal's window is
	// one row smaller and a crash costs the same K.
	_, pipelining := d.Pools[0].(delivery.Pipeliner)
	if o.Journal != nil {
		if pipelining {
			o.Journal.SetWindow((WindowPerWorker - 1) * parallel)
		} else {
			o.Journal.SetWindow(WindowPerWorker * parallel)
		}
	}
	if o.Count && d.Start != nil {
		n, first, err := s.countPending()
		if err != nil {
			return Tally{}, err
		}
		ok, err := d.Start(n, first)
		if err != nil {
			return Tally{}, err
		}
		if !ok {
			return Tally{}, ErrAborted
		}
	}
	if o.Report != "" {
		f, err := os.OpenFile(o.Report, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return Tally{}, &OutputError{Err: fmt.Errorf("report: %w", err)}
		}
		defer f.Close()
		s.report = bufio.NewWriterSize(f, 64<<10)
	}
	rows, c, err := openCSV(o.CSV)
	if err != nil {
		return Tally{}, err
	}
	defer c.Close()
	var release func()
	s.sendCtx, release = lingering(ctx, StopGrace)
	defer release()
	ro := Options{Parallel: parallel, Limiter: o.Limiter, MaxErrors: o.MaxErrors}
	var wk worker = funcWorker(s.work)
	if pipelining {
		// A worker holding a row back must find the next one queued, or
		// it sends the held row's end of data alone: each worker has one
		// row held and one being sent in flight, and the queue has to
		// outlast the moments the run's goroutine waits for a CPU. With
		// 1 x Parallel queued, 26% of 5,000 rows at --parallel 4 went
		// alone; with 4 x, 3%.
		wk, ro.ahead = s, 4*parallel
		s.held = make([]*RowResult, parallel)
	}
	runErr := runWorkers(ctx, s.jobs(rows), ro, wk, s.done)
	if o.Journal != nil {
		if err := o.Journal.Sync(); err != nil && runErr == nil {
			runErr = &OutputError{Err: err}
		}
	}
	if s.report != nil {
		if err := s.report.Flush(); err != nil {
			s.outputFailed(fmt.Errorf("report %s: %w", o.Report, err))
		}
	}
	switch {
	case runErr != nil:
		return s.tally, runErr
	case s.readErr != nil:
		return s.tally, s.readErr
	case s.outErr != nil:
		return s.tally, s.outErr
	}
	return s.tally, nil
}

// sender is one run of Send. Apart from the options and the pools, its
// fields are touched only on Run's goroutine (the jobs iterator and done).
type sender struct {
	o       SendOptions
	d       Deps
	sendCtx context.Context // what a message being sent gets, see lingering
	report  *bufio.Writer
	tally   Tally
	started int                  // rows handed to the workers, for Limit
	seen    map[keyHash]struct{} // keys counted by countPending
	readErr error                // the CSV could not be read further
	outErr  error                // a report or JSON line could not be written
	// down is set when a row has used up its retries on a temporary
	// failure and cleared by the next success: while the server stays
	// down, each row gets one attempt, so that a relay refusing everything
	// costs seconds, not the back-off of every row (2,000 rows queued in
	// 25 minutes with --queue-on-failure), and the spool or the re-run
	// does the waiting.
	down atomic.Bool
	// held is, per worker, the row whose message its pool holds back
	// (see Work); each worker touches only its own.
	held []*RowResult
}

// lingering returns a context that ends grace after ctx does. A message
// already being sent when the run stops gets it: cutting its connection
// could leave it accepted by the server but failed in the journal, and sent
// again by the re-run. Retries and new rows still stop with ctx.
func lingering(ctx context.Context, grace time.Duration) (context.Context, func()) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var timer *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		timer = time.AfterFunc(grace, cancel)
		mu.Unlock()
	})
	return c, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// countPending counts the rows a run would send: the valid rows the
// journal does not have, each key once, up to Limit. It returns the first
// of them too.
func (s *sender) countPending() (int, *Row, error) {
	n := 0
	var first *Row
	err := EachRow(s.o.CSV, func(row Row) bool {
		if s.o.Journal != nil {
			key, err := RowKey(row, s.o.Key)
			if err != nil || s.o.Journal.Sent(key) {
				return true
			}
			h := hashKey(key)
			if _, dup := s.seen[h]; dup {
				return true
			}
			s.seen[h] = struct{}{}
		}
		if first == nil {
			first = &row
		}
		n++
		return s.o.Limit == 0 || n < s.o.Limit
	})
	clear(s.seen)
	return n, first, err
}

// jobs feeds the rows to Run: bad rows as failed jobs, rows the journal
// has as skipped lines, and Limit ends the feed.
func (s *sender) jobs(rows *Reader) func(yield func(Job) bool) {
	return func(yield func(Job) bool) {
		for s.o.Limit == 0 || s.started < s.o.Limit {
			row, err := rows.Next()
			var rowErr *RowError
			switch {
			case err == io.EOF:
				return
			case errors.As(err, &rowErr):
				if !yield(Job{Row: row, Err: err}) {
					return
				}
				continue
			case err != nil:
				s.readErr = &CSVError{Path: s.o.CSV, Err: err}
				return
			}
			key := ""
			if j := s.o.Journal; j != nil {
				if key, err = RowKey(row, s.o.Key); err != nil {
					if !yield(Job{Row: row, Err: err}) {
						return
					}
					continue
				}
				if !j.Claim(key) {
					s.tally.Skipped++
					s.finish(RowResult{Row: row.Num, Line: row.Line, Status: StatusSkipped})
					continue
				}
			}
			s.started++
			if !yield(Job{Row: row, Key: key}) {
				return
			}
		}
	}
}

// work composes and delivers one row, on worker w.
func (s *sender) work(ctx context.Context, w int, j Job) Outcome {
	res, out, ok := s.compose(j)
	if !ok {
		return out
	}
	return s.settle(ctx, w, res, nil)
}

// compose renders j's message; ok is false, with the row's outcome, when
// it cannot be.
func (s *sender) compose(j Job) (*RowResult, Outcome, bool) {
	res := &RowResult{Row: j.Row.Num, Line: j.Row.Line}
	m, err := s.d.Compose(j.Row)
	if err != nil {
		res.Err = err
		return res, Outcome{Row: j.Row.Num, Status: StatusFailed, result: res, Err: err, Fatal: s.d.Fatal(err)}, false
	}
	res.Mail = m
	return res, Outcome{}, true
}

// settle delivers res's message on worker w, starting from the outcome of
// a first attempt already made when first is not nil, and gives the row
// its outcome.
func (s *sender) settle(ctx context.Context, w int, res *RowResult, first *delivery.Sent) Outcome {
	out := Outcome{Row: res.Row, Status: StatusFailed, result: res}
	m := res.Mail
	var err error
	res.Result, err = s.deliver(ctx, s.d.Pools[w], m, first)
	if err != nil && s.d.Queue != nil {
		if pending := res.Result.Pending(); len(pending) > 0 {
			res.QueueID, err = s.d.Queue(m, res.Result, pending, err)
		}
	}
	switch {
	case err != nil:
		res.Err, out.Err, out.Fatal = err, err, s.d.Fatal(err)
	case res.QueueID != "":
		out.Status = StatusQueued
	default:
		out.Status = StatusSent
	}
	return out
}

// Work is work through a pool that pipelines (a [delivery.Pipeliner]: a
// relay's, signed or not): the row's message is handed to its Send, which
// holds it back until the next row's envelope goes out behind its end of
// data (see [delivery.RelayPool.Send]), so each row costs one round trip
// instead of two. It returns the outcomes of the rows decided, this one or
// the one held before.
func (s *sender) Work(ctx context.Context, w int, j Job, emit func(Outcome)) {
	rp, ok := s.d.Pools[w].(delivery.Pipeliner)
	if !ok {
		emit(s.work(ctx, w, j))
		return
	}
	res, out, ok := s.compose(j)
	if !ok {
		emit(out)
		return
	}
	// The rows in the order Send decides them: the one held before, if
	// any, then this one.
	fifo := []*RowResult{res}
	if prev := s.held[w]; prev != nil {
		fifo = []*RowResult{prev, res}
	}
	s.held[w] = nil
	sents := rp.Send(s.sendCtx, res.Mail.Envelope, res.Mail.Message)
	if len(sents) < len(fifo) {
		s.held[w] = res
	}
	// The rows accepted reach the journal before any retry of a failed
	// one, which may wait out minutes of back-off.
	var failed []int
	for i := range sents {
		if sents[i].Err != nil {
			failed = append(failed, i)
			continue
		}
		emit(s.settle(ctx, w, fifo[i], &sents[i]))
	}
	if len(failed) == 0 {
		return
	}
	// A retry goes through Deliver, which must find nothing held back.
	s.Flush(ctx, w, emit)
	for _, i := range failed {
		emit(s.settle(ctx, w, fifo[i], &sents[i]))
	}
}

// Flush decides the row worker w holds back, if any.
func (s *sender) Flush(ctx context.Context, w int, emit func(Outcome)) {
	rp, ok := s.d.Pools[w].(delivery.Pipeliner)
	res := s.held[w]
	if !ok || res == nil {
		return
	}
	s.held[w] = nil
	st, ok := rp.Flush()
	if !ok {
		st = delivery.Sent{Err: errors.New("internal error: the held message is gone")}
	}
	emit(s.settle(ctx, w, res, &st))
}

// deliver sends m, retrying temporary failures with back-off; a retry goes
// only to the recipients still pending. It returns the result of every
// recipient, in envelope order.
func (s *sender) deliver(ctx context.Context, tr delivery.Transport, m *Mail, first *delivery.Sent) (*delivery.Result, error) {
	final := make(map[string]delivery.RecipientResult, len(m.Envelope.To))
	rcpts := m.Envelope.To
	name := ""
	// A server's Retry-After lengthens the back-off.
	var asked time.Duration
	wait := func(i int) time.Duration { return max(s.o.Backoff(i), min(asked, RetryAfterMax)) }
	attempts, tries := s.o.Attempts, 0
	if s.down.Load() {
		attempts = 1
	}
	err := Retry(ctx, attempts, wait, s.o.Sleep, func() error {
		tries++
		env := m.Envelope
		env.To = rcpts
		var (
			res *delivery.Result
			err error
		)
		if first != nil {
			res, err, first = first.Result, first.Err, nil
		} else {
			res, err = tr.Deliver(s.sendCtx, env, m.Message)
		}
		var de *delivery.Error
		if errors.As(err, &de) {
			asked = de.RetryAfter
		}
		if res != nil {
			name = res.Transport
			for _, rr := range res.Recipients {
				final[rr.Address] = rr
			}
			if pending := res.Pending(); len(pending) > 0 {
				rcpts = pending
			}
		}
		return err
	}, s.d.Retryable)
	switch {
	case err == nil:
		s.down.Store(false)
	case tries >= s.o.Attempts && s.d.Retryable(err):
		s.down.Store(true)
	}
	res := &delivery.Result{Transport: name}
	for _, a := range m.Envelope.To {
		if rr, ok := final[a]; ok {
			res.Recipients = append(res.Recipients, rr)
		}
	}
	return res, err
}

// done takes one row's outcome: the journal first, then the tally, the
// lines and Deps.Row. Its error (the journal failed) stops the run.
func (s *sender) done(o Outcome) error {
	res := o.result
	if res == nil { // a bad row, or the work panicked
		res = &RowResult{Row: o.Row, Line: o.line, Bad: !o.Fatal}
	}
	res.Status = o.Status
	if res.Err == nil {
		res.Err = o.Err
	}
	var journalErr error
	if s.o.Journal != nil && o.Key != "" {
		if err := s.o.Journal.Append(o.Key, o.Status, o.Row); err != nil {
			journalErr = &OutputError{Err: err}
		}
	}
	switch o.Status {
	case StatusSent:
		s.tally.Sent++
	case StatusQueued:
		s.tally.Queued++
	case StatusFailed:
		s.tally.Failed++
	}
	s.finish(*res)
	return journalErr
}

// finish writes a row's lines and hands it to Deps.Row.
func (s *sender) finish(res RowResult) {
	if s.d.Line != nil && (s.o.JSON != nil || s.report != nil) {
		s.tally.Lines++
		line := s.d.Line(res)
		if s.o.JSON != nil {
			if err := jsonLine(s.o.JSON, line); err != nil {
				s.outputFailed(fmt.Errorf("write stdout: %w", err))
			}
		}
		if s.report != nil {
			if err := jsonLine(s.report, line); err != nil {
				s.outputFailed(fmt.Errorf("report %s: %w", s.o.Report, err))
			}
		}
	}
	if s.d.Row != nil {
		s.d.Row(res, s.tally)
	}
}

func (s *sender) outputFailed(err error) {
	if s.outErr == nil {
		s.outErr = &OutputError{Err: err}
	}
}

// jsonLine writes v as one line of JSON, '<' and '>' left readable.
func jsonLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
