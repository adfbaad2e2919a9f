package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"mailout/delivery"
	"mailout/profiles"
)

// transport turns a profile or the --server flags into a delivery
// Transport. Secrets are looked up lazily, only when the server asks for
// AUTH, so a send that needs none never touches the keyring.
func (r *runner) transport(cfg *profiles.Config, p *profiles.Profile, del deliveryOptions) (delivery.Transport, string, error) {
	var verbose = r.verboseWriter(del)
	if del.server != "" {
		o, err := r.serverOptions(del)
		if err != nil {
			return nil, "", err
		}
		o.Verbose = verbose
		return delivery.NewRelay(o), "smtp", nil
	}
	if del.mx || (p != nil && p.Transport == "mx") {
		return r.mxTransport(p, verbose)
	}
	if p == nil {
		return nil, "", withCode(exitConfig, errors.New("no profile to send with"))
	}
	o, err := r.profileOptions(p)
	if err != nil {
		return nil, "", err
	}
	o.Verbose = verbose
	t, err := r.signing(p, delivery.NewRelay(o))
	return t, "smtp", err
}

func (r *runner) verboseWriter(del deliveryOptions) io.Writer {
	if del.verbose {
		return r.env.Stderr
	}
	return nil
}

// serverOptions builds an ad-hoc relay from --server/--tls/--user.
func (r *runner) serverOptions(del deliveryOptions) (delivery.RelayOptions, error) {
	mode := delivery.TLSMode(del.tls)
	if mode == "" {
		mode = delivery.TLSStartTLS
	}
	host, port, err := splitHostPort(del.server, mode)
	if err != nil {
		return delivery.RelayOptions{}, err
	}
	o := delivery.RelayOptions{
		Host: host, Port: port, TLS: mode, Helo: r.heloName(""), Timeout: 30 * time.Second,
		Auth: delivery.Auth{Username: del.user, Mechanism: "auto", Secret: r.promptSecret},
	}
	return o, nil
}

func defaultPort(mode delivery.TLSMode) int {
	switch mode {
	case delivery.TLSImplicit:
		return 465
	case delivery.TLSNone:
		return 25
	}
	return 587
}

func splitHostPort(s string, mode delivery.TLSMode) (string, int, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(s, "[]"), defaultPort(mode), nil
		}
		return "", 0, usageErrorf("--server %q: %v", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, usageErrorf("--server %q: bad port", s)
	}
	return host, port, nil
}

// promptSecret is the --server password: $MAILOUT_PASSWORD, else a prompt
// on the terminal (never stdin, which holds the body).
func (r *runner) promptSecret(ctx context.Context) (string, error) {
	if pw := r.env.Getenv("MAILOUT_PASSWORD"); pw != "" {
		return pw, nil
	}
	tty, err := r.env.OpenTTY()
	if err != nil {
		return "", withCode(exitConfig, errors.New("no password: set MAILOUT_PASSWORD, or run on a terminal to be asked"))
	}
	defer tty.Close()
	fmt.Fprint(tty, "Password: ")
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return "", withCode(exitConfig, fmt.Errorf("read password from terminal: %w", err))
	}
	return string(pw), nil
}

// profileOptions builds relay options from an smtp profile.
func (r *runner) profileOptions(p *profiles.Profile) (delivery.RelayOptions, error) {
	tc, err := r.tlsConfig(p)
	if err != nil {
		return delivery.RelayOptions{}, err
	}
	helo := r.heloName(p.Helo)
	secrets := r.secrets()
	prof := p
	return delivery.RelayOptions{
		Host: p.Host, Port: p.Port, TLS: delivery.TLSMode(p.TLS), TLSConfig: tc, Helo: helo, Timeout: p.Timeout,
		Auth: delivery.Auth{
			Mechanism: p.Auth, Username: p.Username, AllowPlaintext: p.AllowPlaintextAuth,
			Secret: func(ctx context.Context) (string, error) { return secrets.Lookup(ctx, prof) },
		},
	}, nil
}

func (r *runner) secrets() *profiles.Secrets {
	return &profiles.Secrets{Getenv: r.env.Getenv, Keyring: r.env.Keyring()}
}

// tlsConfig applies a profile's CA file, client certificate, pin and
// skip-verify settings.
func (r *runner) tlsConfig(p *profiles.Profile) (*tls.Config, error) {
	tc := &tls.Config{ServerName: p.Host, MinVersion: tls.VersionTLS12}
	if p.TLSCAFile != "" {
		pem, err := os.ReadFile(p.TLSCAFile)
		if err != nil {
			return nil, withCode(exitConfig, fmt.Errorf("profile %q: tls_ca_file: %w", p.Name, err))
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, withCode(exitConfig, fmt.Errorf("profile %q: tls_ca_file %s holds no PEM certificate", p.Name, p.TLSCAFile))
		}
		tc.RootCAs = pool
	}
	if p.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(p.TLSCertFile, p.TLSKeyFile)
		if err != nil {
			return nil, withCode(exitConfig, fmt.Errorf("profile %q: client certificate: %w", p.Name, err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if p.TLSFingerprint != "" {
		delivery.PinFingerprint(tc, p.TLSFingerprint)
	} else if p.TLSSkipVerify {
		warning := fmt.Sprintf("warning: profile %q has tls_skip_verify = true: the server's certificate is not checked", p.Name)
		fmt.Fprintf(r.env.Stderr, "mailout: %s\n", warning)
		r.logf(r.cfg, "%s", warning)
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}
