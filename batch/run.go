package batch

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
	"sync"
)

// DefaultMaxErrors is the default of --max-errors: the number of failed rows
// after which a batch stops.
const DefaultMaxErrors = 10

// ErrTooManyFailures is returned (wrapped) by [Run] when it stopped after
// [Options.MaxErrors] failed rows.
var ErrTooManyFailures = errors.New("batch: too many failed rows")

// Job is one row to mail.
type Job struct {
	Row Row
	Key string // the row's journal key, see [RowKey]
	// Err marks a row that cannot be sent (it could not be read, or has no
	// key): Run fails it without a worker or a rate slot.
	Err error
}

// Outcome is what became of a [Job].
type Outcome struct {
	Row    int    // 1-based data row; Run fills it in from the Job when 0
	Key    string // Run fills it in from the Job when ""
	Status string // StatusSent, StatusQueued, StatusFailed or StatusSkipped
	Err    error  // why it failed, for the report
	// Fatal means no further row can succeed (authentication or configuration
	// failure): Run starts no new job.
	Fatal bool

	line   int        // the row's line, from the Job
	result *RowResult // what Send's work found
}

// Options tune [Run].
type Options struct {
	// Parallel is the number of workers; less than 1 means 1.
	Parallel int
	// Limiter spaces the start of jobs; nil means no limit.
	Limiter *Limiter
	// MaxErrors is the number of failed outcomes after which Run starts no new
	// job; 0 or less means no limit.
	MaxErrors int
}

// PanicError is the error of the outcome of a job whose work panicked. Such an
// outcome is failed and fatal.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("internal error: panic: %v", e.Value) }

// Run hands the jobs to o.Parallel workers that call work and passes every
// outcome to done.
//
// Each worker has a stable index in [0, Parallel), so the caller can keep one
// connection per worker. A job is taken from jobs only when a worker is free,
// so at most Parallel+1 rows are in memory; it starts when the limiter grants
// it a slot.
//
// done is called for every outcome, in completion order, one at a time, on
// the goroutine that called Run; jobs is pulled on that goroutine too, never
// at the same time as done. So done and the jobs iterator may share state
// (journal, report, counters) without locks.
//
// Run stops taking jobs after MaxErrors failed outcomes, after the first fatal
// outcome, when done returns an error (say, the journal cannot be written),
// or when ctx ends. The jobs already started run to completion and their
// outcomes still go to done; a job taken but still waiting for its rate slot
// is dropped without an outcome, like the jobs never taken. Run then returns,
// respectively, an error wrapping [ErrTooManyFailures], the fatal outcome's
// error prefixed with its row ("row 7: ..."), done's error, or ctx's error.
// It returns nil when every job ran. work gets ctx and should give up when
// ctx ends.
func Run(ctx context.Context, jobs iter.Seq[Job], o Options,
	work func(ctx context.Context, worker int, j Job) Outcome,
	done func(Outcome) error) error {
	parallel := max(o.Parallel, 1)

	next, stopJobs := iter.Pull(jobs)
	defer stopJobs()

	// Both channels hold Parallel items, and at most Parallel jobs are in
	// flight, so neither the dispatch below nor a worker's send ever blocks.
	jobCh := make(chan Job, parallel)
	results := make(chan Outcome, parallel)
	var wg sync.WaitGroup
	for w := range parallel {
		wg.Go(func() {
			for j := range jobCh {
				results <- runJob(ctx, w, j, work)
			}
		})
	}
	defer func() {
		close(jobCh)
		wg.Wait()
	}()

	// The limiter is waited on by its own goroutine so that outcomes keep
	// reaching done (and the journal) while the next slot is hours away.
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	var (
		slot      chan error // non-nil while waiting for a slot for pending
		pending   *Job       // taken from jobs, not yet started
		stopErr   error
		exhausted bool
		inFlight  int
		failures  int
		ctxDone   = ctx.Done()
	)
	stop := func(err error) {
		if stopErr == nil {
			stopErr = err
			pending = nil
			cancelWait()
		}
	}
	start := func(j Job) {
		inFlight++
		jobCh <- j
	}
	handle := func(out Outcome) {
		if err := done(out); err != nil {
			stop(err)
		}
		if out.Fatal {
			if out.Err != nil {
				stop(fmt.Errorf("row %d: %w", out.Row, out.Err))
			} else {
				stop(fmt.Errorf("row %d: fatal failure", out.Row))
			}
		}
		if out.Status == StatusFailed {
			failures++
			if o.MaxErrors > 0 && failures >= o.MaxErrors {
				stop(fmt.Errorf("%w: stopped after %d", ErrTooManyFailures, failures))
			}
		}
	}

	for {
		// Take the next job only once a worker is free, so that a slow worker
		// holds back the source instead of rows piling up in memory; then wait
		// for its rate slot.
		if stopErr == nil && !exhausted && pending == nil && inFlight < parallel {
			if err := ctx.Err(); err != nil {
				stop(err)
			} else if j, ok := next(); !ok {
				exhausted = true
			} else if j.Err != nil {
				handle(Outcome{Row: j.Row.Num, Key: j.Key, Status: StatusFailed, Err: j.Err, line: j.Row.Line})
				continue
			} else if o.Limiter == nil {
				start(j)
				continue
			} else {
				pending = &j
				slot = make(chan error, 1)
				go func(slot chan<- error) { slot <- o.Limiter.Wait(waitCtx) }(slot)
			}
		}
		if inFlight == 0 && slot == nil && (stopErr != nil || exhausted) {
			return stopErr
		}
		select {
		case out := <-results:
			inFlight--
			handle(out)
		case err := <-slot:
			slot = nil
			if err != nil {
				stop(err)
			} else if pending != nil {
				start(*pending)
				pending = nil
			}
		case <-ctxDone:
			ctxDone = nil
			stop(ctx.Err())
		}
	}
}

// runJob calls work, turning a panic into a fatal outcome so that the
// outcomes of the other workers still reach the journal.
func runJob(ctx context.Context, worker int, j Job, work func(context.Context, int, Job) Outcome) (out Outcome) {
	defer func() {
		if p := recover(); p != nil {
			out = Outcome{Status: StatusFailed, Err: &PanicError{Value: p, Stack: debug.Stack()}, Fatal: true}
		}
		if out.Row == 0 {
			out.Row = j.Row.Num
		}
		if out.Key == "" {
			out.Key = j.Key
		}
		out.line = j.Row.Line
	}()
	return work(ctx, worker, j)
}
