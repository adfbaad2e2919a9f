package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"mailout/profiles"
)

// KeyringService is the keyring service under which [KeyringStore] keeps
// a profile's tokens; the user is the profile name.
const KeyringService = "mailout-oauth"

// ErrNoToken means the store holds nothing: the profile is not logged in.
var ErrNoToken = errors.New("not logged in")

// Record is what a [Store] keeps for one profile.
type Record struct {
	RefreshToken string    `json:"refresh_token,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"` // of AccessToken
}

// Store keeps one profile's [Record]. Load and Delete return an error
// matching [ErrNoToken] when there is none.
type Store interface {
	Load() (Record, error)
	Save(Record) error
	Delete() error
	// String says where the record lives, for messages: never its content.
	String() string
}

// FileStore keeps the record as JSON in a file of its own (oauth_token_file).
// The file is written atomically with mode 0600, and a file that group or
// others can read or write is refused, so a token never sits readable by
// others.
type FileStore struct {
	Path string
}

func (s *FileStore) String() string { return "file " + s.Path }

// Load reads the record.
func (s *FileStore) Load() (Record, error) {
	f, err := os.Open(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, ErrNoToken
	}
	if err != nil {
		return Record{}, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Record{}, fmt.Errorf("token file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Record{}, fmt.Errorf("token file %s is accessible by group or others (mode %04o); refusing to use it (fix with chmod 600)", s.Path, perm)
	}
	var r Record
	if err := json.NewDecoder(f).Decode(&r); err != nil {
		return Record{}, fmt.Errorf("token file %s is not a mailout token file: %v", s.Path, err)
	}
	return r, nil
}

// Save replaces the file with r: a temporary file in the same folder,
// synced, then renamed over it, so a crash leaves the old record or the new
// one and never half of either.
func (s *FileStore) Save(r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(s.Path)+".*")
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if err := os.Rename(tmp, s.Path); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Delete removes the file.
func (s *FileStore) Delete() error {
	err := os.Remove(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoToken
	}
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	return nil
}

// KeyringStore keeps the record as JSON in the OS keyring, service
// [KeyringService], user = the profile name. Use it with
// [profiles.SystemKeyring], which bounds every call and never autolaunches
// a session bus.
type KeyringStore struct {
	Keyring profiles.Keyring
	User    string
}

func (s *KeyringStore) String() string {
	return fmt.Sprintf("keyring (service %s, user %s)", KeyringService, s.User)
}

// Load reads the record.
func (s *KeyringStore) Load() (Record, error) {
	v, err := s.Keyring.Get(KeyringService, s.User)
	if err != nil {
		return Record{}, s.keyringError(err)
	}
	var r Record
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return Record{}, fmt.Errorf("the keyring entry (service %s, user %s) is not a mailout token record", KeyringService, s.User)
	}
	return r, nil
}

// Save stores r.
func (s *KeyringStore) Save(r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.Keyring.Set(KeyringService, s.User, string(data)); err != nil {
		return s.keyringError(err)
	}
	return nil
}

// Delete removes the record.
func (s *KeyringStore) Delete() error {
	if err := s.Keyring.Delete(KeyringService, s.User); err != nil {
		return s.keyringError(err)
	}
	return nil
}

func (s *KeyringStore) keyringError(err error) error {
	if errors.Is(err, profiles.ErrNotFound) {
		return ErrNoToken
	}
	if errors.Is(err, profiles.ErrNoKeyring) {
		reason := err.Error()
		var r interface{ Reason() string }
		if errors.As(err, &r) {
			reason = r.Reason()
		}
		return fmt.Errorf("no keyring reachable (%s); set oauth_token_file in the profile to keep the tokens in a file", reason)
	}
	return fmt.Errorf("keyring: %w", err)
}
