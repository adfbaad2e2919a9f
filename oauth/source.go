package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"mailout/internal/flock"
)

// RefreshBefore is how long before its expiry an access token is renewed,
// so that it never runs out between the check and the server's AUTH.
const RefreshBefore = 2 * time.Minute

// failFor is how long a failure to get a token is handed out again
// instead of asking the identity provider anew: the workers of a batch
// that all need a token at the same moment ask once, and a retry after
// the batch's back-off (a second or more) asks again.
const failFor = time.Second

// Options are the outside world a [Source] and [Login] talk to.
type Options struct {
	HTTPClient *http.Client     // nil: http.DefaultClient
	Now        func() time.Time // nil: time.Now
	// LockFile serialises refreshes across processes (flock). Empty: the
	// token file's path + ".lock" for a [*FileStore], else only the
	// in-process lock is taken.
	LockFile string
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) context(ctx context.Context) context.Context {
	if o.HTTPClient != nil {
		return context.WithValue(ctx, oauth2.HTTPClient, o.HTTPClient)
	}
	return ctx
}

func (o Options) lockFile(store Store) string {
	if o.LockFile != "" {
		return o.LockFile
	}
	if fs, ok := store.(*FileStore); ok {
		return fs.Path + ".lock"
	}
	return ""
}

// Source hands out access tokens for one profile. It is safe for
// concurrent use.
type Source struct {
	cfg   *resolved
	store Store
	opts  Options

	mu       sync.Mutex
	cached   Record // the last record seen, so a batch reads the store once
	failed   error  // the last failure, and when it came back
	failedAt time.Time
}

// NewSource returns a Source for cfg whose tokens live in store. It fails
// only on a configuration that can never work.
func NewSource(cfg Config, store Store, opts Options) (*Source, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return &Source{cfg: r, store: store, opts: opts}, nil
}

// Token returns a valid access token: the cached one while it has more
// than [RefreshBefore] left, else a new one, refreshed (or, for
// client_credentials, requested) once however many goroutines and
// processes ask at the same time. A rotated refresh token is saved before
// Token returns. A failure is handed out again for a second to whoever
// asks meanwhile, so that a batch's workers do not each ask in turn.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh(s.cached) {
		return s.cached.AccessToken, nil
	}
	if s.failed != nil && s.opts.now().Sub(s.failedAt) < failFor {
		return "", s.failed
	}
	tok, err := s.token(ctx)
	s.failed = nil
	if err != nil && ctx.Err() == nil { // a caller giving up fails only itself
		s.failed, s.failedAt = err, s.opts.now()
	}
	return tok, err
}

// token is Token without the memory of the last failure; s.mu is held.
func (s *Source) token(ctx context.Context) (string, error) {
	rec, err := s.load()
	if err != nil {
		return "", err
	}
	if s.fresh(rec) {
		s.cached = rec
		return rec.AccessToken, nil
	}

	unlock, err := lockRefresh(ctx, s.opts.lockFile(s.store))
	if err != nil {
		return "", s.cfg.fail(Temporary, fmt.Errorf("wait for the token lock: %w", err))
	}
	defer unlock()
	// Another process may have refreshed while we waited.
	if rec, err = s.load(); err != nil {
		return "", err
	}
	if s.fresh(rec) {
		s.cached = rec
		return rec.AccessToken, nil
	}
	rec, err = s.renew(ctx, rec)
	if err != nil {
		return "", err
	}
	s.cached = rec
	return rec.AccessToken, nil
}

// Forget drops tok, an access token a server refused, from the cache and
// the store (the refresh token stays): the next Token then gets a new one,
// and the identity provider says whether the grant still holds, rather
// than the refused token being handed out again until it expires. A token
// another sender has already replaced is left alone.
func (s *Source) Forget(ctx context.Context, tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached.AccessToken == tok {
		s.cached = Record{}
	}
	unlock, err := lockRefresh(ctx, s.opts.lockFile(s.store))
	if err != nil {
		return
	}
	defer unlock()
	rec, err := s.store.Load()
	if err != nil || rec.AccessToken != tok {
		return
	}
	rec.AccessToken, rec.Expiry = "", time.Time{}
	s.store.Save(rec) // a failure only costs the next send one refused AUTH
}

// Status is what `profile test` reports about a profile's tokens.
type Status struct {
	Flow      string
	LoggedIn  bool      // a refresh token is stored (client_credentials: always true)
	Expiry    time.Time // of the cached access token; zero when none is cached
	Where     string    // the store, e.g. "keyring (service mailout-oauth, user work)"
	StoreFail error     // the store could not be read
}

// Status reads the store without contacting the identity provider.
func (s *Source) Status() Status {
	st := Status{Flow: s.cfg.flow, Where: s.store.String()}
	rec, err := s.store.Load()
	switch {
	case errors.Is(err, ErrNoToken):
	case err != nil:
		st.StoreFail = err
	default:
		st.LoggedIn = rec.RefreshToken != ""
		if rec.AccessToken != "" {
			st.Expiry = rec.Expiry
		}
	}
	if s.cfg.flow == FlowClientCredentials {
		st.LoggedIn = true
	}
	return st
}

// Flow returns the flow in use: the configured one or the provider's default.
func (s *Source) Flow() string { return s.cfg.flow }

func (s *Source) fresh(r Record) bool {
	return r.AccessToken != "" && s.opts.now().Add(RefreshBefore).Before(r.Expiry)
}

// load reads the store. client_credentials needs no stored grant, so an
// unusable store only costs it the cache.
func (s *Source) load() (Record, error) {
	rec, err := s.store.Load()
	switch {
	case err == nil:
		return rec, nil
	case s.cfg.flow == FlowClientCredentials:
		return Record{}, nil
	case errors.Is(err, ErrNoToken):
		return Record{}, s.cfg.fail(LoginRequired, fmt.Errorf("not logged in (no token in the %s)", s.store))
	}
	return Record{}, s.cfg.misconfigured(err)
}

// renew gets a new access token and saves it with the (possibly rotated)
// refresh token.
func (s *Source) renew(ctx context.Context, rec Record) (Record, error) {
	ctx = s.opts.context(ctx)
	var (
		tok *oauth2.Token
		err error
	)
	if s.cfg.flow == FlowClientCredentials {
		tok, err = s.clientCredentials(ctx)
	} else {
		if rec.RefreshToken == "" {
			return Record{}, s.cfg.fail(LoginRequired, errors.New("no refresh token stored"))
		}
		var oc *oauth2.Config
		if oc, err = s.cfg.oauth2Config(ctx); err != nil {
			return Record{}, err
		}
		tok, err = oc.TokenSource(ctx, &oauth2.Token{RefreshToken: rec.RefreshToken}).Token()
		if err != nil {
			err = s.cfg.classify("refresh", err)
		}
	}
	if err != nil {
		return Record{}, err
	}
	next := s.record(tok, rec.RefreshToken)
	if err := s.store.Save(next); err != nil {
		if s.cfg.flow == FlowClientCredentials {
			return next, nil // nothing is lost: the next send asks again
		}
		return Record{}, s.cfg.misconfigured(fmt.Errorf("save the refreshed token: %w", err))
	}
	return next, nil
}

func (s *Source) clientCredentials(ctx context.Context) (*oauth2.Token, error) {
	oc, err := s.cfg.oauth2Config(ctx)
	if err != nil {
		return nil, err
	}
	if oc.ClientSecret == "" {
		return nil, s.cfg.misconfigured(errors.New("client_credentials needs oauth_client_secret_command or oauth_client_secret_env"))
	}
	cc := clientcredentials.Config{ClientID: oc.ClientID, ClientSecret: oc.ClientSecret, TokenURL: oc.Endpoint.TokenURL,
		Scopes: oc.Scopes, AuthStyle: oc.Endpoint.AuthStyle}
	tok, err := cc.Token(ctx)
	if err != nil {
		return nil, s.cfg.classify("client credentials", err)
	}
	return tok, nil
}

// record makes the stored form of tok. The expiry comes from expires_in and
// the injected clock, not from oauth2's own time.Now, so that the clock the
// cache is checked against is the one it was set with.
func (s *Source) record(tok *oauth2.Token, oldRefresh string) Record {
	r := Record{RefreshToken: tok.RefreshToken, AccessToken: tok.AccessToken}
	if r.RefreshToken == "" {
		r.RefreshToken = oldRefresh
	}
	switch {
	case tok.ExpiresIn > 0:
		r.Expiry = s.opts.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	case !tok.Expiry.IsZero(): // clientcredentials keeps only the absolute time
		r.Expiry = s.opts.now().Add(time.Until(tok.Expiry).Round(time.Second))
	}
	return r
}

// inProcess holds one mutex per lock file: flock alone would make two
// goroutines of one process poll for each other.
var inProcess sync.Map // lock file path -> *sync.Mutex

// lockRefresh takes the in-process mutex and the flock for path; "" takes
// a mutex shared by all sources without a lock file. A lock file that
// cannot be created only costs the cross-process exclusion (two processes
// may then both refresh, and with an identity provider that revokes a
// rotated refresh token at once the slower one fails); lockRefresh fails
// only when ctx ends while another process holds the lock.
func lockRefresh(ctx context.Context, path string) (func(), error) {
	m, _ := inProcess.LoadOrStore(path, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	if path == "" {
		return mu.Unlock, nil
	}
	os.MkdirAll(filepath.Dir(path), 0o700)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return mu.Unlock, nil
	}
	// A file system that cannot lock is no error: the lock only saves a
	// second refresh.
	if err := flock.Lock(ctx, f); err != nil && ctx.Err() != nil {
		f.Close()
		mu.Unlock()
		return nil, err
	}
	return func() {
		f.Close() // drops the flock
		mu.Unlock()
	}, nil
}
