//go:build unix

package job

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr puts the child in a process group of its own, so that a
// signal sent to the group reaches its children too; without group it
// stays in ours (the terminal's foreground, where it may read).
func sysProcAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group}
}

// signalGroup sends sig to the process group led by pid, or with group
// false to pid alone. A process that is already gone is not an error.
func signalGroup(pid int, group bool, sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok || pid <= 0 {
		return
	}
	if group {
		pid = -pid
	}
	_ = syscall.Kill(pid, s)
}

// terminateGroup asks the group led by pid to stop: SIGTERM, then SIGCONT
// so that a stopped member sees it (as timeout(1) does).
func terminateGroup(pid int, group bool) {
	signalGroup(pid, group, syscall.SIGTERM)
	signalGroup(pid, group, syscall.SIGCONT)
}

// killGroup kills the group led by pid.
func killGroup(pid int, group bool) { signalGroup(pid, group, syscall.SIGKILL) }

// exitStatus reads the child's exit code, or the signal that killed it.
func exitStatus(ps *os.ProcessState) (code int, sig syscall.Signal, signaled bool) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), ws.Signal(), true
	}
	return ps.ExitCode(), 0, false
}

// isNotFound and isNotExecutable classify an error from starting a child
// the way a shell does: 127 and 126.
func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func isNotExecutable(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.ENOEXEC)
}

// isExecutable reports whether a file found in PATH may be run.
func isExecutable(_ string, fi fs.FileInfo) bool { return fi.Mode()&0o111 != 0 }

// isNoExec reports an executable file that the kernel cannot run directly
// (no #! line), which execvp(3) then runs with /bin/sh.
func isNoExec(err error) bool { return errors.Is(err, syscall.ENOEXEC) }

var signalNames = map[syscall.Signal]string{
	syscall.SIGABRT:   "SIGABRT",
	syscall.SIGALRM:   "SIGALRM",
	syscall.SIGBUS:    "SIGBUS",
	syscall.SIGCHLD:   "SIGCHLD",
	syscall.SIGCONT:   "SIGCONT",
	syscall.SIGFPE:    "SIGFPE",
	syscall.SIGHUP:    "SIGHUP",
	syscall.SIGILL:    "SIGILL",
	syscall.SIGINT:    "SIGINT",
	syscall.SIGKILL:   "SIGKILL",
	syscall.SIGPIPE:   "SIGPIPE",
	syscall.SIGPROF:   "SIGPROF",
	syscall.SIGQUIT:   "SIGQUIT",
	syscall.SIGSEGV:   "SIGSEGV",
	syscall.SIGSTOP:   "SIGSTOP",
	syscall.SIGSYS:    "SIGSYS",
	syscall.SIGTERM:   "SIGTERM",
	syscall.SIGTRAP:   "SIGTRAP",
	syscall.SIGTSTP:   "SIGTSTP",
	syscall.SIGTTIN:   "SIGTTIN",
	syscall.SIGTTOU:   "SIGTTOU",
	syscall.SIGURG:    "SIGURG",
	syscall.SIGUSR1:   "SIGUSR1",
	syscall.SIGUSR2:   "SIGUSR2",
	syscall.SIGVTALRM: "SIGVTALRM",
	syscall.SIGWINCH:  "SIGWINCH",
	syscall.SIGXCPU:   "SIGXCPU",
	syscall.SIGXFSZ:   "SIGXFSZ",
}

// signalName is the SIGNAME of sig, or "signal N" for one without a name.
func signalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}
