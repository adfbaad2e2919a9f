package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// numbered yields jobs for rows 1..n with keys "k1".."kn", counting in
// pulled how many were taken.
func numbered(n int, pulled *int) iter.Seq[Job] {
	return func(yield func(Job) bool) {
		for i := 1; i <= n; i++ {
			*pulled++
			if !yield(Job{Row: Row{Num: i}, Key: fmt.Sprint("k", i)}) {
				return
			}
		}
	}
}

// serialDone returns a done func that fails the test if two calls overlap,
// and the outcomes it saw. It reads pulled, which numbered writes, without
// locks: the race detector checks that Run never pulls a job and calls done at
// the same time.
func serialDone(t *testing.T, pulled *int) (func(Outcome) error, *[]Outcome) {
	var busy atomic.Bool
	var outs []Outcome
	return func(o Outcome) error {
		if !busy.CompareAndSwap(false, true) {
			t.Error("done called concurrently")
		}
		defer busy.Store(false)
		outs = append(outs, o)
		if len(outs) > *pulled {
			t.Errorf("%d outcomes for %d jobs pulled", len(outs), *pulled)
		}
		return nil
	}, &outs
}

func TestRunEveryJobOnce(t *testing.T) {
	const n, parallel = 200, 4
	var (
		pulled    int
		mu        sync.Mutex
		ran       = map[string]int{}
		busy      [parallel]atomic.Bool
		started   = make(chan struct{}, parallel)
		allRun    = make(chan struct{})
		firstFour sync.Map
	)
	// The first four jobs each wait until all four run: proof of 4 workers at once.
	go func() {
		for range parallel {
			<-started
		}
		close(allRun)
	}()
	work := func(ctx context.Context, w int, j Job) Outcome {
		if w < 0 || w >= parallel {
			t.Errorf("worker index %d out of range", w)
			return Outcome{Status: StatusFailed}
		}
		if !busy[w].CompareAndSwap(false, true) {
			t.Errorf("worker %d runs two jobs at once", w)
		}
		defer busy[w].Store(false)
		if j.Row.Num <= parallel {
			firstFour.Store(w, true)
			started <- struct{}{}
			select {
			case <-allRun:
			case <-time.After(10 * time.Second):
				t.Error("the first four jobs never ran at the same time")
			}
		}
		mu.Lock()
		ran[j.Key]++
		mu.Unlock()
		return Outcome{Status: StatusSent}
	}
	done, outs := serialDone(t, &pulled)
	err := Run(context.Background(), numbered(n, &pulled), Options{Parallel: parallel}, work, done)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(ran) != n || len(*outs) != n || pulled != n {
		t.Fatalf("ran %d distinct jobs, %d outcomes, %d pulled; want %d each", len(ran), len(*outs), pulled, n)
	}
	for key, c := range ran {
		if c != 1 {
			t.Errorf("job %s ran %d times", key, c)
		}
	}
	seen := map[int]bool{}
	for _, o := range *outs {
		if o.Status != StatusSent || o.Key != fmt.Sprint("k", o.Row) || seen[o.Row] {
			t.Errorf("outcome %+v: want sent, key k%d, once", o, o.Row)
		}
		seen[o.Row] = true
	}
	count := 0
	firstFour.Range(func(any, any) bool { count++; return true })
	if count != parallel {
		t.Errorf("the first four jobs ran on %d distinct workers, want %d", count, parallel)
	}
}

func TestRunParallelDefaultsToOne(t *testing.T) {
	var pulled int
	done, outs := serialDone(t, &pulled)
	err := Run(context.Background(), numbered(20, &pulled), Options{}, func(_ context.Context, w int, j Job) Outcome {
		if w != 0 {
			t.Errorf("worker %d with Parallel 0", w)
		}
		return Outcome{Status: StatusSent}
	}, done)
	if err != nil || len(*outs) != 20 {
		t.Errorf("Run = %v with %d outcomes, want nil with 20", err, len(*outs))
	}
	// Sequential: completion order is row order.
	for i, o := range *outs {
		if o.Row != i+1 {
			t.Fatalf("outcome %d is row %d", i, o.Row)
		}
	}
}

func TestRunMaxErrors(t *testing.T) {
	fail := func(context.Context, int, Job) Outcome {
		return Outcome{Status: StatusFailed, Err: errors.New("550 no")}
	}
	tests := []struct {
		name           string
		parallel, max  int
		jobs           int
		wantStop       bool
		minOut, maxOut int
	}{
		{"sequential stops at exactly max", 1, 3, 100, true, 3, 3},
		{"0 is unlimited", 1, 0, 50, false, 50, 50},
		{"negative is unlimited", 1, -1, 50, false, 50, 50},
		{"fewer failures than max", 1, 60, 50, false, 50, 50},
		{"parallel: in-flight jobs finish", 4, 3, 100, true, 3, 3 + 4 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pulled int
			done, outs := serialDone(t, &pulled)
			err := Run(context.Background(), numbered(tt.jobs, &pulled), Options{Parallel: tt.parallel, MaxErrors: tt.max}, fail, done)
			if got := errors.Is(err, ErrTooManyFailures); got != tt.wantStop {
				t.Errorf("Run = %v, want ErrTooManyFailures: %v", err, tt.wantStop)
			}
			if n := len(*outs); n < tt.minOut || n > tt.maxOut || n != pulled {
				t.Errorf("%d outcomes, %d jobs pulled; want %d..%d outcomes, one per job pulled", n, pulled, tt.minOut, tt.maxOut)
			}
		})
	}
	t.Run("successes and skips do not count", func(t *testing.T) {
		var pulled int
		done, outs := serialDone(t, &pulled)
		err := Run(context.Background(), numbered(30, &pulled), Options{MaxErrors: 2}, func(_ context.Context, _ int, j Job) Outcome {
			switch {
			case j.Row.Num%10 == 0:
				return Outcome{Status: StatusFailed}
			case j.Row.Num%2 == 0:
				return Outcome{Status: StatusSkipped}
			}
			return Outcome{Status: StatusSent}
		}, done)
		if !errors.Is(err, ErrTooManyFailures) || len(*outs) != 20 {
			t.Errorf("Run = %v after %d outcomes, want ErrTooManyFailures after 20", err, len(*outs))
		}
	})
}

func TestRunFatal(t *testing.T) {
	authErr := errors.New("535 authentication failed")
	t.Run("sequential", func(t *testing.T) {
		var pulled int
		done, outs := serialDone(t, &pulled)
		err := Run(context.Background(), numbered(100, &pulled), Options{MaxErrors: -1}, func(_ context.Context, _ int, j Job) Outcome {
			if j.Row.Num == 5 {
				return Outcome{Status: StatusFailed, Err: authErr, Fatal: true}
			}
			return Outcome{Status: StatusSent}
		}, done)
		if !errors.Is(err, authErr) || err.Error() != "row 5: 535 authentication failed" {
			t.Errorf("Run = %v, want %q wrapping the outcome's error", err, "row 5: 535 authentication failed")
		}
		if len(*outs) != 5 || pulled != 5 {
			t.Errorf("%d outcomes, %d pulled; want 5 each", len(*outs), pulled)
		}
	})
	t.Run("parallel: in-flight jobs finish and are reported", func(t *testing.T) {
		var pulled int
		serial, outs := serialDone(t, &pulled)
		// The others stay in flight until Run has taken row 1's fatal
		// outcome: when they end is then up to Run, not the scheduler.
		fatalSeen := make(chan struct{})
		done := func(o Outcome) error {
			err := serial(o)
			if o.Fatal {
				close(fatalSeen)
			}
			return err
		}
		started := make(chan struct{}, 4)
		err := Run(context.Background(), numbered(100, &pulled), Options{Parallel: 4}, func(_ context.Context, _ int, j Job) Outcome {
			select {
			case started <- struct{}{}:
			default: // a fifth job: the pulled count below catches it
			}
			if j.Row.Num == 1 {
				for len(started) < 4 { // let the others start
					time.Sleep(time.Millisecond)
				}
				return Outcome{Status: StatusFailed, Err: authErr, Fatal: true}
			}
			<-fatalSeen // in flight while row 1 fails
			return Outcome{Status: StatusSent}
		}, done)
		if !errors.Is(err, authErr) {
			t.Errorf("Run = %v, want the fatal error", err)
		}
		if len(*outs) != pulled || pulled > 4 {
			t.Errorf("%d outcomes, %d pulled; want one per job pulled, at most 4", len(*outs), pulled)
		}
	})
	t.Run("without an error", func(t *testing.T) {
		var pulled int
		done, _ := serialDone(t, &pulled)
		err := Run(context.Background(), numbered(3, &pulled), Options{}, func(context.Context, int, Job) Outcome {
			return Outcome{Status: StatusFailed, Fatal: true}
		}, done)
		if err == nil || err.Error() != "row 1: fatal failure" {
			t.Errorf("Run = %v", err)
		}
	})
}

func TestRunPanic(t *testing.T) {
	var pulled int
	done, outs := serialDone(t, &pulled)
	err := Run(context.Background(), numbered(10, &pulled), Options{Parallel: 2}, func(_ context.Context, _ int, j Job) Outcome {
		if j.Row.Num == 3 {
			panic("boom")
		}
		return Outcome{Status: StatusSent}
	}, done)
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || len(pe.Stack) == 0 {
		t.Fatalf("Run = %v, want a PanicError", err)
	}
	if len(*outs) != pulled {
		t.Errorf("%d outcomes for %d jobs pulled", len(*outs), pulled)
	}
	for _, o := range *outs {
		if o.Row == 3 && (o.Status != StatusFailed || !o.Fatal || o.Key != "k3") {
			t.Errorf("outcome of the panicking job = %+v", o)
		}
	}
}

func TestRunDoneError(t *testing.T) {
	var pulled int
	diskFull := errors.New("journal: no space left on device")
	calls := 0
	err := Run(context.Background(), numbered(100, &pulled), Options{}, func(context.Context, int, Job) Outcome {
		return Outcome{Status: StatusSent}
	}, func(o Outcome) error {
		calls++
		if o.Row == 7 {
			return diskFull
		}
		return nil
	})
	if !errors.Is(err, diskFull) || calls != 7 {
		t.Errorf("Run = %v after %d calls of done, want the done error after 7", err, calls)
	}
}

func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pulled int
	done, outs := serialDone(t, &pulled)
	// Cancel at the 10th outcome, whichever row it is: outcomes come in
	// completion order, so row 10's may follow rows pulled after it.
	doneCancel := func(o Outcome) error {
		err := done(o)
		if len(*outs) == 10 {
			cancel()
		}
		return err
	}
	err := Run(ctx, numbered(1000, &pulled), Options{Parallel: 3}, func(ctx context.Context, _ int, j Job) Outcome {
		if ctx.Err() != nil {
			return Outcome{Status: StatusFailed, Err: ctx.Err()}
		}
		return Outcome{Status: StatusSent}
	}, doneCancel)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if len(*outs) != pulled || pulled > 10+3 {
		t.Errorf("%d outcomes, %d pulled; want one per job pulled, at most 13", len(*outs), pulled)
	}
}

func TestRunRateLimited(t *testing.T) {
	// A frozen clock and a sleep that only records the slot it waits for:
	// every job must take its own slot, 100 ms after the one before.
	clock := newFakeClock()
	start := clock.Now()
	var (
		mu     sync.Mutex
		slots  []time.Duration
		waits  atomic.Int32 // Wait calls: each reads the clock once
		pulled int
	)
	now := func() time.Time { waits.Add(1); return clock.Now() }
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		slots = append(slots, clock.Now().Add(d).Sub(start))
		mu.Unlock()
		return nil
	}
	l := NewLimiter(Rate{10, time.Second}, now, sleep)
	var started atomic.Int32
	done, outs := serialDone(t, &pulled)
	err := Run(context.Background(), numbered(6, &pulled), Options{Parallel: 3, Limiter: l}, func(context.Context, int, Job) Outcome {
		if n := started.Add(1); n > waits.Load() {
			t.Errorf("job %d started before its limiter slot", n)
		}
		return Outcome{Status: StatusSent}
	}, done)
	if err != nil || len(*outs) != 6 {
		t.Fatalf("Run = %v with %d outcomes", err, len(*outs))
	}
	slices.Sort(slots)
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond}
	if !slices.Equal(slots, want) || waits.Load() != 6 {
		t.Errorf("%d waits, slots %v; want 6 waits (the first at once), slots %v", waits.Load(), slots, want)
	}
}

// TestRunOutcomesDuringRateWait checks that an outcome reaches done (and so
// the journal) while the next rate slot is still far away.
func TestRunOutcomesDuringRateWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleep := func(ctx context.Context, d time.Duration) error { // the next slot never comes
		<-ctx.Done()
		return ctx.Err()
	}
	l := NewLimiter(Rate{1, time.Hour}, nil, sleep)
	var pulled int
	got := make(chan int, 10)
	finished := make(chan error)
	go func() {
		finished <- Run(ctx, numbered(5, &pulled), Options{Parallel: 2, Limiter: l}, func(context.Context, int, Job) Outcome {
			return Outcome{Status: StatusSent}
		}, func(o Outcome) error { got <- o.Row; return nil })
	}()
	select {
	case row := <-got:
		if row != 1 {
			t.Errorf("first outcome is row %d", row)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the outcome of row 1 did not reach done while Run waited for the limiter")
	}
	cancel()
	if err := <-finished; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if pulled != 2 {
		t.Errorf("%d jobs pulled, want 2 (row 2 waiting for its slot)", pulled)
	}
}

func TestRunFillsRowAndKey(t *testing.T) {
	var pulled int
	done, outs := serialDone(t, &pulled)
	Run(context.Background(), numbered(2, &pulled), Options{}, func(_ context.Context, _ int, j Job) Outcome {
		if j.Row.Num == 2 {
			return Outcome{Row: 99, Key: "own", Status: StatusSent}
		}
		return Outcome{Status: StatusSent}
	}, done)
	if len(*outs) != 2 || (*outs)[0].Row != 1 || (*outs)[0].Key != "k1" || (*outs)[1].Row != 99 || (*outs)[1].Key != "own" {
		t.Errorf("outcomes = %+v", *outs)
	}
}

// genCSV produces a CSV of n rows on the fly, so that the test itself holds
// nothing in proportion to n.
type genCSV struct {
	n, i int
	buf  []byte
}

func (g *genCSV) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i > g.n {
			return 0, io.EOF
		}
		if g.i == 0 {
			g.buf = []byte("name,email,note\n")
		} else {
			g.buf = fmt.Appendf(g.buf[:0], "Person %d,p%d@example.com,\"line one, with comma\nline two %s\"\n", g.i, g.i, strings.Repeat("x", g.i%50))
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

func TestRunMemoryConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 rows")
	}
	const rows = 200_000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()

	r, err := NewReader(&genCSV{n: rows})
	if err != nil {
		t.Fatal(err)
	}
	var readErr error
	jobs := func(yield func(Job) bool) {
		for {
			row, err := r.Next()
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				return
			}
			key, err := RowKey(row, "")
			if err != nil {
				readErr = err
				return
			}
			if !yield(Job{Row: row, Key: key}) {
				return
			}
		}
	}
	var n int
	var peak uint64
	err = Run(context.Background(), jobs, Options{Parallel: 4}, func(context.Context, int, Job) Outcome {
		return Outcome{Status: StatusSent}
	}, func(o Outcome) error {
		if n++; n%20_000 == 0 {
			peak = max(peak, heap())
		}
		return nil
	})
	if err != nil || readErr != nil || n != rows {
		t.Fatalf("Run = %v, read error %v, %d outcomes; want %d", err, readErr, n, rows)
	}
	grown := int64(peak) - int64(base)
	t.Logf("heap grew at most %d KiB over %d rows", grown>>10, rows)
	if grown > 4<<20 { // keeping each row would cost well over 50 MiB
		t.Errorf("heap grew by %d bytes while streaming %d rows, want under 4 MiB", grown, rows)
	}
}
