package mtasts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// MaxPolicySize bounds the policy file a fetch reads (RFC 8461 section
// 3.3 suggests 64 KB).
const MaxPolicySize = 64 << 10

// DefaultTimeout bounds one policy fetch when Fetcher.Timeout is 0 (RFC
// 8461 section 3.3 suggests at most a minute).
const DefaultTimeout = 30 * time.Second

// Fetcher finds the policy of a recipient domain: the TXT record first,
// then the cache, then HTTPS. Its methods are safe for concurrent use.
type Fetcher struct {
	// LookupTXT looks up TXT records; (*net.Resolver).LookupTXT fits.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// Client fetches the policy file. It must verify certificates against
	// the roots to trust (an http.Client does by default) and should
	// honour its Transport's proxy; redirects are refused whatever its
	// CheckRedirect says. Nil means a client with system roots.
	Client *http.Client
	// CacheDir keeps policies across runs, one JSON file per domain; empty
	// keeps them in memory only.
	CacheDir string
	// Timeout bounds the HTTPS fetch; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu  sync.Mutex
	mem map[string]*entry
}

// Result is what Lookup found.
type Result struct {
	Policy *Policy // nil when the domain has no usable policy
	ID     string  // the policy's record id
	Cached bool    // the policy came from the cache
	// Err says why a policy the domain seems to publish could not be used
	// (bad record, failed fetch) when Policy is nil; it is for reports
	// only: RFC 8461 says to deliver as if there were no policy then.
	Err error
}

// entry is one cached policy, as stored on disk.
type entry struct {
	Domain  string    `json:"domain"`
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	Expires time.Time `json:"expires"`
	Policy  string    `json:"policy"`
	parsed  *Policy
}

// Lookup returns the policy of domain (RFC 8461 section 5.1): a cached
// policy whose id matches the TXT record and whose max_age has not run
// out is used without fetching; otherwise the policy is fetched and
// cached. When there is no valid record, or the fetch fails, an unexpired
// cached policy still applies: that is what stops an attacker who can
// hide the record or the web server.
func (f *Fetcher) Lookup(ctx context.Context, domain string) Result {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := f.now()
	cached := f.load(domain, now)
	id, recErr := f.record(ctx, domain)
	if recErr != nil {
		if cached != nil {
			return Result{Policy: cached.parsed, ID: cached.ID, Cached: true}
		}
		if errors.Is(recErr, errNoRecord) {
			return Result{}
		}
		return Result{Err: recErr}
	}
	if cached != nil && cached.ID == id {
		return Result{Policy: cached.parsed, ID: id, Cached: true}
	}
	raw, p, err := f.fetch(ctx, domain)
	if err != nil {
		if cached != nil {
			return Result{Policy: cached.parsed, ID: cached.ID, Cached: true}
		}
		return Result{ID: id, Err: err}
	}
	e := &entry{Domain: domain, ID: id, Fetched: now, Expires: now.Add(p.MaxAge), Policy: string(raw), parsed: p}
	f.store(e)
	return Result{Policy: p, ID: id}
}

var errNoRecord = errors.New("no MTA-STS record")

// record returns the id of domain's single STSv1 record.
func (f *Fetcher) record(ctx context.Context, domain string) (string, error) {
	name := "_mta-sts." + domain
	txts, err := f.LookupTXT(ctx, name)
	if err != nil {
		var dnse *net.DNSError
		if errors.As(err, &dnse) && dnse.IsNotFound {
			return "", errNoRecord
		}
		return "", fmt.Errorf("look up %s: %w", name, err)
	}
	var recs []string
	for _, t := range txts {
		if IsRecord(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return "", errNoRecord
	case 1:
	default:
		return "", fmt.Errorf("%s: %d MTA-STS records, want one", name, len(recs))
	}
	id, err := ParseRecord(recs[0])
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return id, nil
}

// fetch gets and parses https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
func (f *Fetcher) fetch(ctx context.Context, domain string) ([]byte, *Policy, error) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	timeout := f.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := http.DefaultClient
	if f.Client != nil {
		client = f.Client
	}
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch policy: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// A redirect lands here too: RFC 8461 section 3.3 forbids following it.
		return nil, nil, fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	// RFC 8461 section 3.2: the policy is text/plain; an HTML error page
	// or a parking page served with 200 is no policy.
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, nil, fmt.Errorf("fetch %s: content type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if len(raw) > MaxPolicySize {
		return nil, nil, fmt.Errorf("fetch %s: policy larger than %d bytes", url, MaxPolicySize)
	}
	p, err := Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", url, err)
	}
	return raw, p, nil
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// load returns the unexpired cached policy of domain, or nil.
func (f *Fetcher) load(domain string, now time.Time) *entry {
	f.mu.Lock()
	e := f.mem[domain]
	f.mu.Unlock()
	if e == nil && f.CacheDir != "" && safeName(domain) {
		e = readEntry(filepath.Join(f.CacheDir, domain+".json"), domain)
	}
	if e == nil || !now.Before(e.Expires) {
		return nil
	}
	return e
}

// readEntry reads a cache file; a missing, unreadable or corrupt one is
// no cache at all: the policy is simply fetched again.
func readEntry(path, domain string) *entry {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var e entry
	if json.Unmarshal(b, &e) != nil || e.Domain != domain {
		return nil
	}
	p, err := Parse([]byte(e.Policy))
	if err != nil {
		return nil
	}
	e.parsed = p
	return &e
}

// store keeps e in memory and, best effort, on disk: a cache that cannot
// be written only costs a fetch next time.
func (f *Fetcher) store(e *entry) {
	f.mu.Lock()
	if f.mem == nil {
		f.mem = map[string]*entry{}
	}
	f.mem[e.Domain] = e
	f.mu.Unlock()
	if f.CacheDir == "" || !safeName(e.Domain) {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	if os.MkdirAll(f.CacheDir, 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(f.CacheDir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), filepath.Join(f.CacheDir, e.Domain+".json")) != nil {
		os.Remove(tmp.Name())
	}
}

// safeName reports whether domain can name a cache file: letters, digits,
// hyphens and inner dots only.
func safeName(domain string) bool {
	if domain == "" || domain[0] == '.' || strings.Contains(domain, "..") {
		return false
	}
	for _, c := range []byte(domain) {
		if !isAlnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
