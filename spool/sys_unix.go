//go:build unix && !aix && (!solaris || illumos)

package spool

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

func platformSupported() error { return nil }

// tryLock takes an exclusive flock(2) on f without waiting; [ErrLocked] when another open
// file description holds it. flock locks belong to the open file, so two goroutines of one
// process exclude each other as two processes do; the kernel drops the lock when the file
// is closed or the process dies.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrLocked
		default:
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
	}
}

// FileOwner returns the uid owning a file; false where the system has
// no such notion.
func FileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// syncDir makes the renames and removals in a folder durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
