package job

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseWhen(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"", "failure", false},
		{"failure", "failure", false},
		{"stderr", "stderr", false},
		{"output", "output", false},
		{"always", "always", false},
		{"never", "", true},
		{"Failure", "", true},
	}
	for _, tt := range tests {
		got, err := ParseWhen(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseWhen(%q) = %q, %v, want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestShouldMail(t *testing.T) {
	results := map[string]*Result{
		"silent success":   {},
		"stdout success":   {OutputBytes: 3},
		"stderr success":   {OutputBytes: 3, StderrBytes: 3},
		"silent failure":   {ExitCode: 1},
		"killed":           {ExitCode: 137, Signal: "SIGKILL"},
		"timed out":        {ExitCode: 124, TimedOut: true},
		"not found":        {ExitCode: 127, NotFound: true, StartErr: errors.New("x")},
		"not executable":   {ExitCode: 126, NotExecutable: true, StartErr: errors.New("x")},
		"merged stdout ok": {OutputBytes: 3, Merged: true},
	}
	// want[name] lists the result names for which each rule mails.
	want := map[string][]string{
		"failure": {"silent failure", "killed", "timed out", "not found", "not executable"},
		"stderr":  {"stderr success", "silent failure", "killed", "timed out", "not found", "not executable"},
		"output": {"stdout success", "stderr success", "silent failure", "killed", "timed out",
			"not found", "not executable", "merged stdout ok"},
		"always": {"silent success", "stdout success", "stderr success", "silent failure", "killed",
			"timed out", "not found", "not executable", "merged stdout ok"},
	}
	for when, mailed := range want {
		for name, r := range results {
			if when == "stderr" && r.Merged {
				continue
			}
			got, err := ShouldMail(when, r)
			if w := contains(mailed, name); got != w || err != nil {
				t.Errorf("ShouldMail(%q, %s) = %v, %v, want %v", when, name, got, err, w)
			}
		}
	}
	if got, err := ShouldMail("", results["silent failure"]); !got || err != nil {
		t.Errorf(`ShouldMail("", silent failure) = %v, %v, want true (failure is the default)`, got, err)
	}
	if _, err := ShouldMail("sometimes", results["silent failure"]); err == nil {
		t.Error(`ShouldMail("sometimes", ...) did not fail`)
	}
	if _, err := ShouldMail("stderr", results["merged stdout ok"]); err == nil {
		t.Error(`ShouldMail("stderr", merged) did not fail`)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSubject(t *testing.T) {
	long := []string{"/usr/local/lib/backup/bin/run-backup.sh"}
	for i := range 30 {
		long = append(long, fmt.Sprintf("--exclude=/srv/data/%d", i))
	}
	tests := []struct {
		name string
		r    Result
		host string
		want string
	}{
		{"exit", Result{Args: []string{"backup", "--all"}, ExitCode: 3}, "web1",
			"[web1] backup --all: exit 3"},
		{"success", Result{Args: []string{"true"}}, "web1", "[web1] true: exit 0"},
		{"quoted", Result{Args: []string{"sh", "-c", "echo 'hi'; exit 1"}, ExitCode: 1}, "h",
			`[h] sh -c 'echo '\''hi'\''; exit 1': exit 1`},
		{"signal", Result{Args: []string{"job"}, ExitCode: 137, Signal: "SIGKILL"}, "h",
			"[h] job: killed by SIGKILL"},
		{"timeout", Result{Args: []string{"job"}, ExitCode: 124, TimedOut: true, Signal: "SIGTERM"}, "h",
			"[h] job: timed out"},
		{"not found", Result{Args: []string{"jbo"}, ExitCode: 127, NotFound: true}, "h",
			"[h] jbo: command not found"},
		{"not executable", Result{Args: []string{"./job"}, ExitCode: 126, NotExecutable: true}, "h",
			"[h] ./job: not executable"},
		{"other start error", Result{Args: []string{"job"}, ExitCode: 126, StartErr: errors.New("too many open files")}, "h",
			"[h] job: could not start"},
		{"no host", Result{Args: []string{"job"}, ExitCode: 2}, "", "job: exit 2"},
		{"line breaks", Result{Args: []string{"sh", "-c", "set -e\n\tmake\n"}, ExitCode: 2}, "h",
			"[h] sh -c 'set -e make ': exit 2"},
		{"long", Result{Args: long, ExitCode: 1}, "host.example.com",
			"[host.example.com] run-backup.sh --exclude=/srv/data/0 --exclude=/srv/data/1 --exclude=/srv/data/2 --exclude=/s…: exit 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.Subject(tt.host)
			if got != tt.want {
				t.Errorf("Subject(%q) = %q, want %q", tt.host, got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > subjectMax {
				t.Errorf("Subject is %d characters long", n)
			}
		})
	}
}

func TestBody(t *testing.T) {
	start := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"exit", Result{
			Args: []string{"sh", "-c", "echo a; exit 3"}, Start: start, Duration: 1500 * time.Millisecond,
			ExitCode: 3, Output: []byte("a\nb"), OutputBytes: 3, StderrBytes: 1,
		}, `Command:  sh -c 'echo a; exit 3'
Started:  2025-03-04T05:06:07Z
Duration: 1.5s
Status:   exit 3
Output:   3 bytes, 1 on stderr

a
b
`},
		{"timed out and cut", Result{
			Args: []string{"job"}, Start: start, Duration: 10*time.Second + 2*time.Millisecond + 300*time.Microsecond,
			ExitCode: 124, TimedOut: true, Signal: "SIGKILL", Timeout: 10 * time.Second,
			Output: []byte("xx\n[... 5 bytes dropped ...]\nyy\n"), OutputBytes: 9, Dropped: 5,
		}, `Command:  job
Started:  2025-03-04T05:06:07Z
Duration: 10.002s
Status:   timed out after 10s, killed by SIGKILL (exit 124)
Output:   9 bytes, 0 on stderr, 5 dropped from the middle

xx
[... 5 bytes dropped ...]
yy
`},
		{"killed", Result{
			Args: []string{"job"}, Start: start, Duration: 2 * time.Millisecond, ExitCode: 143, Signal: "SIGTERM",
			Merged: true,
		}, `Command:  job
Started:  2025-03-04T05:06:07Z
Duration: 2ms
Status:   killed by SIGTERM (exit 143)
Output:   0 bytes

(no output)
`},
		{"not found", Result{
			Args: []string{"jbo", "it's"}, Start: start, ExitCode: 127, NotFound: true,
			StartErr: errors.New(`exec: "jbo": executable file not found in $PATH`),
		}, `Command:  jbo 'it'\''s'
Started:  2025-03-04T05:06:07Z
Duration: 0s
Status:   command not found (exit 127)
Error:    exec: "jbo": executable file not found in $PATH
Output:   0 bytes, 0 on stderr

(no output)
`},
		{"invalid UTF-8", Result{
			Args: []string{"cat"}, Start: start, Output: []byte("caf\xe9\n"), OutputBytes: 5,
		}, "Command:  cat\nStarted:  2025-03-04T05:06:07Z\nDuration: 0s\nStatus:   exit 0\n" +
			"Output:   5 bytes, 0 on stderr\n\ncaf\uFFFD\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Body(); got != tt.want {
				t.Errorf("Body() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]string{
		"":            "''",
		"plain":       "plain",
		"a/b.c:d=e,f": "a/b.c:d=e,f",
		"two words":   "'two words'",
		"it's":        `'it'\''s'`,
		"$HOME":       "'$HOME'",
		"*":           "'*'",
		"é":           "'é'",
	}
	for in, want := range tests {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := shellJoin([]string{"a", "b c"}); got != "a 'b c'" || strings.Contains(got, "\n") {
		t.Errorf("shellJoin = %s", got)
	}
}
