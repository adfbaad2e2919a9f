package profiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// resolve makes a file name from the config file absolute.
func (l *loader) resolve(p string) string {
	if (p == "~" || strings.HasPrefix(p, "~/")) && l.home != "" {
		p = filepath.Join(l.home, p[1:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(l.dir, p)
	}
	return filepath.Clean(p)
}

// readFileKey reads the file a key names. "" means not set.
func (l *loader) readFileKey(path []string, v any) (name string, data []byte, ok bool) {
	s, ok := l.str(path, v)
	if !ok || s == "" {
		return "", nil, ok
	}
	name = l.resolve(s)
	data, err := os.ReadFile(name)
	if err != nil {
		l.fail(path, "cannot read %s: %s", name, reason(err))
		return "", nil, false
	}
	return name, data, true
}

func (l *loader) readableFile(path []string, v any) (any, bool) {
	name, _, ok := l.readFileKey(path, v)
	return name, ok
}

func (l *loader) caFile(path []string, v any) (any, bool) {
	name, data, ok := l.readFileKey(path, v)
	if ok && name != "" && !x509.NewCertPool().AppendCertsFromPEM(data) {
		l.fail(path, "%s holds no PEM certificate", name)
		return nil, false
	}
	return name, ok
}

func (l *loader) dkimKeyFile(path []string, v any) (any, bool) {
	name, data, ok := l.readFileKey(path, v)
	if !ok || name == "" {
		return name, ok
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			l.fail(path, "%s holds no PEM private key", name)
			return nil, false
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			return name, true
		}
	}
}

func (l *loader) host(path []string, v any) (any, bool) {
	s, ok := l.str(path, v)
	if !ok || s == "" {
		return s, ok
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		if _, err := strconv.Atoi(p); err == nil {
			l.fail(path, "%q: write the port separately (host = %q, port = %s)", s, h, p)
			return nil, false
		}
	}
	return l.word(path, v)
}

// fingerprint accepts 64 hex digits, optionally in colon-separated pairs,
// and returns them in lower case without colons.
func (l *loader) fingerprint(path []string, v any) (any, bool) {
	s, ok := l.str(path, v)
	if !ok || s == "" {
		return s, ok
	}
	hex := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	valid := len(hex) == 64
	for _, r := range hex {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			valid = false
		}
	}
	if !valid {
		l.fail(path, "%q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", s)
		return nil, false
	}
	return hex, true
}

func (l *loader) resolver(path []string, v any) (any, bool) {
	s, ok := l.str(path, v)
	if !ok || s == "" {
		return s, ok
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		l.fail(path, "%q is not IP:PORT (such as \"127.0.0.1:53\" or \"[::1]:53\")", s)
		return nil, false
	}
	return s, true
}

// notUsedBy reports whether a transport ignores a profile key. Such a key is
// an error in a profile's own table and is not inherited from [defaults].
// The mx keys count as used by smtp profiles: they apply when --mx sends
// through one.
func notUsedBy(transport, key string) bool {
	api := transport != "smtp" && transport != "mx"
	switch key {
	case "host", "port", "auth", "username", "allow_plaintext_auth":
		return transport != "smtp"
	case "password_command", "password_env": // the API key of mailgun and sparkpost
		return transport != "smtp" && transport != "mailgun" && transport != "sparkpost"
	case "tls", "tls_ca_file", "tls_fingerprint", "tls_cert_file", "tls_key_file", "tls_skip_verify",
		"helo", "resolver", "mx_port", "dkim_domain", "dkim_selector", "dkim_key_file", "mta_sts", "dane":
		return api
	case "api_url":
		return !api
	case "aws_region":
		return transport != "ses"
	case "mailgun_domain":
		return transport != "mailgun"
	}
	if isOAuthKey(key) {
		return transport != "smtp" && transport != "graph" && transport != "gmail"
	}
	return false
}

func isOAuthKey(key string) bool { return key == "oauth" || strings.HasPrefix(key, "oauth_") }

// oauthOnly names the one oauth provider that uses key, or "" when every
// provider does.
func oauthOnly(key string) string {
	switch key {
	case "oauth_tenant":
		return "microsoft"
	case "oauth_device_url", "oauth_auth_url", "oauth_token_url":
		return "custom"
	}
	return ""
}

// defaultOAuthFlow is each provider's usual flow: Google has no device
// flow for mail scopes.
func defaultOAuthFlow(provider string) string {
	if provider == "google" {
		return "browser"
	}
	return "device"
}

// buildProfile merges a profile's own settings over [defaults], applies the
// defaults and checks the keys against each other.
func (l *loader) buildProfile(name string, own, defaults settings) *Profile {
	eff := settings{}
	p := &Profile{Name: name, Inherited: map[string]bool{}, file: l.file, origin: map[string]origin{}}
	// A profile's own secret source replaces the one [defaults] names:
	// password_command and password_env count as one key, and oauth with
	// its keys as another.
	ownsPassword := own.has("password_command") || own.has("password_env")
	transport := own.str("transport", defaults.str("transport", "smtp"))
	oauth := own.str("oauth", "")
	if !own.has("oauth") && !ownsPassword && !notUsedBy(transport, "oauth") {
		oauth = defaults.str("oauth", "")
	}
	for k, s := range defaults {
		switch {
		case own.has(k), notUsedBy(transport, k),
			(k == "password_command" || k == "password_env") && (ownsPassword || own.str("oauth", "") != ""),
			isOAuthKey(k) && (oauth == "" || oauthOnly(k) != "" && oauthOnly(k) != oauth):
			continue
		}
		eff[k] = s
		p.Inherited[k] = true
	}
	for k, s := range own {
		eff[k] = s
	}
	for k, s := range eff {
		p.origin[k] = s.at
	}

	p.Transport = eff.str("transport", "smtp")
	p.Host = eff.str("host", "")
	p.TLSCAFile = eff.str("tls_ca_file", "")
	p.TLSFingerprint = eff.str("tls_fingerprint", "")
	p.TLSCertFile = eff.str("tls_cert_file", "")
	p.TLSKeyFile = eff.str("tls_key_file", "")
	p.TLSSkipVerify = eff.bool("tls_skip_verify", false)
	p.Auth = eff.str("auth", "auto")
	p.Username = eff.str("username", "")
	p.PasswordCommand = eff.str("password_command", "")
	p.PasswordEnv = eff.str("password_env", "")
	p.AllowPlaintextAuth = eff.bool("allow_plaintext_auth", false)
	p.From = eff.str("from", "")
	p.FromRewrite = eff.str("from_rewrite", "local")
	p.Helo = eff.str("helo", "")
	p.Timeout = eff.dur("timeout", DefaultTimeout)
	p.Resolver = eff.str("resolver", "")
	p.MXPort = eff.int("mx_port", 0)
	p.DKIMDomain = eff.str("dkim_domain", "")
	p.DKIMSelector = eff.str("dkim_selector", "")
	p.DKIMKeyFile = eff.str("dkim_key_file", "")
	p.MTASTS = eff.str("mta_sts", DefaultMTASTS)
	p.DANE = eff.bool("dane", true)
	p.APIURL = eff.str("api_url", "")
	p.AWSRegion = eff.str("aws_region", "")
	p.MailgunDomain = eff.str("mailgun_domain", "")
	p.OAuth = eff.str("oauth", "")
	p.OAuthClientID = eff.str("oauth_client_id", "")
	p.OAuthClientSecretCommand = eff.str("oauth_client_secret_command", "")
	p.OAuthClientSecretEnv = eff.str("oauth_client_secret_env", "")
	p.OAuthTokenFile = eff.str("oauth_token_file", "")
	p.OAuthDeviceURL = eff.str("oauth_device_url", "")
	p.OAuthAuthURL = eff.str("oauth_auth_url", "")
	p.OAuthTokenURL = eff.str("oauth_token_url", "")
	p.OAuthScopes = eff.strs("oauth_scopes")
	if p.OAuth != "" {
		p.OAuthFlow = eff.str("oauth_flow", defaultOAuthFlow(p.OAuth))
	}
	if p.OAuth == "microsoft" {
		p.OAuthTenant = eff.str("oauth_tenant", DefaultOAuthTenant)
	}

	failAt := func(key string, format string, args ...any) {
		e := p.errorAt(key, fmt.Sprintf(format, args...))
		if _, ok := p.origin[key]; !ok { // not written anywhere: point at the profile
			e.Key, e.Line = keyString([]string{"profiles", name}), l.lines.line([]string{"profiles", name})
		}
		l.errs = append(l.errs, e)
	}

	for _, k := range sortedKeys(own) {
		switch {
		case notUsedBy(p.Transport, k):
			failAt(k, "%s is not used with transport %q", k, p.Transport)
		case isOAuthKey(k) && k != "oauth" && p.OAuth == "":
			failAt(k, "%s needs oauth (microsoft, google or custom)", k)
		case oauthOnly(k) != "" && p.OAuth != "" && oauthOnly(k) != p.OAuth:
			failAt(k, "%s is only used with oauth %q, not %q", k, oauthOnly(k), p.OAuth)
		}
	}
	switch p.Transport {
	case "mx":
		p.TLS = eff.str("tls", "opportunistic")
		p.Port = p.MXPort
		if p.Port == 0 {
			p.Port = DefaultMXPort
		}
		if p.TLS == "tls" {
			failAt("tls", "tls \"tls\" (TLS from the first byte) is not used with transport \"mx\"; use opportunistic or starttls")
		}
	case "smtp":
		p.TLS = eff.str("tls", "starttls")
		switch p.TLS {
		case "tls":
			p.Port = eff.int("port", 465)
		case "none":
			p.Port = eff.int("port", 25)
		default:
			p.Port = eff.int("port", 587)
		}
		if p.Host == "" {
			failAt("host", "host is required (transport %q)", p.Transport)
		}
		if p.Username == "" && p.Auth != "auto" && p.Auth != "none" {
			failAt("auth", "auth %q needs a username", p.Auth)
		}
		if p.OAuth != "" {
			switch {
			case p.Auth != "auto" && p.Auth != "xoauth2" && p.Auth != "oauthbearer":
				failAt("auth", "auth %q does not take an OAuth token (oauth is %q); use xoauth2, oauthbearer or auto", p.Auth, p.OAuth)
			case p.Username == "":
				failAt("oauth", "oauth needs a username (the mailbox to log in as)")
			}
		}
	case "graph", "gmail":
		if p.OAuth == "" {
			failAt("oauth", "transport %q needs oauth (it takes no password)", p.Transport)
		}
	case "mailgun":
		if p.MailgunDomain == "" {
			failAt("mailgun_domain", "mailgun_domain is required (transport \"mailgun\")")
		}
	}

	if p.OAuth != "" {
		l.checkOAuth(p, failAt)
	}
	switch {
	case p.TLSCertFile != "" && p.TLSKeyFile == "":
		failAt("tls_cert_file", "tls_cert_file needs tls_key_file")
	case p.TLSKeyFile != "" && p.TLSCertFile == "":
		failAt("tls_key_file", "tls_key_file needs tls_cert_file")
	case p.TLSCertFile != "":
		if _, err := tls.LoadX509KeyPair(p.TLSCertFile, p.TLSKeyFile); err != nil {
			failAt("tls_key_file", "client certificate and key do not fit: %v", err)
		}
	}

	dkim := map[string]string{"dkim_domain": p.DKIMDomain, "dkim_selector": p.DKIMSelector, "dkim_key_file": p.DKIMKeyFile}
	var set, missing []string
	for _, k := range []string{"dkim_domain", "dkim_selector", "dkim_key_file"} {
		if dkim[k] != "" {
			set = append(set, k)
		} else {
			missing = append(missing, k)
		}
	}
	if len(set) > 0 && len(missing) > 0 {
		failAt(set[0], "DKIM signing needs dkim_domain, dkim_selector and dkim_key_file (missing %s)", strings.Join(missing, ", "))
	}
	return p
}

// checkOAuth checks an OAuth profile's keys against each other.
func (l *loader) checkOAuth(p *Profile, failAt func(key, format string, args ...any)) {
	for _, k := range []string{"password_command", "password_env"} {
		if p.IsSet(k) {
			failAt(k, "%s and oauth are both set; a profile has exactly one secret source (oauth gets its tokens itself)", k)
		}
	}
	if p.OAuthClientID == "" {
		failAt("oauth", "oauth needs oauth_client_id (the app registration to log in with)")
	}
	if p.OAuthFlow == "client_credentials" && p.OAuthClientSecretCommand == "" && p.OAuthClientSecretEnv == "" {
		failAt("oauth_flow", "oauth_flow \"client_credentials\" needs oauth_client_secret_command or oauth_client_secret_env")
	}
	if p.OAuth != "custom" {
		return
	}
	if p.OAuthTokenURL == "" {
		failAt("oauth", "oauth \"custom\" needs oauth_token_url")
	}
	switch {
	case p.OAuthFlow == "device" && p.OAuthDeviceURL == "":
		failAt("oauth_flow", "oauth_flow \"device\" with oauth \"custom\" needs oauth_device_url")
	case p.OAuthFlow == "browser" && p.OAuthAuthURL == "":
		failAt("oauth_flow", "oauth_flow \"browser\" with oauth \"custom\" needs oauth_auth_url")
	}
}
