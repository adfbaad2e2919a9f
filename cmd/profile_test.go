//go:build linux

package cmd_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mailout/cmd"
)

// TestKeyringPrograms guards testdata/script/profile_keyring.txtar, which
// skips itself when the programs of a real Secret Service are missing:
// with MAILOUT_TEST_STRICT=1 (CI) their absence is a failure instead.
func TestKeyringPrograms(t *testing.T) {
	var missing []string
	for _, prog := range []string{"dbus-run-session", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, prog)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "profile_keyring.txtar is skipped: needs " + strings.Join(missing, ", ") +
		" (Debian packages dbus, gnome-keyring, libsecret-tools)"
	if os.Getenv("MAILOUT_TEST_STRICT") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master *os.File, slavePath string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		if os.Getenv("MAILOUT_TEST_STRICT") == "1" {
			t.Fatalf("open /dev/ptmx: %v", err)
		}
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond, without sleeping, until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestSetPasswordTerminal drives `profile set-password` on a real
// pseudo-terminal: the prompt goes to the terminal, echo is off while the
// password is typed, and the typed line is what gets stored. No D-Bus
// session is reachable (the Env has none and a UID without /run/user), so
// a non-empty password ends at the keyring (78) and an empty one is
// refused before (64).
func TestSetPasswordTerminal(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte("[profiles.work]\nhost = \"smtp.example.com\"\nusername = \"me\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, typed string
		want        int
		wantErr     string
	}{
		{"secret", "typed-secret\r", 78, "no keyring reachable"},
		{"empty", "\r", 64, "empty password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, slavePath := openPTY(t)
			slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer slave.Close()
			var screen syncBuffer
			go func() {
				buf := make([]byte, 256)
				for {
					n, err := master.Read(buf)
					screen.Write(buf[:n])
					if err != nil {
						return
					}
				}
			}()

			var stdout, stderr bytes.Buffer
			env := cmd.SystemEnv()
			env.Stdin, env.Stdout, env.Stderr = strings.NewReader("not the terminal\n"), &stdout, &stderr
			env.StdinTTY, env.StderrTTY = true, false
			env.UID = 1 << 30 // no /run/user/UID/bus: the keyring is unreachable
			env.Getenv = func(k string) string {
				if k == "MAILOUT_CONFIG" {
					return config
				}
				return ""
			}
			env.OpenTTY = func() (*os.File, error) { return os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0) }

			done := make(chan int, 1)
			go func() { done <- cmd.Main([]string{"mailout", "profile", "set-password", "work"}, env) }()

			waitFor(t, "the prompt", func() bool { return strings.Contains(screen.String(), "Password for profile work: ") })
			waitFor(t, "echo off", func() bool {
				tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
				return err == nil && tio.Lflag&unix.ECHO == 0
			})
			if _, err := master.WriteString(tt.typed); err != nil {
				t.Fatal(err)
			}
			var code int
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("set-password did not return")
			}
			if code != tt.want || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("set-password typing %q = %d, %q; want %d, %q", tt.typed, code, stderr.String(), tt.want, tt.wantErr)
			}
			if strings.Contains(screen.String(), "typed-secret") {
				t.Errorf("the terminal echoed the password: %q", screen.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil || tio.Lflag&unix.ECHO == 0 {
				t.Errorf("echo not restored after set-password (err %v)", err)
			}
		})
	}
}
