package profiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"mailout/internal/text"
)

// DefaultCommandTimeout bounds a password_command.
const DefaultCommandTimeout = 10 * time.Second

// Secrets looks up profile passwords. A profile has exactly one secret
// source, and a failure never falls through to another:
//
//   - password_command: run with "/bin/sh -c", standard input from /dev/null
//     (in sendmail mode the caller's standard input is the message), the
//     environment of this process, its own process group, killed whole after
//     Timeout; the password is the first line of its standard output;
//   - password_env: the named environment variable, which must be set and
//     non-empty;
//   - otherwise the keyring, service [KeyringService], user = profile name.
//
// A failure is a [*SecretError] (exit 78), which wraps [ErrNotFound] or
// [ErrNoKeyring] for the keyring. A password_command whose program is
// writable by group or others, or owned by another user who is not root, is
// refused with a [*ConfigError] (exit 78). When ctx is cancelled, Lookup
// returns an error that matches ctx.Err() and is neither of those.
type Secrets struct {
	Getenv   func(string) string               // nil: os.Getenv
	Keyring  Keyring                           // nil: every keyring lookup fails with ErrNoKeyring
	Timeout  time.Duration                     // password_command limit; 0: DefaultCommandTimeout
	LookPath func(file string) (string, error) // finds a password_command's program; nil: exec.LookPath
}

// Source describes where p's password comes from, for `profile show` and
// error messages: `password_command "pass show x"`, `env $SMTP_PASSWORD` or
// `keyring (service mailout, user work)`.
func (s *Secrets) Source(p *Profile) string {
	switch {
	case p.PasswordCommand != "":
		return fmt.Sprintf("password_command %q", p.PasswordCommand)
	case p.PasswordEnv != "":
		return "env $" + p.PasswordEnv
	}
	return fmt.Sprintf("keyring (service %s, user %s)", KeyringService, p.Name)
}

// Lookup returns p's password from its one source.
func (s *Secrets) Lookup(ctx context.Context, p *Profile) (string, error) {
	switch {
	case p.PasswordCommand != "":
		return s.command(ctx, p)
	case p.PasswordEnv != "":
		getenv := s.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if v := getenv(p.PasswordEnv); v != "" {
			return v, nil
		}
		return "", s.fail(p, fmt.Errorf("environment variable %s is not set or empty", p.PasswordEnv))
	}
	if s.Keyring == nil {
		return "", s.fail(p, ErrNoKeyring)
	}
	v, err := s.Keyring.Get(KeyringService, p.Name)
	if err != nil {
		return "", s.fail(p, err)
	}
	if v == "" {
		return "", s.fail(p, errors.New("the stored password is empty"))
	}
	return v, nil
}

// ClientSecret returns p's OAuth client secret from oauth_client_secret_command
// (run as a password_command is, with the same timeout and refusals) or
// oauth_client_secret_env. Its errors name those keys, never password_*.
func (s *Secrets) ClientSecret(ctx context.Context, p *Profile) (string, error) {
	if p.OAuthClientSecretCommand == "" && p.OAuthClientSecretEnv == "" {
		return "", p.errorAt("oauth", "no client secret: set oauth_client_secret_command or oauth_client_secret_env")
	}
	q := *p
	q.PasswordCommand, q.PasswordEnv = p.OAuthClientSecretCommand, p.OAuthClientSecretEnv
	v, err := s.Lookup(ctx, &q)
	var (
		se *SecretError
		ce *ConfigError
	)
	switch {
	case errors.As(err, &se):
		se.Source = strings.Replace(se.Source, "password_command", "oauth_client_secret_command", 1)
	case errors.As(err, &ce):
		return "", p.errorAt("oauth_client_secret_command", ce.Msg)
	}
	return v, err
}

// SetPassword stores secret in the keyring for p. It refuses, with a
// [*ConfigError], a profile that takes its password from password_command or
// password_env, or signs in with OAuth, where a stored password would never
// be used.
func (s *Secrets) SetPassword(p *Profile, secret string) error {
	if err := s.usesKeyring(p); err != nil {
		return err
	}
	if s.Keyring == nil {
		return s.fail(p, ErrNoKeyring)
	}
	if err := s.Keyring.Set(KeyringService, p.Name, secret); err != nil {
		return s.fail(p, err)
	}
	return nil
}

// DeletePassword removes p's password from the keyring. Its error matches
// [ErrNotFound] when there was none.
func (s *Secrets) DeletePassword(p *Profile) error {
	if s.Keyring == nil {
		return s.fail(p, ErrNoKeyring)
	}
	if err := s.Keyring.Delete(KeyringService, p.Name); err != nil {
		return s.fail(p, err)
	}
	return nil
}

func (s *Secrets) usesKeyring(p *Profile) error {
	if p.OAuth != "" {
		return p.errorAt("oauth", fmt.Sprintf("profile %q signs in with OAuth and takes no password; run 'mailout profile login %s'", p.Name, p.Name))
	}
	key := "password_env"
	switch {
	case p.PasswordCommand != "":
		key = "password_command"
	case p.PasswordEnv == "":
		return nil
	}
	return p.errorAt(key, fmt.Sprintf("profile %q takes its password from %s, not from the keyring; remove %s to use the keyring",
		p.Name, s.Source(p), key))
}

func (s *Secrets) fail(p *Profile, err error) error {
	return &SecretError{Profile: p.Name, Source: s.Source(p), Err: err}
}

func (s *Secrets) command(ctx context.Context, p *Profile) (string, error) {
	if err := s.checkProgram(p); err != nil {
		return "", err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(cctx, "/bin/sh", "-c", p.PasswordCommand)
	// Stdin stays nil: the child reads /dev/null, never our standard input.
	stdout := &capBuffer{max: 64 << 10}
	stderr := &capBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	ownProcessGroup(cmd)            // on timeout the whole group is killed
	cmd.WaitDelay = 2 * time.Second // a background child holding stdout open
	err := cmd.Run()
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		if ctx.Err() != nil {
			return "", fmt.Errorf("profile %q: password_command: %w", p.Name, ctx.Err())
		}
		msg := err.Error()
		if cctx.Err() != nil {
			msg = fmt.Sprintf("no answer within %v", timeout)
		}
		if e := text.Truncate(text.JoinLines(stderr.String(), "; "), 300); e != "" {
			msg += ": " + e
		}
		return "", s.fail(p, errors.New(msg))
	}
	line, _, _ := strings.Cut(stdout.String(), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", s.fail(p, errors.New("the command printed no password on its first line"))
	}
	return line, nil
}

// checkProgram refuses a password_command whose program others could change.
func (s *Secrets) checkProgram(p *Profile) error {
	fields := strings.Fields(p.PasswordCommand)
	if len(fields) == 0 {
		return nil
	}
	prog := fields[0]
	if !filepath.IsAbs(prog) {
		if strings.ContainsAny(prog, "/=$`\"'\\;&|<>(){}") {
			return nil // a relative path, an assignment or shell syntax: nothing to look up
		}
		lookPath := s.LookPath
		if lookPath == nil {
			lookPath = exec.LookPath
		}
		found, err := lookPath(prog)
		if err != nil || !filepath.IsAbs(found) {
			return nil // a shell builtin, or not found: the shell reports it
		}
		prog = found
	}
	fi, err := os.Stat(prog)
	if err != nil {
		return nil
	}
	if msg := unsafeFile(fi); msg != "" {
		return p.errorAt("password_command", fmt.Sprintf("program %s %s; refusing to run it (fix with chmod go-w or chown)", prog, msg))
	}
	return nil
}

// capBuffer keeps the first max bytes written and drops the rest, so a
// chatty child neither fills memory nor gets EPIPE.
type capBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *capBuffer) String() string { return b.buf.String() }
