package cmd

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"mailout/delivery"
	"mailout/internal/dnstest"
	"mailout/internal/smtptest"
	"mailout/profiles"
)

func TestMXOptions(t *testing.T) {
	r := &runner{env: &Env{FQDN: func() string { return "host.example.test" }, Stderr: io.Discard, Getenv: func(string) string { return "" }}}
	for _, tt := range []struct {
		name string
		p    *profiles.Profile
		want delivery.MXOptions
	}{
		{"--mx without a profile", nil,
			delivery.MXOptions{Port: 25, Helo: "host.example.test", TLS: delivery.TLSOpportunistic, Timeout: 30 * time.Second}},
		{"mx profile", &profiles.Profile{Name: "d", Transport: "mx", TLS: "starttls", MXPort: 2525, Helo: "me.example.test", Timeout: 5 * time.Second},
			delivery.MXOptions{Port: 2525, Helo: "me.example.test", TLS: delivery.TLSStartTLS, Timeout: 5 * time.Second}},
		// A relay profile with --mx: its relay settings mean nothing to MX hosts.
		{"relay profile with --mx", &profiles.Profile{Name: "w", Transport: "smtp", Host: "smtp.example.test", Port: 587, TLS: "starttls", Timeout: 7 * time.Second},
			delivery.MXOptions{Port: 25, Helo: "host.example.test", TLS: delivery.TLSOpportunistic, Timeout: 7 * time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.mxOptions(tt.p)
			if err != nil {
				t.Fatalf("mxOptions = %v", err)
			}
			if got.Port != tt.want.Port || got.Helo != tt.want.Helo || got.TLS != tt.want.TLS || got.Timeout != tt.want.Timeout {
				t.Errorf("mxOptions(%s) = port %d helo %q tls %q timeout %v, want port %d helo %q tls %q timeout %v", tt.name,
					got.Port, got.Helo, got.TLS, got.Timeout, tt.want.Port, tt.want.Helo, tt.want.TLS, tt.want.Timeout)
			}
			if got.TLSConfig != nil && got.TLSConfig.ServerName != "" {
				t.Errorf("TLS ServerName = %q, want empty (each MX host is verified by its own name)", got.TLSConfig.ServerName)
			}
		})
	}
	p := &profiles.Profile{Name: "d", Transport: "mx", Resolver: "127.0.0.1:5353"}
	if got, _ := r.mxOptions(p); got.Resolver == nil {
		t.Errorf("mxOptions with resolver = %q: no Resolver set", p.Resolver)
	}
}

// runMain runs mailout in-process with a config file and a clean
// environment, and returns its exit code and stderr.
func runMain(t *testing.T, config string, args ...string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"HOME": dir, "XDG_STATE_HOME": filepath.Join(dir, "state"), "XDG_CONFIG_HOME": filepath.Join(dir, "config")}
	env := SystemEnv()
	var stdout, stderr bytes.Buffer
	env.Stdin, env.Stdout, env.Stderr = strings.NewReader(""), &stdout, &stderr
	env.StdinTTY, env.StderrTTY = false, false
	env.Getenv = func(k string) string { return vars[k] }
	env.Environ = func() []string { return nil }
	env.Hostname = func() string { return "sender.example.test" }
	code := Main(append([]string{"mailout", "--config", cfg}, args...), env)
	return code, stderr.String()
}

func writeKey(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDKIMProfileSignaturesVerify sends through the whole command with a
// DKIM profile, over MX and over a relay, and verifies what the servers
// received against the key published in the test DNS.
func TestDKIMProfileSignaturesVerify(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mx := smtptest.Start(t, smtptest.Options{Addr: "127.0.0.2:0"})
	relay := smtptest.Start(t, smtptest.Options{})
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"rsa-2048", rk}, {"ed25519", ek}} {
		dns := dnstest.Start(t, "a.test. MX 10 mx.a.test.", "mx.a.test. A 127.0.0.2",
			`sel._domainkey.example.test. TXT "`+delivery.DKIMRecord(k.key)+`"`)
		config := fmt.Sprintf(`
[defaults]
dkim_domain = "example.test"
dkim_selector = "sel"
dkim_key_file = %q
timeout = "5s"

[profiles.direct]
transport = "mx"
from = "Cron <cron@example.test>"
resolver = %q
mx_port = %d

[profiles.relay]
host = "127.0.0.1"
port = %d
tls = "none"
from = "cron@example.test"
`, writeKey(t, k.key), dns.Addr(), mx.Port(), relay.Port())
		for _, c := range []struct {
			profile string
			srv     *smtptest.Server
		}{{"direct", mx}, {"relay", relay}} {
			t.Run(k.name+"/"+c.profile, func(t *testing.T) {
				c.srv.Reset()
				code, stderr := runMain(t, config, "-P", c.profile, "-s", "Grüße", "--cc", "c@a.test", "--reply-to", "r@example.test", "--body", "line  one \n\n", "x@a.test")
				if code != 0 {
					t.Fatalf("mailout exited %d: %s", code, stderr)
				}
				msgs, err := c.srv.Wait(1, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				vs, err := dkim.VerifyWithOptions(bytes.NewReader(msgs[0].Data), &dkim.VerifyOptions{
					LookupTXT: func(name string) ([]string, error) { return dns.Resolver().LookupTXT(context.Background(), name) },
				})
				if err != nil || len(vs) != 1 || vs[0].Err != nil {
					t.Fatalf("DKIM verification = %v, %+v\n%s", err, vs, msgs[0].Data)
				}
				want := []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Reply-To"}
				if !slices.Equal(vs[0].HeaderKeys, want) {
					t.Errorf("signed headers = %v, want %v", vs[0].HeaderKeys, want)
				}
			})
		}
	}
}

func TestLoopbackNameserver(t *testing.T) {
	dir := t.TempDir()
	for conf, want := range map[string]string{
		"# local unbound\nnameserver 127.0.0.1\nnameserver 10.0.0.1\n": "127.0.0.1:53",
		"search example.test\nnameserver ::1\n":                        "[::1]:53",
		"nameserver 10.0.0.1\nnameserver 127.0.0.1\n":                  "", // the first one is used, and is remote
		"options edns0\n": "",
	} {
		path := filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := loopbackNameserver(path); got != want {
			t.Errorf("loopbackNameserver(%q) = %q, want %q", conf, got, want)
		}
	}
	if got := loopbackNameserver(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("missing resolv.conf: %q", got)
	}
}

func TestMTASTSCacheDir(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	r := &runner{env: &Env{Getenv: func(k string) string { return env[k] }, UID: os.Getuid()}}
	if got, want := r.mtastsCacheDir(), filepath.Join(home, ".cache", "mailout", "mta-sts"); got != want {
		t.Errorf("without XDG_CACHE_HOME: %q, want %q", got, want)
	}
	env["XDG_CACHE_HOME"] = "/xdg/cache"
	if got := r.mtastsCacheDir(); got != "/xdg/cache/mailout/mta-sts" {
		t.Errorf("with XDG_CACHE_HOME: %q", got)
	}
	// A system-wide queue: a folder of this user's beside it, unless
	// someone else could write there.
	q := t.TempDir()
	r.cfg = &profiles.Config{QueueDir: q}
	want := filepath.Join(q, fmt.Sprintf("mta-sts-%d", os.Getuid()))
	if got := r.mtastsCacheDir(); got != want {
		t.Fatalf("with queue_dir: %q, want %q", got, want)
	}
	if err := os.Chmod(want, 0o777); err != nil {
		t.Fatal(err)
	}
	if got := r.mtastsCacheDir(); got != "" {
		t.Errorf("world-writable cache folder used: %q", got)
	}
}
