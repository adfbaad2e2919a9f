package cmd

import (
	"fmt"

	"mailout/delivery"
	"mailout/profiles"
)

// mxOptions turns a profile (or nothing, for --mx alone) into MX options.
// A relay profile used with --mx lends its mx keys (resolver, mx_port,
// helo) and its timeout, not its relay's TLS settings.
func (r *runner) mxOptions(p *profiles.Profile) (delivery.MXOptions, error) {
	o := delivery.MXOptions{
		Port: profiles.DefaultMXPort, Helo: r.heloName(""), TLS: delivery.TLSOpportunistic,
		Timeout: profiles.DefaultTimeout,
	}
	if p == nil {
		r.tlsPolicyOptions(p, &o)
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
	if p.Transport != string(delivery.TransportMX) {
		r.tlsPolicyOptions(p, &o)
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
	r.tlsPolicyOptions(p, &o)
	return o, nil
}

// dkimOptions loads the profile's DKIM key, once per run however many
// workers sign with it; nil when the profile signs nothing. Mx and relay
// profiles alike sign.
func (r *runner) dkimOptions(p *profiles.Profile) (*delivery.DKIMOptions, error) {
	if p == nil || p.DKIMKeyFile == "" {
		return nil, nil
	}
	key, err := delivery.LoadDKIMKey(p.DKIMKeyFile)
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("profile %q: %w", p.Name, err))
	}
	return &delivery.DKIMOptions{Domain: p.DKIMDomain, Selector: p.DKIMSelector, Key: key}, nil
}
