package profiles

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestMXKeysOnSMTPProfile: resolver, mx_port, helo, dkim_*, mta_sts and
// dane are valid on an smtp profile (they apply when --mx sends through it)
// and are inherited from [defaults] by one.
func TestMXKeysOnSMTPProfile(t *testing.T) {
	dir := t.TempDir()
	_, keyFile := pemFiles(t, dir)
	c, err := Load(writeFile(t, dir, "config.toml", `
[defaults]
resolver = "127.0.0.1:5353"
[profiles.relay]
host = "smtp.example.com"
mx_port = 2525
helo = "me.example.com"
dkim_domain = "example.com"
dkim_selector = "s"
dkim_key_file = "key.pem"
mta_sts = "testing"
dane = false
`, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Profiles["relay"]
	if p.Transport != "smtp" || p.Port != 587 || p.Resolver != "127.0.0.1:5353" || p.MXPort != 2525 ||
		p.Helo != "me.example.com" || p.DKIMKeyFile != keyFile || p.MTASTS != "testing" || p.DANE {
		t.Errorf("relay = %+v", p)
	}
	if !p.Inherited["resolver"] {
		t.Errorf("resolver not inherited: %v", p.Inherited)
	}
}

func TestAPITransportKeys(t *testing.T) {
	c, _, err := loadText(t, `
[defaults]
host = "relay.example.com"
password_env = "SHARED"
[profiles.mg]
transport = "mailgun"
mailgun_domain = "mg.example.com"
api_url = "http://127.0.0.1:8080/"
[profiles.ses]
transport = "ses"
aws_region = "eu-west-1"
[profiles.sp]
transport = "sparkpost"
password_command = "pass sparkpost"
`)
	if err != nil {
		t.Fatal(err)
	}
	mg, ses, sp := c.Profiles["mg"], c.Profiles["ses"], c.Profiles["sp"]
	if mg.MailgunDomain != "mg.example.com" || mg.APIURL != "http://127.0.0.1:8080/" || mg.PasswordEnv != "SHARED" || mg.Host != "" {
		t.Errorf("mailgun = %+v", mg)
	}
	// ses takes neither the relay host nor a password: its keys come from AWS.
	if ses.AWSRegion != "eu-west-1" || ses.PasswordEnv != "" || ses.Host != "" || len(ses.Inherited) != 0 {
		t.Errorf("ses = %+v", ses)
	}
	if sp.PasswordCommand != "pass sparkpost" || sp.PasswordEnv != "" {
		t.Errorf("sparkpost = %+v", sp)
	}
}

func TestOAuthKeys(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	c, err := Load(writeFile(t, dir, "config.toml", `
[defaults]
oauth = "microsoft"
oauth_client_id = "shared-app"
oauth_tenant = "contoso.com"
[profiles.m365]
host = "smtp.office365.com"
username = "me@contoso.com"
auth = "xoauth2"
[profiles.graph]
transport = "graph"
oauth_flow = "client_credentials"
oauth_client_secret_env = "GRAPH_SECRET"
oauth_token_file = "~/tok.json"
[profiles.gmail]
transport = "gmail"
oauth = "google"
oauth_client_id = "g-app"
[profiles.custom]
transport = "graph"
oauth = "custom"
oauth_client_id = "c"
oauth_token_url = "http://127.0.0.1:9/token"
oauth_device_url = "http://127.0.0.1:9/device"
oauth_scopes = ["mail.send", "offline_access"]
[profiles.plain]
host = "smtp.example.com"
username = "u"
password_command = "pass x"
`, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Profiles["m365"]
	if m.OAuth != "microsoft" || m.OAuthClientID != "shared-app" || m.OAuthTenant != "contoso.com" ||
		m.OAuthFlow != "device" || m.Auth != "xoauth2" {
		t.Errorf("m365 = %+v", m)
	}
	g := c.Profiles["graph"]
	if g.OAuthFlow != "client_credentials" || g.OAuthClientSecretEnv != "GRAPH_SECRET" ||
		g.OAuthTokenFile != filepath.Join(dir, "tok.json") || g.OAuthTenant != "contoso.com" {
		t.Errorf("graph = %+v", g)
	}
	// google: its own oauth replaces the inherited one, and with it the
	// microsoft-only tenant; its flow defaults to browser.
	gm := c.Profiles["gmail"]
	if gm.OAuth != "google" || gm.OAuthClientID != "g-app" || gm.OAuthTenant != "" || gm.OAuthFlow != "browser" {
		t.Errorf("gmail = %+v", gm)
	}
	cu := c.Profiles["custom"]
	if cu.OAuthFlow != "device" || cu.OAuthTokenURL != "http://127.0.0.1:9/token" || cu.OAuthTenant != "" ||
		!reflect.DeepEqual(cu.OAuthScopes, []string{"mail.send", "offline_access"}) {
		t.Errorf("custom = %+v", cu)
	}
	// A profile with its own password takes none of the oauth keys.
	pl := c.Profiles["plain"]
	if pl.OAuth != "" || pl.OAuthClientID != "" || pl.OAuthTenant != "" || pl.OAuthFlow != "" {
		t.Errorf("plain = %+v", pl)
	}
	for _, k := range []string{"oauth", "oauth_client_id", "oauth_tenant"} {
		if pl.Inherited[k] {
			t.Errorf("plain inherited %s", k)
		}
	}
}

// TestOwnOAuthDropsInheritedPassword: a profile's own oauth is its secret
// source, so it takes no password key from [defaults].
func TestOwnOAuthDropsInheritedPassword(t *testing.T) {
	c, _, err := loadText(t, `
[defaults]
password_env = "PW"
[profiles.o]
host = "smtp.gmail.com"
username = "me@gmail.com"
oauth = "google"
oauth_client_id = "c"
[profiles.p]
host = "smtp.example.com"
`)
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Profiles["o"]; o.PasswordEnv != "" || o.Inherited["password_env"] {
		t.Errorf("o = %+v", o)
	}
	if p := c.Profiles["p"]; p.PasswordEnv != "PW" {
		t.Errorf("p = %+v", p)
	}
}
