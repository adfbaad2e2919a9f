package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mailout/internal/oauthtest"
	"mailout/oauth"
	"mailout/profiles"
)

func config(idp *oauthtest.Server, flow string) oauth.Config {
	return oauth.Config{Profile: "work", Provider: oauth.Custom, ClientID: idp.ClientID(), Flow: flow,
		DeviceURL: idp.DeviceURL(), AuthURL: idp.AuthURL(), TokenURL: idp.TokenURL(), Scopes: []string{"mail"}}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)} }

func fileStore(t *testing.T) *oauth.FileStore {
	return &oauth.FileStore{Path: filepath.Join(t.TempDir(), "tokens", "work.json")}
}

func source(t *testing.T, cfg oauth.Config, st oauth.Store, c *clock) *oauth.Source {
	t.Helper()
	s, err := oauth.NewSource(cfg, st, oauth.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientCredentialsCachedInStore(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{ClientSecret: "app-secret"})
	cfg := config(idp, oauth.FlowClientCredentials)
	cfg.ClientSecret = func(context.Context) (string, error) { return "app-secret", nil }
	st, c := fileStore(t), newClock()

	tok, err := source(t, cfg, st, c).Token(context.Background())
	if err != nil || !idp.Valid(tok) {
		t.Fatalf("Token = %q, %v; want a valid token", tok, err)
	}
	// A second process (a new Source) within the token's life asks nothing.
	tok2, err := source(t, cfg, st, c).Token(context.Background())
	if err != nil || tok2 != tok {
		t.Fatalf("second Token = %q, %v; want the cached %q", tok2, err, tok)
	}
	if n := idp.Requests(""); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	c.add(time.Hour)
	if tok3, err := source(t, cfg, st, c).Token(context.Background()); err != nil || tok3 == tok {
		t.Fatalf("after expiry Token = %q, %v; want a new token", tok3, err)
	}
	if n := idp.Requests("client_credentials"); n != 2 {
		t.Errorf("%d client_credentials requests, want 2", n)
	}
}

func TestClientCredentialsWrongSecretRefused(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{ClientSecret: "app-secret"})
	cfg := config(idp, oauth.FlowClientCredentials)
	cfg.ClientSecret = func(context.Context) (string, error) { return "s3cr3t-not-this", nil }
	_, err := source(t, cfg, fileStore(t), newClock()).Token(context.Background())
	if oauth.KindOf(err) != oauth.Refused || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("err = %v, want Refused invalid_client", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the secret leaked: %v", err)
	}
}

func TestRefreshRotatesAndSaves(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{Rotate: true})
	st, c := fileStore(t), newClock()
	rt := idp.NewGrant()
	if err := st.Save(oauth.Record{RefreshToken: rt}); err != nil {
		t.Fatal(err)
	}
	s := source(t, config(idp, oauth.FlowDevice), st, c)
	tok, err := s.Token(context.Background())
	if err != nil || !idp.Valid(tok) {
		t.Fatalf("Token = %q, %v", tok, err)
	}
	rec, err := st.Load()
	if err != nil || rec.RefreshToken == rt || rec.RefreshToken == "" || rec.AccessToken != tok {
		t.Fatalf("stored %+v, %v; want the rotated refresh token and the access token", rec, err)
	}
	if want := c.now().Add(time.Hour); !rec.Expiry.Equal(want) {
		t.Errorf("expiry %v, want %v (from expires_in and the injected clock)", rec.Expiry, want)
	}
	if got, _ := s.Token(context.Background()); got != tok {
		t.Errorf("cached token not reused")
	}
	if n := idp.Requests("refresh_token"); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	// Shortly before expiry the token is renewed, with the rotated token.
	c.add(time.Hour - oauth.RefreshBefore + time.Second)
	tok2, err := source(t, config(idp, oauth.FlowDevice), st, c).Token(context.Background())
	if err != nil || tok2 == tok || !idp.Valid(tok2) {
		t.Fatalf("renewed Token = %q, %v", tok2, err)
	}
}

func TestForgetRefusedToken(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{})
	st, c := fileStore(t), newClock()
	if err := st.Save(oauth.Record{RefreshToken: idp.NewGrant()}); err != nil {
		t.Fatal(err)
	}
	s := source(t, config(idp, oauth.FlowDevice), st, c)
	tok, err := s.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A token that is no longer the stored one stays (another sender's).
	s.Forget(context.Background(), "at-someone-elses")
	if got, _ := source(t, config(idp, oauth.FlowDevice), st, c).Token(context.Background()); got != tok {
		t.Fatalf("Forget of another token dropped the stored one")
	}
	s.Forget(context.Background(), tok)
	if rec, err := st.Load(); err != nil || rec.AccessToken != "" || rec.RefreshToken == "" {
		t.Fatalf("stored %+v, %v after Forget; want the refresh token only", rec, err)
	}
	tok2, err := s.Token(context.Background())
	if err != nil || tok2 == tok {
		t.Fatalf("Token after Forget = %q, %v; want a new one", tok2, err)
	}
	if n := idp.Requests("refresh_token"); n != 2 {
		t.Errorf("%d refreshes, want 2", n)
	}
}

func TestConcurrentSendersRefreshOnce(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{Rotate: true})
	st, c := fileStore(t), newClock()
	if err := st.Save(oauth.Record{RefreshToken: idp.NewGrant(), AccessToken: "at-old", Expiry: c.now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	toks := make([]string, 8)
	errs := make([]error, 8)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One Source each, as separate processes would have.
			toks[i], errs[i] = source(t, config(idp, oauth.FlowDevice), st, c).Token(context.Background())
		}()
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] || !idp.Valid(toks[i]) {
			t.Fatalf("sender %d: %q, %v (sender 0 got %q)", i, toks[i], errs[i], toks[0])
		}
	}
	if n := idp.Requests("refresh_token"); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
}

func TestRevokedGrantNeedsLogin(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{})
	st, c := fileStore(t), newClock()
	rt := idp.NewGrant()
	st.Save(oauth.Record{RefreshToken: rt})
	idp.RevokeAll()
	_, err := source(t, config(idp, oauth.FlowDevice), st, c).Token(context.Background())
	if oauth.KindOf(err) != oauth.LoginRequired {
		t.Fatalf("err = %v, want LoginRequired", err)
	}
	if !strings.Contains(err.Error(), "run 'mailout profile login work'") || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("err = %q, want invalid_grant and the login hint", err)
	}
	if strings.Contains(err.Error(), rt) {
		t.Errorf("the refresh token leaked: %v", err)
	}
}

func TestNotLoggedIn(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{})
	_, err := source(t, config(idp, oauth.FlowDevice), fileStore(t), newClock()).Token(context.Background())
	if oauth.KindOf(err) != oauth.LoginRequired || !strings.Contains(err.Error(), "not logged in") {
		t.Fatalf("err = %v, want LoginRequired: not logged in", err)
	}
	if idp.Requests("") != 0 {
		t.Errorf("asked the identity provider without a grant")
	}
}

func TestIdentityProviderDownIsTemporary(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{FailStatus: 503})
	st := fileStore(t)
	st.Save(oauth.Record{RefreshToken: idp.NewGrant()})
	_, err := source(t, config(idp, oauth.FlowDevice), st, newClock()).Token(context.Background())
	if oauth.KindOf(err) != oauth.Temporary {
		t.Fatalf("503: err = %v, want Temporary", err)
	}
	idp.Close()
	_, err = source(t, config(idp, oauth.FlowDevice), st, newClock()).Token(context.Background())
	if oauth.KindOf(err) != oauth.Temporary || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("closed: err = %v, want Temporary unreachable", err)
	}
}

// After a failed refresh the workers of a batch asking at the same moment
// get that failure; a retry a second later asks the identity provider again.
func TestFailedRefreshAskedOnceByConcurrentSenders(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{FailStatus: 503})
	st, c := fileStore(t), newClock()
	st.Save(oauth.Record{RefreshToken: idp.NewGrant()})
	s := source(t, config(idp, oauth.FlowDevice), st, c)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.Token(context.Background()); oauth.KindOf(err) != oauth.Temporary {
				t.Errorf("err = %v, want Temporary", err)
			}
		})
	}
	wg.Wait()
	if n := idp.Requests("refresh_token"); n != 1 {
		t.Errorf("%d refresh requests for 4 concurrent senders, want 1", n)
	}
	idp.SetOptions(func(o *oauthtest.Options) { o.FailStatus = 0 })
	c.add(time.Second)
	if tok, err := s.Token(context.Background()); err != nil || !idp.Valid(tok) {
		t.Fatalf("retry: Token = %q, %v; want a new token", tok, err)
	}
}

func TestFileStoreModes(t *testing.T) {
	st := fileStore(t)
	if _, err := st.Load(); !errors.Is(err, oauth.ErrNoToken) {
		t.Fatalf("Load of a missing file = %v, want ErrNoToken", err)
	}
	if err := st.Save(oauth.Record{RefreshToken: "rt-x"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(st.Path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	os.Chmod(st.Path, 0o640)
	if _, err := st.Load(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Load of a group-readable file = %v, want a refusal", err)
	}
	if err := st.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(); !errors.Is(err, oauth.ErrNoToken) {
		t.Fatalf("second Delete = %v, want ErrNoToken", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(st.Path), ".*")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

// memKeyring is a keyring in memory.
type memKeyring struct{ m map[string]string }

func (k *memKeyring) Get(svc, user string) (string, error) {
	v, ok := k.m[svc+"/"+user]
	if !ok {
		return "", profiles.ErrNotFound
	}
	return v, nil
}
func (k *memKeyring) Set(svc, user, v string) error { k.m[svc+"/"+user] = v; return nil }
func (k *memKeyring) Delete(svc, user string) error {
	if _, ok := k.m[svc+"/"+user]; !ok {
		return profiles.ErrNotFound
	}
	delete(k.m, svc+"/"+user)
	return nil
}

func TestKeyringStore(t *testing.T) {
	kr := &memKeyring{m: map[string]string{}}
	st := &oauth.KeyringStore{Keyring: kr, User: "work"}
	if _, err := st.Load(); !errors.Is(err, oauth.ErrNoToken) {
		t.Fatalf("Load = %v, want ErrNoToken", err)
	}
	if err := st.Save(oauth.Record{RefreshToken: "rt-1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := kr.m["mailout-oauth/work"]; !ok {
		t.Fatalf("nothing under service mailout-oauth, user work: %v", kr.m)
	}
	if r, err := st.Load(); err != nil || r.RefreshToken != "rt-1" {
		t.Fatalf("Load = %+v, %v", r, err)
	}

	none := &oauth.KeyringStore{Keyring: profiles.SystemKeyring(func(string) string { return "" }, 99999), User: "work"}
	_, err := none.Load()
	if err == nil || !strings.Contains(err.Error(), "oauth_token_file") || strings.Contains(err.Error(), "password_command") {
		t.Fatalf("Load without a session bus = %v, want advice to set oauth_token_file", err)
	}
}

func TestLoginDevice(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{SlowDown: 1})
	st := fileStore(t)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := oauth.Login(context.Background(), config(idp, ""), st, oauth.LoginOptions{Prompt: pw})
		pw.Close()
		done <- err
	}()
	var shown strings.Builder
	buf := make([]byte, 512)
	code := regexp.MustCompile(`enter the code ([A-Z0-9_-]+)`)
	for !code.MatchString(shown.String()) {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("prompt ended early: %q", shown.String())
		}
		shown.Write(buf[:n])
	}
	if !strings.Contains(shown.String(), idp.VerificationURI()) {
		t.Errorf("prompt %q lacks the verification URI", shown.String())
	}
	go io.Copy(io.Discard, pr)
	uc := code.FindStringSubmatch(shown.String())[1]
	resp, err := http.PostForm(idp.ApproveURL(), url.Values{"user_code": {uc}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("approve: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := <-done; err != nil {
		t.Fatalf("Login: %v", err)
	}
	rec, err := st.Load()
	if err != nil || rec.RefreshToken == "" || !idp.Valid(rec.AccessToken) {
		t.Fatalf("stored %+v, %v", rec, err)
	}
	// slow_down, then authorization_pending (at least once), then the token.
	if n := idp.Requests("urn:ietf:params:oauth:grant-type:device_code"); n < 2 {
		t.Errorf("%d device polls, want at least 2", n)
	}
}

func TestLoginDeviceCodeExpired(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{ExpireDevice: true})
	st := fileStore(t)
	err := oauth.Login(context.Background(), config(idp, ""), st, oauth.LoginOptions{})
	if oauth.KindOf(err) != oauth.LoginRequired || !strings.Contains(err.Error(), "the code expired before the sign-in was completed") {
		t.Fatalf("err = %v, want LoginRequired: the code expired", err)
	}
	if _, err := st.Load(); !errors.Is(err, oauth.ErrNoToken) {
		t.Errorf("a failed login stored something: %v", err)
	}
}

func TestLoginBrowserPKCE(t *testing.T) {
	idp := oauthtest.Start(t, oauthtest.Options{})
	st := fileStore(t)
	opened := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- oauth.Login(context.Background(), config(idp, oauth.FlowDevice), st, oauth.LoginOptions{
			Flow: oauth.FlowBrowser, Prompt: io.Discard,
			Open: func(u string) error { opened <- u; return nil },
		})
	}()
	u := <-opened
	if !strings.HasPrefix(u, idp.AuthURL()+"?") || !strings.Contains(u, "code_challenge_method=S256") {
		t.Fatalf("opened %q, want the authorization URL with PKCE S256", u)
	}
	// The "browser": the IdP approves and redirects to the loopback URI.
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "signed in") {
		t.Errorf("redirect page %q", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Login: %v", err)
	}
	if rec, err := st.Load(); err != nil || rec.RefreshToken == "" {
		t.Fatalf("stored %+v, %v", rec, err)
	}
}

func TestPresets(t *testing.T) {
	for _, tt := range []struct {
		cfg  oauth.Config
		flow string
	}{
		{oauth.Config{Profile: "m", Provider: oauth.Microsoft, ClientID: "x"}, oauth.FlowDevice},
		{oauth.Config{Profile: "g", Provider: oauth.Google, ClientID: "x"}, oauth.FlowBrowser},
		{oauth.Config{Profile: "m", Provider: oauth.Microsoft, ClientID: "x", Flow: oauth.FlowClientCredentials}, oauth.FlowClientCredentials},
	} {
		s, err := oauth.NewSource(tt.cfg, fileStore(t), oauth.Options{})
		if err != nil || s.Flow() != tt.flow {
			t.Errorf("%s: flow %v, %v; want %s", tt.cfg.Provider, s, err, tt.flow)
		}
	}
	_, err := oauth.NewSource(oauth.Config{Profile: "c", Provider: oauth.Custom, ClientID: "x"}, fileStore(t), oauth.Options{})
	if oauth.KindOf(err) != oauth.Misconfigured || !strings.Contains(err.Error(), "oauth_token_url") {
		t.Errorf("custom without URLs: %v", err)
	}
}

func TestNeedsLogin(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("login required"), false},
		{"login required", &oauth.Error{Profile: "work", Kind: oauth.LoginRequired, Err: errors.New("grant revoked")}, true},
		{"wrapped", fmt.Errorf("auth: %w", &oauth.Error{Kind: oauth.LoginRequired, Err: errors.New("no grant")}), true},
		{"temporary", &oauth.Error{Kind: oauth.Temporary, Err: errors.New("idp down")}, false},
		{"refused client", &oauth.Error{Kind: oauth.Refused, Err: errors.New("invalid_client")}, false},
	}
	for _, tt := range tests {
		if got := oauth.NeedsLogin(tt.err); got != tt.want {
			t.Errorf("%s: NeedsLogin(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
