package cmd

import (
	"fmt"
	"io"

	"mailout/delivery"
	"mailout/profiles"
)

// mxTransport builds direct MX delivery from an mx profile or --mx. A
// relay profile used with --mx lends only what makes sense without its
// relay: helo, timeout and the DKIM key.
func (r *runner) mxTransport(p *profiles.Profile, verbose io.Writer) (delivery.Transport, string, error) {
	o, err := r.mxOptions(p)
	if err != nil {
		return nil, "", err
	}
	o.Verbose = verbose
	t, err := r.signing(p, delivery.NewMX(o))
	return t, "mx", err
}

// mxOptions turns a profile (or nothing, for --mx alone) into MX options.
func (r *runner) mxOptions(p *profiles.Profile) (delivery.MXOptions, error) {
	o := delivery.MXOptions{
		Port: profiles.DefaultMXPort, Helo: r.env.Hostname(), TLS: delivery.TLSOpportunistic,
		Timeout: profiles.DefaultTimeout,
	}
	if p == nil {
		return o, nil
	}
	if p.Helo != "" {
		o.Helo = p.Helo
	}
	if p.Timeout > 0 {
		o.Timeout = p.Timeout
	}
	if p.Transport != "mx" {
		return o, nil
	}
	if p.Resolver != "" {
		o.Resolver = delivery.ResolverFor(p.Resolver)
	}
	if p.MXPort != 0 {
		o.Port = p.MXPort
	}
	if p.TLS != "" {
		o.TLS = delivery.TLSMode(p.TLS)
	}
	tc, err := r.tlsConfig(p)
	if err != nil {
		return o, err
	}
	// tlsConfig names the relay host, which an mx profile has none of:
	// each connection verifies the MX host it reached.
	tc.ServerName = ""
	o.TLSConfig = tc
	return o, nil
}

// signing wraps t with DKIM signing when the profile has a DKIM key. The
// key is read now; when it cannot be, the returned transport fails every
// delivery with a configuration error (exit 78) and sends nothing.
func (r *runner) signing(p *profiles.Profile, t delivery.Transport) (delivery.Transport, error) {
	if p == nil || p.DKIMKeyFile == "" {
		return t, nil
	}
	key, err := delivery.LoadDKIMKey(p.DKIMKeyFile)
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("profile %q: %w", p.Name, err))
	}
	return delivery.Sign(t, delivery.DKIMOptions{Domain: p.DKIMDomain, Selector: p.DKIMSelector, Key: key}), nil
}
