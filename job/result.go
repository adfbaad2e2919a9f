package job

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"mailout/internal/text"
)

// The values of --when.
const (
	WhenFailure = "failure" // the command failed (the default)
	WhenStderr  = "stderr"  // it failed or wrote to stderr (cronic's rule)
	WhenOutput  = "output"  // it failed or printed anything
	WhenAlways  = "always"  // whatever happened
)

// ParseWhen checks a --when value; empty means WhenFailure.
func ParseWhen(s string) (string, error) {
	switch s {
	case "":
		return WhenFailure, nil
	case WhenFailure, WhenStderr, WhenOutput, WhenAlways:
		return s, nil
	}
	return "", fmt.Errorf("unknown --when %q: use failure, stderr, output or always", s)
}

// Failed reports a non-zero exit, a death by signal, a timeout, or a
// command that could not start.
func (r *Result) Failed() bool {
	return r.ExitCode != 0 || r.Signal != "" || r.TimedOut || r.NotFound ||
		r.NotExecutable || r.StartErr != nil
}

// ShouldMail applies the --when rule to r. Each rule includes the ones
// before it: failure, stderr, output, always; so a command that fails
// silently is mailed under "output" too. An unknown rule is an error, and
// so is "stderr" for a Result of Options.Merge, which did not count stderr.
func ShouldMail(when string, r *Result) (bool, error) {
	when, err := ParseWhen(when)
	if err != nil {
		return false, err
	}
	switch when {
	case WhenStderr:
		if r.Merged {
			return false, errors.New("--when stderr: stderr was not kept apart (Options.Merge)")
		}
		return r.Failed() || r.StderrBytes > 0, nil
	case WhenOutput:
		return r.Failed() || r.OutputBytes > 0, nil
	case WhenAlways:
		return true, nil
	}
	return r.Failed(), nil
}

// Status is how the command ended, in a few words: "exit 3",
// "killed by SIGKILL", "timed out", "command not found", "not executable"
// or "could not start".
func (r *Result) Status() string {
	switch {
	case r.TimedOut:
		return "timed out"
	case r.NotFound:
		return "command not found"
	case r.NotExecutable:
		return "not executable"
	case r.StartErr != nil:
		return "could not start"
	case r.Signal != "":
		return "killed by " + r.Signal
	}
	return fmt.Sprintf("exit %d", r.ExitCode)
}

// subjectMax is the length, in characters, that Subject keeps to.
const subjectMax = 120

// Subject is the default subject of the mail: "[host] cmd arg1 arg2: exit 3"
// (or ": killed by SIGKILL", ": timed out", ...; see [Result.Status]). The
// command line is shell-quoted, its control characters become spaces, and
// a long one is cut with "…" so that the subject stays within about 120
// characters. An empty host leaves out the brackets.
func (r *Result) Subject(host string) string {
	prefix := ""
	if host != "" {
		prefix = "[" + text.OneLine(host) + "] "
	}
	suffix := ": " + r.Status()
	room := max(subjectMax-utf8.RuneCountInString(prefix)-utf8.RuneCountInString(suffix), 20)
	line := text.OneLine(shellJoin(r.Args))
	if utf8.RuneCountInString(line) > room && len(r.Args) > 0 {
		// A long path to the command says less than its arguments.
		args := append([]string{baseName(r.Args[0])}, r.Args[1:]...)
		line = text.OneLine(shellJoin(args))
	}
	return prefix + shorten(line, room) + suffix
}

// Body is the text of the mail: the command line (shell-quoted), the start
// time (RFC 3339), the duration, the exit status, how much was printed,
// then a blank line and the output. Invalid UTF-8 in the output is replaced
// with U+FFFD, since the body is text.
func (r *Result) Body() string {
	var b strings.Builder
	field := func(name, format string, a ...any) {
		fmt.Fprintf(&b, "%-10s%s\n", name+":", fmt.Sprintf(format, a...))
	}
	field("Command", "%s", shellJoin(r.Args))
	field("Started", "%s", r.Start.Format(time.RFC3339))
	field("Duration", "%s", roundDuration(r.Duration))
	field("Status", "%s", r.statusDetail())
	if r.StartErr != nil {
		field("Error", "%s", text.OneLine(r.StartErr.Error()))
	}
	out := fmt.Sprintf("%d bytes", r.OutputBytes)
	if !r.Merged {
		out += fmt.Sprintf(", %d on stderr", r.StderrBytes)
	}
	if r.Dropped > 0 {
		out += fmt.Sprintf(", %d dropped from the middle", r.Dropped)
	}
	field("Output", "%s", out)
	b.WriteString("\n")
	if len(r.Output) == 0 {
		b.WriteString("(no output)\n")
		return b.String()
	}
	b.WriteString(strings.ToValidUTF8(string(r.Output), "\uFFFD"))
	if r.Output[len(r.Output)-1] != '\n' {
		b.WriteString("\n")
	}
	return b.String()
}

// statusDetail is Status with the exit code and, for a timeout, the limit
// and how the command then ended.
func (r *Result) statusDetail() string {
	switch {
	case r.TimedOut:
		s := "timed out after " + r.Timeout.String()
		if r.Signal != "" {
			s += ", killed by " + r.Signal
		}
		return fmt.Sprintf("%s (exit %d)", s, r.ExitCode)
	case r.Signal != "" && r.StartErr == nil:
		return fmt.Sprintf("killed by %s (exit %d)", r.Signal, r.ExitCode)
	case r.NotFound, r.NotExecutable, r.StartErr != nil:
		return fmt.Sprintf("%s (exit %d)", r.Status(), r.ExitCode)
	}
	return r.Status()
}

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// shellJoin quotes args for a POSIX shell, only where needed.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c >= '0' && c <= '9' || strings.ContainsRune("@%+=:,./_-", c))) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shorten cuts s to n characters, the last of them "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	return strings.TrimRight(string(r), " ") + "…"
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 && i < len(p)-1 {
		return p[i+1:]
	}
	return p
}
