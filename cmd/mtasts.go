package cmd

import (
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"time"

	"mailout/delivery"
	"mailout/mtasts"
	"mailout/profiles"
	"mailout/spool"
)

// tlsPolicyOptions adds MTA-STS and DANE to MX options: the profile's
// mta_sts and dane keys, or their defaults for --mx alone.
func (r *runner) tlsPolicyOptions(p *profiles.Profile, o *delivery.MXOptions) {
	mode, dane, resolver := profiles.DefaultMTASTS, true, ""
	if p != nil {
		if p.MTASTS != "" {
			mode = p.MTASTS
		}
		dane, resolver = p.DANE, p.Resolver
	}
	o.MTASTS = delivery.MTASTSMode(mode)
	if o.MTASTS != delivery.MTASTSOff {
		var roots *x509.CertPool
		if o.TLSConfig != nil {
			roots = o.TLSConfig.RootCAs
		}
		var res *net.Resolver
		if resolver != "" {
			res = delivery.ResolverFor(resolver)
		}
		o.Policies = &mtasts.Fetcher{
			Client:   r.policyClient(res, roots, o.Timeout),
			CacheDir: r.mtastsCacheDir(),
			Timeout:  o.Timeout,
			Now:      r.env.Now,
		}
	}
	if !dane {
		return
	}
	if resolver == "" {
		resolver = loopbackNameserver("/etc/resolv.conf")
	}
	if resolver != "" {
		o.DANE = &delivery.DNSSECResolver{Addr: resolver, Timeout: o.Timeout}
	}
}

// policyClient fetches MTA-STS policies: through the profile's resolver
// when it has one, through $HTTPS_PROXY when set, verifying the server
// against roots (nil: the system's).
func (r *runner) policyClient(res *net.Resolver, roots *x509.CertPool, timeout time.Duration) *http.Client {
	return mtasts.NewClient(mtasts.ClientConfig{
		HTTPSProxy: firstEnv(r.env.Getenv, "HTTPS_PROXY", "https_proxy"),
		NoProxy:    firstEnv(r.env.Getenv, "NO_PROXY", "no_proxy"),
		Resolver:   res,
		Roots:      roots,
		Timeout:    timeout,
	})
}

func firstEnv(getenv func(string) string, keys ...string) string {
	for _, k := range keys {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// mtastsCacheDir is where MTA-STS policies are kept between runs: see
// mtasts.CacheDir, given this user's environment and queue_dir.
func (r *runner) mtastsCacheDir() string {
	c := mtasts.CacheDirConfig{
		XDGCacheHome: r.env.Getenv("XDG_CACHE_HOME"),
		Home:         r.env.Getenv("HOME"),
		UID:          r.env.UID,
		Owner:        spool.FileOwner,
	}
	if r.cfg != nil {
		c.QueueDir = r.cfg.QueueDir
	}
	return mtasts.CacheDir(c)
}

// loopbackNameserver is delivery.LoopbackNameserver of the resolv.conf
// at path; "" when it cannot be read.
func loopbackNameserver(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return delivery.LoopbackNameserver(f)
}
