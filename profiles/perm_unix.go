//go:build unix

package profiles

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
)

// unsafeFile says why a file that mailout trusts (the config file, a
// password_command's program) could be changed by someone else, or returns
// "": it is writable by group or others, or owned by a user who is neither
// root nor the one running mailout. This is ssh's rule for its config.
func unsafeFile(fi fs.FileInfo) string {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Sprintf("is writable by group or others (mode %04o)", perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := int(st.Uid); uid != 0 && uid != os.Getuid() {
			return fmt.Sprintf("is owned by another user (uid %d)", uid)
		}
	}
	return ""
}

// ownProcessGroup starts cmd in a new process group and makes a context
// cancellation kill the whole group, so that children of the shell die too.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
