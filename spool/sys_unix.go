//go:build unix && !aix && (!solaris || illumos)

package spool

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"mailout/internal/flock"
)

func platformSupported() error { return nil }

// tryLock takes an exclusive flock(2) on f without waiting; [ErrLocked] when another open
// file description holds it, so a flush skips an entry another one is delivering.
func tryLock(f *os.File) error {
	err := flock.TryLock(f)
	if errors.Is(err, flock.ErrLocked) {
		return ErrLocked
	}
	return err
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
