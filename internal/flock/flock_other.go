//go:build !unix || aix || (solaris && !illumos)

package flock

import "os"

func tryLock(*os.File) error { return ErrUnsupported }
