package batch

import (
	"context"
	"fmt"
	"time"
)

// Retry calls f up to attempts times (at least once) while it fails with an
// error that temporary reports as temporary, sleeping backoff(i) after the
// i-th failure (0-based). It returns nil on the first success, f's first
// error that is not temporary, or f's last error. When sleep fails (ctx
// ended), it returns f's last error wrapped together with sleep's.
//
// A nil backoff retries at once, a nil sleep is [Sleep], and a nil temporary
// makes every error final.
func Retry(ctx context.Context, attempts int, backoff func(i int) time.Duration,
	sleep func(context.Context, time.Duration) error, f func() error, temporary func(error) bool) error {
	if sleep == nil {
		sleep = Sleep
	}
	for i := 0; ; i++ {
		err := f()
		if err == nil || i+1 >= attempts || temporary == nil || !temporary(err) {
			return err
		}
		var d time.Duration
		if backoff != nil {
			d = backoff(i)
		}
		if serr := sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w (not retried: %w)", err, serr)
		}
	}
}

// Backoff returns an exponential backoff for [Retry]: base, 2×base, 4×base,
// and so on, at most limit.
func Backoff(base, limit time.Duration) func(i int) time.Duration {
	return func(i int) time.Duration {
		d := base
		for ; i > 0 && d < limit; i-- {
			d *= 2
		}
		return min(d, limit)
	}
}
