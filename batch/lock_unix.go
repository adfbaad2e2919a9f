//go:build unix && !aix && (!solaris || illumos)

package batch

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f, released when f is closed.
// A file system that cannot lock is not an error: the lock only guards
// against two runs at once.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrJournalInUse
		}
		return nil
	}
}
