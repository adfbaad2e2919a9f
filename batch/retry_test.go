package batch

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

type tempError struct{ temporary bool }

func (e tempError) Error() string {
	if e.temporary {
		return "450 try later"
	}
	return "550 no"
}

func isTemp(err error) bool {
	var te tempError
	return errors.As(err, &te) && te.temporary
}

func TestRetry(t *testing.T) {
	temp, perm := tempError{true}, tempError{false}
	tests := []struct {
		name       string
		attempts   int
		results    []error // f's results in turn; the last repeats
		wantCalls  int
		wantErr    error
		wantSleeps []time.Duration
	}{
		{"success at once", 3, []error{nil}, 1, nil, nil},
		{"success on the third try", 5, []error{temp, temp, nil}, 3, nil, []time.Duration{1 * time.Second, 2 * time.Second}},
		{"temporary until the end", 3, []error{temp}, 3, temp, []time.Duration{1 * time.Second, 2 * time.Second}},
		{"permanent is not retried", 3, []error{temp, perm}, 2, perm, []time.Duration{1 * time.Second}},
		{"one attempt", 1, []error{temp}, 1, temp, nil},
		{"zero attempts means one", 0, []error{temp}, 1, temp, nil},
		{"backoff is capped", 6, []error{temp}, 6, temp, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			var sleeps []time.Duration
			sleep := func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }
			f := func() error {
				err := tt.results[min(calls, len(tt.results)-1)]
				calls++
				return err
			}
			err := Retry(context.Background(), tt.attempts, Backoff(time.Second, 5*time.Second), sleep, f, isTemp)
			if err != tt.wantErr || calls != tt.wantCalls || !slices.Equal(sleeps, tt.wantSleeps) {
				t.Errorf("Retry = %v after %d calls, sleeps %v; want %v after %d, sleeps %v",
					err, calls, sleeps, tt.wantErr, tt.wantCalls, tt.wantSleeps)
			}
		})
	}
}

func TestRetryCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	f := func() error {
		calls++
		cancel()
		return tempError{true}
	}
	err := Retry(ctx, 5, Backoff(time.Hour, time.Hour), nil, f, isTemp)
	if calls != 1 || !errors.Is(err, context.Canceled) || !isTemp(err) {
		t.Errorf("Retry = %v after %d calls, want the temporary error and context.Canceled after 1", err, calls)
	}
}

func TestRetryNilHelpers(t *testing.T) {
	calls := 0
	err := Retry(context.Background(), 3, nil, nil, func() error { calls++; return tempError{true} }, nil)
	if calls != 1 || !isTemp(err) {
		t.Errorf("nil temporary: %d calls, want 1 (no error is temporary)", calls)
	}
	calls = 0
	Retry(context.Background(), 3, nil, nil, func() error { calls++; return tempError{true} }, isTemp)
	if calls != 3 {
		t.Errorf("nil backoff and sleep: %d calls, want 3", calls)
	}
}
