package mtasts

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"
)

func TestNewClient(t *testing.T) {
	roots := x509.NewCertPool()
	c := NewClient(ClientConfig{HTTPSProxy: "http://proxy.test:3128", NoProxy: "direct.test", Roots: roots, Timeout: 7 * time.Second})
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport = %T, want *http.Transport", c.Transport)
	}
	if tr.TLSClientConfig.RootCAs != roots || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("TLS config = %+v, want the given roots, TLS 1.2 or later, verified", tr.TLSClientConfig)
	}
	if tr.TLSHandshakeTimeout != 7*time.Second {
		t.Errorf("TLSHandshakeTimeout = %v, want 7s", tr.TLSHandshakeTimeout)
	}
	for url, want := range map[string]string{
		"https://mta-sts.example.test/.well-known/mta-sts.txt": "http://proxy.test:3128",
		"https://mta-sts.direct.test/.well-known/mta-sts.txt":  "", // NO_PROXY covers subdomains
		"http://mta-sts.example.test/":                         "", // only an https proxy is set
	} {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tr.Proxy(req)
		if err != nil {
			t.Fatalf("Proxy(%s): %v", url, err)
		}
		s := ""
		if got != nil {
			s = got.String()
		}
		if s != want {
			t.Errorf("Proxy(%s) = %q, want %q", url, s, want)
		}
	}
	if tr := NewClient(ClientConfig{}).Transport.(*http.Transport); tr.TLSClientConfig.RootCAs != nil {
		t.Errorf("no roots given: RootCAs = %v, want nil (the system's)", tr.TLSClientConfig.RootCAs)
	}
}
