package cmd

import (
	"fmt"
	"io"

	"mailout/delivery"
	"mailout/profiles"
)

// mxTransport builds direct MX delivery from an mx profile or --mx. A
// relay profile used with --mx lends only what makes sense without its
// relay: its mx keys (helo, resolver, mx_port, the DKIM key) and timeout.
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
		Port: profiles.DefaultMXPort, Helo: r.heloName(""), TLS: delivery.TLSOpportunistic,
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
	if p.Resolver != "" {
		o.Resolver = delivery.ResolverFor(p.Resolver)
	}
	if p.MXPort != 0 {
		o.Port = p.MXPort
	}
	if p.Transport != "mx" {
		return o, nil
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

// signer loads the profile's DKIM key once and returns what wraps a
// transport so it signs; without a key it returns transports unchanged.
func (r *runner) signer(p *profiles.Profile) (func(delivery.Transport) delivery.Transport, error) {
	if p == nil || p.DKIMKeyFile == "" {
		return func(t delivery.Transport) delivery.Transport { return t }, nil
	}
	key, err := delivery.LoadDKIMKey(p.DKIMKeyFile)
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("profile %q: %w", p.Name, err))
	}
	o := delivery.DKIMOptions{Domain: p.DKIMDomain, Selector: p.DKIMSelector, Key: key}
	return func(t delivery.Transport) delivery.Transport { return delivery.Sign(t, o) }, nil
}

// signing wraps t with DKIM signing when the profile has a DKIM key, for
// mx and relay profiles alike.
func (r *runner) signing(p *profiles.Profile, t delivery.Transport) (delivery.Transport, error) {
	sign, err := r.signer(p)
	if err != nil {
		return nil, err
	}
	return sign(t), nil
}
