//go:build !linux

package batch

import "os"

// datasync makes f's data durable; without fdatasync, that is fsync.
func datasync(f *os.File) error {
	return f.Sync()
}
