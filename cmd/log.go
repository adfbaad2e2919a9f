package cmd

import (
	"fmt"
	"os"
	"strings"
	"time"

	"mailout/delivery"
	"mailout/internal/text"
	"mailout/message"
	"mailout/profiles"
)

// logRecord is one message's line in the log (config key "log").
type logRecord struct {
	profile, transport, from string
	rcpts                    []string
	messageID, queueID       string
	result                   *delivery.Result
	err                      error
}

// logOutcome writes one line per message to syslog or a file: sendmail's
// callers throw stderr away, so this is where an admin finds out what
// happened. Secrets never reach it: errors carry none.
func (r *runner) logOutcome(cfg *profiles.Config, rec logRecord) {
	if cfg == nil || cfg.Log == "" {
		return
	}
	status := "sent"
	switch {
	case rec.queueID != "":
		status = "queued"
	case rec.err != nil:
		status = "failed"
	}
	reply := ""
	if rec.result != nil {
		for _, rr := range rec.result.Recipients {
			if rr.Reply != "" {
				reply = rr.Reply
				break
			}
		}
	}
	if rec.err != nil {
		reply = text.OneLine(rec.err.Error())
	}
	line := fmt.Sprintf("profile=%s from=<%s> to=<%s> message-id=%s status=%s", orDash(rec.profile), rec.from,
		strings.Join(rec.rcpts, ">,<"), orDash(rec.messageID), status)
	if rec.queueID != "" {
		line += " queue-id=" + rec.queueID
	}
	if t := tlsSummary(rec.result); t != "" {
		line += " tls=" + t
	}
	if rec.result != nil {
		// A testing policy's finding: for sendmail's callers the log is
		// the only place it is reported.
		for _, rr := range rec.result.Recipients {
			if rr.TLSReport != "" {
				line += fmt.Sprintf(" tls-report=%q", rr.TLSReport)
				break
			}
		}
	}
	line += fmt.Sprintf(" exit=%d reply=%q", exitCode(rec.err), reply)
	r.writeLog(cfg, line)
}

// tlsSummary says how direct delivery protected each domain, e.g.
// "example.org:mta-sts/enforce,example.net:opportunistic"; "" for a relay.
func tlsSummary(res *delivery.Result) string {
	if res == nil {
		return ""
	}
	var parts []string
	seen := map[string]bool{}
	for _, rr := range res.Recipients {
		if rr.TLS == "" && rr.MTASTS == "" {
			continue
		}
		s := strings.ToLower(message.Domain(rr.Address)) + ":" + orDash(rr.TLS)
		if rr.MTASTS != "" {
			s += "/" + rr.MTASTS
		}
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// logf writes a free-form line (warnings) to the log.
func (r *runner) logf(cfg *profiles.Config, format string, args ...any) {
	if cfg == nil || cfg.Log == "" {
		return
	}
	r.writeLog(cfg, fmt.Sprintf(format, args...))
}

func (r *runner) writeLog(cfg *profiles.Config, line string) {
	if cfg.Log == "syslog" {
		if err := r.env.Syslog(line); err != nil {
			fmt.Fprintf(r.env.Stderr, "mailout: warning: syslog: %v\n", err)
		}
		return
	}
	f, err := os.OpenFile(cfg.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintf(r.env.Stderr, "mailout: warning: log %s: %v\n", cfg.Log, err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s mailout[%d]: %s\n", r.env.Now().Format(time.RFC3339), os.Getpid(), line)
}
