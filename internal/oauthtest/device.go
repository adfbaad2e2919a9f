package oauthtest

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/x/errorsx"
)

// The device authorization grant (RFC 8628) on fosite, which has none in
// this version: the device authorization endpoint (deviceAuth) and the
// user's approval (approve) keep the pending logins in the Server; the
// token endpoint is fosite's, with deviceHandler registered as one more
// fosite.TokenEndpointHandler for DeviceGrantType. Once a login is
// approved the handler issues an access and a refresh token with fosite's
// token strategy into fosite's store, under the fosite request id of the
// token request, so the grant is refreshed, rotated, introspected and
// revoked by fosite's own handlers like an authorization code grant.

// deviceError is an RFC 8628 token endpoint error, written by fosite.
func deviceError(code, desc string) error {
	return errorsx.WithStack(&fosite.RFC6749Error{ErrorField: code, DescriptionField: desc, CodeField: http.StatusBadRequest})
}

// deviceFactory is the compose.Factory of deviceHandler.
func (s *Server) deviceFactory(config fosite.Configurator, st interface{}, strategy interface{}) interface{} {
	return &deviceHandler{s: s,
		AccessTokenStrategy:  strategy.(oauth2.AccessTokenStrategy),
		RefreshTokenStrategy: strategy.(oauth2.RefreshTokenStrategy),
		Storage:              st.(oauth2.TokenRevocationStorage)}
}

type deviceHandler struct {
	s                    *Server
	AccessTokenStrategy  oauth2.AccessTokenStrategy
	RefreshTokenStrategy oauth2.RefreshTokenStrategy
	Storage              oauth2.TokenRevocationStorage
}

var _ fosite.TokenEndpointHandler = (*deviceHandler)(nil)

func (h *deviceHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (h *deviceHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(DeviceGrantType)
}

// HandleTokenEndpointRequest answers a poll: pending, slow_down, expired,
// denied, or approved, when it grants the scopes of the device request.
func (h *deviceHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return errorsx.WithStack(fosite.ErrUnknownRequest)
	}
	if !r.GetClient().GetGrantTypes().Has(DeviceGrantType) {
		return errorsx.WithStack(fosite.ErrUnauthorizedClient.WithHint("The client may not use the device authorization grant."))
	}
	code := r.GetRequestForm().Get("device_code")
	if code == "" {
		return errorsx.WithStack(fosite.ErrInvalidRequest.WithHint("Parameter 'device_code' is missing."))
	}
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[code]
	switch {
	case d == nil || d.used || s.opts.ExpireDevice || time.Now().After(d.expires):
		return deviceError("expired_token", "The device code is unknown, used or expired.")
	case d.polls < s.opts.SlowDown:
		d.polls++
		return deviceError("slow_down", "Poll less often.")
	case d.denied:
		d.used = true
		return deviceError("access_denied", "The user declined the sign-in.")
	case !d.approved && !s.opts.AutoApprove:
		d.polls++
		return deviceError("authorization_pending", "The user has not approved yet.")
	}
	d.used = true
	for _, scope := range d.scopes {
		r.GrantScope(scope)
	}
	return nil
}

// PopulateTokenEndpointResponse issues the grant's first tokens, as
// fosite's authorization code handler does.
func (h *deviceHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return errorsx.WithStack(fosite.ErrUnknownRequest)
	}
	at, atSig, err := h.AccessTokenStrategy.GenerateAccessToken(ctx, r)
	if err != nil {
		return errorsx.WithStack(fosite.ErrServerError.WithWrap(err))
	}
	rt, rtSig, err := h.RefreshTokenStrategy.GenerateRefreshToken(ctx, r)
	if err != nil {
		return errorsx.WithStack(fosite.ErrServerError.WithWrap(err))
	}
	stored := r.Sanitize([]string{})
	if err := h.Storage.CreateAccessTokenSession(ctx, atSig, stored); err != nil {
		return errorsx.WithStack(fosite.ErrServerError.WithWrap(err))
	}
	if err := h.Storage.CreateRefreshTokenSession(ctx, rtSig, atSig, stored); err != nil {
		return errorsx.WithStack(fosite.ErrServerError.WithWrap(err))
	}
	resp.SetAccessToken(at)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(time.Until(r.GetSession().GetExpiresAt(fosite.AccessToken)))
	resp.SetScopes(r.GetGrantedScopes())
	resp.SetExtra("refresh_token", rt)
	return nil
}

// deviceAuth is the device authorization endpoint (RFC 8628 section 3.1).
func (s *Server) deviceAuth(w http.ResponseWriter, r *http.Request) {
	if _, err := s.client(r.PostFormValue("client_id")); err != nil {
		oauthError(w, 400, "invalid_client", "unknown client")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	code := random("dc-")
	userCode := strings.ToUpper(random("")[:8])
	s.devices[code] = &device{userCode: userCode, scopes: strings.Fields(r.PostFormValue("scope")),
		expires: time.Now().Add(deviceLifetime)}
	interval := s.opts.Interval
	if interval <= 0 {
		interval = 1
	}
	writeJSON(w, 200, map[string]any{"device_code": code, "user_code": userCode,
		"verification_uri": s.VerificationURI(), "expires_in": int(deviceLifetime / time.Second), "interval": interval})
}

// approve is the user approving (or, with deny=1, declining) a pending
// device login.
func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	uc := r.PostFormValue("user_code")
	deny := r.PostFormValue("deny") != ""
	s.mu.Lock()
	defer s.mu.Unlock()
	var newest *device
	for _, d := range s.devices {
		if !d.approved && !d.denied && !d.used && (uc == "" || d.userCode == uc) &&
			(newest == nil || d.expires.After(newest.expires)) {
			newest = d
		}
	}
	if newest == nil {
		http.Error(w, "no such pending login", http.StatusNotFound)
		return
	}
	if deny {
		newest.denied = true
		w.Write([]byte("denied\n"))
		return
	}
	newest.approved = true
	w.Write([]byte("approved\n"))
}
