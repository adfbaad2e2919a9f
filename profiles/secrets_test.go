package profiles

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memKeyring is an in-memory Keyring for tests.
type memKeyring struct {
	mu sync.Mutex
	m  map[string]string
}

func newMemKeyring() *memKeyring { return &memKeyring{m: map[string]string{}} }

func (k *memKeyring) Get(service, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[service+"\x00"+user]
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

func (k *memKeyring) Set(service, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[service+"\x00"+user] = secret
	return nil
}

func (k *memKeyring) Delete(service, user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.m[service+"\x00"+user]; !ok {
		return ErrNotFound
	}
	delete(k.m, service+"\x00"+user)
	return nil
}

var _ Keyring = (*memKeyring)(nil)

func noEnv(string) string { return "" }

func TestSource(t *testing.T) {
	s := &Secrets{}
	tests := []struct {
		p    *Profile
		want string
	}{
		{&Profile{Name: "work", PasswordCommand: "pass show x"}, `password_command "pass show x"`},
		{&Profile{Name: "work", PasswordEnv: "SMTP_PASSWORD"}, "env $SMTP_PASSWORD"},
		{&Profile{Name: "work"}, "keyring (service mailout, user work)"},
	}
	for _, tt := range tests {
		if got := s.Source(tt.p); got != tt.want {
			t.Errorf("Source = %q, want %q", got, tt.want)
		}
	}
}

func TestPasswordCommand(t *testing.T) {
	ctx := context.Background()
	s := &Secrets{Getenv: noEnv, Keyring: newMemKeyring()}
	tests := []struct {
		name, cmd string
		want      string
		wantErr   string
	}{
		{"first line", "printf 's3cret word\\nsecond line\\n'", "s3cret word", ""},
		{"no newline", "printf 'pw'", "pw", ""},
		{"crlf", "printf 'pw\\r\\n'", "pw", ""},
		{"failure shows stderr, not stdout", "echo leaked-stdout; echo 'gpg: decryption failed' >&2; echo 'second' >&2; exit 2",
			"", `profile "work": password_command "echo leaked-stdout; echo 'gpg: decryption failed' >&2; echo 'second' >&2; exit 2": exit status 2: gpg: decryption failed; second`},
		{"empty output", "true", "", "the command printed no password on its first line"},
		{"empty first line", "printf '\\npw\\n'", "", "printed no password"},
		{"not found", "/nonexistent/program-xyz", "", "exit status 127"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Profile{Name: "work", PasswordCommand: tt.cmd}
			got, err := s.Lookup(ctx, p)
			if tt.wantErr != "" {
				if !IsSecretError(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Lookup error = %v, want %q", err, tt.wantErr)
				}
				if n := strings.Count(err.Error(), "leaked-stdout"); n > strings.Count(tt.cmd, "leaked-stdout") {
					t.Errorf("error shows the command's stdout: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Lookup = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPasswordCommandTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	s := &Secrets{Timeout: 300 * time.Millisecond}
	// The shell starts a background sleep: killing the process group must end it too.
	p := &Profile{Name: "work", PasswordCommand: fmt.Sprintf("sleep 5 & echo $! > %s; echo waiting >&2; wait; echo late", pidFile)}
	start := time.Now()
	_, err := s.Lookup(context.Background(), p)
	elapsed := time.Since(start)
	if !IsSecretError(err) || !strings.Contains(err.Error(), "no answer within 300ms: waiting") {
		t.Errorf("Lookup error = %v", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Lookup took %v, want about 300ms", elapsed)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still runs after the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

func TestPasswordCommandCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s := &Secrets{}
	_, err := s.Lookup(ctx, &Profile{Name: "w", PasswordCommand: "sleep 5"})
	if !errors.Is(err, context.DeadlineExceeded) || IsSecretError(err) {
		t.Errorf("Lookup error = %v, want the context's error and no SecretError", err)
	}
}

// TestPasswordCommandStdin: the command cannot read the caller's standard
// input (in sendmail mode that is the message); it reads /dev/null.
func TestPasswordCommandStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.WriteString("MESSAGE-ON-STDIN\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	saved := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = saved }()

	s := &Secrets{}
	got, err := s.Lookup(context.Background(), &Profile{Name: "w",
		PasswordCommand: `if read -r line; then echo "read:$line"; else echo "eof:$(readlink /proc/self/fd/0 2>/dev/null || echo ?)"; fi`})
	if err != nil {
		t.Fatal(err)
	}
	if got != "eof:/dev/null" && got != "eof:?" {
		t.Errorf("the command saw %q, want end of file from /dev/null", got)
	}
	rest := make([]byte, 64)
	n, _ := r.Read(rest)
	if string(rest[:n]) != "MESSAGE-ON-STDIN\n" {
		t.Errorf("our stdin was consumed: %q left", rest[:n])
	}
}

func TestPasswordCommandProgramPermissions(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, dir, "getpw", "#!/bin/sh\necho pw\n", 0o755)
	writable := writeFile(t, dir, "getpw-writable", "#!/bin/sh\necho pw\n", 0o777)
	cfg := writeFile(t, dir, "config.toml", fmt.Sprintf(`
[defaults]
password_command = "%s --flag"
[profiles.abs]
host = "h"
[profiles.onpath]
host = "h"
password_command = "getpw-writable arg"
[profiles.fine]
host = "h"
password_command = "getpw"
`, writable), 0o600)
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lookPath := func(file string) (string, error) {
		if p := filepath.Join(dir, file); fileExists(p) {
			return p, nil
		}
		return "", exec.ErrNotFound
	}
	s := &Secrets{LookPath: lookPath}
	for name, wantLine := range map[string]int{"abs": 3, "onpath": 8} {
		_, err := s.Lookup(context.Background(), c.Profiles[name])
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.File != cfg || ce.Line != wantLine ||
			!strings.Contains(ce.Msg, "program "+writable+" is writable by group or others (mode 0777); refusing to run it") {
			t.Errorf("profile %s: Lookup error = %#v", name, err)
		}
	}
	// getpw (0755) is found on the fake PATH and is fine; the shell runs it by its real PATH, so use the path.
	c.Profiles["fine"].PasswordCommand = script
	if got, err := s.Lookup(context.Background(), c.Profiles["fine"]); err != nil || got != "pw" {
		t.Errorf("fine: Lookup = %q, %v", got, err)
	}
	if os.Getuid() == 0 {
		if err := os.Chown(script, 4242, 0); err != nil {
			t.Fatal(err)
		}
		_, err := s.Lookup(context.Background(), c.Profiles["fine"])
		if !IsConfigError(err) || !strings.Contains(err.Error(), "is owned by another user (uid 4242)") {
			t.Errorf("owned by another user: %v", err)
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestPasswordEnv(t *testing.T) {
	env := map[string]string{"SMTP_PASSWORD": "from-env", "EMPTY": ""}
	s := &Secrets{Getenv: func(k string) string { return env[k] }, Keyring: newMemKeyring()}
	got, err := s.Lookup(context.Background(), &Profile{Name: "w", PasswordEnv: "SMTP_PASSWORD"})
	if err != nil || got != "from-env" {
		t.Errorf("Lookup = %q, %v", got, err)
	}
	for _, name := range []string{"EMPTY", "UNSET"} {
		_, err := s.Lookup(context.Background(), &Profile{Name: "w", PasswordEnv: name})
		want := fmt.Sprintf(`profile "w": env $%s: environment variable %s is not set or empty`, name, name)
		if !IsSecretError(err) || err.Error() != want {
			t.Errorf("Lookup(%s) error = %v, want %q", name, err, want)
		}
	}
}

// TestNoFallThrough: a failing source never falls through to another.
func TestNoFallThrough(t *testing.T) {
	kr := newMemKeyring()
	kr.Set(KeyringService, "w", "from-keyring")
	s := &Secrets{Getenv: func(string) string { return "from-env" }, Keyring: kr}
	if _, err := s.Lookup(context.Background(), &Profile{Name: "w", PasswordCommand: "exit 1", PasswordEnv: "X"}); err == nil {
		t.Error("failing password_command fell through")
	}
	s.Getenv = noEnv
	if _, err := s.Lookup(context.Background(), &Profile{Name: "w", PasswordEnv: "X"}); err == nil {
		t.Error("unset password_env fell through to the keyring")
	}
}

func TestKeyringLookup(t *testing.T) {
	kr := newMemKeyring()
	s := &Secrets{Getenv: noEnv, Keyring: kr}
	p := &Profile{Name: "work"}
	_, err := s.Lookup(context.Background(), p)
	if !IsSecretError(err) || !errors.Is(err, ErrNotFound) ||
		err.Error() != `profile "work": keyring (service mailout, user work): no password stored` {
		t.Errorf("missing: %v", err)
	}
	if err := s.SetPassword(p, "kr-secret"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Lookup(context.Background(), p); err != nil || got != "kr-secret" {
		t.Errorf("Lookup = %q, %v", got, err)
	}
	if err := s.DeletePassword(p); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePassword(p); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// A profile with another source refuses set-password.
	err = s.SetPassword(&Profile{Name: "work", PasswordEnv: "PW"}, "x")
	if !IsConfigError(err) || !strings.Contains(err.Error(), `takes its password from env $PW, not from the keyring`) {
		t.Errorf("SetPassword with password_env: %v", err)
	}
	// No keyring at all.
	s.Keyring = nil
	_, err = s.Lookup(context.Background(), p)
	if !IsSecretError(err) || !errors.Is(err, ErrNoKeyring) || !strings.Contains(err.Error(), "password_command or password_env") {
		t.Errorf("nil keyring: %v", err)
	}
}

func TestSecretNeverInError(t *testing.T) {
	const secret = "hunter2-SECRET"
	t.Setenv("MAILOUT_TEST_PW", secret)
	s := &Secrets{Keyring: newMemKeyring()}
	for _, p := range []*Profile{
		{Name: "a", PasswordCommand: `echo "$MAILOUT_TEST_PW"; echo failed >&2; exit 3`},
		{Name: "b", PasswordCommand: `printf '\n%s\n' "$MAILOUT_TEST_PW"`},
		{Name: "c", PasswordCommand: `echo "$MAILOUT_TEST_PW"; sleep 5`},
	} {
		s.Timeout = 300 * time.Millisecond
		_, err := s.Lookup(context.Background(), p)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("profile %s: error = %v", p.Name, err)
		}
	}
}

// blockingKeyring never answers until released.
type blockingKeyring struct{ release chan struct{} }

func (k blockingKeyring) Get(string, string) (string, error) { <-k.release; return "late", nil }
func (k blockingKeyring) Set(string, string, string) error   { <-k.release; return nil }
func (k blockingKeyring) Delete(string, string) error        { <-k.release; return nil }

func TestKeyringTimeout(t *testing.T) {
	bk := blockingKeyring{release: make(chan struct{})}
	defer close(bk.release)
	k := &timeoutKeyring{inner: bk, timeout: 100 * time.Millisecond}
	start := time.Now()
	_, err := k.Get(KeyringService, "w")
	if !errors.Is(err, ErrNoKeyring) || !strings.Contains(err.Error(), "did not answer within 100ms") {
		t.Errorf("Get error = %v", err)
	}
	if err := k.Set(KeyringService, "w", "x"); !errors.Is(err, ErrNoKeyring) {
		t.Errorf("Set error = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

type errKeyring struct{ err error }

func (k errKeyring) Get(string, string) (string, error) { return "", k.err }
func (k errKeyring) Set(string, string, string) error   { return k.err }
func (k errKeyring) Delete(string, string) error        { return k.err }

func TestKeyringErrorClasses(t *testing.T) {
	tests := []struct {
		err            error
		notFound, none bool
	}{
		{errors.New("secret not found in keyring"), false, true}, // only the sentinel counts, never the text
		{fmt.Errorf("wrapped: %w", ErrNotFound), true, false},
		{errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"), false, true},
		{errors.New("The name org.freedesktop.secrets was not provided by any .service files"), false, true},
	}
	for _, tt := range tests {
		k := &timeoutKeyring{inner: errKeyring{tt.err}, timeout: time.Second}
		_, err := k.Get(KeyringService, "w")
		if errors.Is(err, ErrNotFound) != tt.notFound || errors.Is(err, ErrNoKeyring) != tt.none {
			t.Errorf("%v -> %v", tt.err, err)
		}
	}
}

func TestMissingBus(t *testing.T) {
	const uid = 2147480000 // no /run/user/UID
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "DBUS_SESSION_BUS_ADDRESS" {
				return v
			}
			return ""
		}
	}
	if r := missingBus("linux", env(""), uid); !strings.Contains(r, "DBUS_SESSION_BUS_ADDRESS is unset") {
		t.Errorf("no bus: %q", r)
	}
	if r := missingBus("linux", env("autolaunch:"), uid); r == "" {
		t.Error("autolaunch: counts as a bus")
	}
	if r := missingBus("linux", env("unix:path=/run/x"), uid); r != "" {
		t.Errorf("with an address: %q", r)
	}
	if r := missingBus("darwin", env(""), uid); r != "" {
		t.Errorf("darwin: %q", r)
	}
}

// TestSystemKeyringNoBus: without a session bus SystemKeyring fails at once
// with ErrNoKeyring and starts no process (no dbus-launch, no daemons).
func TestSystemKeyringNoBus(t *testing.T) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		t.Skip("a session bus is set in this environment")
	}
	const uid = 2147480000
	before := countProcesses(t, "dbus-daemon")
	beforeKeyring := countProcesses(t, "gnome-keyring-d")
	k := SystemKeyring(noEnv, uid)
	start := time.Now()
	_, err := k.Get(KeyringService, "work")
	if err2 := k.Set(KeyringService, "work", "x"); !errors.Is(err2, ErrNoKeyring) {
		t.Errorf("Set error = %v", err2)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("took %v", d)
	}
	if !errors.Is(err, ErrNoKeyring) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get error = %v", err)
	}
	for _, want := range []string{"no D-Bus session bus", "password_command", "password_env"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	s := &Secrets{Keyring: k}
	_, err = s.Lookup(context.Background(), &Profile{Name: "work"})
	if !IsSecretError(err) || !errors.Is(err, ErrNoKeyring) {
		t.Errorf("Lookup error = %v", err)
	}
	if after := countProcesses(t, "dbus-daemon"); after > before {
		t.Errorf("dbus-daemon processes: %d before, %d after", before, after)
	}
	if after := countProcesses(t, "gnome-keyring-d"); after > beforeKeyring {
		t.Errorf("gnome-keyring-daemon processes: %d before, %d after", beforeKeyring, after)
	}
}

// countProcesses counts processes named name with pgrep, or returns -1
// when there is no pgrep.
func countProcesses(t *testing.T, name string) int {
	t.Helper()
	if _, err := exec.LookPath("pgrep"); err != nil {
		return -1
	}
	out, _ := exec.Command("pgrep", "-x", name).Output() // exit 1 = none
	return len(strings.Fields(string(out)))
}
