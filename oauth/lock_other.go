//go:build !unix || aix || (solaris && !illumos)

package oauth

import (
	"context"
	"os"
)

// flockWait does nothing where flock(2) is missing: processes may then
// refresh twice, which costs a request and loses nothing.
func flockWait(context.Context, *os.File) error { return nil }
