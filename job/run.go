// Package job runs the command of "mailout exec": it starts the command with
// the caller's stdin and environment, keeps a bounded copy of its stdout and
// stderr interleaved in the order they were read, enforces a timeout,
// forwards signals, and reports how the command ended in a [Result] that
// says whether to mail ([ShouldMail]) and what ([Result.Subject],
// [Result.Body]).
//
// # Exit status
//
// [Result.ExitCode] is what mailout exits with: the command's own status,
// 128+N when a signal N killed it, 124 when the timeout stopped it, 127 when
// it was not found and 126 when it could not be executed, as timeout(1) and
// the shell do.
//
// # Output
//
// stdout and stderr are read from two pipes into one collector, so stderr
// can be counted for the "stderr" rule; their order is then the order of
// the reads, which can swap writes made microseconds apart (a shell's
// "echo a; echo b >&2" often comes out reversed). With [Options.Merge] they
// share one pipe, as "2>&1" does, and keep the exact order of the writes.
// Either way only the first and last Limit/2 bytes are kept.
//
// # Processes
//
// On Unix the command runs in a process group of its own, so the timeout's
// SIGTERM and SIGKILL, and the signals forwarded from [Options.Signals],
// reach everything it started. Such a command is not in the terminal's
// foreground group, where reading a terminal would stop it (SIGTTIN); with
// [Options.Foreground] it stays in the caller's group for interactive use.
package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero fields of [Options].
const (
	DefaultLimit     = 1 << 20
	DefaultKillGrace = 10 * time.Second
	DefaultWaitDelay = time.Second
)

// Options says what to run and how.
type Options struct {
	// Args is the command and its arguments. Args[0] is looked up in the
	// PATH of Env, as execvp(3) does, unless it contains a slash.
	Args []string
	// Stdin is the command's standard input. If nil, it reads /dev/null.
	// An *os.File (such as os.Stdin) is passed to the command as it is.
	Stdin io.Reader
	// Env is the command's whole environment. If nil, it is this process's.
	// Remove secrets first, with [FilterEnv].
	Env []string
	// Timeout stops the command after this long: SIGTERM to its process
	// group, then SIGKILL after KillGrace. Zero means no timeout.
	Timeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL when the timeout
	// or ctx stops the command. If zero, DefaultKillGrace.
	KillGrace time.Duration
	// WaitDelay bounds how long Run waits, once the command has exited, for
	// the processes it left behind to close its stdout and stderr (and for
	// a non-file Stdin to be copied). If zero, DefaultWaitDelay.
	WaitDelay time.Duration
	// Limit is how many bytes of output are kept: the first Limit/2 and
	// the last Limit/2. If zero or negative, DefaultLimit.
	Limit int64
	// Merge puts stdout and stderr on one pipe, as "2>&1" does: the output
	// is then in the exact order of the command's writes, but StderrBytes
	// is not counted (the "stderr" rule of ShouldMail refuses the Result).
	// Apart, on two pipes, the order is that of the reads, which can swap
	// writes made within microseconds of each other.
	Merge bool
	// Foreground keeps the command in mailout's process group, the
	// terminal's foreground, so that it can read from a terminal on stdin
	// (in a group of its own it would be stopped by SIGTTIN). Signals and
	// the timeout then reach the command itself but not the processes it
	// started. For interactive use; cron has no terminal.
	Foreground bool
	// Signals are forwarded to the command's process group while it runs.
	// The caller subscribes it with signal.Notify. It may be nil.
	Signals <-chan os.Signal
	// Now is the clock for Result.Start and Result.Duration. If nil,
	// time.Now.
	Now func() time.Time
}

// Result is how a command ended and what it printed.
type Result struct {
	// Args is the command line that was run.
	Args []string
	// Start is when Run started, Duration how long the command took.
	Start    time.Time
	Duration time.Duration
	// ExitCode is what mailout exits with (see the package doc).
	ExitCode int
	// Signal is the name of the signal that killed the command ("SIGKILL"),
	// or empty.
	Signal string
	// TimedOut is set when Options.Timeout stopped the command.
	TimedOut bool
	// NotFound (127) and NotExecutable (126) say why it could not start;
	// StartErr is the error in words, set whenever it could not start.
	NotFound      bool
	NotExecutable bool
	StartErr      error
	// Output is stdout and stderr interleaved in the order they were read:
	// all of it, or, past Options.Limit, the head, a line
	// "[... N bytes dropped ...]" and the tail.
	Output []byte
	// Dropped is the number of bytes cut out of Output.
	Dropped int64
	// OutputBytes is the number of bytes the command printed on stdout and
	// stderr together, StderrBytes the part of it on stderr.
	OutputBytes int64
	StderrBytes int64
	// Merged is Options.Merge: StderrBytes was not counted.
	Merged bool
	// Timeout is Options.Timeout, for the mail body.
	Timeout time.Duration
}

// FilterEnv returns env without the variables named in drop (such as
// MAILOUT_PASSWORD and the profiles' password_env). Empty names are ignored.
func FilterEnv(env []string, drop ...string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name != "" && slices.Contains(drop, name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Run runs the command of o and waits for it. It never fails: a command that
// cannot start is reported in the Result. Cancelling ctx stops the command
// as the timeout does, without marking it timed out.
func Run(ctx context.Context, o Options) *Result {
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	if o.KillGrace <= 0 {
		o.KillGrace = DefaultKillGrace
	}
	if o.WaitDelay <= 0 {
		o.WaitDelay = DefaultWaitDelay
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Result{Args: slices.Clone(o.Args), Start: o.Now(), Timeout: o.Timeout, Merged: o.Merge}
	col := newCollector(o.Limit)
	defer func() {
		r.Duration = o.Now().Sub(r.Start)
		r.Output = col.output()
		r.Dropped = col.dropped()
		r.OutputBytes, r.StderrBytes = col.total, col.stderr
	}()

	cmd, pipes, err := start(o)
	if err != nil {
		r.startFailed(err)
		return r
	}
	var readers sync.WaitGroup
	for i, p := range pipes {
		readers.Go(func() { collect(p, col, i == 1) })
	}
	readersDone := make(chan struct{})
	go func() { readers.Wait(); close(readersDone) }()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	var (
		pid                      = cmd.Process.Pid
		ctxDone                  = ctx.Done()
		sigs                     = o.Signals
		timeoutC, killC, drainC  <-chan time.Time
		exited, drained, stopped bool
		waitErr                  error
	)
	if o.Timeout > 0 {
		t := time.NewTimer(o.Timeout)
		defer t.Stop()
		timeoutC = t.C
	}
	stop := func() {
		if !stopped {
			stopped = true
			terminateGroup(pid, !o.Foreground)
			killC = time.After(o.KillGrace)
		}
	}
	closePipes := func() {
		for _, p := range pipes {
			p.Close()
		}
	}
	for !exited || !drained {
		select {
		case waitErr = <-waitDone:
			exited, timeoutC = true, nil
			if killC == nil {
				drainC = time.After(o.WaitDelay)
			}
		case <-readersDone:
			drained, readersDone = true, nil
		case s, ok := <-sigs:
			if !ok {
				sigs = nil
				continue
			}
			signalGroup(pid, !o.Foreground, s)
		case <-timeoutC:
			timeoutC = nil
			if !stopped {
				r.TimedOut = true
				stop()
			}
		case <-ctxDone:
			ctxDone = nil
			if exited {
				closePipes()
			} else {
				stop()
			}
		case <-killC:
			killC = nil
			killGroup(pid, !o.Foreground)
			if exited {
				drainC = time.After(o.WaitDelay)
			}
		case <-drainC:
			drainC = nil
			closePipes()
		}
	}
	closePipes()

	if cmd.ProcessState == nil {
		r.StartErr = fmt.Errorf("wait for %s: %w", o.Args[0], waitErr)
		r.ExitCode = 70
		return r
	}
	code, sig, signaled := exitStatus(cmd.ProcessState)
	r.ExitCode = code
	if signaled {
		r.Signal = signalName(sig)
	}
	if r.TimedOut {
		r.ExitCode = 124
	}
	return r
}

// start looks the command up and starts it with its stdout and stderr on
// two pipes (one if o.Merge), whose read ends it returns, stdout first.
func start(o Options) (*exec.Cmd, []*os.File, error) {
	if len(o.Args) == 0 || o.Args[0] == "" {
		return nil, nil, &exec.Error{Name: "", Err: exec.ErrNotFound}
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	path, err := lookPath(o.Args[0], env)
	if err != nil {
		return nil, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer outW.Close()
	pipes, errW := []*os.File{outR}, outW
	if !o.Merge {
		var errR *os.File
		errR, errW, err = os.Pipe()
		if err != nil {
			outR.Close()
			return nil, nil, err
		}
		defer errW.Close()
		pipes = append(pipes, errR)
	}
	closeAll := func() {
		for _, p := range pipes {
			p.Close()
		}
	}

	newCmd := func(path string, args []string) *exec.Cmd {
		return &exec.Cmd{
			Path:        path,
			Args:        args,
			Env:         env,
			Stdin:       o.Stdin,
			Stdout:      outW,
			Stderr:      errW,
			SysProcAttr: sysProcAttr(!o.Foreground),
			WaitDelay:   o.WaitDelay,
		}
	}
	cmd := newCmd(path, o.Args)
	err = cmd.Start()
	if err != nil && isNoExec(err) {
		// An executable without "#!": execvp(3) runs it with the shell.
		cmd = newCmd("/bin/sh", append([]string{"sh", path}, o.Args[1:]...))
		err = cmd.Start()
	}
	if err != nil {
		closeAll()
		if isNotFound(err) {
			if fi, serr := os.Stat(path); serr == nil && !fi.IsDir() {
				// The file is there: its interpreter or loader is not.
				err = fmt.Errorf("%w (bad interpreter)", err)
				return nil, nil, &notExecutableError{err}
			}
		}
		return nil, nil, err
	}
	return cmd, pipes, nil
}

// notExecutableError marks a start error that is 126 even though the
// system said "no such file".
type notExecutableError struct{ err error }

func (e *notExecutableError) Error() string { return e.err.Error() }
func (e *notExecutableError) Unwrap() error { return e.err }

// startFailed records why the command could not start.
func (r *Result) startFailed(err error) {
	r.StartErr = err
	var ne *notExecutableError
	switch {
	case errors.As(err, &ne):
		r.NotExecutable, r.ExitCode = true, 126
	case errors.Is(err, exec.ErrNotFound) || isNotFound(err):
		r.NotFound, r.ExitCode = true, 127
	case isNotExecutable(err):
		r.NotExecutable, r.ExitCode = true, 126
	default:
		// Found but not started for another reason (no memory, too many
		// open files, argument list too long): the shell's 126 as well.
		r.ExitCode = 126
	}
}

// collect reads f until it ends or is closed.
func collect(f *os.File, col *collector, stderr bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			col.write(buf[:n], stderr)
		}
		if err != nil {
			return
		}
	}
}

// lookPath finds name as execvp(3) does, in the PATH of env (default
// "/usr/bin:/bin"): the first regular file with an execute bit; else a
// permission error when some file of that name was found, so that the
// command is 126 rather than 127.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil // execve reports what is wrong with it
	}
	path := "/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v // the last one wins, as in exec.Cmd
		}
	}
	var denied error
	for dir := range strings.SplitSeq(path, string(os.PathListSeparator)) {
		if dir == "" {
			dir = "."
		}
		p := dir + string(os.PathSeparator) + name
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if isExecutable(p, fi) {
			return p, nil
		}
		if denied == nil {
			denied = &os.PathError{Op: "exec", Path: p, Err: os.ErrPermission}
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}
