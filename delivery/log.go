package delivery

import (
	"fmt"
	"io"
	"strings"
	"sync"

	mlog "github.com/wneessen/go-mail/log"
)

// transcript writes the SMTP conversation for --verbose. go-mail's client
// replaces AUTH payloads with a placeholder before they reach a logger, so
// no secret, plain or base64, is ever written here.
type transcript struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *transcript) line(dir, format string, args ...any) {
	if t == nil || t.w == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if msg == "<SMTP auth data redacted>" || msg == "%!s(MISSING)" {
		msg = "<redacted>"
	}
	// A multi-line reply (EHLO) gets the direction on every line.
	for _, l := range strings.Split(strings.TrimRight(redactAuth(msg), "\n"), "\n") {
		fmt.Fprintf(t.w, "%s %s\n", dir, l)
	}
}

// redactAuth hides the initial response of "AUTH MECH <payload>" as a
// second line of defence.
func redactAuth(s string) string {
	if len(s) > 5 && (s[:5] == "AUTH " || s[:5] == "auth ") {
		for i := 5; i < len(s); i++ {
			if s[i] == ' ' {
				return s[:i] + " <redacted>"
			}
		}
	}
	return s
}

// Note writes an informational line (connect, TLS) into the transcript.
func (t *transcript) note(format string, args ...any) { t.line("*", format, args...) }

type goMailLogger struct{ t *transcript }

func (l goMailLogger) log(entry mlog.Log) {
	dir := "->"
	if entry.Direction == mlog.DirServerToClient {
		dir = "<-"
	}
	l.t.line(dir, entry.Format, entry.Messages...)
}

func (l goMailLogger) Debugf(e mlog.Log) { l.log(e) }
func (l goMailLogger) Infof(e mlog.Log)  { l.log(e) }
func (l goMailLogger) Warnf(e mlog.Log)  { l.log(e) }
func (l goMailLogger) Errorf(e mlog.Log) { l.log(e) }
