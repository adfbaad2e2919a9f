// Package ststest serves MTA-STS policy files (RFC 8461) over HTTPS on
// loopback for tests, with a certificate for every mta-sts.DOMAIN it
// serves, and counts the fetches.
//
// Code under test cannot reach it on port 443 of mta-sts.DOMAIN, so it is
// reached in one of two ways: [Server.Client] returns an *http.Client that
// dials the server whatever the URL's host, for in-process tests; and
// [Server.ProxyURL] is an HTTP CONNECT proxy in front of it, for a program
// started by a test (set HTTPS_PROXY to it).
package ststest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"mailout/internal/smtptest"
)

// Server is a running policy server. Its methods are safe for concurrent
// use.
type Server struct {
	https   *httptest.Server
	proxy   net.Listener
	certPEM []byte
	pool    *x509.CertPool

	mu       sync.Mutex
	policies map[string]string // domain -> policy file
	fetches  map[string]int
	wg       sync.WaitGroup
}

// New starts a server for domains; a domain without a policy (see
// [Server.SetPolicy]) answers 404.
func New(domains ...string) (*Server, error) {
	hosts := make([]string, len(domains))
	for i, d := range domains {
		hosts[i] = "mta-sts." + strings.ToLower(d)
	}
	cert, certPEM, err := smtptest.NewCert(hosts...)
	if err != nil {
		return nil, fmt.Errorf("ststest: %w", err)
	}
	s := &Server{certPEM: certPEM, pool: x509.NewCertPool(), policies: map[string]string{}, fetches: map[string]int{}}
	s.pool.AppendCertsFromPEM(certPEM)
	s.https = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.https.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.https.StartTLS()
	s.proxy, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.https.Close()
		return nil, fmt.Errorf("ststest: %w", err)
	}
	s.wg.Add(1)
	go s.serveProxy()
	return s, nil
}

// Start is [New] for tests: it fails t on error and closes the server in
// t.Cleanup.
func Start(t testing.TB, domains ...string) *Server {
	t.Helper()
	s, err := New(domains...)
	if err != nil {
		t.Fatalf("ststest.Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// SetPolicy makes the server answer text for domain's policy.
func (s *Server) SetPolicy(domain, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies[strings.ToLower(domain)] = text
}

// Fetches returns how often domain's policy was asked for.
func (s *Server) Fetches(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[strings.ToLower(domain)]
}

// CertPEM returns the server certificate, the trust anchor clients need.
func (s *Server) CertPEM() []byte { return append([]byte(nil), s.certPEM...) }

// ProxyURL returns "http://127.0.0.1:PORT", a CONNECT proxy that takes
// every tunnel to the server.
func (s *Server) ProxyURL() string { return "http://" + s.proxy.Addr().String() }

// Client returns a client that trusts the server's certificate and
// reaches the server for any URL host.
func (s *Server) Client() *http.Client {
	addr := s.https.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12},
	}}
}

// Close stops the server and the proxy.
func (s *Server) Close() {
	s.proxy.Close()
	s.https.CloseClientConnections()
	s.https.Close()
	s.wg.Wait()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	domain, ok := strings.CutPrefix(strings.ToLower(r.Host), "mta-sts.")
	if h, _, err := net.SplitHostPort(domain); err == nil {
		domain = h
	}
	s.mu.Lock()
	s.fetches[domain]++
	text, have := s.policies[domain]
	s.mu.Unlock()
	if !ok || !have || r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, text)
}

func (s *Server) serveProxy() {
	defer s.wg.Done()
	for {
		c, err := s.proxy.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.tunnel(c)
		}()
	}
}

// tunnel answers one CONNECT and copies bytes both ways.
func (s *Server) tunnel(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", s.https.Listener.Addr().String())
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		io.Copy(up, br)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.Close()
	<-done
}
