package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailout/internal/smtptest"
)

// mountSmallTmpfs mounts a tmpfs of size bytes, so a spool on it really
// runs out of space (ENOSPC), or skips when this process may not mount.
func mountSmallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs for a full spool")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): skipping the full-spool test", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestQueueFullKeepsPipedBody: the server is down and the spool folder is
// full, so the piped body is neither sent nor queued: it must land in
// dead.letter, the one error line must say so, and each layer must add its
// context once.
func TestQueueFullKeepsPipedBody(t *testing.T) {
	checkPipedBodyKept(t, mountSmallTmpfs(t, "16k"), "no space left on device")
}

// TestQueueUnwritableKeepsPipedBody is the same rule where no tmpfs can be
// mounted: a spool folder that cannot be created (a file is in its way)
// fails the queueing everywhere, even as root.
func TestQueueUnwritableKeepsPipedBody(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	checkPipedBodyKept(t, filepath.Join(blocker, "queue"), "not a directory")
}

// checkPipedBodyKept sends a piped body with --queue-on-failure to a server
// that is down, with qdir as a spool that fails with spoolErr.
func checkPipedBodyKept(t *testing.T, qdir, spoolErr string) {
	t.Helper()
	body := strings.Repeat("a line of the piped body that does not fit\n", 1000)
	env, _, errb := testEnv(t, body)
	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfgPath, []byte("queue_dir = \""+qdir+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	down := smtptest.FreeAddr(t)
	args := []string{"mailout", "--config", cfgPath, "--queue-on-failure", "--server", down, "--tls", "none", "-s", "full", "a@example.com"}
	if code := Main(args, env); code != 75 {
		t.Fatalf("exit %d, want 75; stderr %q", code, errb)
	}
	stderr := errb.String()
	dead := filepath.Join(env.Getenv("XDG_STATE_HOME"), "mailout", "dead.letter")
	for _, want := range []string{"connection refused", "queueing failed", spoolErr, "message saved to " + dead} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
	for _, twice := range []string{"queue message: queue message", "write: write"} {
		if strings.Contains(stderr, twice) {
			t.Errorf("stderr %q repeats a context: %q", stderr, twice)
		}
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 1 {
		t.Errorf("stderr has %d lines, want one error line (and at most a hint): %q", n+1, stderr)
	}
	saved, err := os.ReadFile(dead)
	if err != nil {
		t.Fatalf("dead.letter: %v", err)
	}
	if !strings.Contains(string(saved), "a line of the piped body") || !strings.Contains(string(saved), "Subject: full") {
		t.Errorf("dead.letter does not hold the message: %.200q", saved)
	}
}
