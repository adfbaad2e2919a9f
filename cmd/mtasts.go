package cmd

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"

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
	pc := httpproxy.Config{
		HTTPSProxy: firstEnv(r.env.Getenv, "HTTPS_PROXY", "https_proxy"),
		NoProxy:    firstEnv(r.env.Getenv, "NO_PROXY", "no_proxy"),
	}
	proxy := pc.ProxyFunc()
	d := &net.Dialer{Timeout: timeout, Resolver: res}
	return &http.Client{Transport: &http.Transport{
		Proxy:               func(req *http.Request) (*url.URL, error) { return proxy(req.URL) },
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: timeout,
	}}
}

func firstEnv(getenv func(string) string, keys ...string) string {
	for _, k := range keys {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// mtastsCacheDir is where MTA-STS policies are kept between runs:
// $XDG_CACHE_HOME/mailout/mta-sts, or with a system-wide queue (queue_dir)
// a folder of this user's beside it, which queue flushes share. A folder
// someone else owns or may write is not used (policies then live for one
// run only): a planted policy could downgrade this user's mail.
func (r *runner) mtastsCacheDir() string {
	if r.cfg == nil || r.cfg.QueueDir == "" {
		base := r.env.Getenv("XDG_CACHE_HOME")
		if !filepath.IsAbs(base) {
			home := r.env.Getenv("HOME")
			if home == "" {
				return ""
			}
			base = filepath.Join(home, ".cache")
		}
		return filepath.Join(base, "mailout", "mta-sts")
	}
	dir := filepath.Join(r.cfg.QueueDir, "mta-sts-"+strconv.Itoa(r.env.UID))
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return ""
	}
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return ""
	}
	if uid, ok := spool.FileOwner(fi); !ok || uid != r.env.UID {
		return ""
	}
	return dir
}

// loopbackNameserver returns "IP:53" of the first nameserver in the
// resolv.conf at path when it is on loopback: only a local validating
// resolver's AD bit can be trusted (RFC 7672 section 2.1.1). Otherwise "".
func loopbackNameserver(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		if ip := net.ParseIP(fields[1]); ip != nil && ip.IsLoopback() {
			return net.JoinHostPort(ip.String(), "53")
		}
		return ""
	}
	return ""
}
