// Package spool keeps messages that could not be delivered yet, durably, until a flush
// delivers them or gives up on them.
//
// The queue itself knows nothing of how a message was made or how it is delivered:
// [Spool.Put] stores bytes from any [io.WriterTo], and [Spool.Flush] hands them to a
// [DeliverFunc]. What a delivery means for an entry is the spool's policy all the same, so
// it lives here too: [DeliverVia] makes the DeliverFunc of a flush from delivery transports
// ([OutcomeOf] reads their results), [Entry.HonorRetryAfter] lets a server delay a new
// entry, and [BounceMessage] composes what an expired entry's sender is told.
//
// # Layout
//
// Every user has a folder of their own, queue_dir/<uid> (mode 0700, owned by that uid),
// holding for each entry two files (mode 0600):
//
//	<id>.msg       the message bytes, written once and never changed
//	<id>.env       the envelope, JSON: sender, pending recipients, route (transport,
//	               profile, ad-hoc server), created, next attempt, attempts, last error, size
//	expired/<id>.json   an entry given up on after max_queue_age (a tombstone, see below)
//	flush.lock     held by the detached drain ([Spool.TryLockFlush])
//	.tmp-*         a write in progress (or killed): ignored, removed after an hour
//
// queue_dir itself is created with mode 0755 when missing. A queue_dir shared by several
// users (such as /var/spool/mailout) must be created by the administrator with mode 1777,
// like /tmp; a queue_dir that others can write without the sticky bit is refused, and so is
// a user folder that is not a directory, is owned by another uid, or grants any access to
// group or others.
//
// # Crash safety
//
// Every file is written to a temporary name, synced, renamed into place, and the folder is
// synced. The message file is renamed first, the envelope last: an entry exists once its
// envelope does, so a reader never sees a partial entry. A message file without an envelope
// is a write that was killed; it is ignored, and removed once it is an hour old. Updates
// replace the envelope the same way; removal deletes the envelope first.
//
// # Locking
//
// A flush works on an entry only while it holds an exclusive flock(2) on the entry's
// message file, which is never replaced, and it reads the envelope again after taking the
// lock. Two flushes, in one process or in two, therefore never deliver an entry twice: the
// second one skips the entry while the first holds it (counted in [FlushReport.Locked]), and
// afterwards sees only the recipients still pending. The kernel drops the lock when a
// process dies, so a crashed flush leaves no stale lock behind.
//
// # Expired entries
//
// When an entry is older than [FlushOptions.MaxAge], a flush gives up on it: it calls
// [FlushOptions.Bounce] once (never for an entry with the null sender, so bounces cannot
// loop), writes a tombstone to expired/<id>.json and removes the entry. [Spool.List] reports
// each tombstone as an [*ExpiredError]; [Spool.Flush] reports them too and then removes the
// tombstones it reported, unless [FlushOptions.KeepExpired] is set (for a detached flush
// whose report nobody reads).
package spool

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailout/message"
)

// Errors returned by the spool. Compare with [errors.Is].
var (
	// ErrNotFound means there is no queue entry with the given id.
	ErrNotFound = errors.New("spool: no such queue entry")
	// ErrLocked means another process (or goroutine) holds the lock: a flush is delivering
	// the entry, or (from [Spool.TryLockFlush]) a flush is already running.
	ErrLocked = errors.New("spool: locked by a running flush")
	// ErrUnsafe means the queue folder could be read or changed by other users.
	ErrUnsafe = errors.New("spool: unsafe queue folder")
	// ErrUnsupported means the platform lacks the file locking the spool relies on.
	ErrUnsupported = errors.New("spool: not supported on this platform")
)

// Entry is one queued message: its envelope and delivery state.
type Entry struct {
	// ID names the entry: sortable by creation time and unique ("20250102T150405-0123456789ab").
	// Assigned by [Spool.Put]; ignored when passed to it.
	ID string
	// Sender is the envelope sender (MAIL FROM); "" is the null sender <>.
	Sender string
	// Recipients are the recipients still pending; never empty for a stored entry.
	Recipients []string
	// Route is how the message was first sent, and is to be sent again.
	Route Route
	// Created is when the message was first queued; expiry is measured from it.
	// [Spool.Put] uses the spool's clock when it is zero.
	Created time.Time
	// NextAttempt is when the back-off has passed. [Spool.Put] uses
	// Created+[Backoff](Attempts) when it is zero.
	NextAttempt time.Time
	// Attempts counts the delivery attempts made so far, including the one that led to
	// queueing the message.
	Attempts int
	// LastError is the last temporary failure, for "queue list".
	LastError string
	// Size is the size of the message in bytes. Set by [Spool.Put].
	Size int64
	// DSN is the sender's delivery status notification request (sendmail
	// -N, -R, -V), asked again at every attempt.
	DSN message.DSN
}

// Route records how an entry is to be delivered: the way its first
// attempt took, so a flush takes the same one. It holds no secret.
type Route struct {
	Transport string `json:"transport,omitempty"` // smtp, mx, or an API transport
	Profile   string `json:"profile,omitempty"`   // the profile sent through; "" for none
	Server    string `json:"server,omitempty"`    // an ad-hoc relay's HOST[:PORT] (--server)
	TLS       string `json:"tls,omitempty"`       // the ad-hoc relay's TLS mode
	User      string `json:"user,omitempty"`      // the ad-hoc relay's username
}

// legacyServer prefixed an ad-hoc relay in the transport field of
// envelopes written before routes: "server=HOST MODE".
const legacyServer = "server="

// legacyRoute reads the profile and transport fields of an envelope
// written before routes.
func legacyRoute(profile, transport string) Route {
	if rest, ok := strings.CutPrefix(transport, legacyServer); ok {
		server, mode, _ := strings.Cut(rest, " ")
		return Route{Transport: "smtp", Server: server, TLS: mode}
	}
	return Route{Transport: transport, Profile: profile}
}

// BadEntryError reports a file in the queue folder that is not a valid entry: an envelope
// that cannot be parsed, an envelope without its message file, or an unknown file. The
// spool never deletes such a file; "queue delete ID" or the user does.
type BadEntryError struct {
	File string // the full path
	Err  error
}

func (e *BadEntryError) Error() string { return fmt.Sprintf("queue file %s: %v", e.File, e.Err) }
func (e *BadEntryError) Unwrap() error { return e.Err }

// ExpiredError reports an entry that a flush gave up on after max_queue_age.
type ExpiredError struct {
	Entry       Entry     // the entry as it was when given up, with the recipients never reached
	At          time.Time // when it was given up
	Bounced     bool      // a bounce went to the sender
	BounceError string    // why the bounce failed, when it did ("" if it was sent or not attempted)
}

func (e *ExpiredError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "queue entry %s: gave up after %s for %s", e.Entry.ID, roundDuration(e.At.Sub(e.Entry.Created)), strings.Join(e.Entry.Recipients, ", "))
	if e.Entry.LastError != "" {
		fmt.Fprintf(&b, " (last error: %s)", e.Entry.LastError)
	}
	switch {
	case e.Bounced:
		fmt.Fprintf(&b, "; bounce sent to %s", e.Entry.Sender)
	case e.BounceError != "":
		fmt.Fprintf(&b, "; bounce to %s failed: %s", e.Entry.Sender, e.BounceError)
	}
	return b.String()
}

// Backoff is the wait after the given number of failed attempts before the next one:
// 1m after the first, then doubling (2m, 4m, 8m, ...), capped at 4h. It is 0 for attempts <= 0.
func Backoff(attempts int) time.Duration {
	const first, limit = time.Minute, 4 * time.Hour
	if attempts <= 0 {
		return 0
	}
	if attempts > 9 { // 1m<<8 = 256m is already past the cap
		return limit
	}
	return min(first<<(attempts-1), limit)
}

// Spool is one user's queue folder. Its methods may be called from several goroutines, and
// several processes may use the same folder at once.
type Spool struct {
	root string // queue_dir
	dir  string // queue_dir/<uid>
	uid  int
	now  func() time.Time
	f    *folder // its Puts' group commit (commit.go)
}

const (
	msgExt       = ".msg"
	envExt       = ".env"
	tmpPrefix    = ".tmp-"
	expiredDir   = "expired"
	flushLock    = "flush.lock"
	staleAfter   = time.Hour // an incomplete write older than this is removed
	envVersion   = 1
	bufferSize   = 64 << 10
	dirMode      = 0o700
	fileMode     = 0o600
	rootDirMode  = 0o755
	idTimeLayout = "20060102T150405"
	idRandBytes  = 6
)

// Open returns the spool of user uid under queueDir. now is the clock (nil: [time.Now]).
//
// Open creates queueDir (mode 0755) when it is missing, but not the user's folder: that is
// created on the first [Spool.Put], so listing or flushing an empty spool writes nothing.
// It refuses (with [ErrUnsafe]) a queueDir that others may write without the sticky bit, and
// a user folder that is not a directory, belongs to another uid or grants group or other
// users any access.
func Open(queueDir string, uid int, now func() time.Time) (*Spool, error) {
	if err := platformSupported(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if queueDir == "" {
		return nil, errors.New("spool: empty queue folder name")
	}
	s := &Spool{root: queueDir, dir: filepath.Join(queueDir, strconv.Itoa(uid)), uid: uid, now: now}
	s.f = newFolder()
	fi, err := os.Stat(queueDir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(queueDir, rootDirMode); err != nil {
			return nil, fmt.Errorf("create queue folder: %w", err)
		}
		if err := os.Chmod(queueDir, rootDirMode); err != nil { // whatever the umask
			return nil, fmt.Errorf("create queue folder: %w", err)
		}
		fi, err = os.Stat(queueDir)
	}
	if err != nil {
		return nil, fmt.Errorf("open queue folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open queue folder %s: not a directory", queueDir)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return nil, fmt.Errorf("%w %s: mode %04o lets other users replace its folders; make it 1777 (chmod 1777 %s) or private",
			ErrUnsafe, queueDir, fi.Mode().Perm(), queueDir)
	}
	if _, err := s.checkDir(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir is the user's queue folder, queue_dir/<uid>.
func (s *Spool) Dir() string { return s.dir }

// checkDir reports whether the user's folder exists, and refuses an unsafe one.
func (s *Spool) checkDir() (exists bool, err error) {
	fi, err := os.Lstat(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open queue folder: %w", err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%w %s: not a directory", ErrUnsafe, s.dir)
	}
	if owner, ok := FileOwner(fi); ok && owner != s.uid {
		return false, fmt.Errorf("%w %s: owned by uid %d, not %d", ErrUnsafe, s.dir, owner, s.uid)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return false, fmt.Errorf("%w %s: mode %04o gives other users access; run chmod 700 %s", ErrUnsafe, s.dir, perm, s.dir)
	}
	return true, nil
}

// ensureDir creates the user's folder when missing (mode 0700 whatever the umask) and
// checks it. Once the folder is known to exist, only the check is made again: every Put
// still refuses a folder made unsafe meanwhile, but does not try mkdir(2) each time.
func (s *Spool) ensureDir() error {
	if s.f.made.Load() {
		exists, err := s.checkDir()
		if err != nil || exists {
			return err
		}
		s.f.made.Store(false) // removed since: make it again
	}
	err := os.Mkdir(s.dir, dirMode)
	if err == nil {
		if err := os.Chmod(s.dir, dirMode); err != nil {
			return fmt.Errorf("create queue folder: %w", err)
		}
		if err := syncDir(s.root); err != nil {
			return fmt.Errorf("create queue folder: %w", err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create queue folder: %w", err)
	}
	exists, err := s.checkDir()
	if err == nil && exists {
		s.f.made.Store(true)
	}
	return err
}

func (s *Spool) path(id, ext string) string { return filepath.Join(s.dir, id+ext) }

// newID returns a fresh id: the UTC time to the second, then 48 random bits.
func newID(t time.Time) string {
	var b [idRandBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return t.UTC().Format(idTimeLayout) + "-" + hex.EncodeToString(b[:])
}

// validID reports whether id has the shape newID gives, so that it names no other file.
func validID(id string) bool {
	ts, r, ok := strings.Cut(id, "-")
	if !ok || len(r) != 2*idRandBytes || strings.ToLower(r) != r {
		return false
	}
	if _, err := hex.DecodeString(r); err != nil {
		return false
	}
	_, err := time.Parse(idTimeLayout, ts)
	return err == nil
}

// Put stores a message and its envelope and returns the new entry's id. e.ID and e.Size are
// ignored; a zero e.Created becomes now, a zero e.NextAttempt becomes
// e.Created+Backoff(e.Attempts). The message is streamed from msg into the spool; the entry
// becomes visible only once it is complete, and Put returns only once it is synced to disk.
// On error, Put leaves nothing behind. Concurrent Puts to the same folder, from one Spool or
// several, share their syncs (see commit.go).
func (s *Spool) Put(e Entry, msg io.WriterTo) (id string, err error) {
	if len(e.Recipients) == 0 {
		return "", errors.New("queue message: no recipients")
	}
	if err := s.ensureDir(); err != nil {
		return "", err
	}
	now := s.now()
	id = newID(now)
	if e.Created.IsZero() {
		e.Created = now
	}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = e.Created.Add(Backoff(e.Attempts))
	}
	e.ID = id

	p := &putEntry{dir: s.dir, msgPath: s.path(id, msgExt), envPath: s.path(id, envExt)}
	// Both files stay open until the commit is over: the message's lock keeps List's
	// clean-up of incomplete writes, and flushes, off the entry until it is complete.
	defer p.close()
	if err := s.writeTemps(p, e, msg); err != nil {
		p.discard()
		// err names the operation and the file ("write /q/0/.tmp-1: no space left
		// on device").
		return "", fmt.Errorf("queue message: %w", err)
	}
	if err := s.f.commit(p); err != nil {
		return "", fmt.Errorf("queue message: %w", err)
	}
	return id, nil
}

// writeTemps writes the message and then the envelope of e to temporary files, flushed to
// the kernel but not synced: the commit syncs them.
func (s *Spool) writeTemps(p *putEntry, e Entry, msg io.WriterTo) error {
	var err error
	if p.msg, err = s.createTemp(); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(p.msg, bufferSize)
	n, err := msg.WriteTo(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return err
	}
	e.Size = n
	b, err := json.MarshalIndent(toEnvelope(e), "", "  ")
	if err != nil {
		return err
	}
	if p.env, err = s.createTemp(); err != nil {
		return err
	}
	if _, err = p.env.Write(append(b, '\n')); err != nil {
		return err
	}
	stampNextAttempt(p.env.Name(), e.NextAttempt)
	return nil
}

// stampNextAttempt sets an envelope file's modification time to the entry's next attempt,
// as Postfix's deferred queue does, so that HasDue learns it from the folder alone. A file
// system that refuses leaves the time of writing, which only makes HasDue read the file.
func stampNextAttempt(path string, next time.Time) {
	if !next.IsZero() {
		_ = os.Chtimes(path, next, next)
	}
}

// createTemp creates an empty, locked temporary file (0600) in the user's folder.
func (s *Spool) createTemp() (*os.File, error) {
	for try := 0; ; try++ {
		name := filepath.Join(s.dir, tmpPrefix+strconv.FormatUint(mrand.Uint64(), 36))
		f, err := createExcl(name, fileMode)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue // as os.CreateTemp does
		}
		if err != nil {
			return nil, err
		}
		err = f.Chmod(fileMode) // whatever the umask
		if err == nil {
			err = tryLock(f)
		}
		if err != nil {
			f.Close()
			os.Remove(name)
			return nil, err
		}
		return f, nil
	}
}

// commit renames a synced temporary file into place and syncs the folder.
func (s *Spool) commit(tmp, final string) error {
	if err := rename(tmp, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

// writeEnvelope writes env as dir/name atomically.
func (s *Spool) writeEnvelope(dir, name string, env envelope) error {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := s.createTemp()
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	if err == nil {
		stampNextAttempt(f.Name(), env.NextAttempt)
		err = f.Sync()
	}
	if err == nil {
		err = s.commit(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// envelope is the JSON form of an entry (the <id>.env file) and of a tombstone.
type envelope struct {
	Version     int       `json:"version"`
	Sender      string    `json:"sender"`
	Recipients  []string  `json:"recipients"`
	Route       *Route    `json:"route,omitempty"`
	Created     time.Time `json:"created"`
	NextAttempt time.Time `json:"next_attempt"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	Size        int64     `json:"size"`
	DSN         *dsnJSON  `json:"dsn,omitempty"`

	// Written before routes, read for them.
	Profile   string `json:"profile,omitempty"`
	Transport string `json:"transport,omitempty"`

	// Tombstones only.
	ExpiredAt   *time.Time `json:"expired_at,omitempty"`
	Bounced     bool       `json:"bounced,omitempty"`
	BounceError string     `json:"bounce_error,omitempty"`
}

// dsnJSON is an entry's DSN request as stored; absent when it asks nothing.
type dsnJSON struct {
	Notify string `json:"notify,omitempty"`
	Ret    string `json:"ret,omitempty"`
	EnvID  string `json:"envid,omitempty"`
}

func toEnvelope(e Entry) envelope {
	env := envelope{
		Version: envVersion, Sender: e.Sender, Recipients: e.Recipients, Route: &e.Route, Created: e.Created.UTC(), NextAttempt: e.NextAttempt.UTC(),
		Attempts: e.Attempts, LastError: e.LastError, Size: e.Size,
	}
	if !e.DSN.IsZero() {
		env.DSN = &dsnJSON{Notify: e.DSN.Notify, Ret: e.DSN.Ret, EnvID: e.DSN.EnvID}
	}
	return env
}

func (env envelope) entry(id string) Entry {
	rt := legacyRoute(env.Profile, env.Transport)
	if env.Route != nil {
		rt = *env.Route
	}
	e := Entry{
		ID: id, Sender: env.Sender, Recipients: env.Recipients, Route: rt,
		Created: env.Created, NextAttempt: env.NextAttempt,
		Attempts: env.Attempts, LastError: env.LastError, Size: env.Size,
	}
	if env.DSN != nil {
		e.DSN = message.DSN{Notify: env.DSN.Notify, Ret: env.DSN.Ret, EnvID: env.DSN.EnvID}
	}
	return e
}

// readEnvelope reads and checks an envelope or tombstone file. A missing file is returned
// as is (fs.ErrNotExist); anything else wrong with it is a *BadEntryError.
func readEnvelope(path string) (envelope, error) {
	var env envelope
	b, err := os.ReadFile(path)
	if err != nil {
		return env, err
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return env, &BadEntryError{File: path, Err: fmt.Errorf("invalid envelope: %w", err)}
	}
	switch {
	case env.Version != envVersion:
		err = fmt.Errorf("unknown envelope version %d", env.Version)
	case len(env.Recipients) == 0:
		err = errors.New("envelope without recipients")
	case env.Created.IsZero():
		err = errors.New("envelope without creation time")
	}
	if err != nil {
		return env, &BadEntryError{File: path, Err: err}
	}
	return env, nil
}

// List returns the entries, oldest first, and what else it found: a *BadEntryError for
// every file that is not a valid entry (such files are never deleted) and an *ExpiredError
// for every entry given up on since the last flush that reported it. Incomplete writes are
// ignored, and removed once they are an hour old.
func (s *Spool) List() ([]Entry, []error) {
	entries, errs := s.scan(true)
	return entries, append(errs, s.tombstones()...)
}

// scan reads the entries of the user's folder. With cleanup, incomplete writes older than
// staleAfter are removed.
func (s *Spool) scan(cleanup bool) ([]Entry, []error) {
	exists, err := s.checkDir()
	if err != nil || !exists {
		return nil, nonNil(err)
	}
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, []error{fmt.Errorf("read queue folder: %w", err)}
	}
	names := make(map[string]bool, len(des))
	for _, de := range des {
		names[de.Name()] = true
	}
	var entries []Entry
	var errs []error
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(s.dir, name)
		id, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
		switch {
		case name == flushLock || name == expiredDir:
		case strings.HasPrefix(name, tmpPrefix):
			if cleanup {
				s.removeStale(path, "")
			}
		case ext == msgExt && validID(id):
			if !names[id+envExt] && cleanup {
				s.removeStale(path, s.path(id, envExt))
			}
		case ext == envExt && validID(id):
			env, err := readEnvelope(path)
			if errors.Is(err, fs.ErrNotExist) { // removed meanwhile by a flush
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, err := os.Lstat(s.path(id, msgExt)); err != nil {
				if _, err2 := os.Lstat(path); errors.Is(err2, fs.ErrNotExist) {
					continue // removed meanwhile by a flush
				}
				errs = append(errs, &BadEntryError{File: path, Err: fmt.Errorf("message file: %w", err)})
				continue
			}
			entries = append(entries, env.entry(id))
		default:
			errs = append(errs, &BadEntryError{File: path, Err: errors.New("not a queue file")})
		}
	}
	slices.SortFunc(entries, func(a, b Entry) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return entries, errs
}

// removeStale removes an incomplete write when it is older than staleAfter and no process
// holds its lock (a Put in progress does), unless its envelope, when it has one, has
// appeared meanwhile.
func (s *Spool) removeStale(path, envPath string) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || s.now().Sub(fi.ModTime()) < staleAfter {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if tryLock(f) != nil {
		return
	}
	if envPath != "" {
		if _, err := os.Lstat(envPath); !errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
	if cur, err := f.Stat(); err == nil && os.SameFile(fi, cur) {
		os.Remove(path)
	}
}

// tombstones reads expired/ and returns one *ExpiredError per tombstone (or a
// *BadEntryError for a file that is not one), oldest first.
func (s *Spool) tombstones() []error {
	dir := filepath.Join(s.dir, expiredDir)
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []error{fmt.Errorf("read queue folder: %w", err)}
	}
	var expired []*ExpiredError
	var errs []error
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(dir, name)
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || !validID(id) {
			errs = append(errs, &BadEntryError{File: path, Err: errors.New("not a queue file")})
			continue
		}
		env, err := readEnvelope(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && env.ExpiredAt == nil {
			err = &BadEntryError{File: path, Err: errors.New("tombstone without expiry time")}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		expired = append(expired, &ExpiredError{Entry: env.entry(id), At: *env.ExpiredAt, Bounced: env.Bounced, BounceError: env.BounceError})
	}
	slices.SortFunc(expired, func(a, b *ExpiredError) int { return a.At.Compare(b.At) })
	for _, e := range expired {
		errs = append(errs, e)
	}
	return errs
}

// Open returns an entry and its message bytes; the caller closes the reader.
func (s *Spool) Open(id string) (Entry, io.ReadCloser, error) {
	if !validID(id) {
		return Entry{}, nil, fmt.Errorf("queue entry %q: %w", id, ErrNotFound)
	}
	if _, err := s.checkDir(); err != nil {
		return Entry{}, nil, err
	}
	f, err := os.Open(s.path(id, msgExt))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, nil, fmt.Errorf("queue entry %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Entry{}, nil, fmt.Errorf("queue entry %s: %w", id, err)
	}
	env, err := readEnvelope(s.path(id, envExt))
	if err != nil {
		f.Close()
		if errors.Is(err, fs.ErrNotExist) {
			err = ErrNotFound
		}
		return Entry{}, nil, fmt.Errorf("queue entry %s: %w", id, err)
	}
	return env.entry(id), f, nil
}

// Delete removes an entry, also one whose envelope or message file is damaged or missing.
// It returns [ErrLocked] while a flush is delivering the entry, and [ErrNotFound] when
// there is no such entry.
func (s *Spool) Delete(id string) error {
	if !validID(id) {
		return fmt.Errorf("queue entry %q: %w", id, ErrNotFound)
	}
	if _, err := s.checkDir(); err != nil {
		return err
	}
	f, err := os.Open(s.path(id, msgExt))
	if err == nil {
		defer f.Close()
		err = tryLock(f)
	} else if errors.Is(err, fs.ErrNotExist) {
		err = nil // an envelope alone is garbage, removed all the same
	}
	if err != nil {
		return fmt.Errorf("delete queue entry %s: %w", id, err)
	}
	found := false
	for _, ext := range []string{envExt, msgExt} { // the envelope first, as in remove
		err := os.Remove(s.path(id, ext))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete queue entry %s: %w", id, err)
		}
		found = found || err == nil
	}
	if !found {
		return fmt.Errorf("queue entry %s: %w", id, ErrNotFound)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("delete queue entry %s: %w", id, err)
	}
	return nil
}

// remove deletes an entry's files, envelope first, and syncs the folder. The caller holds
// the entry's lock.
func (s *Spool) remove(id string) error {
	if err := os.Remove(s.path(id, envExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(s.path(id, msgExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(s.dir)
}

// HasDue reports whether an entry is due for delivery. It reads only the envelopes whose
// modification time says they may be (see stampNextAttempt), so a send that finds a long
// queue waiting out its back-off stats each entry instead of reading it.
func (s *Spool) HasDue() (bool, error) {
	exists, err := s.checkDir()
	if err != nil || !exists {
		return false, err
	}
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return false, fmt.Errorf("read queue folder: %w", err)
	}
	names := make(map[string]bool, len(des))
	for _, de := range des {
		names[de.Name()] = true
	}
	now := s.now()
	for _, de := range des {
		name := de.Name()
		id, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
		if ext != envExt || !validID(id) || !names[id+msgExt] {
			continue
		}
		info, err := de.Info()
		if err != nil || info.ModTime().After(now) {
			continue // removed meanwhile, or waiting
		}
		env, err := readEnvelope(filepath.Join(s.dir, name))
		if err != nil {
			continue // garbage is never due; List reports it
		}
		if !env.entry(id).NextAttempt.After(now) {
			return true, nil
		}
	}
	return false, nil
}

func nonNil(err error) []error {
	if err == nil {
		return nil
	}
	return []error{err}
}

// roundDuration formats d to the minute without trailing zero units ("120h", "1h30m").
func roundDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	str := strings.TrimSuffix(d.String(), "0s")
	if strings.HasSuffix(str, "h0m") {
		str = strings.TrimSuffix(str, "0m")
	}
	return str
}
