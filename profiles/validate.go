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
func notUsedBy(transport, key string) bool {
	k, ok := profileKey(key)
	return ok && !k.UsedBy(transport)
}

// oauthOf is the key's [Key.OAuth]: "any" when it needs oauth, a provider
// when only that one uses it, else "".
func oauthOf(key string) string {
	k, _ := profileKey(key)
	return k.OAuth
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
			k == "oauth" && oauth == "",
			oauthOf(k) != "" && (oauth == "" || oauthOf(k) != "any" && oauthOf(k) != oauth):
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

	for _, k := range Schema {
		switch s, ok := eff[k.Name]; {
		case !k.Profile:
		case ok:
			assign(k.field(p), s.val)
		case k.def != nil:
			assign(k.field(p), k.def)
		}
	}
	if p.OAuth != "" && p.OAuthFlow == "" {
		p.OAuthFlow = defaultOAuthFlow(p.OAuth)
	}
	if p.OAuth == "microsoft" && p.OAuthTenant == "" {
		p.OAuthTenant = DefaultOAuthTenant
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
		case oauthOf(k) != "" && p.OAuth == "":
			failAt(k, "%s needs oauth (microsoft, google or custom)", k)
		case oauthOf(k) != "" && oauthOf(k) != "any" && oauthOf(k) != p.OAuth:
			failAt(k, "%s is only used with oauth %q, not %q", k, oauthOf(k), p.OAuth)
		}
	}
	switch p.Transport {
	case "mx":
		p.TLS = eff.str("tls", "opportunistic")
		if p.MXPort == 0 {
			p.MXPort = DefaultMXPort
		}
		p.Port = p.MXPort
		if p.TLS == "tls" {
			failAt("tls", "tls \"tls\" (TLS from the first byte) is not used with transport \"mx\"; use opportunistic or starttls")
		}
	case "smtp":
		p.TLS = eff.str("tls", "starttls")
		switch {
		case eff.has("port"):
		case p.TLS == "tls":
			p.Port = 465
		case p.TLS == "none":
			p.Port = 25
		default:
			p.Port = 587
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
