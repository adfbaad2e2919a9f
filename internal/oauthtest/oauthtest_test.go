package oauthtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// post sends a form and decodes the JSON answer.
func post(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("POST %s: %v", u, err)
		}
	}
	return resp.StatusCode, m
}

// wantError checks an OAuth error answer.
func wantError(t *testing.T, what string, status int, m map[string]any, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus || m["error"] != code {
		t.Fatalf("%s: %d %v, want %d %s", what, status, m, wantStatus, code)
	}
}

// wantTokens checks a token answer and returns its access and refresh token.
func wantTokens(t *testing.T, what string, status int, m map[string]any) (string, string) {
	t.Helper()
	at, _ := m["access_token"].(string)
	rt, _ := m["refresh_token"].(string)
	if status != 200 || at == "" || !strings.EqualFold(m["token_type"].(string), "bearer") {
		t.Fatalf("%s: %d %v, want tokens", what, status, m)
	}
	return at, rt
}

func refresh(t *testing.T, s *Server, rt string) (int, map[string]any) {
	return post(t, s.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {s.ClientID()}})
}

func TestDeviceFlow(t *testing.T) {
	s := Start(t, Options{SlowDown: 1, Interval: 2})
	status, da := post(t, s.DeviceURL(), url.Values{"client_id": {s.ClientID()}, "scope": {"mail offline_access"}})
	if status != 200 || da["verification_uri"] != s.VerificationURI() || da["interval"] != 2.0 || da["user_code"] == "" || da["expires_in"] != 600.0 {
		t.Fatalf("device authorization: %d %v", status, da)
	}
	poll := func() (int, map[string]any) {
		return post(t, s.TokenURL(), url.Values{"grant_type": {DeviceGrantType}, "device_code": {da["device_code"].(string)}, "client_id": {s.ClientID()}})
	}
	status, m := poll()
	wantError(t, "first poll", status, m, 400, "slow_down")
	status, m = poll()
	wantError(t, "second poll", status, m, 400, "authorization_pending")

	if resp, _ := http.PostForm(s.ApproveURL(), url.Values{"user_code": {"NOTTHIS1"}}); resp.StatusCode != 404 {
		t.Fatalf("approving an unknown user code: %d, want 404", resp.StatusCode)
	}
	if resp, _ := http.PostForm(s.ApproveURL(), url.Values{"user_code": {da["user_code"].(string)}}); resp.StatusCode != 200 {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	status, m = poll()
	at, rt := wantTokens(t, "approved poll", status, m)
	if rt == "" || m["expires_in"] != 3600.0 || m["scope"] != "mail offline_access" {
		t.Fatalf("approved poll: %v, want a refresh token, expires_in 3600, the scopes", m)
	}
	if !s.Valid(at) || s.Valid(rt) || s.Valid("at-forged") {
		t.Errorf("Valid: access %v, refresh %v (want true, false)", s.Valid(at), s.Valid(rt))
	}
	status, m = poll()
	wantError(t, "poll after use", status, m, 400, "expired_token")
	if n := s.Requests(DeviceGrantType); n != 4 {
		t.Errorf("%d device polls counted, want 4", n)
	}

	// The device grant is fosite's: it refreshes (without Rotate the used
	// refresh token stays valid) and keeps its scopes.
	status, m = refresh(t, s, rt)
	at2, rt2 := wantTokens(t, "refresh of the device grant", status, m)
	if rt2 == "" || rt2 == rt || m["scope"] != "mail offline_access" || !s.Valid(at2) {
		t.Fatalf("refresh of the device grant: %v", m)
	}
	if got := s.RefreshTokens(); !slices.Contains(got, rt) || !slices.Contains(got, rt2) {
		t.Errorf("RefreshTokens = %v, want both without rotation", got)
	}
	issued := s.Issued()
	for _, tok := range []string{at, rt, at2, rt2} {
		if !slices.Contains(issued, tok) {
			t.Errorf("Issued lacks %q", tok)
		}
	}
}

func TestDeviceDeclinedExpiredUnknownClient(t *testing.T) {
	s := Start(t, Options{})
	_, da := post(t, s.DeviceURL(), url.Values{"client_id": {s.ClientID()}})
	if resp, _ := http.PostForm(s.ApproveURL(), url.Values{"deny": {"1"}}); resp.StatusCode != 200 {
		t.Fatalf("deny: %d", resp.StatusCode)
	}
	form := url.Values{"grant_type": {DeviceGrantType}, "device_code": {da["device_code"].(string)}, "client_id": {s.ClientID()}}
	status, m := post(t, s.TokenURL(), form)
	wantError(t, "declined", status, m, 400, "access_denied")

	_, da = post(t, s.DeviceURL(), url.Values{"client_id": {s.ClientID()}})
	s.SetOptions(func(o *Options) { o.ExpireDevice = true; o.AutoApprove = true })
	form.Set("device_code", da["device_code"].(string))
	status, m = post(t, s.TokenURL(), form)
	wantError(t, "expired", status, m, 400, "expired_token")

	status, m = post(t, s.DeviceURL(), url.Values{"client_id": {"someone-else"}})
	wantError(t, "device authorization of an unknown client", status, m, 400, "invalid_client")
	form.Set("client_id", "someone-else")
	status, m = post(t, s.TokenURL(), form)
	wantError(t, "poll of an unknown client", status, m, 401, "invalid_client")
}

// authorize runs /authorize like a browser that does not follow the
// redirect and returns the redirect's query.
func authorize(t *testing.T, s *Server, q url.Values) (int, url.Values) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(s.AuthURL() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 == 3 && !strings.HasPrefix(loc.String(), "http://127.0.0.1:4711/") {
		t.Fatalf("redirected to %q", loc)
	}
	return resp.StatusCode, loc.Query()
}

func TestAuthorizationCodePKCE(t *testing.T) {
	s := Start(t, Options{})
	verifier := "a-verifier-of-at-least-forty-three-characters-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	redirect := "http://127.0.0.1:4711/"
	q := url.Values{"client_id": {s.ClientID()}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"mail"}, "state": {"state-0123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}

	status, back := authorize(t, s, q)
	if status/100 != 3 || back.Get("code") == "" || back.Get("state") != "state-0123456789" {
		t.Fatalf("authorize: %d %v", status, back)
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {back.Get("code")}, "redirect_uri": {redirect},
		"client_id": {s.ClientID()}, "code_verifier": {strings.Replace(verifier, "a-", "b-", 1)}}
	status, m := post(t, s.TokenURL(), exchange)
	wantError(t, "wrong verifier", status, m, 400, "invalid_grant")

	status, back = authorize(t, s, q)
	exchange.Set("code", back.Get("code"))
	exchange.Set("code_verifier", verifier)
	exchange.Set("redirect_uri", "http://127.0.0.1:4712/")
	status, m = post(t, s.TokenURL(), exchange)
	if status == 200 {
		t.Fatalf("another redirect_uri than the authorization request's: %v", m)
	}
	exchange.Set("redirect_uri", redirect)
	status, back = authorize(t, s, q)
	exchange.Set("code", back.Get("code"))
	status, m = post(t, s.TokenURL(), exchange)
	at, rt := wantTokens(t, "right verifier", status, m)
	if rt == "" || !s.Valid(at) {
		t.Fatalf("code exchange: %v", m)
	}
	status, m = post(t, s.TokenURL(), exchange)
	wantError(t, "code used twice", status, m, 400, "invalid_grant")
	if n := s.Requests("authorization_code"); n != 4 {
		t.Errorf("%d code exchanges counted, want 4", n)
	}

	// PKCE is required, and S256 only.
	noPKCE := url.Values{}
	for k, v := range q {
		noPKCE[k] = v
	}
	noPKCE.Del("code_challenge")
	noPKCE.Del("code_challenge_method")
	if status, back = authorize(t, s, noPKCE); back.Get("code") != "" || back.Get("error") == "" {
		t.Errorf("without PKCE: %d %v, want an error", status, back)
	}
	noPKCE.Set("code_challenge", verifier)
	noPKCE.Set("code_challenge_method", "plain")
	if status, back = authorize(t, s, noPKCE); back.Get("code") != "" || back.Get("error") == "" {
		t.Errorf("PKCE plain: %d %v, want an error", status, back)
	}
	// Only loopback redirects are registered.
	q.Set("redirect_uri", "http://attacker.example/")
	if status, back = authorize(t, s, q); status/100 == 3 || back.Get("code") != "" {
		t.Errorf("a foreign redirect_uri: %d %v", status, back)
	}
}

func TestRefreshRotation(t *testing.T) {
	s := Start(t, Options{Rotate: true, ExpiresIn: 600})
	rt := s.NewGrant()
	status, m := refresh(t, s, rt)
	at, rt2 := wantTokens(t, "refresh", status, m)
	if rt2 == "" || rt2 == rt || m["expires_in"] != 600.0 || !s.Valid(at) {
		t.Fatalf("refresh: %v, want a new refresh token and expires_in 600", m)
	}
	if got := s.RefreshTokens(); !slices.Equal(got, []string{rt2}) {
		t.Errorf("RefreshTokens = %v, want only the rotated one", got)
	}
	status, m = refresh(t, s, rt2)
	at2, rt3 := wantTokens(t, "second refresh", status, m)
	if s.Valid(at) || !s.Valid(at2) {
		t.Errorf("after rotation the previous access token is valid %v, the new one %v", s.Valid(at), s.Valid(at2))
	}
	// The used refresh token is refused; fosite takes the reuse for theft
	// and revokes the grant.
	status, m = refresh(t, s, rt)
	wantError(t, "reused refresh token", status, m, 400, "invalid_grant")
	status, m = refresh(t, s, rt3)
	wantError(t, "refresh after reuse", status, m, 400, "invalid_grant")
	if s.Valid(at2) || len(s.RefreshTokens()) != 0 {
		t.Errorf("the grant survived reuse of its refresh token")
	}
	if n := s.Requests("refresh_token"); n != 4 {
		t.Errorf("%d refreshes counted, want 4", n)
	}
}

func TestRefreshWithoutRotation(t *testing.T) {
	s := Start(t, Options{})
	rt := s.NewGrant()
	for i := range 3 {
		status, m := refresh(t, s, rt)
		if at, _ := wantTokens(t, "refresh", status, m); !s.Valid(at) {
			t.Fatalf("refresh %d: %q not valid", i, at)
		}
	}
	s.RevokeAll()
	status, m := refresh(t, s, rt)
	wantError(t, "refresh after RevokeAll", status, m, 400, "invalid_grant")
	for _, tok := range s.Issued() {
		if s.Valid(tok) {
			t.Errorf("%q valid after RevokeAll", tok)
		}
	}
	if got := s.RefreshTokens(); len(got) != 0 {
		t.Errorf("RefreshTokens after RevokeAll = %v", got)
	}
}

func TestClientCredentials(t *testing.T) {
	s := Start(t, Options{ClientSecret: "app-secret"})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"mail"}, "client_id": {s.ClientID()}, "client_secret": {"app-secret"}}
	status, m := post(t, s.TokenURL(), form)
	at, rt := wantTokens(t, "client_credentials", status, m)
	if rt != "" || !s.Valid(at) || m["scope"] != "mail" {
		t.Fatalf("client_credentials: %v, want a valid access token only", m)
	}
	// client_secret_basic works as well.
	req, _ := http.NewRequest("POST", s.TokenURL(), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.ClientID(), "app-secret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("client_secret_basic: %v %v", resp, err)
	}
	form.Set("client_secret", "wrong")
	status, m = post(t, s.TokenURL(), form)
	wantError(t, "wrong secret", status, m, 401, "invalid_client")
	form.Del("client_secret")
	status, m = post(t, s.TokenURL(), form)
	wantError(t, "no secret", status, m, 401, "invalid_client")

	// A public client (no secret) may not use client_credentials.
	s.SetOptions(func(o *Options) { o.ClientSecret = "" })
	status, m = post(t, s.TokenURL(), form)
	if status == 200 {
		t.Fatalf("client_credentials for a public client: %v", m)
	}
	if n := s.Requests("client_credentials"); n != 5 {
		t.Errorf("%d client_credentials requests counted, want 5", n)
	}
}

func TestRevocation(t *testing.T) {
	s := Start(t, Options{AutoApprove: true, Rotate: true})
	_, da := post(t, s.DeviceURL(), url.Values{"client_id": {s.ClientID()}})
	status, m := post(t, s.TokenURL(), url.Values{"grant_type": {DeviceGrantType}, "device_code": {da["device_code"].(string)}, "client_id": {s.ClientID()}})
	at, rt := wantTokens(t, "device login", status, m)

	// RFC 7009: revoking the refresh token revokes the grant.
	if status, m = post(t, s.RevokeURL(), url.Values{"token": {rt}, "client_id": {s.ClientID()}}); status != 200 {
		t.Fatalf("revoke: %d %v", status, m)
	}
	if s.Valid(at) {
		t.Errorf("access token valid after revoking its grant")
	}
	status, m = refresh(t, s, rt)
	wantError(t, "refresh of a revoked grant", status, m, 400, "invalid_grant")
	// An unknown token is no error.
	if status, _ = post(t, s.RevokeURL(), url.Values{"token": {"at-unknown"}, "client_id": {s.ClientID()}}); status != 200 {
		t.Errorf("revoking an unknown token: %d, want 200", status)
	}

	// Revoking an access token revokes its grant too.
	rt2 := s.NewGrant()
	status, m = refresh(t, s, rt2)
	at2, rt3 := wantTokens(t, "refresh", status, m)
	if status, m = post(t, s.RevokeURL(), url.Values{"token": {at2}, "client_id": {s.ClientID()}}); status != 200 {
		t.Fatalf("revoke: %d %v", status, m)
	}
	status, m = refresh(t, s, rt3)
	if s.Valid(at2) || status == 200 {
		t.Errorf("the grant survived revoking its access token: %d %v", status, m)
	}
}

func TestFailStatus(t *testing.T) {
	s := Start(t, Options{FailStatus: 503})
	rt := s.NewGrant()
	status, m := refresh(t, s, rt)
	wantError(t, "failing", status, m, 503, "temporarily_unavailable")
	s.SetOptions(func(o *Options) { o.FailStatus = 0 })
	status, m = refresh(t, s, rt)
	wantTokens(t, "recovered", status, m)
	if n, all := s.Requests("refresh_token"), s.Requests(""); n != 2 || all != 2 {
		t.Errorf("counted %d refreshes, %d in all; want 2, 2", n, all)
	}
}
