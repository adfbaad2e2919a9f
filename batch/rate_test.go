package batch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in           string
		want         Rate
		wantInterval time.Duration
		wantErr      bool
	}{
		{in: "10/s", want: Rate{10, time.Second}, wantInterval: 100 * time.Millisecond},
		{in: "1/s", want: Rate{1, time.Second}, wantInterval: time.Second},
		{in: "100/m", want: Rate{100, time.Minute}, wantInterval: 600 * time.Millisecond},
		{in: "5000/h", want: Rate{5000, time.Hour}, wantInterval: 720 * time.Millisecond},
		{in: "1/h", want: Rate{1, time.Hour}, wantInterval: time.Hour},
		{in: " 3/s ", want: Rate{3, time.Second}, wantInterval: 333333333},
		{in: "1000000/s", want: Rate{1000000, time.Second}, wantInterval: time.Microsecond},
		{in: "", wantErr: true},
		{in: "10", wantErr: true},
		{in: "10/", wantErr: true},
		{in: "/s", wantErr: true},
		{in: "10/d", wantErr: true},
		{in: "10/S", wantErr: true},
		{in: "10/sec", wantErr: true},
		{in: "10 /s", wantErr: true},
		{in: "0/s", wantErr: true},
		{in: "-5/s", wantErr: true},
		{in: "+5/s", wantErr: true},
		{in: "1.5/s", wantErr: true},
		{in: "2000000/s", wantErr: true},
		{in: "99999999999999999999/s", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseRate(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want || got.Interval() != tt.wantInterval {
			t.Errorf("ParseRate(%q) = %v (interval %v), %v; want %v (interval %v)", tt.in, got, got.Interval(), err, tt.want, tt.wantInterval)
		}
		if again, err := ParseRate(got.String()); err != nil || again != got {
			t.Errorf("ParseRate(%q.String() = %q) = %v, %v", tt.in, got.String(), again, err)
		}
	}
}

// fakeClock is a clock whose sleep advances it instead of sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

func TestLimiterSpacesEvenly(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	l := NewLimiter(Rate{10, time.Second}, clock.Now, clock.Sleep)
	at := func() time.Duration {
		t.Helper()
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		return clock.Now().Sub(start)
	}
	var got []time.Duration
	for range 5 {
		got = append(got, at())
	}
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Errorf("back-to-back waits return at %v, want %v", got, want)
	}

	// Work between waits counts towards the spacing.
	clock.Advance(30 * time.Millisecond) // now 430ms; next slot 500ms
	if got := at(); got != 500*time.Millisecond {
		t.Errorf("after 30ms of work, wait returns at %v, want 500ms", got)
	}

	// After a long pause there is no burst: one event at once, then spacing.
	clock.Advance(5 * time.Second) // now 5.5s
	if a, b := at(), at(); a != 5500*time.Millisecond || b != 5600*time.Millisecond {
		t.Errorf("after a pause, waits return at %v and %v, want 5.5s and 5.6s", a, b)
	}
}

func TestLimiterConcurrentWaitersGetSuccessiveSlots(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	var mu sync.Mutex
	var slots []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error { // records the slot, sleeps not
		mu.Lock()
		defer mu.Unlock()
		slots = append(slots, clock.Now().Add(d).Sub(start))
		return nil
	}
	l := NewLimiter(Rate{100, time.Minute}, clock.Now, sleep)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := l.Wait(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.Sort(slots)
	var want []time.Duration
	for i := 1; i < 8; i++ { // the first waiter does not sleep
		want = append(want, time.Duration(i)*600*time.Millisecond)
	}
	if !slices.Equal(slots, want) {
		t.Errorf("slots = %v, want %v", slots, want)
	}
}

func TestLimiterContext(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(Rate{1, time.Hour}, clock.Now, clock.Sleep)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v, want context.Canceled", err)
	}

	// The real sleep returns as soon as the context ends.
	l = NewLimiter(Rate{1, time.Hour}, nil, nil)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want context.DeadlineExceeded", err)
	}

	var nilLimiter *Limiter
	if err := nilLimiter.Wait(context.Background()); err != nil {
		t.Errorf("nil Limiter Wait = %v", err)
	}
}
