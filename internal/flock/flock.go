// Package flock takes advisory whole-file locks with flock(2): the one
// locking mechanism behind the batch journal, the spool entries and the
// OAuth token refresh. flock locks belong to the open file, so two
// goroutines with separate opens exclude each other as two processes do,
// and the kernel drops the lock when the file is closed or its process dies.
package flock

import (
	"context"
	"errors"
	"os"
	"time"
)

var (
	// ErrLocked means another open file holds the lock.
	ErrLocked = errors.New("locked by another process")
	// ErrUnsupported means this system has no flock(2).
	ErrUnsupported = errors.New("file locking is not supported on this system")
)

// pollInterval is how often Lock retries: a blocking flock could not be
// cancelled by a context.
const pollInterval = 20 * time.Millisecond

// TryLock takes an exclusive lock on f without waiting: nil, [ErrLocked],
// [ErrUnsupported], or the system's error for a file system that cannot
// lock.
func TryLock(f *os.File) error { return tryLock(f) }

// Lock takes an exclusive lock on f, waiting until it is free or ctx is
// done (then ctx's error). Other errors are TryLock's.
func Lock(ctx context.Context, f *os.File) error {
	for {
		err := tryLock(f)
		if !errors.Is(err, ErrLocked) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}
