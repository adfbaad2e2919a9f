package profiles

import (
	"errors"
	"fmt"
	"strings"
)

// ConfigError is a problem with the configuration: a syntax error, an unknown
// key, a value of the wrong type or out of range, an unsafe file mode, or a
// profile that cannot be chosen. The caller maps it to exit code 78
// (EX_CONFIG).
//
// Its text is "FILE:LINE: KEY: MSG"; parts that are unknown are left out, as
// in "FILE: MSG" or just "MSG".
type ConfigError struct {
	File string // the file at fault ("" when there is none)
	Line int    // 1-based line in File, 0 when not known
	Key  string // dotted TOML key such as "profiles.work.port", or ""
	Msg  string // what is wrong, lower case, no final period
	Err  error  // underlying error, if any (for errors.Is)
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// IsConfigError reports whether err is or wraps a [*ConfigError].
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// SecretError is a failure to obtain a profile's password from its one
// secret source: password_command failed or timed out, password_env names
// an unset variable, or the keyring has no entry ([ErrNotFound]) or cannot be
// reached ([ErrNoKeyring]). The caller maps it to exit code 78 ("no usable
// secret"). It never contains the secret nor the command's standard output.
type SecretError struct {
	Profile string // profile name
	Source  string // as returned by [Secrets.Source]
	Err     error
}

func (e *SecretError) Error() string {
	return fmt.Sprintf("profile %q: %s: %v", e.Profile, e.Source, e.Err)
}

func (e *SecretError) Unwrap() error { return e.Err }

// IsSecretError reports whether err is or wraps a [*SecretError].
func IsSecretError(err error) bool {
	var se *SecretError
	return errors.As(err, &se)
}
