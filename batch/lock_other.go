//go:build !unix || aix || (solaris && !illumos)

package batch

import "os"

// lockFile does nothing where flock(2) is missing: the lock only guards
// against two runs at once.
func lockFile(*os.File) error { return nil }
