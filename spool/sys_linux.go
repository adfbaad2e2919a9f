package spool

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing f's dirty pages out, without waiting for
// them (sync_file_range(2), SYNC_FILE_RANGE_WRITE). A hint for the fsync that follows; its
// error is of no interest, that fsync reports a failed write.
func startWriteback(f *os.File) {
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
