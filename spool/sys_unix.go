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

// createExcl creates a new file, failing when name exists, open for reading and writing,
// with mode perm less the umask.
//
// It opens with open(2) and wraps the descriptor with [os.NewFile] rather than calling
// [os.OpenFile], which tries to add every file it opens to the runtime poller: on Linux
// that is two fcntl(2) to make the descriptor non-blocking, an epoll_ctl(2) that fails for
// a regular file, and two more fcntl(2) to make it blocking again. NewFile makes a single
// F_GETFL and leaves a blocking descriptor out of the poller. The spool only ever does
// blocking I/O on regular files and folders, so nothing is lost; Sync is still the os
// package's (F_FULLFSYNC on macOS).
func createExcl(name string, perm uint32) (*os.File, error) {
	return openRaw(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL, perm)
}

// openDir opens a folder for reading, as createExcl does a file: to sync it.
func openDir(name string) (*os.File, error) {
	return openRaw(name, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
}

func openRaw(name string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, flag|syscall.O_CLOEXEC, perm)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// rename is rename(2). [os.Rename] first lstats newname to refuse renaming onto a folder;
// the spool renames only onto names of its own (a fresh id, or an envelope it replaces),
// and rename(2) refuses a folder as the target of a file all the same (EISDIR), so that
// stat, which fails for every new entry, is saved.
func rename(oldname, newname string) error {
	for {
		err := syscall.Rename(oldname, newname)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
		}
		return nil
	}
}

// syncDir makes the renames and removals in a folder durable.
func syncDir(dir string) error {
	d, err := openDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
