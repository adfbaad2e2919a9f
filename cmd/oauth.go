package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"mailout/delivery"
	"mailout/internal/text"
	"mailout/oauth"
	"mailout/profiles"
)

// loginTimeout bounds an interactive login: the device flow ends earlier
// when its code expires.
const loginTimeout = 15 * time.Minute

// oauthCommands are `profile login` and `profile logout`.
func (r *runner) oauthCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "login",
			Usage:     "sign an OAuth profile in (device code or browser) and keep its refresh token",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "device", Usage: "show a code to enter on any device (RFC 8628)"},
				&cli.BoolFlag{Name: "browser", Usage: "open a browser and take the redirect on 127.0.0.1"},
			},
			Action: profileAction(r.profileLogin),
		},
		{
			Name:      "logout",
			Usage:     "remove an OAuth profile's tokens",
			ArgsUsage: "NAME",
			Action:    profileAction(r.profileLogout),
		},
	}
}

// oauthConfig translates a profile into the oauth package's terms.
func (r *runner) oauthConfig(p *profiles.Profile) oauth.Config {
	cfg := oauth.Config{
		Profile: p.Name, Provider: p.OAuth, ClientID: p.OAuthClientID, Tenant: p.OAuthTenant, Flow: p.OAuthFlow,
		DeviceURL: p.OAuthDeviceURL, AuthURL: p.OAuthAuthURL, TokenURL: p.OAuthTokenURL, Scopes: p.OAuthScopes,
	}
	if p.Transport == "graph" || p.Transport == "gmail" {
		cfg.API = p.Transport
	}
	if p.OAuthClientSecretCommand != "" || p.OAuthClientSecretEnv != "" {
		secrets := r.secrets()
		cfg.ClientSecret = func(ctx context.Context) (string, error) { return secrets.ClientSecret(ctx, p) }
	}
	return cfg
}

// oauthStore is where p's tokens live: oauth_token_file, else the keyring.
func (r *runner) oauthStore(p *profiles.Profile) oauth.Store {
	if p.OAuthTokenFile != "" {
		return &oauth.FileStore{Path: p.OAuthTokenFile}
	}
	return &oauth.KeyringStore{Keyring: r.env.Keyring(), User: p.Name}
}

func (r *runner) oauthOptions(p *profiles.Profile) oauth.Options {
	o := oauth.Options{HTTPClient: &http.Client{Timeout: p.Timeout}, Now: r.env.Now}
	if p.OAuthTokenFile == "" {
		// The keyring has no lock of its own.
		o.LockFile = filepath.Join(r.cacheDir(), "oauth", p.Name+".lock")
	}
	return o
}

// cacheDir is $XDG_CACHE_HOME/mailout, else ~/.cache/mailout.
func (r *runner) cacheDir() string { return r.xdgDir("XDG_CACHE_HOME", ".cache") }

func (r *runner) oauthSource(p *profiles.Profile) (*oauth.Source, error) {
	return oauth.NewSource(r.oauthConfig(p), r.oauthStore(p), r.oauthOptions(p))
}

// bearer is an OAuth profile's token source for delivery. One Source
// serves every call, so the sessions of a batch share its cached token.
type bearer struct {
	r      *runner
	p      *profiles.Profile
	once   sync.Once
	src    *oauth.Source
	srcErr error
}

func (r *runner) bearer(p *profiles.Profile) *bearer { return &bearer{r: r, p: p} }

func (b *bearer) source() (*oauth.Source, error) {
	b.once.Do(func() { b.src, b.srcErr = b.r.oauthSource(b.p) })
	return b.src, b.srcErr
}

// token is delivery's Secret: a fresh access token, with failures
// classified for the exit status.
func (b *bearer) token(ctx context.Context) (string, error) {
	src, err := b.source()
	if err != nil {
		return "", oauthDeliveryError(err)
	}
	tok, err := src.Token(ctx)
	if err != nil {
		return "", oauthDeliveryError(err)
	}
	return tok, nil
}

// rejected forgets a token the server refused, so the next send refreshes
// (and learns from the identity provider whether a new login is needed).
func (b *bearer) rejected(tok string) {
	if src, err := b.source(); err == nil {
		src.Forget(context.Background(), tok)
	}
}

// oauthDeliveryError gives a token failure its delivery kind: a grant that
// needs a login or a refused client is 77, an identity provider that is
// down 75, an unusable profile or store 78.
func oauthDeliveryError(err error) error {
	kind := delivery.Config
	switch oauth.KindOf(err) {
	case oauth.LoginRequired, oauth.Refused:
		kind = delivery.AuthFailed
	case oauth.Temporary:
		kind = delivery.Temporary
	}
	return &delivery.Error{Kind: kind, Op: "auth", Err: err}
}

// tokenRefusedHint explains an OAuth profile's token that the server
// itself refused (the identity provider gave it, so the grant is fine).
func tokenRefusedHint(p *profiles.Profile, err error) error {
	if p == nil || p.OAuth == "" || delivery.KindOf(err) != delivery.AuthFailed || oauth.KindOf(err) != 0 {
		return err
	}
	return hinted(err, fmt.Sprintf("the server refused the OAuth token: check the app's permission (SMTP.Send, or the API's) and that the mailbox allows it; to sign in anew, %s", oauth.LoginHint(p.Name)))
}

func (r *runner) oauthProfile(o profileOptions) (*profiles.Profile, error) {
	p, err := r.namedProfile(o)
	if err != nil {
		return nil, err
	}
	if p.OAuth == "" {
		return nil, withCode(exitConfig, fmt.Errorf("profile %q does not use OAuth (set oauth = \"microsoft\", \"google\" or \"custom\")", p.Name))
	}
	return p, nil
}

func (r *runner) profileLogin(ctx context.Context, o profileOptions) error {
	p, err := r.oauthProfile(o)
	if err != nil {
		return err
	}
	flow := ""
	switch {
	case o.device && o.browser:
		return usageErrorf("profile login: --device and --browser exclude each other")
	case o.device:
		flow = oauth.FlowDevice
	case o.browser:
		flow = oauth.FlowBrowser
	}
	if flow != "" && p.OAuthFlow == oauth.FlowClientCredentials {
		return usageErrorf("profile login: profile %q uses client_credentials, which has no user to sign in", p.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	var open func(string) error
	if r.env.Getenv("DISPLAY") != "" || r.env.Getenv("WAYLAND_DISPLAY") != "" {
		open = r.env.OpenBrowser // without a display the printed URL is all there is
	}
	store := r.oauthStore(p)
	err = oauth.Login(ctx, r.oauthConfig(p), store, oauth.LoginOptions{
		Options: r.oauthOptions(p), Flow: flow, Prompt: r.env.Stderr, Open: open,
	})
	if err != nil {
		return oauthDeliveryError(err)
	}
	fmt.Fprintf(r.env.Stderr, "mailout: profile %q is logged in; its tokens are in the %s\n", p.Name, store)
	return nil
}

func (r *runner) profileLogout(ctx context.Context, o profileOptions) error {
	p, err := r.oauthProfile(o)
	if err != nil {
		return err
	}
	store := r.oauthStore(p)
	err = oauth.Logout(ctx, store, r.oauthOptions(p))
	if errors.Is(err, oauth.ErrNoToken) {
		fmt.Fprintf(r.env.Stderr, "mailout: warning: profile %q was not logged in\n", p.Name)
		return nil
	}
	if err != nil {
		return withCode(exitConfig, fmt.Errorf("profile %q: logout: %w", p.Name, err))
	}
	return nil
}

// oauthState is the `profile show` line for an OAuth profile: whether it
// is logged in and where its tokens are, never a token.
func (r *runner) oauthState(p *profiles.Profile) string {
	src, err := r.oauthSource(p)
	if err != nil {
		return "oauth: " + text.OneLine(err.Error())
	}
	st := src.Status()
	switch {
	case st.StoreFail != nil:
		return fmt.Sprintf("oauth (%s flow): login state unknown: %s", st.Flow, text.OneLine(st.StoreFail.Error()))
	case st.Flow == oauth.FlowClientCredentials:
		return fmt.Sprintf("oauth (client_credentials): no login needed; tokens cached in the %s", st.Where)
	case st.LoggedIn:
		return fmt.Sprintf("oauth (%s flow): logged in; tokens in the %s", st.Flow, st.Where)
	}
	return fmt.Sprintf("oauth (%s flow): not logged in; %s", st.Flow, oauth.LoginHint(p.Name))
}

// oauthReport is the token part of `profile test`.
type oauthReport struct {
	Flow     string     `json:"flow"`
	LoggedIn bool       `json:"logged_in"`
	Expiry   *time.Time `json:"access_token_expiry,omitempty"`
	Store    string     `json:"store"`
}

func (r *runner) testOAuth(p *profiles.Profile) *oauthReport {
	if p == nil || p.OAuth == "" {
		return nil
	}
	src, err := r.oauthSource(p)
	if err != nil {
		return nil
	}
	st := src.Status()
	rep := &oauthReport{Flow: st.Flow, LoggedIn: st.LoggedIn, Store: st.Where}
	if !st.Expiry.IsZero() {
		rep.Expiry = &st.Expiry
	}
	return rep
}

func (r *runner) printOAuthReport(w io.Writer, rep *oauthReport) {
	if rep == nil {
		return
	}
	state := "not logged in"
	if rep.LoggedIn {
		state = "logged in"
	}
	fmt.Fprintf(w, "oauth\t%s (%s flow), tokens in the %s\n", state, rep.Flow, rep.Store)
	if rep.Expiry != nil {
		left := rep.Expiry.Sub(r.env.Now()).Round(time.Second)
		note := fmt.Sprintf("in %v", left)
		if left <= 0 {
			note = "expired; the next send refreshes it"
		}
		fmt.Fprintf(w, "access token\tvalid until %s (%s)\n", rep.Expiry.Local().Format("2006-01-02 15:04:05 MST"), note)
	}
}

// openBrowser shows url with xdg-open.
func openBrowser(url string) error {
	cmd := exec.Command("xdg-open", url)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; a browser may outlive the login
	return nil
}
