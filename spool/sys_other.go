//go:build !unix || aix || (solaris && !illumos)

package spool

import (
	"io/fs"
	"os"
)

// The spool needs flock(2) and per-uid folders; elsewhere Open returns ErrUnsupported.

func platformSupported() error                    { return ErrUnsupported }
func tryLock(*os.File) error                      { return ErrUnsupported }
func FileOwner(fs.FileInfo) (int, bool)           { return 0, false }
func syncDir(string) error                        { return ErrUnsupported }
func createExcl(string, uint32) (*os.File, error) { return nil, ErrUnsupported }
func rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
