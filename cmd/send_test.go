package cmd

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"mailout/internal/smtptest"
)

// testEnv is an Env of buffers: no terminal, a fixed clock, no keyring.
func testEnv(t *testing.T, stdin string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	home := t.TempDir()
	vars := map[string]string{"HOME": home, "XDG_CONFIG_HOME": home + "/.config", "XDG_STATE_HOME": home + "/state"}
	return &Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv:     func(k string) string { return vars[k] },
		Environ:    func() []string { return nil },
		Now:        func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) },
		Rand:       strings.NewReader(strings.Repeat("r", 1000)),
		Hostname:   func() string { return "host.example.com" },
		LoginName:  func() (string, error) { return "alice", nil },
		UID:        os.Getuid(),
		OpenTTY:    func() (*os.File, error) { return nil, os.ErrNotExist },
		Executable: nil,
		Keyring:    testKeyring(),
		Syslog:     func(string) error { return nil },
	}, &out, &errb
}

// TestBadHeaderInputSendsNothing checks that every way of smuggling a line
// break or NUL into a header is refused before anything is sent.
func TestBadHeaderInputSendsNothing(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"CRLF in subject", []string{"-s", "hi\r\nBcc: evil@example.com"}, 65, "header Subject: value contains a carriage return"},
		{"LF in subject", []string{"-s", "hi\nBcc: evil@example.com"}, 65, "line feed"},
		{"NUL in header", []string{"-H", "X-A: a\x00b"}, 65, "NUL"},
		{"CR in address", []string{"--cc", "a@example.com\rBcc: x@y"}, 65, "invalid address"},
		{"structural header", []string{"-H", "Content-Type: text/html"}, 64, "MIME headers are set by mailout"},
		{"dry-run with json", []string{"--dry-run", "--json"}, 64, "cannot be combined"},
		{"bad header flag", []string{"-H", "NoColon"}, 64, `want "Name: value"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, out, errb := testEnv(t, "")
			args := append([]string{"mailout", "--server", srv.Addr(), "--tls", "none", "--body", "x", "to@example.com"}, tt.args...)
			if code := Main(args, env); code != tt.code {
				t.Fatalf("Main(%q) = %d, want %d; stderr %q", args, code, tt.code, errb)
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", errb, tt.want)
			}
			if !strings.HasPrefix(errb.String(), "mailout: ") || strings.Count(strings.TrimSpace(errb.String()), "\n") > 1 {
				t.Errorf("stderr = %q, want one mailout: line (and at most a hint)", errb)
			}
			if out.Len() != 0 && !strings.Contains(strings.Join(tt.args, " "), "--json") {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server got %d messages, want 0", n)
			}
		})
	}
}

// TestArgumentOrder checks that flags work before and after recipients
// and that "--" ends the flags.
func TestArgumentOrder(t *testing.T) {
	for _, args := range [][]string{
		{"-s", "S", "a@example.com", "--body", "x"},
		{"a@example.com", "-s", "S", "--body", "x"},
		{"send", "--dry-run", "a@example.com", "--subject=S", "--body", "x"},
		{"--body", "x", "-s", "S", "--", "a@example.com"},
		{"-a", "f,1.txt", "--attach", "f,1.txt", "-s", "S", "a@example.com", "--body", "x"},
	} {
		env, out, errb := testEnv(t, "")
		dir := t.TempDir()
		os.WriteFile(dir+"/f,1.txt", []byte("x"), 0o644)
		wd, _ := os.Getwd()
		os.Chdir(dir)
		code := Main(append([]string{"mailout", "--dry-run"}, args...), env)
		os.Chdir(wd)
		if code != 0 {
			t.Fatalf("Main(%q) = %d; stderr %q", args, code, errb)
		}
		if !strings.Contains(out.String(), "Subject: S\r\n") || !strings.Contains(errb.String(), "RCPT TO:<a@example.com>") {
			t.Errorf("Main(%q): stdout %q stderr %q", args, out, errb)
		}
	}
}
