package batch

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync makes f's data durable without the metadata an append does not
// need (the modification time): fdatasync, cheaper than fsync.
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
