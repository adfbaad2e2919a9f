//go:build !unix || aix || (solaris && !illumos)

package oauth

import (
	"context"
	"os"
)

// flockWait does nothing where flock(2) is missing: two processes may then
// refresh at the same time (see lockRefresh).
func flockWait(context.Context, *os.File) error { return nil }
