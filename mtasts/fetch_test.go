package mtasts

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 3600\r\n"

// testServer is an HTTPS server for every mta-sts.* host, counting fetches.
type testServer struct {
	srv     *httptest.Server
	fetches atomic.Int32
	body    atomic.Value // string
	ctype   atomic.Value // string
	status  atomic.Int32
	hang    atomic.Bool // send half the policy, then nothing
}

func newTestServer(t *testing.T) *testServer {
	ts := &testServer{}
	// A hung response ends only when the test does: ending it when the
	// client gives up would race the client's deadline with a clean end
	// of the body (a half policy, "no mode", instead of the timeout).
	stop := make(chan struct{})
	ts.body.Store(enforcePolicy)
	ts.ctype.Store("text/plain")
	ts.status.Store(200)
	ts.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.fetches.Add(1)
		if r.URL.Path != "/.well-known/mta-sts.txt" || !strings.HasPrefix(r.Host, "mta-sts.") {
			http.NotFound(w, r)
			return
		}
		if code := int(ts.status.Load()); code != 200 {
			w.Header().Set("Location", "https://elsewhere.test/")
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", ts.ctype.Load().(string))
		if ts.hang.Load() {
			w.Write([]byte("version: STSv1\r\n"))
			w.(http.Flusher).Flush()
			<-stop
			return
		}
		w.Write([]byte(ts.body.Load().(string)))
	}))
	t.Cleanup(ts.srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: the handlers end, then Close
	return ts
}

// client trusts the test server and reaches it for any host name, as a
// real client reaches mta-sts.DOMAIN:443.
func (ts *testServer) client() *http.Client {
	c := ts.srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	addr := ts.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	// httptest's certificate names example.com; verify against that name
	// while the URL keeps the real host.
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, ServerName: "example.com"}
	return &http.Client{Transport: tr}
}

type txtZone struct{ recs map[string][]string }

func (z *txtZone) lookup(_ context.Context, name string) ([]string, error) {
	if r, ok := z.recs[name]; ok {
		return r, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func TestLookupCachesByIDAndMaxAge(t *testing.T) {
	ts := newTestServer(t)
	zone := &txtZone{recs: map[string][]string{"_mta-sts.example.test": {"v=spf1 -all", "v=STSv1; id=1"}}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &Fetcher{LookupTXT: zone.lookup, Client: ts.client(), CacheDir: t.TempDir(), Now: func() time.Time { return now }}
	ctx := context.Background()

	r := f.Lookup(ctx, "Example.Test.")
	if r.Err != nil || r.Policy == nil || r.Policy.Mode != Enforce || r.Cached || r.ID != "1" {
		t.Fatalf("first lookup: %+v", r)
	}
	r = f.Lookup(ctx, "example.test")
	if !r.Cached || r.Policy == nil || ts.fetches.Load() != 1 {
		t.Fatalf("second lookup within max_age fetched again: %+v, %d fetches", r, ts.fetches.Load())
	}
	// Another process (a new Fetcher) finds the policy on disk.
	f2 := &Fetcher{LookupTXT: zone.lookup, Client: ts.client(), CacheDir: f.CacheDir, Now: f.Now}
	if r := f2.Lookup(ctx, "example.test"); !r.Cached || ts.fetches.Load() != 1 {
		t.Fatalf("disk cache unused: %+v, %d fetches", r, ts.fetches.Load())
	}
	// A new id means a new policy.
	zone.recs["_mta-sts.example.test"] = []string{"v=STSv1; id=2"}
	ts.body.Store(strings.Replace(enforcePolicy, "enforce", "testing", 1))
	if r := f.Lookup(ctx, "example.test"); r.Cached || r.Policy.Mode != Testing || ts.fetches.Load() != 2 {
		t.Fatalf("id change: %+v, %d fetches", r, ts.fetches.Load())
	}
	// max_age over: fetched again though the id is the same.
	now = now.Add(2 * time.Hour)
	if r := f.Lookup(ctx, "example.test"); r.Cached || ts.fetches.Load() != 3 {
		t.Fatalf("expired: %+v, %d fetches", r, ts.fetches.Load())
	}
	// The record vanishes or the server fails: the unexpired cache holds.
	delete(zone.recs, "_mta-sts.example.test")
	if r := f.Lookup(ctx, "example.test"); !r.Cached || r.Policy == nil {
		t.Fatalf("record hidden: %+v", r)
	}
	zone.recs["_mta-sts.example.test"] = []string{"v=STSv1; id=3"}
	ts.status.Store(500)
	if r := f.Lookup(ctx, "example.test"); !r.Cached || r.Policy == nil || r.Policy.Mode != Testing {
		t.Fatalf("server down: %+v", r)
	}
}

func TestLookupNoPolicy(t *testing.T) {
	ts := newTestServer(t)
	zone := &txtZone{recs: map[string][]string{
		"_mta-sts.two.test":   {"v=STSv1; id=1", "v=STSv1; id=2"},
		"_mta-sts.redir.test": {"v=STSv1; id=1"},
		"_mta-sts.big.test":   {"v=STSv1; id=1"},
	}}
	f := &Fetcher{LookupTXT: zone.lookup, Client: ts.client()}
	ctx := context.Background()
	if r := f.Lookup(ctx, "none.test"); r.Policy != nil || r.Err != nil {
		t.Errorf("no record: %+v", r)
	}
	if r := f.Lookup(ctx, "two.test"); r.Policy != nil || r.Err == nil {
		t.Errorf("two records: %+v", r)
	}
	if ts.fetches.Load() != 0 {
		t.Errorf("fetched without a valid record")
	}
	ts.status.Store(302)
	if r := f.Lookup(ctx, "redir.test"); r.Policy != nil || r.Err == nil || !strings.Contains(r.Err.Error(), "302") {
		t.Errorf("redirect followed: %+v", r)
	}
	ts.status.Store(200)
	ts.body.Store(enforcePolicy + strings.Repeat("x: y\r\n", MaxPolicySize/6+1))
	if r := f.Lookup(ctx, "big.test"); r.Policy != nil || r.Err == nil || !strings.Contains(r.Err.Error(), "larger") {
		t.Errorf("oversized policy: %+v", r)
	}
	ts.body.Store(enforcePolicy)
	zone.recs["_mta-sts.html.test"] = []string{"v=STSv1; id=1"}
	ts.ctype.Store("text/html")
	if r := f.Lookup(ctx, "html.test"); r.Policy != nil || r.Err == nil || !strings.Contains(r.Err.Error(), "text/html") {
		t.Errorf("policy served as text/html: %+v", r)
	}
	zone.recs["_mta-sts.charset.test"] = []string{"v=STSv1; id=1"}
	ts.ctype.Store("text/plain; charset=utf-8")
	if r := f.Lookup(ctx, "charset.test"); r.Policy == nil {
		t.Errorf("policy served as text/plain with a charset: %+v", r)
	}
}

func TestLookupUnverifiedCertificate(t *testing.T) {
	ts := newTestServer(t)
	zone := &txtZone{recs: map[string][]string{"_mta-sts.example.test": {"v=STSv1; id=1"}}}
	c := ts.client()
	c.Transport.(*http.Transport).TLSClientConfig.RootCAs = nil // system roots: the test CA is unknown
	f := &Fetcher{LookupTXT: zone.lookup, Client: c}
	if r := f.Lookup(context.Background(), "example.test"); r.Policy != nil || r.Err == nil {
		t.Errorf("policy from an unverified server: %+v", r)
	}
}

// TestLookupTimeout: a policy server that stops in the middle of the file
// is given up after Timeout, as if the domain had no policy.
func TestLookupTimeout(t *testing.T) {
	ts := newTestServer(t)
	ts.hang.Store(true)
	zone := &txtZone{recs: map[string][]string{"_mta-sts.slow.test": {"v=STSv1; id=1"}}}
	f := &Fetcher{LookupTXT: zone.lookup, Client: ts.client(), Timeout: 100 * time.Millisecond}
	if r := f.Lookup(context.Background(), "slow.test"); r.Policy != nil || r.Err == nil || !strings.Contains(r.Err.Error(), "deadline") {
		t.Errorf("stalled policy server: %+v", r)
	}
}
