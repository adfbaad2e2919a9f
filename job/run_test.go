//go:build unix

package job

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sh runs script with sh -c, under a deadline that fails the test rather
// than hanging it.
func sh(t *testing.T, script string, o Options) *Result {
	t.Helper()
	o.Args = []string{"sh", "-c", script}
	return run(t, o)
}

func run(t *testing.T, o Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return Run(ctx, o)
}

func TestRunExitCode(t *testing.T) {
	for _, code := range []int{0, 1, 3, 125, 255} {
		r := sh(t, "exit "+strconv.Itoa(code), Options{})
		if r.ExitCode != code || r.Signal != "" || r.StartErr != nil {
			t.Errorf("exit %d: ExitCode, Signal, StartErr = %d, %q, %v", code, r.ExitCode, r.Signal, r.StartErr)
		}
		if r.Failed() != (code != 0) {
			t.Errorf("exit %d: Failed() = %v", code, r.Failed())
		}
	}
}

func TestRunOrder(t *testing.T) {
	// On one pipe the order is that of the writes, however close together.
	for range 20 {
		r := sh(t, "echo a; echo b >&2; echo c", Options{Merge: true})
		if got := string(r.Output); got != "a\nb\nc\n" {
			t.Fatalf("merged: Output = %q, want %q", got, "a\nb\nc\n")
		}
		if !r.Merged || r.OutputBytes != 6 || r.StderrBytes != 0 {
			t.Fatalf("merged: Merged, OutputBytes, StderrBytes = %v, %d, %d", r.Merged, r.OutputBytes, r.StderrBytes)
		}
	}
	// On two pipes it is the order of the reads: writes a moment apart
	// keep their order, and stderr is counted.
	r := sh(t, "echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c", Options{})
	if got := string(r.Output); got != "a\nb\nc\n" {
		t.Errorf("apart: Output = %q, want %q", got, "a\nb\nc\n")
	}
	if r.Merged || r.OutputBytes != 6 || r.StderrBytes != 2 {
		t.Errorf("apart: Merged, OutputBytes, StderrBytes = %v, %d, %d, want false, 6, 2", r.Merged, r.OutputBytes, r.StderrBytes)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	r := sh(t, "kill -TERM $$", Options{})
	if r.ExitCode != 143 || r.Signal != "SIGTERM" || r.TimedOut || !r.Failed() {
		t.Errorf("ExitCode, Signal, TimedOut, Failed() = %d, %q, %v, %v, want 143, SIGTERM, false, true",
			r.ExitCode, r.Signal, r.TimedOut, r.Failed())
	}
	if got, want := r.Subject("h"), "[h] sh -c 'kill -TERM $$': killed by SIGTERM"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
}

func TestRunTimeout(t *testing.T) {
	// The command ignores SIGTERM: SIGKILL follows after KillGrace.
	begin := time.Now()
	r := sh(t, `trap "" TERM; echo started; sleep 30`, Options{
		Timeout: 200 * time.Millisecond, KillGrace: 200 * time.Millisecond,
	})
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
	if r.ExitCode != 124 || !r.TimedOut || r.Signal != "SIGKILL" || !r.Failed() {
		t.Errorf("ExitCode, TimedOut, Signal, Failed() = %d, %v, %q, %v, want 124, true, SIGKILL, true",
			r.ExitCode, r.TimedOut, r.Signal, r.Failed())
	}
	if string(r.Output) != "started\n" {
		t.Errorf("Output = %q", r.Output)
	}
	if r.Duration < 400*time.Millisecond {
		t.Errorf("Duration = %v, want at least Timeout+KillGrace", r.Duration)
	}
	if got, want := r.Subject("h"), `[h] sh -c 'trap "" TERM; echo started; sleep 30': timed out`; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
}

func TestRunTimeoutReachesGrandchildren(t *testing.T) {
	// SIGTERM goes to the whole process group, so the sleep that holds
	// the pipes dies with the shell, and Run does not wait for WaitDelay.
	begin := time.Now()
	r := sh(t, "sleep 30; echo never", Options{
		Timeout: 200 * time.Millisecond, KillGrace: 30 * time.Second, WaitDelay: 30 * time.Second,
	})
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
	if r.ExitCode != 124 || !r.TimedOut || r.Signal != "SIGTERM" {
		t.Errorf("ExitCode, TimedOut, Signal = %d, %v, %q, want 124, true, SIGTERM", r.ExitCode, r.TimedOut, r.Signal)
	}
}

func TestRunContextCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := Run(ctx, Options{Args: []string{"sleep", "30"}})
	if r.ExitCode != 143 || r.Signal != "SIGTERM" || r.TimedOut {
		t.Errorf("ExitCode, Signal, TimedOut = %d, %q, %v, want 143, SIGTERM, false", r.ExitCode, r.Signal, r.TimedOut)
	}
}

func TestRunNotFound(t *testing.T) {
	for _, name := range []string{"mailout-test-no-such-command", "/nonexistent/mailout-test", ""} {
		r := run(t, Options{Args: []string{name, "arg"}})
		if r.ExitCode != 127 || !r.NotFound || r.NotExecutable || r.StartErr == nil || !r.Failed() {
			t.Errorf("%q: ExitCode, NotFound, NotExecutable, StartErr, Failed() = %d, %v, %v, %v, %v, want 127, true, false, error, true",
				name, r.ExitCode, r.NotFound, r.NotExecutable, r.StartErr, r.Failed())
		}
		if !strings.HasSuffix(r.Subject("h"), ": command not found") {
			t.Errorf("%q: Subject = %q", name, r.Subject("h"))
		}
	}
	// Without PATH, execvp's default path applies.
	r := run(t, Options{Args: []string{"sh", "-c", "exit 4"}, Env: []string{}})
	if r.ExitCode != 4 {
		t.Errorf("without PATH: ExitCode = %d, StartErr = %v", r.ExitCode, r.StartErr)
	}
}

func TestRunNotExecutable(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	writeFile(t, plain, "echo hi\n", 0o644)
	badInterp := filepath.Join(dir, "badinterp")
	writeFile(t, badInterp, "#!/nonexistent/interpreter\n", 0o755)
	tests := []struct {
		name string
		args []string
		env  []string
	}{
		{"file without x bit", []string{plain}, nil},
		{"found in PATH without x bit", []string{"plain"}, []string{"PATH=" + dir}},
		{"directory", []string{dir}, nil},
		{"bad interpreter", []string{badInterp}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, Options{Args: tt.args, Env: tt.env})
			if r.ExitCode != 126 || !r.NotExecutable || r.NotFound || r.StartErr == nil || !r.Failed() {
				t.Errorf("ExitCode, NotExecutable, NotFound, StartErr, Failed() = %d, %v, %v, %v, %v, want 126, true, false, error, true",
					r.ExitCode, r.NotExecutable, r.NotFound, r.StartErr, r.Failed())
			}
			if !strings.HasSuffix(r.Subject("h"), ": not executable") {
				t.Errorf("Subject = %q", r.Subject("h"))
			}
		})
	}
}

func TestRunPathOfEnv(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mailout-test-cmd"), "#!/bin/sh\necho \"$0 $1 $GREETING\"\n", 0o755)
	// Without "#!", the shell runs it, as execvp(3) does.
	writeFile(t, filepath.Join(dir, "mailout-test-nohash"), "echo no hash \"$1\"\n", 0o755)
	env := []string{"PATH=/nonexistent:" + dir, "GREETING=hello"}

	r := run(t, Options{Args: []string{"mailout-test-cmd", "x"}, Env: env})
	if want := dir + "/mailout-test-cmd x hello\n"; string(r.Output) != want || r.ExitCode != 0 {
		t.Errorf("Output, ExitCode = %q, %d, want %q, 0 (StartErr %v)", r.Output, r.ExitCode, want, r.StartErr)
	}
	r = run(t, Options{Args: []string{"mailout-test-nohash", "y"}, Env: env})
	if want := "no hash y\n"; string(r.Output) != want || r.ExitCode != 0 {
		t.Errorf("no #!: Output, ExitCode = %q, %d, want %q, 0 (StartErr %v)", r.Output, r.ExitCode, want, r.StartErr)
	}
}

func TestRunStdin(t *testing.T) {
	r := run(t, Options{Args: []string{"cat"}, Stdin: strings.NewReader("line 1\nline 2\n")})
	if got := string(r.Output); got != "line 1\nline 2\n" || r.ExitCode != 0 {
		t.Errorf("reader: Output, ExitCode = %q, %d", got, r.ExitCode)
	}
	f, err := os.Open("run_test.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r = run(t, Options{Args: []string{"head", "-n", "1"}, Stdin: f})
	if got := string(r.Output); got != "//go:build unix\n" {
		t.Errorf("file: Output = %q", got)
	}
	r = run(t, Options{Args: []string{"wc", "-c"}})
	if got := strings.TrimSpace(string(r.Output)); got != "0" {
		t.Errorf("nil Stdin: Output = %q, want 0 bytes", got)
	}
}

func TestRunEnv(t *testing.T) {
	env := FilterEnv([]string{"PATH=" + os.Getenv("PATH"), "MAILOUT_PASSWORD=secret", "KEEP=1", "SMTP_PASS=x"},
		"MAILOUT_PASSWORD", "SMTP_PASS")
	r := sh(t, `echo "${MAILOUT_PASSWORD-unset} ${SMTP_PASS-unset} $KEEP"`, Options{Env: env})
	if got := string(r.Output); got != "unset unset 1\n" {
		t.Errorf("Output = %q", got)
	}
}

func TestFilterEnv(t *testing.T) {
	tests := []struct {
		env, drop, want []string
	}{
		{nil, nil, []string{}},
		{[]string{"A=1", "B=2"}, nil, []string{"A=1", "B=2"}},
		{[]string{"A=1", "MAILOUT_PASSWORD=x", "B=2", "MAILOUT_PASSWORD=y"}, []string{"MAILOUT_PASSWORD"}, []string{"A=1", "B=2"}},
		{[]string{"A=1", "AB=2", "A"}, []string{"A"}, []string{"AB=2"}},
		{[]string{"A=1", "=x"}, []string{""}, []string{"A=1", "=x"}},
		{[]string{"P=1", "Q=2", "R=3"}, []string{"P", "R", "Z"}, []string{"Q=2"}},
	}
	for _, tt := range tests {
		got := FilterEnv(tt.env, tt.drop...)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || got == nil {
			t.Errorf("FilterEnv(%q, %q) = %q, want %q", tt.env, tt.drop, got, tt.want)
		}
	}
}

func TestRunBoundedOutput(t *testing.T) {
	const size = 50 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := sh(t, "head -c 52428800 /dev/zero | tr '\\0' x; echo end", Options{})
	runtime.ReadMemStats(&after)

	if r.ExitCode != 0 || r.OutputBytes != size+4 || r.StderrBytes != 0 {
		t.Fatalf("ExitCode, OutputBytes, StderrBytes = %d, %d, %d", r.ExitCode, r.OutputBytes, r.StderrBytes)
	}
	dropped := int64(size + 4 - DefaultLimit)
	if r.Dropped != dropped {
		t.Errorf("Dropped = %d, want %d", r.Dropped, dropped)
	}
	marker := fmt.Sprintf("\n[... %d bytes dropped ...]\n", dropped)
	if len(r.Output) != DefaultLimit+len(marker) {
		t.Errorf("len(Output) = %d, want %d", len(r.Output), DefaultLimit+len(marker))
	}
	head, tail, ok := strings.Cut(string(r.Output), marker)
	if !ok || head != strings.Repeat("x", DefaultLimit/2) || tail != strings.Repeat("x", DefaultLimit/2-4)+"end\n" {
		t.Errorf("Output is not head, marker, tail: %q...%q", r.Output[:40], r.Output[len(r.Output)-40:])
	}
	// 50 MB went through; what Run allocated stays near the 1 MiB kept.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("Run allocated %d bytes for %d bytes of output", alloc, size)
	}
	if r.Failed() {
		t.Error("Failed() = true")
	}
}

func TestRunSmallLimit(t *testing.T) {
	r := run(t, Options{Args: []string{"printf", "0123456789abcdefghij"}, Limit: 10})
	if want := "01234\n[... 10 bytes dropped ...]\nfghij"; string(r.Output) != want || r.Dropped != 10 {
		t.Errorf("Output, Dropped = %q, %d, want %q, 10", r.Output, r.Dropped, want)
	}
}

func TestRunWaitDelay(t *testing.T) {
	// A background process keeps the pipes open after the shell exits:
	// Run gives it WaitDelay, then returns with the shell's status.
	begin := time.Now()
	r := sh(t, "sleep 30 & echo $!; echo done; exit 5", Options{WaitDelay: 200 * time.Millisecond})
	took := time.Since(begin)
	killPID(t, string(r.Output))
	if took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
	if r.ExitCode != 5 || !strings.HasSuffix(string(r.Output), "\ndone\n") {
		t.Errorf("ExitCode, Output = %d, %q", r.ExitCode, r.Output)
	}
}

func TestRunForwardsSignals(t *testing.T) {
	// The shell tells the test through a FIFO that its trap is set and
	// which pid its background sleep has; the test then sends SIGINT.
	fifo := filepath.Join(t.TempDir(), "ready")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	pids := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo) // blocks until the shell opens it
		if err != nil {
			pids <- ""
			return
		}
		defer f.Close()
		line, _ := bufio.NewReader(f).ReadString('\n')
		pids <- line
		sigs <- syscall.SIGINT
	}()
	begin := time.Now()
	r := run(t, Options{
		Args:      []string{"sh", "-c", `trap 'exit 7' INT; sleep 30 & echo $! > "$1"; wait`, "sh", fifo},
		Signals:   sigs,
		WaitDelay: 200 * time.Millisecond,
	})
	killPID(t, <-pids)
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
	if r.ExitCode != 7 || r.Signal != "" {
		t.Errorf("ExitCode, Signal = %d, %q, want 7 (the trap's), no signal", r.ExitCode, r.Signal)
	}
}

func killPID(t *testing.T, output string) {
	t.Helper()
	first, _, _ := strings.Cut(output, "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

// TestForegroundSharesTheProcessGroup checks that Foreground keeps the
// command in our process group (so it may read a terminal) and that its
// timeout still stops it.
func TestForegroundSharesTheProcessGroup(t *testing.T) {
	r := Run(context.Background(), Options{Args: []string{"sh", "-c", "cut -d\" \" -f5 /proc/$$/stat"}, Foreground: true})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d: %s", r.ExitCode, r.Output)
	}
	if got, want := strings.TrimSpace(string(r.Output)), strconv.Itoa(syscall.Getpgrp()); got != want {
		t.Errorf("child's process group = %s, want ours (%s)", got, want)
	}
	r = Run(context.Background(), Options{Args: []string{"sleep", "30"}, Foreground: true, Timeout: 100 * time.Millisecond, KillGrace: 100 * time.Millisecond})
	if r.ExitCode != 124 || !r.TimedOut {
		t.Errorf("foreground timeout: exit %d, timed out %v; want 124", r.ExitCode, r.TimedOut)
	}
}
