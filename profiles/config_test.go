package profiles

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to dir/name with mode and returns the path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // beat the umask
		t.Fatal(err)
	}
	return p
}

// pemFiles writes a self-signed certificate and its key (ed25519, PKCS#8) to
// dir and returns their paths.
func pemFiles(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	keyFile = writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})), 0o600)
	return certFile, keyFile
}

// loadText writes text as config.toml in a new folder and loads it.
func loadText(t *testing.T, text string) (*Config, string, error) {
	t.Helper()
	dir := t.TempDir()
	p := writeFile(t, dir, "config.toml", text, 0o644)
	c, err := Load(p)
	return c, p, err
}

const specExample = `
default_profile = "work"
local_domain = "example.com"       # for recipients without @
aliases_file = "aliases"
queue_dir = "/var/spool/mailout"
max_queue_age = "120h"
log = "syslog"

[aliases]
root = "ops@example.com"
default = "ops@example.com"       # any other local name

[defaults]                        # inherited by every profile
helo = "host.example.com"
timeout = "30s"

[profiles.work]
transport = "smtp"
host = "smtp.example.com"
port = 587
tls = "starttls"
tls_ca_file = ""
tls_fingerprint = ""
tls_cert_file = ""
tls_key_file = ""
tls_skip_verify = false
auth = "auto"
username = "me@example.com"
password_command = "pass show smtp/work"
allow_plaintext_auth = false
from = "Me <me@example.com>"
from_rewrite = "local"

[profiles.direct]
transport = "mx"
from = "cron@host.example.com"
resolver = "127.0.0.1:53"
mx_port = 25
dkim_domain = "example.com"
dkim_selector = "mail"
dkim_key_file = "key.pem"
`

func TestLoadSpecExample(t *testing.T) {
	dir := t.TempDir()
	_, keyFile := pemFiles(t, dir)
	writeFile(t, dir, "aliases", "postmaster: root\n", 0o644)
	p := writeFile(t, dir, "config.toml", specExample, 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path != p || c.DefaultProfile != "work" || c.LocalDomain != "example.com" || c.Log != "syslog" ||
		c.QueueDir != "/var/spool/mailout" || c.MaxQueueAge != 120*time.Hour || c.AliasesFile != filepath.Join(dir, "aliases") {
		t.Errorf("top-level keys: %+v", c)
	}
	wantAliases := map[string][]string{"root": {"ops@example.com"}, "default": {"ops@example.com"}, "postmaster": {"root"}}
	if !reflect.DeepEqual(c.Aliases, wantAliases) {
		t.Errorf("Aliases = %v, want %v", c.Aliases, wantAliases)
	}
	if got := c.Names(); !reflect.DeepEqual(got, []string{"direct", "work"}) {
		t.Errorf("Names() = %v", got)
	}
	work := c.Profiles["work"]
	want := &Profile{
		Name: "work", Transport: "smtp", Host: "smtp.example.com", Port: 587, TLS: "starttls",
		Auth: "auto", Username: "me@example.com", PasswordCommand: "pass show smtp/work",
		From: "Me <me@example.com>", FromRewrite: "local", Helo: "host.example.com", Timeout: 30 * time.Second,
		MTASTS: "enforce", DANE: true,
		Inherited: map[string]bool{"helo": true, "timeout": true},
	}
	if !sameProfile(work, want) {
		t.Errorf("work =\n%+v\nwant\n%+v", *work, *want)
	}
	if work.FromAddress() != "me@example.com" {
		t.Errorf("FromAddress() = %q", work.FromAddress())
	}
	direct := c.Profiles["direct"]
	want = &Profile{
		Name: "direct", Transport: "mx", Port: 25, TLS: "opportunistic", Auth: "auto",
		From: "cron@host.example.com", FromRewrite: "local", Helo: "host.example.com", Timeout: 30 * time.Second,
		Resolver: "127.0.0.1:53", MXPort: 25, DKIMDomain: "example.com", DKIMSelector: "mail", DKIMKeyFile: keyFile,
		MTASTS: "enforce", DANE: true,
		Inherited: map[string]bool{"helo": true, "timeout": true},
	}
	if !sameProfile(direct, want) {
		t.Errorf("direct =\n%+v\nwant\n%+v", *direct, *want)
	}
}

// sameProfile compares the exported fields.
func sameProfile(a, b *Profile) bool {
	x, y := *a, *b
	x.file, x.origin = "", nil
	y.file, y.origin = "", nil
	return reflect.DeepEqual(x, y)
}

func TestLoadNoFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "" || c.MaxQueueAge != DefaultMaxQueueAge || len(c.Profiles) != 0 || c.Aliases == nil {
		t.Errorf("Load(\"\") = %+v", c)
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name, toml     string
		port           int
		tls            string
		timeout        time.Duration
		auth, rewrite  string
		transportWants string
	}{
		{"starttls", `host = "h"`, 587, "starttls", 30 * time.Second, "auto", "local", "smtp"},
		{"tls", "host = \"h\"\ntls = \"tls\"", 465, "tls", 30 * time.Second, "auto", "local", "smtp"},
		{"none", "host = \"h\"\ntls = \"none\"", 25, "none", 30 * time.Second, "auto", "local", "smtp"},
		{"opportunistic", "host = \"h\"\ntls = \"opportunistic\"", 587, "opportunistic", 30 * time.Second, "auto", "local", "smtp"},
		{"explicit port", "host = \"h\"\ntls = \"tls\"\nport = 2465", 2465, "tls", 30 * time.Second, "auto", "local", "smtp"},
		{"mx", `transport = "mx"`, 25, "opportunistic", 30 * time.Second, "auto", "local", "mx"},
		{"mx port", "transport = \"mx\"\nmx_port = 2525\ntls = \"none\"", 2525, "none", 30 * time.Second, "auto", "local", "mx"},
		{"others", "host = \"h\"\ntimeout = \"1m\"\nauth = \"none\"\nfrom_rewrite = \"never\"", 587, "starttls", time.Minute, "none", "never", "smtp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := loadText(t, "[profiles.p]\n"+tt.toml+"\n")
			if err != nil {
				t.Fatal(err)
			}
			p := c.Profiles["p"]
			if p.Port != tt.port || p.TLS != tt.tls || p.Timeout != tt.timeout || p.Auth != tt.auth ||
				p.FromRewrite != tt.rewrite || p.Transport != tt.transportWants {
				t.Errorf("got port %d tls %s timeout %v auth %s from_rewrite %s transport %s", p.Port, p.TLS, p.Timeout, p.Auth, p.FromRewrite, p.Transport)
			}
		})
	}
}

func TestDefaultsInheritance(t *testing.T) {
	c, _, err := loadText(t, `
[defaults]
host = "relay.example.com"
helo = "me.example.com"
timeout = "45s"
password_env = "DEFAULT_PW"
username = "shared"

[profiles.a]
port = 2525

[profiles.b]
host = "other.example.com"
helo = ""
password_command = "echo x"

[profiles.c]
transport = "mx"
`)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Profiles["a"], c.Profiles["b"]
	if a.Host != "relay.example.com" || a.Helo != "me.example.com" || a.Timeout != 45*time.Second ||
		a.PasswordEnv != "DEFAULT_PW" || a.Username != "shared" || a.Port != 2525 {
		t.Errorf("a = %+v", a)
	}
	wantA := map[string]bool{"host": true, "helo": true, "timeout": true, "password_env": true, "username": true}
	if !reflect.DeepEqual(a.Inherited, wantA) {
		t.Errorf("a.Inherited = %v, want %v", a.Inherited, wantA)
	}
	// b overrides host, clears helo, and its password_command replaces the inherited password_env.
	if b.Host != "other.example.com" || b.Helo != "" || b.PasswordEnv != "" || b.PasswordCommand != "echo x" {
		t.Errorf("b = %+v", b)
	}
	wantB := map[string]bool{"timeout": true, "username": true}
	if !reflect.DeepEqual(b.Inherited, wantB) {
		t.Errorf("b.Inherited = %v, want %v", b.Inherited, wantB)
	}
	// c (mx) takes only the keys its transport uses.
	cp := c.Profiles["c"]
	if cp.Host != "" || cp.Username != "" || cp.PasswordEnv != "" || cp.Helo != "me.example.com" {
		t.Errorf("c = %+v", cp)
	}
	wantC := map[string]bool{"helo": true, "timeout": true}
	if !reflect.DeepEqual(cp.Inherited, wantC) {
		t.Errorf("c.Inherited = %v, want %v", cp.Inherited, wantC)
	}
}

// TestInheritedTransportKeys: a key from [defaults] that a profile's transport
// does not use is not applied; the same key in the profile's own table is an
// error.
func TestInheritedTransportKeys(t *testing.T) {
	c, _, err := loadText(t, `
[defaults]
port = 2525
[profiles.smtp]
host = "h"
[profiles.mx]
transport = "mx"
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Profiles["mx"].Port != 25 || c.Profiles["smtp"].Port != 2525 {
		t.Errorf("ports: mx %d smtp %d", c.Profiles["mx"].Port, c.Profiles["smtp"].Port)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := pemFiles(t, dir)
	notPEM := writeFile(t, dir, "plain.txt", "hello\n", 0o644)
	missing := filepath.Join(dir, "missing.pem")
	badAliases := writeFile(t, dir, "bad-aliases", "ok: a@b\nno colon here\n", 0o644)

	tests := []struct {
		name string
		toml string
		line int
		key  string
		msg  string
	}{
		{"syntax", "a = \"x\nb = 1\n", 1, "", "strings cannot contain newlines"},
		{"duplicate key", "[profiles.w]\nhost = \"h\"\nhost = \"i\"\n", 3, "", "has already been defined"},
		{"unknown top key", "local_domain = \"x\"\nfoo = 1\n", 2, "foo", `unknown key "foo"`},
		{"unknown profile key with hint", "[profiles.work]\nhost = \"h\"\nusrname = \"x\"\n", 3, "profiles.work.usrname", `unknown key "usrname" (did you mean "username"?)`},
		{"password in config", "[profiles.work]\nhost = \"h\"\npassword = \"x\"\n", 3, "profiles.work.password", "a password never goes in the config file"},
		{"client secret in config", "[profiles.g]\ntransport = \"graph\"\noauth_client_secret = \"x\"\n", 3, "profiles.g.oauth_client_secret", "a client secret never goes in the config file; use oauth_client_secret_command"},
		{"unknown defaults key", "[defaults]\n\nhots = \"x\"\n", 3, "defaults.hots", `(did you mean "host"?)`},
		{"unknown table", "[profile.work]\nhost = \"h\"\n", 1, "profile", `did you mean "profiles"?`},
		{"port type", "[profiles.work]\nhost = \"h\"\nport = \"587\"\n", 3, "profiles.work.port", "must be an integer, not a string"},
		{"port range", "# c\n\n[profiles.work]\nhost = \"h\"\n\n\n\n\n\n\n\nport = 70000\n", 12, "profiles.work.port", "port 70000 out of range 1-65535"},
		{"port zero", "[profiles.work]\nhost = \"h\"\nport = 0\n", 3, "profiles.work.port", "out of range"},
		{"mx_port range", "[profiles.d]\ntransport = \"mx\"\nmx_port = -1\n", 3, "profiles.d.mx_port", "mx_port -1 out of range 1-65535"},
		{"bad tls", "[profiles.work]\nhost = \"h\"\ntls = \"ssl\"\n", 3, "profiles.work.tls", `unknown tls "ssl" (use starttls, tls, opportunistic, none)`},
		{"bad auth", "[profiles.work]\nhost = \"h\"\nauth = \"md5\"\n", 3, "profiles.work.auth", `unknown auth "md5"`},
		{"bad transport", "[profiles.work]\ntransport = \"lmtp\"\n", 2, "profiles.work.transport", `unknown transport "lmtp" (use smtp, mx, graph, gmail, ses, mailgun, sparkpost)`},
		{"bad from_rewrite", "[profiles.work]\nhost = \"h\"\nfrom_rewrite = \"sometimes\"\n", 3, "profiles.work.from_rewrite", "unknown from_rewrite"},
		{"integer timeout", "[defaults]\ntimeout = 30\n", 2, "defaults.timeout", `must be a duration string such as "30s", not the bare number 30`},
		{"bad duration", "[profiles.work]\nhost = \"h\"\ntimeout = \"30 seconds\"\n", 3, "profiles.work.timeout", `invalid duration "30 seconds"`},
		{"short timeout", "[profiles.work]\nhost = \"h\"\ntimeout = \"500ms\"\n", 3, "profiles.work.timeout", "timeout 500ms is too short (at least 1s)"},
		{"float duration", "max_queue_age = 1.5\n", 1, "max_queue_age", "must be a duration string"},
		{"bool type", "[profiles.work]\nhost = \"h\"\ntls_skip_verify = \"yes\"\n", 3, "profiles.work.tls_skip_verify", "must be true or false, not a string"},
		{"string type", "[profiles.work]\nhost = 5\n", 2, "profiles.work.host", "must be a string, not an integer"},
		{"profiles not a table", "profiles = 3\n", 1, "profiles", "must be a table, not an integer"},
		{"profile not a table", "[profiles]\nwork = \"x\"\n", 2, "profiles.work", "must be a table, not a string"},
		{"inline table", "profiles = { work = { host = \"h\", port = 99999 } }\n", 1, "profiles.work.port", "out of range"},
		{"dotted keys", "[profiles]\nwork.host = \"h\"\nwork.port = 99999\n", 3, "profiles.work.port", "out of range"},
		{"quoted profile name", "[profiles.\"my.work\"]\nhost = \"h\"\nport = 99999\n", 3, `profiles."my.work".port`, "out of range"},
		{"ca file missing", fmt.Sprintf("[profiles.work]\nhost = \"h\"\ntls_ca_file = %q\n", missing), 3, "profiles.work.tls_ca_file", "cannot read " + missing + ": no such file or directory"},
		{"ca file not PEM", fmt.Sprintf("[profiles.work]\nhost = \"h\"\ntls_ca_file = %q\n", notPEM), 3, "profiles.work.tls_ca_file", "holds no PEM certificate"},
		{"cert file missing", fmt.Sprintf("[profiles.work]\nhost = \"h\"\ntls_cert_file = %q\ntls_key_file = %q\n", missing, keyFile), 3, "profiles.work.tls_cert_file", "cannot read"},
		{"cert without key", fmt.Sprintf("[profiles.work]\nhost = \"h\"\ntls_cert_file = %q\n", certFile), 3, "profiles.work.tls_cert_file", "tls_cert_file needs tls_key_file"},
		{"cert and key mismatch", fmt.Sprintf("[profiles.work]\nhost = \"h\"\ntls_cert_file = %q\ntls_key_file = %q\n", certFile, certFile), 4, "profiles.work.tls_key_file", "client certificate and key do not fit"},
		{"dkim key missing", fmt.Sprintf("[profiles.d]\ntransport = \"mx\"\ndkim_domain = \"e.com\"\ndkim_selector = \"s\"\ndkim_key_file = %q\n", missing), 5, "profiles.d.dkim_key_file", "cannot read"},
		{"dkim key not PEM", fmt.Sprintf("[profiles.d]\ntransport = \"mx\"\ndkim_domain = \"e.com\"\ndkim_selector = \"s\"\ndkim_key_file = %q\n", notPEM), 5, "profiles.d.dkim_key_file", "holds no PEM private key"},
		{"dkim incomplete", "[profiles.d]\ntransport = \"mx\"\ndkim_domain = \"e.com\"\n", 3, "profiles.d.dkim_domain", "missing dkim_selector, dkim_key_file"},
		{"fingerprint short", "[profiles.work]\nhost = \"h\"\ntls_fingerprint = \"abcd\"\n", 3, "profiles.work.tls_fingerprint", "is not a SHA-256 fingerprint"},
		{"fingerprint not hex", "[profiles.work]\nhost = \"h\"\ntls_fingerprint = \"" + strings.Repeat("g", 64) + "\"\n", 3, "profiles.work.tls_fingerprint", "64 hex digits"},
		{"resolver no port", "[profiles.d]\ntransport = \"mx\"\nresolver = \"127.0.0.1\"\n", 3, "profiles.d.resolver", `"127.0.0.1" is not IP:PORT`},
		{"resolver hostname", "[profiles.d]\ntransport = \"mx\"\nresolver = \"dns.example:53\"\n", 3, "profiles.d.resolver", "is not IP:PORT"},
		{"host with port", "[profiles.work]\nhost = \"smtp.example.com:587\"\n", 2, "profiles.work.host", "write the port separately"},
		{"host missing", "[defaults]\nhelo = \"x\"\n\n[profiles.work]\nport = 25\n", 4, "profiles.work", `host is required (transport "smtp")`},
		{"host with mx", "[profiles.d]\ntransport = \"mx\"\nhost = \"h\"\n", 3, "profiles.d.host", `host is not used with transport "mx"`},
		{"mx with implicit tls", "[profiles.d]\ntransport = \"mx\"\ntls = \"tls\"\n", 3, "profiles.d.tls", "not used with transport \"mx\""},
		{"resolver with sparkpost", "[profiles.g]\ntransport = \"sparkpost\"\nresolver = \"127.0.0.1:53\"\n", 3, "profiles.g.resolver", `resolver is not used with transport "sparkpost"`},
		{"host with ses", "[profiles.s]\ntransport = \"ses\"\nhost = \"h\"\n", 3, "profiles.s.host", `host is not used with transport "ses"`},
		{"password with ses", "[profiles.s]\ntransport = \"ses\"\npassword_env = \"K\"\n", 3, "profiles.s.password_env", `password_env is not used with transport "ses"`},
		{"api_url with smtp", "[profiles.w]\nhost = \"h\"\napi_url = \"https://x\"\n", 3, "profiles.w.api_url", `api_url is not used with transport "smtp"`},
		{"api_url not http", "[profiles.m]\ntransport = \"sparkpost\"\napi_url = \"ftp://x\"\n", 3, "profiles.m.api_url", `"ftp://x" is not an http or https URL`},
		{"api_url relative", "[profiles.m]\ntransport = \"sparkpost\"\napi_url = \"api.example.com\"\n", 3, "profiles.m.api_url", "is not an http or https URL"},
		{"mailgun without domain", "[profiles.m]\ntransport = \"mailgun\"\npassword_env = \"K\"\n", 1, "profiles.m", `mailgun_domain is required (transport "mailgun")`},
		{"mailgun_domain with ses", "[profiles.s]\ntransport = \"ses\"\nmailgun_domain = \"m.example.com\"\n", 3, "profiles.s.mailgun_domain", "not used with transport"},
		{"aws_region with mailgun", "[profiles.m]\ntransport = \"mailgun\"\nmailgun_domain = \"m\"\naws_region = \"eu-west-1\"\n", 4, "profiles.m.aws_region", "not used with transport"},
		{"graph without oauth", "[profiles.g]\ntransport = \"graph\"\nfrom = \"a@b.c\"\n", 1, "profiles.g", `transport "graph" needs oauth`},
		{"gmail without oauth", "[profiles.g]\ntransport = \"gmail\"\n", 1, "profiles.g", `transport "gmail" needs oauth`},
		{"oauth with mx", "[profiles.d]\ntransport = \"mx\"\noauth = \"google\"\n", 3, "profiles.d.oauth", `oauth is not used with transport "mx"`},
		{"bad oauth", "[profiles.w]\nhost = \"h\"\noauth = \"yahoo\"\n", 3, "profiles.w.oauth", `unknown oauth "yahoo" (use "", microsoft, google, custom)`},
		{"oauth without client id", "[profiles.w]\nhost = \"h\"\nusername = \"u\"\noauth = \"google\"\n", 4, "profiles.w.oauth", "oauth needs oauth_client_id"},
		{"oauth key without oauth", "[profiles.w]\nhost = \"h\"\noauth_client_id = \"c\"\n", 3, "profiles.w.oauth_client_id", "oauth_client_id needs oauth"},
		{"oauth and password", "[profiles.w]\nhost = \"h\"\nusername = \"u\"\noauth = \"google\"\noauth_client_id = \"c\"\npassword_command = \"x\"\n", 6, "profiles.w.password_command", "password_command and oauth are both set"},
		{"oauth and inherited password", "[defaults]\npassword_env = \"P\"\noauth = \"google\"\noauth_client_id = \"c\"\n[profiles.w]\nhost = \"h\"\nusername = \"u\"\n", 2, "defaults.password_env", "password_env and oauth are both set"},
		{"oauth with plain", "[profiles.w]\nhost = \"h\"\nusername = \"u\"\nauth = \"plain\"\noauth = \"google\"\noauth_client_id = \"c\"\n", 4, "profiles.w.auth", `auth "plain" does not take an OAuth token`},
		{"oauth without username", "[profiles.w]\nhost = \"h\"\noauth = \"google\"\noauth_client_id = \"c\"\n", 3, "profiles.w.oauth", "oauth needs a username"},
		{"tenant with google", "[profiles.g]\ntransport = \"gmail\"\noauth = \"google\"\noauth_client_id = \"c\"\noauth_tenant = \"t\"\n", 5, "profiles.g.oauth_tenant", `oauth_tenant is only used with oauth "microsoft", not "google"`},
		{"token url with microsoft", "[profiles.g]\ntransport = \"graph\"\noauth = \"microsoft\"\noauth_client_id = \"c\"\noauth_token_url = \"https://t\"\n", 5, "profiles.g.oauth_token_url", `only used with oauth "custom"`},
		{"custom without token url", "[profiles.g]\ntransport = \"graph\"\noauth = \"custom\"\noauth_client_id = \"c\"\noauth_device_url = \"https://d\"\n", 3, "profiles.g.oauth", `oauth "custom" needs oauth_token_url`},
		{"custom device without url", "[profiles.g]\ntransport = \"graph\"\noauth = \"custom\"\noauth_client_id = \"c\"\noauth_token_url = \"https://t\"\n", 1, "profiles.g", `oauth_flow "device" with oauth "custom" needs oauth_device_url`},
		{"custom browser without url", "[profiles.g]\ntransport = \"graph\"\noauth = \"custom\"\noauth_client_id = \"c\"\noauth_token_url = \"https://t\"\noauth_flow = \"browser\"\n", 6, "profiles.g.oauth_flow", "needs oauth_auth_url"},
		{"client_credentials without secret", "[profiles.g]\ntransport = \"graph\"\noauth = \"microsoft\"\noauth_client_id = \"c\"\noauth_flow = \"client_credentials\"\n", 5, "profiles.g.oauth_flow", "needs oauth_client_secret_command or oauth_client_secret_env"},
		{"two client secrets", "[profiles.g]\ntransport = \"graph\"\noauth = \"microsoft\"\noauth_client_id = \"c\"\noauth_client_secret_env = \"S\"\noauth_client_secret_command = \"x\"\n", 6, "profiles.g.oauth_client_secret_command", "exactly one secret source"},
		{"bad oauth_flow", "[profiles.g]\ntransport = \"graph\"\noauth_flow = \"implicit\"\n", 3, "profiles.g.oauth_flow", `unknown oauth_flow "implicit"`},
		{"bad token url", "[profiles.g]\ntransport = \"graph\"\noauth_token_url = \"/token\"\n", 3, "profiles.g.oauth_token_url", "is not an http or https URL"},
		{"relative token file", "[profiles.g]\ntransport = \"graph\"\noauth_token_file = \"tok\"\n", 3, "profiles.g.oauth_token_file", `"tok" must be an absolute path or start with ~/`},
		{"scopes not a list", "[profiles.g]\ntransport = \"graph\"\noauth_scopes = \"a b\"\n", 3, "profiles.g.oauth_scopes", "must be a list of strings, not a string"},
		{"scope with blank", "[profiles.g]\ntransport = \"graph\"\noauth_scopes = [\"a b\"]\n", 3, "profiles.g.oauth_scopes", "must not contain blanks"},
		{"bad client secret env", "[profiles.g]\ntransport = \"graph\"\noauth_client_secret_env = \"$S\"\n", 3, "profiles.g.oauth_client_secret_env", "not an environment variable name"},
		{"bad mta_sts", "[profiles.d]\ntransport = \"mx\"\nmta_sts = \"on\"\n", 3, "profiles.d.mta_sts", `unknown mta_sts "on" (use off, testing, enforce)`},
		{"dane type", "[profiles.d]\ntransport = \"mx\"\ndane = \"yes\"\n", 3, "profiles.d.dane", "must be true or false"},
		{"mta_sts with ses", "[profiles.s]\ntransport = \"ses\"\nmta_sts = \"off\"\n", 3, "profiles.s.mta_sts", `mta_sts is not used with transport "ses"`},
		{"auth oauthbearer without username", "[profiles.w]\nhost = \"h\"\nauth = \"oauthbearer\"\n", 3, "profiles.w.auth", `auth "oauthbearer" needs a username`},
		{"auth without username", "[profiles.w]\nhost = \"h\"\nauth = \"plain\"\n", 3, "profiles.w.auth", `auth "plain" needs a username`},
		{"two secret sources", "[profiles.w]\nhost = \"h\"\npassword_command = \"x\"\npassword_env = \"Y\"\n", 4, "profiles.w.password_env", "exactly one secret source"},
		{"bad env name", "[profiles.w]\nhost = \"h\"\npassword_env = \"$SMTP_PASSWORD\"\n", 3, "profiles.w.password_env", "not an environment variable name"},
		{"bad from", "[profiles.w]\nhost = \"h\"\nfrom = \"Me <me@\"\n", 3, "profiles.w.from", `invalid address "Me <me@"`},
		{"helo with space", "[defaults]\nhelo = \"a b\"\n", 2, "defaults.helo", "must not contain blanks"},
		{"local_domain with @", "local_domain = \"me@example.com\"\n", 1, "local_domain", "without @"},
		{"default_profile missing", "\ndefault_profile = \"nope\"\n[profiles.a]\nhost = \"h\"\n", 2, "default_profile", `no profile "nope" (profiles: a)`},
		{"aliases_file missing", fmt.Sprintf("aliases_file = %q\n", missing), 1, "aliases_file", "no such file or directory"},
		{"alias value type", "[aliases]\nroot = 5\n", 2, "aliases.root", "must be a string or a list of strings, not an integer"},
		{"alias pipe", "[aliases]\nroot = \"|/bin/cat\"\n", 2, "aliases.root", "pipe target"},
		{"alias empty", "[aliases]\nroot = \" , \"\n", 2, "aliases.root", "has no targets"},
		{"alias duplicate", "[aliases]\nRoot = \"a@b\"\nroot = \"c@d\"\n", 3, "aliases.root", "defined twice"},
		{"earliest error wins", "[profiles.w]\nport = 0\nhost = 1\n", 2, "profiles.w.port", "out of range"},
		{"empty profile name", "[profiles.\"\"]\nhost = \"h\"\n", 1, `profiles.""`, "needs a name"},
		// The aliases file itself is at fault: its own name and line.
		{"aliases file syntax", fmt.Sprintf("aliases_file = %q\n", badAliases), 2, "", `expected "name: address, ...", got "no colon here"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := loadText(t, tt.toml)
			if err == nil {
				t.Fatalf("Load succeeded, want error %q", tt.msg)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !IsConfigError(err) {
				t.Fatalf("error %v (%T) is not a ConfigError", err, err)
			}
			wantFile := path
			if tt.name == "aliases file syntax" {
				wantFile = badAliases
			}
			if ce.File != wantFile || ce.Line != tt.line || ce.Key != tt.key || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got  %s:%d: [%s] %s\nwant %s:%d: [%s] ...%s...", ce.File, ce.Line, ce.Key, ce.Msg, wantFile, tt.line, tt.key, tt.msg)
			}
			prefix := fmt.Sprintf("%s:%d: ", wantFile, tt.line)
			if tt.key != "" {
				prefix += tt.key + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), prefix)
			}
		})
	}
}

func TestConfigErrorText(t *testing.T) {
	tests := []struct {
		e    ConfigError
		want string
	}{
		{ConfigError{File: "config.toml", Line: 12, Key: "profiles.work.port", Msg: "port 70000 out of range 1-65535"}, "config.toml:12: profiles.work.port: port 70000 out of range 1-65535"},
		{ConfigError{File: "config.toml", Msg: "config file not found"}, "config.toml: config file not found"},
		{ConfigError{File: "c", Line: 3, Msg: "m"}, "c:3: m"},
		{ConfigError{Msg: "no profile"}, "no profile"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestFingerprintNormalised(t *testing.T) {
	hex := strings.Repeat("Ab", 32)
	var colons []string
	for i := 0; i < 64; i += 2 {
		colons = append(colons, hex[i:i+2])
	}
	c, _, err := loadText(t, fmt.Sprintf("[profiles.w]\nhost = \"h\"\ntls_fingerprint = %q\n", strings.Join(colons, ":")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Profiles["w"].TLSFingerprint; got != strings.ToLower(hex) {
		t.Errorf("TLSFingerprint = %q", got)
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	pemFiles(t, filepath.Join(mkdir(t, dir, "certs")))
	p := writeFile(t, dir, "config.toml", `
queue_dir = "spool"
log = "mailout.log"
[profiles.w]
host = "h"
tls_ca_file = "certs/cert.pem"
tls_cert_file = "certs/cert.pem"
tls_key_file = "certs/key.pem"
`, 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Profiles["w"]
	if c.QueueDir != filepath.Join(dir, "spool") || c.Log != filepath.Join(dir, "mailout.log") ||
		w.TLSCAFile != filepath.Join(dir, "certs", "cert.pem") || w.TLSKeyFile != filepath.Join(dir, "certs", "key.pem") {
		t.Errorf("paths: queue %s log %s ca %s key %s", c.QueueDir, c.Log, w.TLSCAFile, w.TLSKeyFile)
	}
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConfigPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o664, 0o646, 0o666} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "config.toml", "", mode)
			_, err := Load(p)
			if !IsConfigError(err) || !strings.Contains(err.Error(), "writable by group or others") {
				t.Errorf("Load with mode %04o: %v", mode, err)
			}
		})
	}
	t.Run("0644 is fine", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "config.toml", "", 0o644)
		if _, err := Load(p); err != nil {
			t.Error(err)
		}
	})
	t.Run("owned by another user", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to chown")
		}
		p := writeFile(t, t.TempDir(), "config.toml", "", 0o644)
		if err := os.Chown(p, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if !IsConfigError(err) || !strings.Contains(err.Error(), "owned by another user (uid 4242)") {
			t.Errorf("Load: %v", err)
		}
	})
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.toml")
	_, err := Load(p)
	if !IsConfigError(err) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestLocate(t *testing.T) {
	root := t.TempDir()
	home := mkdir(t, root, "home")
	xdg := mkdir(t, root, "xdg")
	homeCfg := writeFile(t, mkdir(t, mkdir(t, home, ".config"), "mailout"), "config.toml", "", 0o644)
	xdgCfg := writeFile(t, mkdir(t, xdg, "mailout"), "config.toml", "", 0o644)
	envCfg := writeFile(t, root, "env.toml", "", 0o644)
	flagCfg := writeFile(t, root, "flag.toml", "", 0o644)
	system := writeFile(t, root, "system.toml", "", 0o644)
	emptyXDG := mkdir(t, root, "emptyxdg")
	missing := filepath.Join(root, "missing.toml")

	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	all := env("MAILOUT_CONFIG", envCfg, "XDG_CONFIG_HOME", xdg, "HOME", home)
	tests := []struct {
		name     string
		explicit string
		getenv   func(string) string
		system   string
		want     string
		wantErr  string
	}{
		{"flag wins", flagCfg, all, system, flagCfg, ""},
		{"env next", "", all, system, envCfg, ""},
		{"xdg next", "", env("XDG_CONFIG_HOME", xdg, "HOME", home), system, xdgCfg, ""},
		{"home when xdg unset", "", env("HOME", home), system, homeCfg, ""},
		{"home when xdg relative", "", env("XDG_CONFIG_HOME", "rel", "HOME", home), system, homeCfg, ""},
		{"xdg without file does not fall back to home", "", env("XDG_CONFIG_HOME", emptyXDG, "HOME", home), system, system, ""},
		{"system last", "", env(), system, system, ""},
		{"nothing", "", env("HOME", root), missing, "", ""},
		{"explicit missing", missing, all, system, "", "config file not found"},
		{"env missing", "", env("MAILOUT_CONFIG", missing, "HOME", home), system, "", "config file not found"},
		{"explicit directory", root, all, system, "", "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := locate(tt.explicit, tt.getenv, tt.system)
			if tt.wantErr != "" {
				if !IsConfigError(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("locate error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("locate = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestKeyLines(t *testing.T) {
	src := `# comment
top = 1
s = """
multi = "not a key"
"""
[profiles.work]   # header
host = "h" # trailing
"quoted.key" = 'lit'
dotted.a.b = [
  1,
  { x = 2 },
]
inline = { c = 3, d = { e = 4 } }
[[arr]]
n = 1
[ profiles . "with space" ]
port = 2
`
	kl := indexKeyLines(src)
	tests := []struct {
		path []string
		want int
	}{
		{[]string{"top"}, 2},
		{[]string{"s"}, 3},
		{[]string{"multi"}, 0},
		{[]string{"profiles"}, 6},
		{[]string{"profiles", "work"}, 6},
		{[]string{"profiles", "work", "host"}, 7},
		{[]string{"profiles", "work", "quoted.key"}, 8},
		{[]string{"profiles", "work", "dotted", "a", "b"}, 9},
		{[]string{"profiles", "work", "inline", "d", "e"}, 13},
		{[]string{"arr", "n"}, 15},
		{[]string{"profiles", "with space", "port"}, 17},
		{[]string{"profiles", "work", "nothere"}, 6}, // falls back to the table
	}
	for _, tt := range tests {
		if got := kl.line(tt.path); got != tt.want {
			t.Errorf("line(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	// Bad input never hangs or panics.
	for _, s := range []string{"[", "a = \"", "a = '''", "a = [", "a = {", "\"", "= 1", "[[a", "a.\n"} {
		indexKeyLines(s)
	}
}

func TestProfileKeyNamesAreKnown(t *testing.T) {
	l := &loader{lines: keyLines{}}
	for _, k := range keyNames(true) {
		l.errs = nil
		l.profileValue([]string{k}, k, struct{}{})
		if len(l.errs) != 1 || strings.Contains(l.errs[0].Msg, "unknown key") {
			t.Errorf("key %q: %v", k, l.errs)
		}
	}
}
