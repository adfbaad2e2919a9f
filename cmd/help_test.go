package cmd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"mailout/profiles"
	"mailout/spool"
)

// helpTestEnv is an Env over buffers whose configuration and state live
// in a fresh temporary folder; vars override the environment it shows.
func helpTestEnv(t testing.TB, vars map[string]string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"HOME":            dir,
		"XDG_CONFIG_HOME": filepath.Join(dir, ".config"),
		"XDG_STATE_HOME":  filepath.Join(dir, ".local", "state"),
	}
	for k, v := range vars {
		env[k] = v
	}
	var stdout, stderr bytes.Buffer
	return &Env{
		Stdin:      strings.NewReader(""),
		Stdout:     &stdout,
		Stderr:     &stderr,
		Getenv:     func(k string) string { return env[k] },
		Environ:    func() []string { return nil },
		Now:        func() time.Time { return time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC) },
		Rand:       strings.NewReader(strings.Repeat("r", 1024)),
		Hostname:   func() string { return "host.example.com" },
		LoginName:  func() (string, error) { return "user", nil },
		UID:        os.Getuid(),
		OpenTTY:    func() (*os.File, error) { return nil, errors.New("no terminal in tests") },
		Executable: os.Executable,
		Keyring:    testKeyring(),
		Syslog:     func(string) error { return nil },
	}, &stdout, &stderr
}

// runHelpTest runs mailout with args and returns its outputs and status.
func runHelpTest(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	env, out, errOut := helpTestEnv(t, vars)
	code = Main(append([]string{"mailout"}, args...), env)
	return out.String(), errOut.String(), code
}

// specFlags is every flag SPEC.md gives each command, as "-s/--subject"
// or "--to"; the global flags are checked on every command separately.
var specFlags = []struct {
	cmd   string
	flags []string
}{
	{"send", []string{
		"-s/--subject", "-r/--from", "--to", "-c/--cc", "-b/--bcc", "--reply-to", "-H/--header",
		"--body", "--body-file", "--html", "-a/--attach", "--inline", "-T/--template", "--var", "--data",
		"-E/--skip-empty", "--dry-run",
		"--server", "--tls", "--user", "--mx", "--queue-on-failure",
	}},
	{"exec", []string{
		"--when", "--timeout",
		"-s/--subject", "-r/--from", "--to", "-c/--cc", "-b/--bcc", "--reply-to", "-H/--header", "-a/--attach",
		"--server", "--tls", "--user", "--mx", "--queue-on-failure",
	}},
	{"batch", []string{
		"--csv", "--template", "--dry-run", "--limit", "--rate", "--parallel", "--key", "--journal",
		"--no-journal", "--report", "--max-errors", "--unsubscribe", "--attach-root", "--yes",
		"--server", "--tls", "--user", "--mx", "--queue-on-failure",
	}},
	{"profile test", []string{"--server", "--tls", "--user", "--mx"}},
	{"queue flush", []string{"--due"}},
}

var specGlobalFlags = []string{"--config", "-P/--profile", "-v/--verbose", "--json"}

// findPath returns the command at path ("queue flush"), nil if there is none.
func findPath(app *cli.App, path string) *cli.Command {
	var c *cli.Command
	cmds := app.Commands
	for _, name := range strings.Fields(path) {
		if c = findCommand(cmds, name); c == nil {
			return nil
		}
		cmds = c.Subcommands
	}
	return c
}

// documented reports whether a line of text, in --help ("  -s, --subject
// TEXT  ...") or roff ("\fB\-s\fR, \fB\-\-subject\fR \fITEXT\fR") form, names
// all of names as one flag.
func documented(text string, names []string) bool {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimPrefix(l, "  ")
		if !strings.HasPrefix(l, "-") && !strings.HasPrefix(l, `\fB\-`) {
			continue
		}
		l = strings.NewReplacer(`\fB`, "", `\fR`, "", `\-`, "-").Replace(l)
		sig, _, _ := strings.Cut(l, "  ")
		var got []string
		for _, part := range strings.Split(sig, ", ") {
			name, _, _ := strings.Cut(part, " ")
			got = append(got, name)
		}
		if !slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(got, n) }) {
			return true
		}
	}
	return false
}

func TestHelpShowsSpecFlags(t *testing.T) {
	env, _, _ := helpTestEnv(t, nil)
	app := (&runner{env: env}).newApp()
	man, stderr, code := runHelpTest(t, nil, "man")
	if code != 0 || stderr != "" {
		t.Fatalf("mailout man = %d, stderr %q", code, stderr)
	}
	for _, tc := range specFlags {
		t.Run(tc.cmd, func(t *testing.T) {
			c := findPath(app, tc.cmd)
			if c == nil {
				if tc.cmd == "batch" {
					t.Skip("the batch command is not registered yet")
				}
				t.Fatalf("no command %q", tc.cmd)
			}
			help, _, code := runHelpTest(t, nil, append(strings.Fields(tc.cmd), "--help")...)
			if code != 0 {
				t.Fatalf("mailout %s --help = %d, want 0", tc.cmd, code)
			}
			if documented(help, []string{"--no-such-flag"}) || documented(help, []string{"-s", "--to"}) {
				t.Fatalf("documented finds flags that mailout %s --help lacks", tc.cmd)
			}
			for _, spec := range append(slices.Clone(tc.flags), specGlobalFlags...) {
				names := strings.Split(spec, "/")
				f, _ := flagSpec(names[len(names)-1], c.Flags)
				if f == nil {
					t.Errorf("mailout %s: flag %s is not defined", tc.cmd, spec)
					continue
				}
				for _, n := range names {
					if g, _ := flagSpec(n, c.Flags); g != f {
						t.Errorf("mailout %s: %s is not an alias of %s", tc.cmd, n, names[len(names)-1])
					}
				}
				if !documented(help, names) {
					t.Errorf("mailout %s --help lacks the flag %s", tc.cmd, spec)
				}
				if !documented(man, names) {
					t.Errorf("mailout man lacks the flag %s", spec)
				}
			}
		})
	}
}

func TestHelpEveryCommand(t *testing.T) {
	env, _, _ := helpTestEnv(t, nil)
	app := (&runner{env: env}).newApp()
	paths := []string{""}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range visibleCommands(cmds) {
			paths = append(paths, strings.TrimSpace(prefix+" "+c.Name))
			walk(prefix+" "+c.Name, c.Subcommands)
		}
	}
	walk("", app.Commands)
	for _, path := range paths {
		for _, flag := range []string{"--help", "-h"} {
			args := append(strings.Fields(path), flag)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				stdout, stderr, code := runHelpTest(t, nil, args...)
				if code != 0 || stderr != "" {
					t.Fatalf("mailout %s = %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, stderr)
				}
				name := strings.TrimSpace("mailout " + path)
				if !strings.HasPrefix(stdout, name+" - ") {
					t.Errorf("help of %q starts %q, want %q", path, firstLine(stdout), name+" - ")
				}
				_, examples, ok := strings.Cut(stdout, "\nExamples:\n")
				if n := strings.Count("\n"+strings.Split(examples, "\n\n")[0], "\n  "); !ok || n < 2 {
					t.Errorf("help of %q has %d examples, want at least 2", path, n)
				}
				if !strings.Contains(stdout, "\n  -h, --help") {
					t.Errorf("help of %q does not list -h, --help", path)
				}
			})
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestHelpNoDuplicateNames guards against a flag name or alias defined
// twice on one command, which urfave/cli only reports when it is used.
func TestHelpNoDuplicateNames(t *testing.T) {
	env, _, _ := helpTestEnv(t, nil)
	app := (&runner{env: env}).newApp()
	check := func(path string, flags []cli.Flag) {
		seen := map[string]bool{}
		for _, f := range flags {
			for _, n := range f.Names() {
				if seen[n] {
					t.Errorf("%s: flag name %q defined twice", path, n)
				}
				seen[n] = true
			}
		}
	}
	check("mailout", app.Flags)
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			check(prefix+" "+c.Name, c.Flags)
			walk(prefix+" "+c.Name, c.Subcommands)
		}
	}
	walk("mailout", app.Commands)
}

func TestHelpGroupsFlags(t *testing.T) {
	stdout, _, _ := runHelpTest(t, nil, "send", "--help")
	var order []int
	for _, heading := range []string{"Message flags:", "Body and attachment flags:", "Template flags:", "Delivery flags:", "Global flags:", "Examples:"} {
		i := strings.Index(stdout, "\n"+heading+"\n")
		if i < 0 {
			t.Fatalf("send --help lacks the heading %q:\n%s", heading, stdout)
		}
		order = append(order, i)
	}
	if !slices.IsSorted(order) {
		t.Errorf("send --help headings out of order at %v:\n%s", order, stdout)
	}
}

func TestHelpUsageErrorIsOneLineAndHint(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"},
		{"send", "--bogus"},
		{"send", "-s"},
		{"exec", "--timeout", "soon", "--", "true"},
		{"queue", "list", "--bogus"},
		{"profile", "test", "--bogus"},
		{"completion"},
		{"completion", "tcsh"},
		{"man", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := runHelpTest(t, nil, args...)
			if code != exitUsage {
				t.Errorf("mailout %q = %d, want %d", args, code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("mailout %q printed on stdout: %q", args, stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "mailout: ") || !strings.HasPrefix(lines[1], "mailout: hint: ") {
				t.Errorf("mailout %q stderr = %q, want an error line and a hint line", args, stderr)
			}
		})
	}
}

// TestHelpNoColor: mailout prints no colour, so nothing it writes may hold
// an escape sequence, with or without NO_COLOR.
func TestHelpNoColor(t *testing.T) {
	for _, vars := range []map[string]string{{"NO_COLOR": "1", "TERM": "xterm-256color"}, {"TERM": "xterm-256color"}} {
		for _, args := range [][]string{{"--help"}, {"send", "--help"}, {"man"}, {"--version"}, {"--bogus"}, {"completion", "zsh"}} {
			stdout, stderr, _ := runHelpTest(t, vars, args...)
			if strings.ContainsRune(stdout+stderr, '\x1b') {
				t.Errorf("mailout %q with %v wrote an escape sequence", args, vars)
			}
		}
	}
}

func TestHelpVersion(t *testing.T) {
	stdout, stderr, code := runHelpTest(t, nil, "--version")
	if code != 0 || stderr != "" {
		t.Fatalf("mailout --version = %d, stderr %q", code, stderr)
	}
	if !strings.HasPrefix(stdout, "mailout version ") || !strings.Contains(stdout, "(commit ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("mailout --version = %q, want the version, the commit and the Go version", stdout)
	}
}

func TestManSections(t *testing.T) {
	man, _, _ := runHelpTest(t, nil, "man")
	if !strings.HasPrefix(man, ".TH MAILOUT 1 ") {
		t.Errorf("man page starts %q, want section 1", firstLine(man))
	}
	want := []string{
		".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH COMMANDS", ".SH CONFIGURATION", ".SH FILES",
		".SH ENVIRONMENT", ".SH EXIT STATUS", ".SH EXAMPLES",
		`.SS "mailout send `, `.SS "mailout exec `, `.SS "mailout profile test `, `.SS "mailout queue flush `,
		`.SS "mailout sendmail `, `.SS "mailout completion `,
		// The mixed-outcome order, as SPEC.md spells it.
		"64, 77, 78, 65, 66, 68, 67, 69, 74, 75, 0",
	}
	for _, v := range []string{"MAILOUT_CONFIG", "MAILOUT_PROFILE", "MAILOUT_PASSWORD", "MAILTO", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "NO_COLOR"} {
		want = append(want, ".TP\n\\fB"+v+"\\fR\n")
	}
	for _, c := range []string{"0", "64", "65", "66", "67", "68", "69", "70", "74", "75", "77", "78"} {
		want = append(want, ".TP\n\\fB"+c+"\\fR\n")
	}
	// Every key of the schema (profiles checks it against SPEC.md).
	for _, k := range profiles.Schema {
		want = append(want, ".TP\n\\fB"+roffEscape(k.Name)+"\\fR\n"+roffEscape(k.Describe())+"\n")
	}
	for _, f := range []string{"-t", "-i, -oi", "-f ADDR, -fADDR", "-F NAME, -FNAME", "-C FILE", "-bm", "-bp", "-q", "-N DSN", "-R RET", "-V ENVID", "-B TYPE"} {
		want = append(want, ".TP\n\\fB"+roffEscape(f)+"\\fR\n")
	}
	for _, w := range want {
		if !strings.Contains(man, w) {
			t.Errorf("man page lacks %q", w)
		}
	}
}

func TestManRendersWithoutWarnings(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		if os.Getenv("MAILOUT_TEST_STRICT") == "1" {
			t.Fatal("groff is not installed but MAILOUT_TEST_STRICT=1 requires it")
		}
		t.Skip("groff is not installed (Debian package groff-base)")
	}
	man, _, _ := runHelpTest(t, nil, "man")
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(man)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff -man -Tutf8 -ww -z: %v\n%s", err, stderr.String())
	}
}

func TestRoffEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"--subject", `\-\-subject`},
		{`a\b`, `a\eb`},
		{"naïve → ok", `na\[u00EF]ve \[u2192] ok`},
		{".starts with a dot", `\&.starts with a dot`},
		{"'quote", `\&'quote`},
	}
	for _, tt := range tests {
		if got := roffLine(tt.in); got != tt.want {
			t.Errorf("roffLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

const helpTestConfig = `default_profile = "work"

[profiles.work]
host = "smtp.example.com"
from = "me@example.com"

[profiles.direct]
transport = "mx"
from = "cron@example.com"
`

func TestCompletionCandidates(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(helpTestConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env, _, _ := helpTestEnv(t, map[string]string{"MAILOUT_CONFIG": cfgPath})
	r := &runner{env: env}
	sp, err := spool.Open(r.queueDir(nil), env.UID, env.Now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sp.Put(spool.Entry{Sender: "me@example.com", Recipients: []string{"ops@example.com"}}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.toml")
	if err := os.WriteFile(other, []byte("[profiles.elsewhere]\nhost = \"smtp.example.org\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var commands []string
	for _, c := range visibleCommands(r.newApp().Commands) {
		commands = append(commands, c.Name)
	}
	tests := []struct {
		line string // the command line; the last word is the one completed
		want []string
	}{
		{"mailout |", commands},
		{"mailout qu|", []string{"queue"}},
		{"mailout -P work qu|", []string{"queue"}},
		{"mailout queue |", []string{"list", "show", "delete", "flush"}},
		{"mailout queue show |", []string{id}},
		{"mailout queue show " + id + " |", nil},
		{"mailout profile |", []string{"list", "show", "test", "set-password", "delete-password", "login", "logout"}},
		{"mailout profile show |", []string{"direct", "work"}},
		{"mailout profile test w|", []string{"work"}},
		{"mailout --config " + other + " profile show |", []string{"elsewhere"}},
		{"mailout -P |", []string{"direct", "work"}},
		{"mailout --profile=d|", []string{"--profile=direct"}},
		{"mailout send --tls |", []string{"starttls", "tls", "opportunistic", "none"}},
		{"mailout send --tls = op|", []string{"--tls=opportunistic"}},
		{"mailout exec --when s|", []string{"stderr"}},
		{"mailout -a |", []string{completeFiles}},
		{"mailout send --body-file=|", []string{completeFiles}},
		{"mailout exec ops@example.com -- |", []string{completeFiles}},
		{"mailout send -- |", nil},
		{"mailout completion |", []string{"bash", "zsh", "fish"}},
		{"mailout --su|", []string{"--subject"}},
		{"mailout queue flush --|", []string{"--due", "--config", "--profile", "--verbose", "--json", "--help"}},
		{"mailout ops@example.com |", nil},
		{"mailout exec --bod|", nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			words := strings.Split(strings.TrimSuffix(tt.line, "|"), " ")
			var got []string
			for _, c := range r.complete(r.newApp(), words) {
				v, _, _ := strings.Cut(c, "\t")
				got = append(got, v)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("complete(%q) = %q, want %q", words, got, tt.want)
			}
		})
	}
}

func TestCompletionQuietWithoutConfig(t *testing.T) {
	env, _, _ := helpTestEnv(t, map[string]string{"MAILOUT_CONFIG": "/nonexistent/config.toml"})
	r := &runner{env: env}
	for _, line := range []string{"mailout profile show ", "mailout queue delete ", "mailout -P "} {
		if got := r.complete(r.newApp(), strings.Split(line, " ")); len(got) != 0 {
			t.Errorf("complete(%q) = %q, want nothing", line, got)
		}
	}
	if _, err := os.Stat(r.queueDir(nil)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("completing queue IDs created the queue folder %s (%v)", r.queueDir(nil), err)
	}
}

func TestJoinEquals(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"mailout", "--tls", "=", "st"}, []string{"mailout", "--tls=st"}},
		{[]string{"mailout", "--tls", "="}, []string{"mailout", "--tls="}},
		{[]string{"mailout", "--var", "=", "a", "x"}, []string{"mailout", "--var=a", "x"}},
		{[]string{"mailout", "=", "x"}, []string{"mailout", "=", "x"}},
		{[]string{"mailout", "--var=a", "=", "b"}, []string{"mailout", "--var=a", "=", "b"}},
	}
	for _, tt := range tests {
		if got := joinEquals(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("joinEquals(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzComplete: any command line completes without a panic, and every
// candidate is one line, so the shells can split the answer.
func FuzzComplete(f *testing.F) {
	for _, s := range []string{"mailout qu", "mailout --tls = st", "mailout exec -- ", "mailout --profile=", "mailout = =", "mailout -P"} {
		f.Add(s)
	}
	env, _, _ := helpTestEnv(f, map[string]string{"MAILOUT_CONFIG": "/nonexistent/config.toml"})
	r := &runner{env: env}
	app := r.newApp()
	f.Fuzz(func(t *testing.T, line string) {
		for _, c := range r.complete(app, strings.Split(line, " ")) {
			if strings.ContainsAny(c, "\n\r") {
				t.Errorf("complete(%q) gave a candidate with a line break: %q", line, c)
			}
		}
	})
}

// FuzzRoffLine: escaped text never starts a request and stays ASCII.
func FuzzRoffLine(f *testing.F) {
	for _, s := range []string{".TH", "'x", `\fB`, "a-b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := roffLine(s)
		if strings.HasPrefix(got, ".") || strings.HasPrefix(got, "'") {
			t.Errorf("roffLine(%q) = %q starts a request", s, got)
		}
		for _, c := range got {
			if c > 126 {
				t.Errorf("roffLine(%q) = %q holds non-ASCII %q", s, got, c)
			}
		}
	})
}

// memKeyring is an in-memory keyring for Envs in tests; the real Secret
// Service is exercised by the profile_keyring script.
type memKeyring struct {
	mu sync.Mutex
	m  map[string]string
}

func (k *memKeyring) Get(service, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.m[service+"\x00"+user]; ok {
		return s, nil
	}
	return "", profiles.ErrNotFound
}

func (k *memKeyring) Set(service, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]string{}
	}
	k.m[service+"\x00"+user] = secret
	return nil
}

func (k *memKeyring) Delete(service, user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.m[service+"\x00"+user]; !ok {
		return profiles.ErrNotFound
	}
	delete(k.m, service+"\x00"+user)
	return nil
}

// testKeyring gives an Env a fresh in-memory keyring.
func testKeyring() func() profiles.Keyring {
	k := &memKeyring{}
	return func() profiles.Keyring { return k }
}
