package profiles

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/zalando/go-keyring"
)

// KeyringService is the keyring service under which passwords are stored;
// the user is the profile name. On Linux:
//
//	secret-tool lookup service mailout username work
const KeyringService = "mailout"

// KeyringTimeout bounds every call of the [SystemKeyring]: a locked keyring
// may wait for a GUI prompt that nobody answers (cron, SSH).
const KeyringTimeout = 5 * time.Second

// Keyring stores secrets by service and user.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

var (
	// ErrNotFound means the keyring holds no secret for that service and user.
	ErrNotFound = errors.New("no password stored")

	// ErrNoKeyring means no keyring could be reached or it did not answer in
	// time. Errors of the SystemKeyring that match it with errors.Is give
	// the reason in their text.
	ErrNoKeyring = errors.New("no keyring reachable; set password_command or password_env in the profile")
)

// unreachable is an ErrNoKeyring with its reason.
type unreachable struct{ reason string }

func (e *unreachable) Error() string {
	return "no keyring reachable (" + e.reason + "); set password_command or password_env in the profile"
}

func (e *unreachable) Is(target error) bool { return target == ErrNoKeyring }

// Reason says why no keyring was reachable, without the advice for
// passwords: callers with other advice (OAuth tokens) give their own.
func (e *unreachable) Reason() string { return e.reason }

// SystemKeyring returns the operating system's keyring (Secret Service over
// D-Bus on Linux and the BSDs, Keychain on macOS, Credential Manager on
// Windows) through go-keyring. Every call gives up after [KeyringTimeout].
// Errors match [ErrNotFound] or [ErrNoKeyring] with errors.Is.
//
// On Linux and the BSDs, when DBUS_SESSION_BUS_ADDRESS is unset and
// /run/user/UID/bus does not exist, it returns a keyring whose every call
// fails at once with ErrNoKeyring: go-keyring would otherwise run
// dbus-launch, which starts a dbus-daemon and a gnome-keyring-daemon on each
// call and leaves them running. getenv must read the process environment
// (usually os.Getenv), since go-keyring reads it too; uid is os.Getuid().
func SystemKeyring(getenv func(string) string, uid int) Keyring {
	if reason := missingBus(runtime.GOOS, getenv, uid); reason != "" {
		return noKeyring{reason: reason}
	}
	return &timeoutKeyring{inner: goKeyring{}, timeout: KeyringTimeout}
}

// missingBus says why no session bus can be found without autolaunching one,
// or returns "".
func missingBus(goos string, getenv func(string) string, uid int) string {
	switch goos {
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
	default:
		return ""
	}
	if a := getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return ""
	}
	for _, f := range []string{"bus", "dbus-session"} { // the two files godbus looks for
		if _, err := os.Stat(fmt.Sprintf("/run/user/%d/%s", uid, f)); err == nil {
			return ""
		}
	}
	return fmt.Sprintf("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is unset and /run/user/%d/bus does not exist", uid)
}

// noKeyring fails every call with ErrNoKeyring.
type noKeyring struct{ reason string }

func (k noKeyring) Get(string, string) (string, error) { return "", &unreachable{k.reason} }
func (k noKeyring) Set(string, string, string) error   { return &unreachable{k.reason} }
func (k noKeyring) Delete(string, string) error        { return &unreachable{k.reason} }

// goKeyring is go-keyring's package-level API as a Keyring.
type goKeyring struct{}

func (goKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (goKeyring) Set(service, user, secret string) error   { return keyring.Set(service, user, secret) }
func (goKeyring) Delete(service, user string) error        { return keyring.Delete(service, user) }

// timeoutKeyring bounds each call of inner and classifies its errors. A call
// that times out goes on in its goroutine; its result is dropped.
type timeoutKeyring struct {
	inner   Keyring
	timeout time.Duration
}

func (k *timeoutKeyring) call(f func() (string, error)) (string, error) {
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	t := time.NewTimer(k.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.v, classifyKeyringError(r.err)
	case <-t.C:
		return "", &unreachable{fmt.Sprintf("the keyring did not answer within %v; is it locked and waiting for a prompt?", k.timeout)}
	}
}

func (k *timeoutKeyring) Get(service, user string) (string, error) {
	return k.call(func() (string, error) { return k.inner.Get(service, user) })
}

func (k *timeoutKeyring) Set(service, user, secret string) error {
	_, err := k.call(func() (string, error) { return "", k.inner.Set(service, user, secret) })
	return err
}

func (k *timeoutKeyring) Delete(service, user string) error {
	_, err := k.call(func() (string, error) { return "", k.inner.Delete(service, user) })
	return err
}

func classifyKeyringError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound), errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return errors.New("the password is too long for the keyring")
	case errors.Is(err, ErrNoKeyring):
		return err
	}
	return &unreachable{err.Error()}
}
