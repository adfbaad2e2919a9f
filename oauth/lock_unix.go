//go:build unix && !aix && (!solaris || illumos)

package oauth

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// flockWait takes an exclusive flock(2) on f, waiting until ctx is done:
// a blocking flock could not be cancelled. A file system that cannot lock
// is not an error; the lock only saves a second refresh.
func flockWait(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
