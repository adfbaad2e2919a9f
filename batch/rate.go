package batch

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is N events per Per.
type Rate struct {
	N   int
	Per time.Duration
}

// String formats r the way [ParseRate] reads it.
func (r Rate) String() string {
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	if unit == "" {
		return fmt.Sprintf("%d/%v", r.N, r.Per)
	}
	return fmt.Sprintf("%d/%s", r.N, unit)
}

// Interval is the even spacing between two events at rate r.
func (r Rate) Interval() time.Duration {
	if r.N <= 0 {
		return 0
	}
	return r.Per / time.Duration(r.N)
}

// ParseRate reads "N/s", "N/m" or "N/h" with N a positive integer.
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	var per time.Duration
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		ok = false
	}
	n, err := strconv.Atoi(num)
	if !ok || err != nil || strings.HasPrefix(num, "+") {
		return Rate{}, fmt.Errorf("invalid rate %q: want N/s, N/m or N/h, such as 10/s", s)
	}
	if n <= 0 {
		return Rate{}, fmt.Errorf("invalid rate %q: N must be at least 1", s)
	}
	r := Rate{N: n, Per: per}
	if r.Interval() < time.Microsecond {
		return Rate{}, fmt.Errorf("invalid rate %q: more than one per microsecond", s)
	}
	return r, nil
}

// Limiter spaces events evenly at a rate: a token bucket that holds one
// token, so events never come in bursts, not even after a pause. A nil
// *Limiter does not limit. It is safe for concurrent use: concurrent waiters
// get successive slots.
type Limiter struct {
	interval time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	mu   sync.Mutex
	next time.Time // earliest time of the next event; zero before the first
}

// NewLimiter returns a limiter for r. now and sleep are the clock; nil means
// time.Now and a timer that returns ctx's error when ctx ends first.
func NewLimiter(r Rate, now func() time.Time, sleep func(context.Context, time.Duration) error) *Limiter {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = Sleep
	}
	return &Limiter{interval: r.Interval(), now: now, sleep: sleep}
}

// Wait blocks until the next slot, which it takes. It returns ctx's error
// when ctx ends first; the slot is then lost, which only slows later events.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := l.now()
	at := l.next
	if at.IsZero() || at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return l.sleep(ctx, d)
	}
	return nil
}

// Sleep waits for d, or returns ctx's error when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
