package cmd

import (
	"crypto/rand"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"golang.org/x/term"

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
	Rand                io.Reader
	// Hostname returns this machine's fully qualified name.
	Hostname func() string
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
		Rand:        rand.Reader,
		Hostname:    fqdn,
		LoginName:   loginName,
		UID:         os.Getuid(),
		OpenTTY:     func() (*os.File, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) },
		Executable:  os.Executable,
		Keyring:     func() profiles.Keyring { return profiles.SystemKeyring(os.Getenv, os.Getuid()) },
		Syslog:      writeSyslog,
		OpenBrowser: openBrowser,
	}
}

func loginName() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// fqdn returns the host name, qualified through /etc/hosts or DNS when the
// kernel's name has no dot.
func fqdn() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
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
	return h
}
