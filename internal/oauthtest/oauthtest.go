// Package oauthtest is an OAuth 2.0 authorization server on loopback for
// tests: the device authorization grant (RFC 8628, with
// authorization_pending and slow_down), the authorization code grant with
// PKCE S256 (RFC 7636) and a redirect to a loopback URI, the refresh token
// grant with optional rotation, client credentials, and revocation
// (RFC 7009). It counts the token requests it answers, so tests can prove
// that a cached token was reused and that concurrent senders refreshed once,
// and it says whether an access token is valid, so a test SMTP server can
// check bearer tokens against it.
//
// The "user" approves a device login with an HTTP POST to
// [Server.ApproveURL]; /authorize approves every well-formed request at
// once by redirecting to its redirect_uri.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Options configure a [Server]. They may be changed at run time with
// [Server.SetOptions].
type Options struct {
	// ClientID is the one client the server knows; default "mailout-test".
	ClientID string
	// ClientSecret, when set, is required from the client on every token
	// request; it is always required for client_credentials.
	ClientSecret string
	// Rotate issues a new refresh token with every refresh and invalidates
	// the one used.
	Rotate bool
	// ExpiresIn is the access token lifetime sent as expires_in; default
	// 3600. The server itself never expires a token: tests move the
	// client's clock instead.
	ExpiresIn int
	// AutoApprove approves every device login at once, as if the user were
	// quicker than the first poll (for scripts that cannot act meanwhile).
	AutoApprove bool
	// SlowDown answers the first N polls of each device code with slow_down.
	SlowDown int
	// ExpireDevice answers every device poll with expired_token, as when
	// the user did not sign in before the code's lifetime ran out.
	ExpireDevice bool
	// Interval is the device polling interval sent; default 1 (second).
	Interval int
	// FailStatus, when non-zero, answers every token request with this HTTP
	// status (e.g. 503) and a temporarily_unavailable error.
	FailStatus int
}

// Server is a running authorization server.
type Server struct {
	srv *http.Server
	ln  net.Listener
	url string

	mu       sync.Mutex
	opts     Options
	issued   []string           // every token handed out
	devices  map[string]*device // by device code
	codes    map[string]*authCode
	grants   []*grant
	requests map[string]int // token requests by grant_type
}

type device struct {
	userCode string
	approved bool
	used     bool
	polls    int
}

type authCode struct {
	challenge, redirect string
	used                bool
}

type grant struct {
	refresh string
	access  map[string]bool
	revoked bool
}

// New starts a server on 127.0.0.1 at a free port.
func New(o Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, url: "http://" + ln.Addr().String(), opts: o,
		devices: map[string]*device{}, codes: map[string]*authCode{}, requests: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device", s.deviceAuth)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /approve", s.approve)
	mux.HandleFunc("POST /revoke", s.revoke)
	s.srv = &http.Server{Handler: mux}
	go s.srv.Serve(ln)
	return s, nil
}

// Start is New for a test: it fails t on error and closes the server at the
// end of the test.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// URL is the server's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// DeviceURL is the device authorization endpoint.
func (s *Server) DeviceURL() string { return s.url + "/device" }

// AuthURL is the authorization endpoint.
func (s *Server) AuthURL() string { return s.url + "/authorize" }

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string { return s.url + "/token" }

// RevokeURL is the revocation endpoint: POST token=... revokes the grant
// the token belongs to, refresh and access tokens alike.
func (s *Server) RevokeURL() string { return s.url + "/revoke" }

// ApproveURL is where the test "user" approves a device login: POST
// user_code=...; without user_code the newest pending login is approved.
func (s *Server) ApproveURL() string { return s.url + "/approve" }

// VerificationURI is the verification_uri sent with each device code.
func (s *Server) VerificationURI() string { return s.url + "/device/verify" }

// ClientID returns the client id the server accepts.
func (s *Server) ClientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientID()
}

func (s *Server) clientID() string {
	if s.opts.ClientID == "" {
		return "mailout-test"
	}
	return s.opts.ClientID
}

// SetOptions changes the options of the running server.
func (s *Server) SetOptions(f func(*Options)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.opts)
}

// Requests returns how many token requests of a grant_type (e.g.
// "refresh_token", "client_credentials",
// "urn:ietf:params:oauth:grant-type:device_code", "authorization_code")
// the server answered; "" counts all.
func (s *Server) Requests(grantType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if grantType == "" {
		n := 0
		for _, c := range s.requests {
			n += c
		}
		return n
	}
	return s.requests[grantType]
}

// Valid reports whether an access token was issued and not revoked.
func (s *Server) Valid(accessToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		if g.access[accessToken] {
			return !g.revoked
		}
	}
	return false
}

// NewGrant creates a grant as if a user had logged in and returns its
// refresh token, for tests that start from a logged-in profile.
func (s *Server) NewGrant() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &grant{refresh: random("rt-"), access: map[string]bool{}}
	s.grants = append(s.grants, g)
	return g.refresh
}

// Issued returns every access and refresh token the server handed out, so
// a test can check that none of them leaked into output or logs.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// RevokeAll revokes every grant.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		g.revoked = true
	}
}

// RefreshTokens returns the currently valid refresh tokens.
func (s *Server) RefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, g := range s.grants {
		if !g.revoked && g.refresh != "" {
			out = append(out, g.refresh)
		}
	}
	return out
}

func random(prefix string) string {
	b := make([]byte, 18)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) deviceAuth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.PostFormValue("client_id") != s.clientID() {
		oauthError(w, 400, "invalid_client", "unknown client")
		return
	}
	code := random("dc-")
	userCode := strings.ToUpper(random("")[:8])
	s.devices[code] = &device{userCode: userCode}
	interval := s.opts.Interval
	if interval <= 0 {
		interval = 1
	}
	writeJSON(w, 200, map[string]any{"device_code": code, "user_code": userCode,
		"verification_uri": s.url + "/device/verify", "expires_in": 600, "interval": interval})
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	uc := r.PostFormValue("user_code")
	for _, d := range s.devices {
		if !d.approved && (uc == "" || d.userCode == uc) {
			d.approved = true
			fmt.Fprintln(w, "approved")
			return
		}
	}
	http.Error(w, "no such pending login", http.StatusNotFound)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	redirect := q.Get("redirect_uri")
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" {
		http.Error(w, "redirect_uri must be a loopback http URI", http.StatusBadRequest)
		return
	}
	if q.Get("client_id") != s.clientID() || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request (client_id, response_type=code, PKCE S256 required)", http.StatusBadRequest)
		return
	}
	code := random("ac-")
	s.codes[code] = &authCode{challenge: q.Get("code_challenge"), redirect: redirect}
	v := u.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	tok := r.PostFormValue("token")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		if g.refresh == tok || g.access[tok] {
			g.revoked = true
		}
	}
	w.WriteHeader(200) // RFC 7009: unknown tokens are not an error
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", err.Error())
		return
	}
	f := r.PostForm
	gt := f.Get("grant_type")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[gt]++
	if s.opts.FailStatus != 0 {
		oauthError(w, s.opts.FailStatus, "temporarily_unavailable", "the test server is failing on purpose")
		return
	}
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	if id != s.clientID() || (s.opts.ClientSecret != "" && secret != s.opts.ClientSecret) {
		oauthError(w, 401, "invalid_client", "unknown client or wrong secret")
		return
	}
	switch gt {
	case "urn:ietf:params:oauth:grant-type:device_code":
		d := s.devices[f.Get("device_code")]
		switch {
		case d == nil || d.used || s.opts.ExpireDevice:
			oauthError(w, 400, "expired_token", "unknown, used or expired device code")
		case d.polls < s.opts.SlowDown:
			d.polls++
			oauthError(w, 400, "slow_down", "poll less often")
		case !d.approved && !s.opts.AutoApprove:
			d.polls++
			oauthError(w, 400, "authorization_pending", "the user has not approved yet")
		default:
			d.used = true
			s.issue(w, &grant{})
		}
	case "authorization_code":
		c := s.codes[f.Get("code")]
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case c == nil || c.used:
			oauthError(w, 400, "invalid_grant", "unknown or used code")
		case c.redirect != f.Get("redirect_uri"):
			oauthError(w, 400, "invalid_grant", "redirect_uri differs from the authorization request's")
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			oauthError(w, 400, "invalid_grant", "PKCE verification failed")
		default:
			c.used = true
			s.issue(w, &grant{})
		}
	case "refresh_token":
		rt := f.Get("refresh_token")
		for _, g := range s.grants {
			if g.refresh == rt && rt != "" {
				if g.revoked {
					break
				}
				if s.opts.Rotate {
					g.refresh = random("rt-")
				}
				s.issueFor(w, g, true)
				return
			}
		}
		oauthError(w, 400, "invalid_grant", "the refresh token is invalid, expired or revoked")
	case "client_credentials":
		if s.opts.ClientSecret == "" || secret != s.opts.ClientSecret {
			oauthError(w, 401, "invalid_client", "client_credentials needs the client secret")
			return
		}
		g := &grant{access: map[string]bool{}}
		s.grants = append(s.grants, g)
		s.issueFor(w, g, false)
	default:
		oauthError(w, 400, "unsupported_grant_type", gt)
	}
}

// issue starts a grant with a refresh token and answers with its tokens.
func (s *Server) issue(w http.ResponseWriter, g *grant) {
	g.refresh = random("rt-")
	g.access = map[string]bool{}
	s.grants = append(s.grants, g)
	s.issueFor(w, g, true)
}

func (s *Server) issueFor(w http.ResponseWriter, g *grant, withRefresh bool) {
	at := random("at-")
	g.access[at] = true
	s.issued = append(s.issued, at, g.refresh)
	exp := s.opts.ExpiresIn
	if exp <= 0 {
		exp = 3600
	}
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": exp}
	if withRefresh {
		resp["refresh_token"] = g.refresh
	}
	writeJSON(w, 200, resp)
}
