// Package oauth gets and refreshes OAuth 2.0 access tokens for mail
// submission (SASL XOAUTH2 and OAUTHBEARER) and for the HTTP mail APIs.
// It is a secret source like a password_command: a [Source] hands out a
// bearer token on demand and nothing else knows where it came from.
//
// # Providers and flows
//
// A [Config] names a provider preset ([Microsoft], [Google]) or [Custom]
// endpoints, and a flow: [FlowDevice] (RFC 8628), [FlowBrowser]
// (authorization code with PKCE S256 and a loopback redirect, RFC 7636 and
// RFC 8252) or [FlowClientCredentials] (no user, no login). The device and
// browser flows need one interactive [Login]; afterwards the refresh token
// in the [Store] keeps the profile working unattended.
//
// # Tokens at rest
//
// A [Store] holds one [Record]: the refresh token and, beside it, the last
// access token with its expiry, so a send within the token's life asks the
// identity provider nothing. [KeyringStore] keeps it in the OS keyring
// (service [KeyringService], user = profile name), [FileStore] in a 0600
// file written atomically.
//
// # Concurrency
//
// A refresh runs under an in-process mutex and an flock(2) on a lock file,
// and re-reads the store once it holds them: batch workers and cron jobs
// that start in the same minute refresh once, and a rotated refresh token
// is saved before any token is handed out.
//
// # Errors
//
// Failures are [*Error]s whose [Kind] tells the caller what to do: log in
// again ([LoginRequired]), retry later ([Temporary]), fix the app
// registration ([Refused]) or the configuration ([Misconfigured]). No error
// text ever holds a token.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/oauth2"
)

// Provider presets, as in the oauth profile key.
const (
	Microsoft = "microsoft"
	Google    = "google"
	Custom    = "custom"
)

// Flows, as in the oauth_flow profile key.
const (
	FlowDevice            = "device"
	FlowBrowser           = "browser"
	FlowClientCredentials = "client_credentials"
)

// DefaultTenant is the Microsoft tenant used when none is configured: any
// work or school account.
const DefaultTenant = "organizations"

// Config describes one profile's OAuth client.
type Config struct {
	Profile  string // profile name: keyring user, error messages, the login hint
	Provider string // Microsoft, Google or Custom
	ClientID string
	// ClientSecret returns the client secret; nil for a public client.
	// It is called only when a token request is made.
	ClientSecret func(ctx context.Context) (string, error)
	Tenant       string // Microsoft only; "" means DefaultTenant
	Flow         string // "" means the provider's default
	// API is what the token is for: "" (SMTP), "graph" (Microsoft Graph
	// sendMail) or "gmail" (the Gmail API); it picks the preset's scopes.
	API string
	// DeviceURL, AuthURL and TokenURL are the endpoints of a Custom
	// provider; for a preset they replace its URLs when set.
	DeviceURL, AuthURL, TokenURL string
	Scopes                       []string // "" means the provider's scopes
}

// resolved is a Config with the preset applied.
type resolved struct {
	Config
	endpoint oauth2.Endpoint
	scopes   []string
	flow     string
}

// DefaultFlow returns the flow a provider uses when oauth_flow is unset:
// device for Microsoft and custom providers, browser for Google, which has
// no device flow for mail scopes.
func DefaultFlow(provider string) string {
	if provider == Google {
		return FlowBrowser
	}
	return FlowDevice
}

func (c Config) resolve() (*resolved, error) {
	r := &resolved{Config: c, flow: c.Flow}
	if r.flow == "" {
		r.flow = DefaultFlow(c.Provider)
	}
	switch c.Provider {
	case Microsoft:
		tenant := c.Tenant
		if tenant == "" {
			tenant = DefaultTenant
		}
		base := "https://login.microsoftonline.com/" + tenant + "/oauth2/v2.0/"
		r.endpoint = oauth2.Endpoint{DeviceAuthURL: base + "devicecode", AuthURL: base + "authorize", TokenURL: base + "token"}
		// App permissions (client_credentials) are granted to the resource
		// as a whole: its ".default" scope.
		switch {
		case c.API == "graph" && r.flow == FlowClientCredentials:
			r.scopes = []string{"https://graph.microsoft.com/.default"}
		case c.API == "graph":
			r.scopes = []string{"https://graph.microsoft.com/Mail.Send", "offline_access"}
		case r.flow == FlowClientCredentials:
			r.scopes = []string{"https://outlook.office365.com/.default"}
		default:
			r.scopes = []string{"https://outlook.office.com/SMTP.Send", "offline_access"}
		}
	case Google:
		r.endpoint = oauth2.Endpoint{AuthURL: "https://accounts.google.com/o/oauth2/v2/auth", TokenURL: "https://oauth2.googleapis.com/token"}
		r.scopes = []string{"https://mail.google.com/"}
		if c.API == "gmail" {
			r.scopes = []string{"https://www.googleapis.com/auth/gmail.send"}
		}
	case Custom:
	default:
		return nil, c.misconfigured(fmt.Errorf("unknown provider %q (want microsoft, google or custom)", c.Provider))
	}
	for _, u := range []struct {
		dst *string
		v   string
	}{{&r.endpoint.DeviceAuthURL, c.DeviceURL}, {&r.endpoint.AuthURL, c.AuthURL}, {&r.endpoint.TokenURL, c.TokenURL}} {
		if u.v != "" {
			*u.dst = u.v
		}
	}
	if len(c.Scopes) > 0 {
		r.scopes = c.Scopes
	}
	// Both presets take client_secret in the body, and naming the style
	// keeps oauth2 from trying a second request after every refusal.
	r.endpoint.AuthStyle = oauth2.AuthStyleInParams
	if c.ClientID == "" {
		return nil, c.misconfigured(errors.New("oauth_client_id is not set"))
	}
	if c.Provider == Google && r.flow == FlowDevice && r.endpoint.DeviceAuthURL == "" {
		return nil, c.misconfigured(errors.New("there is no Google device flow for mail; use the browser flow (oauth_flow = \"browser\", or profile login --browser)"))
	}
	// In a fixed order, so the error names the same missing key every time.
	need := []struct{ key, url string }{{"oauth_token_url", r.endpoint.TokenURL}}
	switch r.flow {
	case FlowDevice:
		need = append(need, struct{ key, url string }{"oauth_device_url", r.endpoint.DeviceAuthURL})
	case FlowBrowser:
		need = append(need, struct{ key, url string }{"oauth_auth_url", r.endpoint.AuthURL})
	case FlowClientCredentials:
	default:
		return nil, c.misconfigured(fmt.Errorf("unknown flow %q (want device, browser or client_credentials)", r.flow))
	}
	for _, n := range need {
		if n.url == "" {
			return nil, c.misconfigured(fmt.Errorf("the %s flow needs %s", r.flow, n.key))
		}
	}
	return r, nil
}

// oauth2Config builds the library's client configuration, fetching the
// client secret if there is one.
func (r *resolved) oauth2Config(ctx context.Context) (*oauth2.Config, error) {
	oc := &oauth2.Config{ClientID: r.ClientID, Endpoint: r.endpoint, Scopes: r.scopes}
	if r.ClientSecret != nil {
		s, err := r.ClientSecret(ctx)
		if err != nil {
			return nil, r.misconfigured(fmt.Errorf("client secret: %w", err))
		}
		oc.ClientSecret = s
	}
	return oc, nil
}

// Kind says what a caller can do about an [Error].
type Kind int

// Kinds of failure.
const (
	LoginRequired Kind = iota + 1 // no grant, or the grant is invalid, revoked or expired: log in again
	Temporary                     // the identity provider is unreachable or failing: retry later
	Refused                       // the identity provider refused the client (invalid_client, bad scope...)
	Misconfigured                 // the profile or the token store is unusable as configured
)

// Error is a failure to get a token.
type Error struct {
	Profile string
	Kind    Kind
	Err     error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("profile %q: oauth: %v", e.Profile, e.Err)
	if e.Kind == LoginRequired {
		msg += "; " + LoginHint(e.Profile)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// LoginHint is the advice for a profile whose grant is gone.
func LoginHint(profile string) string {
	return fmt.Sprintf("run 'mailout profile login %s'", profile)
}

// KindOf returns the Kind of an [*Error] in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// NeedsLogin reports whether err is a grant that only a new login can
// cure ([LoginRequired]). It is the predicate for delivery's
// Result.DeferIf: mail refused for it waits in the queue for the login
// instead of bouncing.
func NeedsLogin(err error) bool { return KindOf(err) == LoginRequired }

func (c Config) fail(k Kind, err error) error { return &Error{Profile: c.Profile, Kind: k, Err: err} }

func (c Config) misconfigured(err error) error { return c.fail(Misconfigured, err) }

// classify turns a token endpoint failure into an [*Error].
func (c Config) classify(op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		what := re.ErrorCode
		if what == "" {
			what = fmt.Sprintf("HTTP status %d", status)
		}
		if d := firstLine(re.ErrorDescription); d != "" {
			what += ": " + d
		}
		switch {
		case loginCodes[re.ErrorCode]:
			return c.fail(LoginRequired, fmt.Errorf("%s: the grant is no longer valid (%s)", op, what))
		case status >= 500 || status == 429 || re.ErrorCode == "temporarily_unavailable":
			return c.fail(Temporary, fmt.Errorf("%s: the identity provider is failing (%s)", op, what))
		}
		return c.fail(Refused, fmt.Errorf("%s: the identity provider refused the request (%s)", op, what))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return c.fail(Temporary, fmt.Errorf("%s: %w", op, err))
	}
	return c.fail(Temporary, fmt.Errorf("%s: the identity provider is unreachable: %w", op, err))
}

// loginCodes are the token endpoint errors that only a new login fixes:
// RFC 6749's and RFC 8628's, and the OpenID Connect ones Microsoft sends
// when a policy (MFA, consent) wants the user back.
var loginCodes = map[string]bool{
	"invalid_grant": true, "expired_token": true, "access_denied": true,
	"interaction_required": true, "login_required": true, "consent_required": true,
}

// firstLine keeps an error description short: Microsoft's carry trace and
// correlation ids on further lines.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "..."
	}
	return s
}
