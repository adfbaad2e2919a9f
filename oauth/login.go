package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/oauth2"
)

// LoginOptions are what an interactive [Login] needs besides [Options].
type LoginOptions struct {
	Options
	// Flow overrides the configured flow (--device, --browser); "" keeps it.
	Flow string
	// Prompt receives the instructions for the user: the verification URI
	// and user code, or the authorization URL.
	Prompt io.Writer
	// Open shows a URL in a browser; nil (no display) only prints it. Its
	// failure is not fatal: the URL is printed either way.
	Open func(url string) error
	// Listen opens the loopback listener for the browser flow's redirect;
	// nil listens on 127.0.0.1 at a free port.
	Listen func() (net.Listener, error)
}

// Login runs the profile's interactive flow and saves the grant in store,
// replacing any earlier one. For client_credentials there is nothing to
// log in to: Login gets a token, proving the client and its secret work,
// and caches it.
func Login(ctx context.Context, cfg Config, store Store, o LoginOptions) error {
	if o.Flow != "" {
		cfg.Flow = o.Flow
	}
	r, err := cfg.resolve()
	if err != nil {
		return err
	}
	if o.Prompt == nil {
		o.Prompt = io.Discard
	}
	src := &Source{cfg: r, store: store, opts: o.Options}
	hctx := o.context(ctx)
	var tok *oauth2.Token
	switch r.flow {
	case FlowClientCredentials:
		tok, err = src.clientCredentials(hctx)
	case FlowDevice:
		tok, err = r.device(hctx, o)
	case FlowBrowser:
		tok, err = r.browser(hctx, o)
	}
	if err != nil {
		return err
	}
	if r.flow != FlowClientCredentials && tok.RefreshToken == "" {
		return cfg.fail(Refused, errors.New("login: the identity provider sent no refresh token (for Microsoft the scope needs offline_access)"))
	}
	if err := store.Save(src.record(tok, "")); err != nil {
		return cfg.misconfigured(fmt.Errorf("save the token: %w", err))
	}
	return nil
}

// Logout removes the profile's tokens from store, and the lock file
// beside them: under the lock, so a refresh that was waiting for it finds
// no grant rather than saving one after the logout. The error matches
// [ErrNoToken] when there were none.
func Logout(ctx context.Context, store Store, o Options) error {
	path := o.lockFile(store)
	unlock, err := lockRefresh(ctx, path)
	if err != nil {
		return err
	}
	defer unlock()
	if path != "" {
		os.Remove(path)
	}
	return store.Delete()
}

// device runs the device authorization grant (RFC 8628). oauth2 polls at
// the server's interval and adds 5 s on slow_down.
func (r *resolved) device(ctx context.Context, o LoginOptions) (*oauth2.Token, error) {
	oc, err := r.oauth2Config(ctx)
	if err != nil {
		return nil, err
	}
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		return nil, r.classify("device authorization", err)
	}
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(o.Prompt, "To sign in, open %s\n(or open %s and enter the code %s)\n", da.VerificationURIComplete, da.VerificationURI, da.UserCode)
	} else {
		fmt.Fprintf(o.Prompt, "To sign in, open %s and enter the code %s\n", da.VerificationURI, da.UserCode)
	}
	fmt.Fprintln(o.Prompt, "Waiting for the sign-in to complete...")
	tok, err := oc.DeviceAccessToken(ctx, da)
	var re *oauth2.RetrieveError
	errors.As(err, &re)
	switch {
	case err == nil:
		return tok, nil
	case re != nil && re.ErrorCode == "expired_token", errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return nil, r.fail(LoginRequired, errors.New("login: the code expired before the sign-in was completed"))
	case re != nil && re.ErrorCode == "access_denied":
		return nil, r.fail(LoginRequired, errors.New("login: the sign-in was declined"))
	}
	return nil, r.classify("login", err)
}

// browser runs the authorization code grant with PKCE S256 and a loopback
// redirect (RFC 8252): the identity provider sends the browser back to
// http://127.0.0.1:PORT/ with the code.
func (r *resolved) browser(ctx context.Context, o LoginOptions) (*oauth2.Token, error) {
	oc, err := r.oauth2Config(ctx)
	if err != nil {
		return nil, err
	}
	listen := o.Listen
	if listen == nil {
		listen = func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
	}
	ln, err := listen()
	if err != nil {
		return nil, r.misconfigured(fmt.Errorf("login: listen for the redirect: %w", err))
	}
	defer ln.Close()
	oc.RedirectURL = "http://" + ln.Addr().String() + "/"

	var sb [24]byte
	rand.Read(sb[:])
	state := base64.RawURLEncoding.EncodeToString(sb[:])
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if r.Provider == Google {
		// Google returns a refresh token only for offline access, and
		// again after the first time only when consent is asked anew.
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	authURL := oc.AuthCodeURL(state, opts...)

	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		if req.URL.Path != "/" || (q.Get("code") == "" && q.Get("error") == "") {
			http.NotFound(w, req)
			return
		}
		var res result
		switch {
		case q.Get("state") != state:
			res.err = r.fail(Refused, errors.New("login: the redirect carried a wrong state (a stale or forged request)"))
		case q.Get("error") != "":
			res.err = r.fail(LoginRequired, fmt.Errorf("login: the sign-in was not completed (%s: %s)", q.Get("error"), firstLine(q.Get("error_description"))))
		default:
			res.code = q.Get("code")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			fmt.Fprintf(w, "<p>mailout: %s</p>\n", html.EscapeString(res.err.Error()))
		} else {
			fmt.Fprintln(w, "<p>mailout: signed in. You can close this window.</p>")
		}
		select {
		case got <- res:
		default:
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(o.Prompt, "To sign in, open this URL in a browser:\n%s\n", authURL)
	if o.Open != nil {
		if err := o.Open(authURL); err != nil {
			fmt.Fprintf(o.Prompt, "(could not start a browser: %v)\n", err)
		}
	}
	fmt.Fprintf(o.Prompt, "Waiting for the redirect to %s ...\n", oc.RedirectURL)
	var res result
	select {
	case <-ctx.Done():
		return nil, r.fail(Temporary, fmt.Errorf("login: no redirect arrived: %w", ctx.Err()))
	case res = <-got:
	}
	if res.err != nil {
		return nil, res.err
	}
	tok, err := oc.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, r.classify("login", err)
	}
	return tok, nil
}
