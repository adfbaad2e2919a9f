package profiles

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// realKeyringChild is set in the environment of the test binary that
// TestRealKeyring starts inside a private D-Bus session.
const realKeyringChild = "MAILOUT_TEST_KEYRING_CHILD"

// TestRealKeyring runs TestRealKeyringChild against a real Secret Service:
// a private session bus (dbus-run-session) with an unlocked
// gnome-keyring-daemon in a throw-away HOME, as LIBRARY-NOTES §3.4 does.
// Without the programs it skips, or fails when MAILOUT_TEST_STRICT=1.
func TestRealKeyring(t *testing.T) {
	if os.Getenv(realKeyringChild) != "" {
		t.Skip("already inside the keyring session")
	}
	var missing []string
	for _, prog := range []string{"dbus-run-session", "gnome-keyring-daemon", "secret-tool"} {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, prog)
		}
	}
	if len(missing) > 0 {
		msg := "needs " + strings.Join(missing, ", ") + " (Debian packages dbus, gnome-keyring, libsecret-tools)"
		if os.Getenv("MAILOUT_TEST_STRICT") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	tmp := t.TempDir()
	home, runtimeDir := mkdir(t, tmp, "home"), mkdir(t, tmp, "run")
	if err := os.Chmod(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "DBUS_SESSION_BUS_ADDRESS" || k == "HOME" || strings.HasPrefix(k, "XDG_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_RUNTIME_DIR="+runtimeDir, realKeyringChild+"=1")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := `printf %s test-keyring-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
exec "$0" -test.run='^TestRealKeyringChild$' -test.count=1 -test.v`
	cmd := exec.CommandContext(ctx, "dbus-run-session", "--", "sh", "-c", script, os.Args[0])
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestRealKeyringChild") {
		t.Fatalf("keyring session: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestRealKeyringChild is the part of TestRealKeyring that runs inside the
// D-Bus session.
func TestRealKeyringChild(t *testing.T) {
	if os.Getenv(realKeyringChild) != "1" {
		t.Skip("run by TestRealKeyring inside a private D-Bus session")
	}
	k := SystemKeyring(os.Getenv, os.Getuid())
	if _, ok := k.(*timeoutKeyring); !ok {
		t.Fatalf("SystemKeyring = %T, want the real keyring (DBUS_SESSION_BUS_ADDRESS=%q)", k, os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	}
	secretTool := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("secret-tool", args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("secret-tool %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}

	// Set through mailout, find it with secret-tool and with Secrets.Lookup.
	const secret = "s3cret with spaces & ümlaut"
	s := &Secrets{Keyring: k}
	work := &Profile{Name: "work"}
	if err := s.SetPassword(work, secret); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if got := secretTool("", "lookup", "service", "mailout", "username", "work"); got != secret {
		t.Errorf("secret-tool lookup = %q, want %q", got, secret)
	}
	if got, err := s.Lookup(context.Background(), work); err != nil || got != secret {
		t.Errorf("Lookup = %q, %v", got, err)
	}

	// Stored by secret-tool, read through mailout.
	secretTool("pw2", "store", "--label=test", "service", "mailout", "username", "other")
	if got, err := k.Get(KeyringService, "other"); err != nil || got != "pw2" {
		t.Errorf("Get(other) = %q, %v", got, err)
	}

	// Delete, then it is gone.
	if err := s.DeletePassword(work); err != nil {
		t.Fatalf("DeletePassword: %v", err)
	}
	if _, err := k.Get(KeyringService, "work"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	_, err := s.Lookup(context.Background(), work)
	if !IsSecretError(err) || !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup after Delete: %v", err)
	}
}
