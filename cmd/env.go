package cmd

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"golang.org/x/term"

	"mailout/batch"
	"mailout/delivery"
	"mailout/profiles"
)

// Env is the world a run of mailout sees. SystemEnv fills it from the
// process; tests fill it with buffers and fakes, so every path can be
// driven without touching the real terminal, clock or network.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdinTTY and StderrTTY say whether those streams are terminals.
	StdinTTY, StderrTTY bool
	Getenv              func(string) string
	Environ             func() []string
	Now                 func() time.Time
	// Sleep waits between a batch's retries and for its --rate slots,
	// returning ctx's error when ctx ends first; nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  io.Reader
	// Hostname returns this machine's name, fully qualified when the
	// system knows how (see FQDN), else the bare kernel name.
	Hostname func() string
	// FQDN returns this machine's fully qualified domain name, or "" when
	// the system knows none (then EHLO gives an address literal). Nil
	// means none.
	FQDN func() string
	// LoginName returns the passwd name of the user (never $USER, which
	// cron leaves unset).
	LoginName func() (string, error)
	UID       int
	// OpenTTY opens the controlling terminal for password prompts.
	OpenTTY func() (*os.File, error)
	// Executable is this program's path, for the detached queue drain.
	Executable func() (string, error)
	// Keyring opens the OS keyring; it is called only when a secret is
	// needed, so a send without AUTH never touches D-Bus.
	Keyring func() profiles.Keyring
	// Syslog writes one line to the system log (config log = "syslog").
	Syslog func(line string) error
	// OpenBrowser shows a URL in a browser (profile login --browser); it
	// is called only when DISPLAY or WAYLAND_DISPLAY is set.
	OpenBrowser func(url string) error
	// TXT answers the SPF lookup of "profile test" for API profiles,
	// which have no resolver key; nil means the system's resolver.
	TXT delivery.TXTResolver
}

// SystemEnv returns the Env of the running process.
func SystemEnv() *Env {
	return &Env{
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		StdinTTY:    term.IsTerminal(int(os.Stdin.Fd())),
		StderrTTY:   term.IsTerminal(int(os.Stderr.Fd())),
		Getenv:      os.Getenv,
		Environ:     os.Environ,
		Now:         time.Now,
		Sleep:       batch.Sleep,
		Rand:        rand.Reader,
		Hostname:    hostname,
		FQDN:        fqdn,
		LoginName:   loginName,
		UID:         os.Getuid(),
		OpenTTY:     func() (*os.File, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) },
		Executable:  os.Executable,
		Keyring:     func() profiles.Keyring { return profiles.SystemKeyring(os.Getenv, os.Getuid()) },
		Syslog:      writeSyslog,
		OpenBrowser: openBrowser,
	}
}

// heloName is the EHLO name: the configured one, else this host's FQDN,
// else "" for delivery's address literal of the local end ("[192.0.2.1]"),
// because relays refuse a bare hostname (Postfix's
// reject_non_fqdn_helo_hostname).
func (r *runner) heloName(configured string) string {
	if configured != "" || r.env.FQDN == nil {
		return configured
	}
	return r.env.FQDN()
}

// shownHelo is what an unset helo stands for in `profile show`.
func (r *runner) shownHelo() string {
	if h := r.heloName(""); h != "" {
		return h
	}
	return "[address of the local end]"
}

func loginName() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// hostname is the FQDN, else the kernel's name, else localhost.
func hostname() string {
	if f := fqdn(); f != "" {
		return f
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// fqdn returns the host name when it has a dot, else the first name in
// /etc/hosts that qualifies it, else "".
func fqdn() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return ""
	}
	if strings.Contains(h, ".") {
		return h
	}
	if b, err := os.ReadFile("/etc/hosts"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			f := strings.Fields(line)
			for _, name := range f[min(1, len(f)):] {
				if name == h {
					for _, cand := range f[1:] {
						if strings.HasPrefix(cand, h+".") {
							return cand
						}
					}
				}
			}
		}
	}
	return ""
}
