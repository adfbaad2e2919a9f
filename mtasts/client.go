package mtasts

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// ClientConfig is what [NewClient] builds a policy client from. The
// proxy settings are values the caller read from the environment
// ($HTTPS_PROXY, $NO_PROXY), so this package reads none itself.
type ClientConfig struct {
	HTTPSProxy string         // proxy URL for https; empty: none
	NoProxy    string         // hosts that bypass the proxy, as in $NO_PROXY
	Resolver   *net.Resolver  // nil: the system's
	Roots      *x509.CertPool // roots to verify policy servers against; nil: the system's
	Timeout    time.Duration  // dial and TLS handshake; 0: none
}

// NewClient returns an HTTP client fit for [Fetcher.Client]: it verifies
// certificates against c.Roots with TLS 1.2 or later, goes through the
// proxy c names, and resolves with c.Resolver. It is here rather than in
// cmd so that whoever fetches policies gets the same client.
func NewClient(c ClientConfig) *http.Client {
	pc := httpproxy.Config{HTTPSProxy: c.HTTPSProxy, NoProxy: c.NoProxy}
	proxy := pc.ProxyFunc()
	d := &net.Dialer{Timeout: c.Timeout, Resolver: c.Resolver}
	return &http.Client{Transport: &http.Transport{
		Proxy:               func(req *http.Request) (*url.URL, error) { return proxy(req.URL) },
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: c.Roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: c.Timeout,
	}}
}
