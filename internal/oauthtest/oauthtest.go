// Package oauthtest is an OAuth 2.0 authorization server on loopback for
// tests, built on github.com/ory/fosite: the authorization code grant with
// PKCE S256 (RFC 7636) and a redirect to a loopback URI, the refresh token
// grant with optional rotation, client credentials and revocation
// (RFC 7009) are fosite's own handlers over its in-memory store; the
// device authorization grant (RFC 8628, with authorization_pending,
// slow_down, expired_token and access_denied), which fosite lacks, is a
// small fosite token endpoint handler of this package that issues its
// tokens through fosite's token strategy and store, so that refreshing,
// rotating and revoking a device grant go through fosite like any other.
//
// The server counts the token requests it answers, so tests can prove that
// a cached token was reused and that concurrent senders refreshed once, and
// it says whether an access token is valid (by fosite's introspection), so
// a test SMTP server can check bearer tokens against it.
//
// The "user" approves a device login with an HTTP POST to
// [Server.ApproveURL]; /authorize approves every well-formed request at
// once by redirecting to its redirect_uri.
package oauthtest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
)

// Options configure a [Server]. They may be changed at run time with
// [Server.SetOptions].
type Options struct {
	// ClientID is the one client the server knows; default "mailout-test".
	ClientID string
	// ClientSecret, when set, makes the client confidential: the secret is
	// required from it on every token request. Without it the client is
	// public (token_endpoint_auth_method none) and cannot use
	// client_credentials.
	ClientSecret string
	// Rotate makes a refresh hand out a new refresh token and revoke the
	// one used (fosite's rotation: using it again is refused and, as reuse,
	// revokes the grant). Without it the used refresh token stays valid
	// next to the new one fosite hands out.
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

// DeviceGrantType is the grant_type of the device access token request.
const DeviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// User is the subject of the sessions the server grants.
const User = "user@example.test"

// lifetime is what fosite is told a token lives: long enough that the
// server never expires one during a test (expires_in is sent separately).
const lifetime = 10 * 365 * 24 * time.Hour

// deviceLifetime is how long a device code may be polled.
const deviceLifetime = 10 * time.Minute

// Server is a running authorization server.
type Server struct {
	srv *http.Server
	ln  net.Listener
	url string

	oauth    fosite.OAuth2Provider
	store    *store
	strategy oauth2.CoreStrategy

	tokenMu sync.Mutex // serialises token requests, as one server thread would

	mu       sync.Mutex
	opts     Options
	issued   []string           // every token handed out
	refresh  []string           // every refresh token, handed out or made by NewGrant
	grants   []string           // fosite request ids of the grants
	devices  map[string]*device // by device code
	requests map[string]int     // token requests by grant_type
}

type device struct {
	userCode string
	scopes   []string
	expires  time.Time
	approved bool
	denied   bool
	used     bool
	polls    int
}

// New starts a server on 127.0.0.1 at a free port.
func New(o Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, url: "http://" + ln.Addr().String(), opts: o,
		devices: map[string]*device{}, requests: map[string]int{}}
	secret := make([]byte, 32) // fosite's HMAC strategy wants 32 bytes
	if _, err := rand.Read(secret); err != nil {
		ln.Close()
		return nil, err
	}
	cfg := &fosite.Config{
		AccessTokenLifespan:            lifetime,
		RefreshTokenLifespan:           lifetime,
		AuthorizeCodeLifespan:          10 * time.Minute,
		GlobalSecret:                   secret,
		TokenURL:                       s.TokenURL(),
		EnforcePKCE:                    true,  // every client, public or not
		EnablePKCEPlainChallengeMethod: false, // S256 only
		RefreshTokenScopes:             []string{},
		ScopeStrategy:                  func([]string, string) bool { return true },
		ClientSecretsHasher:            plainHasher{},
		SendDebugMessagesToClients:     true,
	}
	s.store = &store{MemoryStore: storage.NewMemoryStore(), s: s,
		access: map[string][]string{}, refreshes: map[string][]string{}}
	s.strategy = compose.NewOAuth2HMACStrategy(cfg)
	s.oauth = compose.Compose(cfg, s.store, s.strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2TokenIntrospectionFactory,
		s.deviceFactory,
	)
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

// RevokeURL is the revocation endpoint (RFC 7009, fosite's): POST token=...
// with the client's credentials (client_id alone for a public client)
// revokes the grant the token belongs to, refresh and access tokens alike.
func (s *Server) RevokeURL() string { return s.url + "/revoke" }

// ApproveURL is where the test "user" approves a device login: POST
// user_code=...; without user_code the newest pending login is approved.
// With deny=1 the login is declined instead (the next poll gets
// access_denied).
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
// "refresh_token", "client_credentials", [DeviceGrantType],
// "authorization_code") the server answered; "" counts all.
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

// Valid reports whether an access token was issued and is neither revoked
// nor rotated away, by fosite's introspection.
func (s *Server) Valid(accessToken string) bool {
	use, _, err := s.oauth.IntrospectToken(context.Background(), accessToken, fosite.AccessToken, new(fosite.DefaultSession))
	return err == nil && use == fosite.AccessToken
}

// NewGrant creates a grant as if a user had logged in and returns its
// refresh token, for tests that start from a logged-in profile.
func (s *Server) NewGrant() string {
	ctx := context.Background()
	c, err := s.client(s.ClientID())
	if err != nil {
		panic(err)
	}
	req := fosite.NewAccessRequest(session())
	req.Client = c
	req.GrantTypes = fosite.Arguments{DeviceGrantType}
	rt, sig, err := s.strategy.GenerateRefreshToken(ctx, req)
	if err == nil {
		err = s.store.CreateRefreshTokenSession(ctx, sig, "", req.Sanitize(nil))
	}
	if err != nil {
		panic(fmt.Sprintf("oauthtest: NewGrant: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants = append(s.grants, req.GetID())
	s.refresh = append(s.refresh, rt)
	return rt
}

// Issued returns every access and refresh token the server handed out, so
// a test can check that none of them leaked into output or logs.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// RevokeAll revokes every grant, in fosite's store.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	ids := append([]string(nil), s.grants...)
	s.mu.Unlock()
	ctx := context.Background()
	for _, id := range ids {
		s.store.RevokeRefreshToken(ctx, id)
		s.store.RevokeAccessToken(ctx, id)
	}
}

// RefreshTokens returns the currently valid refresh tokens.
func (s *Server) RefreshTokens() []string {
	s.mu.Lock()
	all := append([]string(nil), s.refresh...)
	s.mu.Unlock()
	var out []string
	for _, rt := range all {
		use, _, err := s.oauth.IntrospectToken(context.Background(), rt, fosite.RefreshToken, new(fosite.DefaultSession))
		if err == nil && use == fosite.RefreshToken {
			out = append(out, rt)
		}
	}
	return out
}

func session() *fosite.DefaultSession {
	s := &fosite.DefaultSession{Subject: User, Username: User}
	s.SetExpiresAt(fosite.AccessToken, time.Now().UTC().Add(lifetime).Round(time.Second))
	s.SetExpiresAt(fosite.RefreshToken, time.Now().UTC().Add(lifetime).Round(time.Second))
	return s
}

// client is the one client, as the options describe it now.
func (s *Server) client(id string) (fosite.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" || id != s.clientID() {
		return nil, fosite.ErrNotFound
	}
	return &fosite.DefaultClient{
		ID:     id,
		Secret: []byte(s.opts.ClientSecret),
		Public: s.opts.ClientSecret == "",
		// Loopback redirects match on any port (RFC 8252).
		RedirectURIs:  []string{"http://127.0.0.1/", "http://127.0.0.1"},
		ResponseTypes: fosite.Arguments{"code"},
		GrantTypes:    fosite.Arguments{"authorization_code", "refresh_token", "client_credentials", DeviceGrantType},
	}, nil
}

// plainHasher compares client secrets as they are: the test client's
// secret is kept in the clear, and bcrypt would only slow the tests.
type plainHasher struct{}

func (plainHasher) Compare(_ context.Context, hash, data []byte) error {
	if subtle.ConstantTimeCompare(hash, data) != 1 {
		return errors.New("wrong client secret")
	}
	return nil
}

func (plainHasher) Hash(_ context.Context, data []byte) ([]byte, error) { return data, nil }

// store is fosite's memory store with the options' client, rotation only
// when asked for, and revocation of every token of a grant (the memory
// store knows only a grant's newest tokens, and without rotation older
// ones stay valid).
type store struct {
	*storage.MemoryStore
	s *Server

	mu        sync.Mutex
	access    map[string][]string // request id -> access token signatures
	refreshes map[string][]string // request id -> refresh token signatures
}

func (st *store) GetClient(_ context.Context, id string) (fosite.Client, error) {
	return st.s.client(id)
}

func (st *store) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	st.mu.Lock()
	st.access[req.GetID()] = append(st.access[req.GetID()], sig)
	st.mu.Unlock()
	return st.MemoryStore.CreateAccessTokenSession(ctx, sig, req)
}

func (st *store) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, req fosite.Requester) error {
	st.mu.Lock()
	st.refreshes[req.GetID()] = append(st.refreshes[req.GetID()], sig)
	st.mu.Unlock()
	return st.MemoryStore.CreateRefreshTokenSession(ctx, sig, accessSig, req)
}

func (st *store) RotateRefreshToken(ctx context.Context, id, sig string) error {
	st.s.mu.Lock()
	rotate := st.s.opts.Rotate
	st.s.mu.Unlock()
	if !rotate {
		return nil
	}
	return st.MemoryStore.RotateRefreshToken(ctx, id, sig)
}

func (st *store) RevokeRefreshToken(ctx context.Context, id string) error {
	st.mu.Lock()
	sigs := st.refreshes[id]
	st.mu.Unlock()
	if len(sigs) > 1 {
		for _, sig := range sigs[:len(sigs)-1] {
			// Still active only without rotation; a rotated one stays,
			// inactive, for fosite's reuse detection.
			if _, err := st.MemoryStore.GetRefreshTokenSession(ctx, sig, nil); err == nil {
				st.MemoryStore.DeleteRefreshTokenSession(ctx, sig)
			}
		}
	}
	return st.MemoryStore.RevokeRefreshToken(ctx, id) // the newest: inactive
}

func (st *store) RevokeAccessToken(ctx context.Context, id string) error {
	st.mu.Lock()
	sigs := st.access[id]
	st.mu.Unlock()
	for _, sig := range sigs {
		st.MemoryStore.DeleteAccessTokenSession(ctx, sig)
	}
	return st.MemoryStore.RevokeAccessToken(ctx, id)
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

// authorize is fosite's authorization endpoint; the test user consents to
// every request at once and is granted the scopes asked for.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	resp, err := s.oauth.NewAuthorizeResponse(ctx, ar, session())
	if err != nil {
		s.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	s.oauth.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// revoke is fosite's revocation endpoint.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.oauth.WriteRevocationResponse(ctx, w, s.oauth.NewRevocationRequest(ctx, r))
}

// token is fosite's token endpoint, with the request counting, FailStatus,
// expires_in and the record of issued tokens around it.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	s.requests[r.PostForm.Get("grant_type")]++
	fail, exp := s.opts.FailStatus, s.opts.ExpiresIn
	s.mu.Unlock()
	if fail != 0 {
		oauthError(w, fail, "temporarily_unavailable", "the test server is failing on purpose")
		return
	}
	if exp <= 0 {
		exp = 3600
	}
	ctx := r.Context()
	ar, err := s.oauth.NewAccessRequest(ctx, r, session())
	if err != nil {
		s.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		for _, scope := range ar.GetRequestedScopes() {
			ar.GrantScope(scope)
		}
	}
	resp, err := s.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		s.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	resp.SetExpiresIn(time.Duration(exp) * time.Second)
	s.mu.Lock()
	s.issued = append(s.issued, resp.GetAccessToken())
	if rt, _ := resp.GetExtra("refresh_token").(string); rt != "" {
		s.issued = append(s.issued, rt)
		s.refresh = append(s.refresh, rt)
	}
	if !ar.GetGrantTypes().ExactOne("refresh_token") { // a refresh keeps its grant's id
		s.grants = append(s.grants, ar.GetID())
	}
	s.mu.Unlock()
	s.oauth.WriteAccessResponse(ctx, w, ar, resp)
}
