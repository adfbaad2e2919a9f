//go:build !unix

package job

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// Without process groups, the signals go to the child alone, and a
// termination is a kill.

func sysProcAttr(bool) *syscall.SysProcAttr { return nil }

func signalGroup(pid int, _ bool, sig os.Signal) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Signal(sig)
	}
}

func terminateGroup(pid int, group bool) { killGroup(pid, group) }

func killGroup(pid int, group bool) { signalGroup(pid, group, os.Kill) }

func exitStatus(ps *os.ProcessState) (code int, sig syscall.Signal, signaled bool) {
	return ps.ExitCode(), 0, false
}

func isNotFound(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func isNotExecutable(err error) bool { return errors.Is(err, fs.ErrPermission) }

func isNoExec(error) bool { return false }

func isExecutable(string, fs.FileInfo) bool { return true }

func signalName(sig syscall.Signal) string { return "signal " + strconv.Itoa(int(sig)) }
