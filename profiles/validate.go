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
	switch key {
	case "host", "port", "auth", "username", "password_command", "password_env", "allow_plaintext_auth":
		return transport == "mx"
	case "resolver", "mx_port":
		return transport != "mx"
	}
	return false
}

// buildProfile merges a profile's own settings over [defaults], applies the
// defaults and checks the keys against each other.
func (l *loader) buildProfile(name string, own, defaults settings) *Profile {
	eff := settings{}
	p := &Profile{Name: name, Inherited: map[string]bool{}, file: l.file, origin: map[string]origin{}}
	ownsSecret := own.has("password_command") || own.has("password_env")
	transport := own.str("transport", defaults.str("transport", "smtp"))
	for k, s := range defaults {
		if own.has(k) || ownsSecret && (k == "password_command" || k == "password_env") ||
			notUsedBy(transport, k) {
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
	p.TLSSkipVerify = eff.bool("tls_skip_verify")
	p.Auth = eff.str("auth", "auto")
	p.Username = eff.str("username", "")
	p.PasswordCommand = eff.str("password_command", "")
	p.PasswordEnv = eff.str("password_env", "")
	p.AllowPlaintextAuth = eff.bool("allow_plaintext_auth")
	p.From = eff.str("from", "")
	p.FromRewrite = eff.str("from_rewrite", "local")
	p.Helo = eff.str("helo", "")
	p.Timeout = eff.dur("timeout", DefaultTimeout)
	p.Resolver = eff.str("resolver", "")
	p.MXPort = eff.int("mx_port", 0)
	p.DKIMDomain = eff.str("dkim_domain", "")
	p.DKIMSelector = eff.str("dkim_selector", "")
	p.DKIMKeyFile = eff.str("dkim_key_file", "")

	failAt := func(key string, format string, args ...any) {
		e := p.errorAt(key, fmt.Sprintf(format, args...))
		if _, ok := p.origin[key]; !ok { // not written anywhere: point at the profile
			e.Key, e.Line = keyString([]string{"profiles", name}), l.lines.line([]string{"profiles", name})
		}
		l.errs = append(l.errs, e)
	}

	for _, k := range sortedKeys(own) {
		if notUsedBy(p.Transport, k) {
			failAt(k, "%s is not used with transport %q", k, p.Transport)
		}
	}
	if p.Transport == "mx" {
		p.TLS = eff.str("tls", "opportunistic")
		p.Port = p.MXPort
		if p.Port == 0 {
			p.Port = DefaultMXPort
		}
		if p.TLS == "tls" {
			failAt("tls", "tls \"tls\" (TLS from the first byte) is not used with transport \"mx\"; use opportunistic or starttls")
		}
	} else {
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
