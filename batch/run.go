package batch

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
	"slices"
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
	// ack, when set, is told once the outcome is handled: a worker that
	// failed a row waits for it before it starts another, so that the
	// run stops after exactly --max-errors failed rows.
	ack chan<- struct{}
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
	// ahead is how many jobs beyond one per worker may be taken and queued
	// for the next free worker, so that a worker that holds a job back
	// finds its next one waiting; Send sets it when it pipelines.
	ahead int
}

// worker runs jobs for [runWorkers]; worker w is only ever called from one
// goroutine.
type worker interface {
	// Work runs j on worker w and hands each outcome it decides to emit
	// as soon as it is decided: j's own, or, for a worker that holds jobs
	// back to overlap each with the next (SMTP pipelining), those of the
	// jobs it took before. Each outcome names its job by Row. Every job
	// gets exactly one outcome, from Work or from Flush.
	Work(ctx context.Context, w int, j Job, emit func(Outcome))
	// Flush decides every job worker w holds back. runWorkers calls it
	// whenever no job is waiting for the worker, so a held job never
	// waits for a row that is not there yet.
	Flush(ctx context.Context, w int, emit func(Outcome))
}

// funcWorker is a worker that holds nothing back.
type funcWorker func(ctx context.Context, w int, j Job) Outcome

func (f funcWorker) Work(ctx context.Context, w int, j Job, emit func(Outcome)) {
	out := f(ctx, w, j)
	if out.Row == 0 {
		out.Row = j.Row.Num
	}
	emit(out)
}

func (funcWorker) Flush(context.Context, int, func(Outcome)) {}

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
	return runWorkers(ctx, jobs, o, funcWorker(work), done)
}

// runWorkers is [Run] with a worker that may hold jobs back: up to
// o.Parallel + o.ahead jobs are then in flight, and at most that many rows
// in memory. A job taken but not yet started by a worker when the run
// stops is dropped without an outcome, like the jobs never taken.
func runWorkers(ctx context.Context, jobs iter.Seq[Job], o Options, wk worker, done func(Outcome) error) error {
	parallel := max(o.Parallel, 1)
	limit := parallel + max(o.ahead, 0)

	next, stopJobs := iter.Pull(jobs)
	defer stopJobs()

	// Both channels hold as many items as may be in flight, so neither the
	// dispatch below nor a worker's send ever blocks.
	jobCh := make(chan Job, limit)
	results := make(chan Outcome, limit)
	var wg sync.WaitGroup
	for w := range parallel {
		wg.Go(func() { runWorker(ctx, w, wk, jobCh, results, o.ahead > 0) })
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
		// The jobs no worker has started yet never start.
		for o.ahead > 0 {
			select {
			case <-jobCh:
				inFlight--
				continue
			default:
			}
			break
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
		if stopErr == nil && !exhausted && pending == nil && inFlight < limit {
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
			if out.ack != nil {
				out.ack <- struct{}{}
			}
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

// runWorker is worker w's loop: it takes jobs, and flushes whatever it
// holds back whenever no job is waiting.
func runWorker(ctx context.Context, w int, wk worker, jobCh <-chan Job, results chan<- Outcome, ahead bool) {
	var open []Job // taken, their outcome still to come
	// With jobs queued ahead, a failure waits until the run has counted
	// it, and perhaps stopped and dropped the queued jobs, before this
	// worker takes the next.
	ack := make(chan struct{}, 1)
	emit := func(out Outcome) {
		i := slices.IndexFunc(open, func(j Job) bool { return j.Row.Num == out.Row })
		switch {
		case i < 0 && len(open) == 1:
			i = 0 // a worker holding nothing back may renumber its row
		case i < 0:
			return // not a job of this worker's: nothing waits for it
		}
		j := open[i]
		open = slices.Delete(open, i, i+1)
		if out.Key == "" {
			out.Key = j.Key
		}
		out.line = j.Row.Line
		if ahead && out.Status == StatusFailed {
			out.ack = ack
			results <- out
			<-ack
			return
		}
		results <- out
	}
	// guarded calls f, turning a panic into a fatal outcome for every job
	// still open, so that the outcomes of the other workers still reach
	// the journal.
	guarded := func(f func()) {
		defer func() {
			if p := recover(); p != nil {
				err := &PanicError{Value: p, Stack: debug.Stack()}
				for _, j := range slices.Clone(open) {
					emit(Outcome{Row: j.Row.Num, Status: StatusFailed, Err: err, Fatal: true})
				}
			}
		}()
		f()
	}
	for {
		var (
			j  Job
			ok bool
		)
		if len(open) > 0 {
			select {
			case j, ok = <-jobCh:
			default:
				guarded(func() { wk.Flush(ctx, w, emit) })
				for _, out := range unanswered(open) {
					emit(out)
				}
				continue
			}
		} else {
			j, ok = <-jobCh
		}
		if !ok {
			return
		}
		open = append(open, j)
		guarded(func() { wk.Work(ctx, w, j, emit) })
	}
}

// unanswered fails the jobs a Flush left without an outcome, which would
// otherwise hold the run up for ever.
func unanswered(open []Job) []Outcome {
	var outs []Outcome
	for _, j := range open {
		outs = append(outs, Outcome{Row: j.Row.Num, Status: StatusFailed, Err: errors.New("internal error: no outcome"), Fatal: true})
	}
	return outs
}
