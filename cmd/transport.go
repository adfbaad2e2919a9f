package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/term"

	"mailout/delivery"
	"mailout/profiles"
	"mailout/spool"
)

// routeFor is where a message goes, chosen once from the command line
// and the profile: an ad-hoc --server relay, direct MX (--mx, or an mx
// profile), or the profile's own transport. A spooled message keeps its
// route, so a flush takes the same way.
func routeFor(p *profiles.Profile, del deliveryOptions) spool.Route {
	switch {
	case del.server != "":
		mode := del.tls
		if mode == "" {
			mode = string(delivery.TLSStartTLS)
		}
		return spool.Route{Transport: string(delivery.TransportSMTP), Server: del.server, TLS: mode, User: del.user}
	case del.mx:
		rt := spool.Route{Transport: string(delivery.TransportMX)}
		if p != nil {
			rt.Profile = p.Name
		}
		return rt
	case p != nil:
		return spool.Route{Transport: p.Transport, Profile: p.Name}
	}
	return spool.Route{}
}

// deliveryOptions turns the profile and the --server/--mx/--tls/--user
// flags into delivery options: routeOptions of routeFor.
func (r *runner) deliveryOptions(p *profiles.Profile, del deliveryOptions) (delivery.Options, error) {
	return r.routeOptions(p, routeFor(p, del), del.verbose)
}

// routeOptions builds the delivery options of a route through profile p
// (nil without one): the one place that turns configuration into a
// transport, for every command and for queue flush. Secrets are looked up
// lazily, only when the server asks for AUTH, so a send that needs none
// never touches the keyring.
func (r *runner) routeOptions(p *profiles.Profile, rt spool.Route, verbose bool) (delivery.Options, error) {
	o := delivery.Options{Transport: delivery.TransportKind(rt.Transport), Now: r.env.Now}
	if verbose {
		o.Verbose = r.env.Stderr
	}
	var err error
	switch {
	case rt.Server != "":
		o.Relay, err = r.serverOptions(rt)
		return o, err
	case o.Transport == delivery.TransportMX:
		o.MX, err = r.mxOptions(p)
	case p == nil:
		return o, withCode(exitConfig, errors.New("no profile to send with"))
	case o.Transport == delivery.TransportSMTP:
		o.Relay, err = r.profileOptions(p)
	case o.Transport.IsAPI():
		o.API, err = r.apiOptions(p)
		return o, err
	default:
		return o, withCode(exitConfig, fmt.Errorf("profile %q: unknown transport %q", p.Name, rt.Transport))
	}
	if err != nil {
		return o, err
	}
	o.DKIM, err = r.dkimOptions(p)
	return o, err
}

// serverOptions builds an ad-hoc relay from --server/--tls/--user.
func (r *runner) serverOptions(rt spool.Route) (delivery.RelayOptions, error) {
	mode := delivery.TLSMode(rt.TLS)
	host, port, err := delivery.SplitHostPort(rt.Server, mode)
	if err != nil {
		return delivery.RelayOptions{}, usageErrorf("--server %w", err)
	}
	o := delivery.RelayOptions{
		Host: host, Port: port, TLS: mode, Helo: r.heloName(""), Timeout: 30 * time.Second,
		Auth: delivery.Auth{Username: rt.User, Mechanism: "auto", Secret: r.promptSecret},
	}
	return o, nil
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
	auth := delivery.Auth{
		Mechanism: p.Auth, Username: p.Username, AllowPlaintext: p.AllowPlaintextAuth,
		Secret: func(ctx context.Context) (string, error) { return secrets.Lookup(ctx, prof) },
	}
	if p.OAuth != "" {
		b := r.bearer(p)
		auth.Secret, auth.Rejected, auth.Bearer = b.token, b.rejected, true
	}
	return delivery.RelayOptions{
		Host: p.Host, Port: p.Port, TLS: delivery.TLSMode(p.TLS), TLSConfig: tc, Helo: helo, Timeout: p.Timeout,
		Auth: auth,
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
