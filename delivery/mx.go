package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailout/message"
	"mailout/mtasts"
)

// Resolver is the DNS a direct delivery needs; *net.Resolver fits. Tests
// point one at a DNS server on loopback (see ResolverFor).
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// TXTResolver looks up TXT records; *net.Resolver fits.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// MXOptions configure direct delivery to the recipients' mail exchangers.
type MXOptions struct {
	// Resolver finds MX hosts and their addresses; nil means
	// net.DefaultResolver.
	Resolver Resolver
	// Port is dialed on every MX host; 0 means 25. Other ports are for tests.
	Port int
	// Helo is the EHLO name; it should be this host's FQDN, as receivers
	// check it. Empty means an address literal of the local end.
	Helo string
	// TLS is the policy; empty means TLSOpportunistic, which (as MTAs do)
	// encrypts without verifying the certificate and falls back to plaintext
	// when the handshake fails. TLSStartTLS demands a verified certificate
	// for the MX host name.
	TLS TLSMode
	// TLSConfig holds roots and client certificates; ServerName is always
	// the MX host's name. Nil means system roots.
	TLSConfig *tls.Config
	// Timeout bounds each DNS lookup, each connect and each read or write of
	// inactivity; 0 means no limit beyond ctx.
	Timeout time.Duration
	// Dial opens connections; nil means net.Dialer.
	Dial DialFunc
	// Verbose receives the SMTP transcript and the routing decisions; nil
	// for none.
	Verbose io.Writer
	// MTASTS applies the recipient domains' MTA-STS policies (RFC 8461);
	// empty means MTASTSOff. The TXT record is looked up with Resolver's
	// LookupTXT (so Resolver must be a TXTResolver, as *net.Resolver is);
	// MX certificates are verified against TLSConfig's RootCAs.
	MTASTS MTASTSMode
	// Policies fetches and caches the policies; nil means a fetcher with
	// system roots and an in-memory cache. Its LookupTXT, when nil, is
	// Resolver's.
	Policies *mtasts.Fetcher
	// DANE looks up TLSA records on a validating resolver (RFC 7672); nil
	// means no DANE. Records count only when DNSSEC validated them (the
	// AD bit); a host with usable records is reached only over STARTTLS
	// with a matching certificate, whatever the MTA-STS policy says.
	DANE TLSAResolver
	// Shuffle randomises MX hosts of equal preference (RFC 5321 section
	// 5.1); nil means math/rand/v2's Shuffle.
	Shuffle func(n int, swap func(i, j int))
}

// MX delivers straight to each recipient domain's mail exchangers, without
// a relay: one SMTP transaction per domain.
//
// Routing follows RFC 5321 section 5.1: MX hosts in preference order
// (equal preferences shuffled); a domain without MX records but with an
// address is its own mail exchanger (implicit MX); a null MX (RFC 7505),
// NXDOMAIN, or no address at all is a permanent HostUnknown failure; a DNS
// timeout or SERVFAIL is Temporary.
//
// The next address, then the next host, is tried only while no SMTP
// transaction has started: when a connection fails, or the greeting or
// EHLO is refused. Once a server has answered MAIL, its replies are final
// for this attempt: a 5xx to RCPT rejects that recipient, a 4xx anywhere
// defers the recipients concerned. This is what MTAs do; trying a backup
// MX after a 4xx at RCPT would only move the queue there.
type MX struct {
	opts MXOptions
	log  *transcript
	sts  *mtasts.Fetcher // nil: MTA-STS off
}

// NewMX returns an MX transport.
func NewMX(o MXOptions) *MX {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Port == 0 {
		o.Port = 25
	}
	if o.TLS == "" {
		o.TLS = TLSOpportunistic
	}
	if o.Shuffle == nil {
		o.Shuffle = rand.Shuffle
	}
	m := &MX{opts: o}
	if o.Verbose != nil {
		m.log = &transcript{w: o.Verbose}
	}
	txt, canTXT := o.Resolver.(TXTResolver)
	if o.MTASTS != "" && o.MTASTS != MTASTSOff && (canTXT || o.Policies != nil && o.Policies.LookupTXT != nil) {
		m.sts = o.Policies
		if m.sts == nil {
			m.sts = &mtasts.Fetcher{}
		}
		if m.sts.LookupTXT == nil {
			m.sts.LookupTXT = func(ctx context.Context, name string) ([]string, error) {
				lctx, cancel := m.lookupContext(ctx)
				defer cancel()
				return txt.LookupTXT(lctx, name)
			}
		}
	}
	return m
}

// ResolverFor returns a resolver that sends every query to the DNS server
// at addr ("IP:PORT"), ignoring /etc/resolv.conf: the profile key resolver.
func ResolverFor(addr string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true, // Dial is only used by Go's own resolver
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// Deliver sends msg to every recipient's mail exchanger, domain after
// domain. The returned error is the Worst of the per-recipient errors.
func (m *MX) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	return m.deliver(ctx, env, msg, nil)
}

// Pool returns a transport that keeps each domain's connection open
// between messages (RSET before the next), as a batch that mails many
// recipients at few domains wants. A pool is for one goroutine at a time;
// Close it when done.
func (m *MX) Pool() *MXPool { return &MXPool{m: m, conns: map[string]*conn{}} }

// MXPool is an MX transport that reuses connections per domain.
type MXPool struct {
	m     *MX
	conns map[string]*conn
}

// Deliver sends msg like MX.Deliver, over a kept connection when one to
// the domain is open and still answers RSET.
func (p *MXPool) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	return p.m.deliver(ctx, env, msg, p.conns)
}

// Close ends every kept connection.
func (p *MXPool) Close() error {
	for d, cn := range p.conns {
		cn.close()
		delete(p.conns, d)
	}
	return nil
}

// deliver is Deliver with an optional cache of open connections by domain.
func (m *MX) deliver(ctx context.Context, env message.Envelope, msg message.Message, cache map[string]*conn) (*Result, error) {
	res := &Result{Transport: "mx"}
	var errs []error
	for _, g := range groupByDomain(env.To) {
		rs, err := m.deliverDomain(ctx, env.From, env.DSN, g.domain, g.rcpts, msg, cache)
		var ie *message.InputError
		if errors.As(err, &ie) {
			// The message itself cannot be written: no other domain
			// will fare better.
			res.Recipients = orderLike(env.To, res.Recipients)
			return res, err
		}
		res.Recipients = append(res.Recipients, rs...)
		errs = append(errs, err)
	}
	res.Recipients = orderLike(env.To, res.Recipients)
	return res, Worst(errs...)
}

type domainGroup struct {
	domain string
	rcpts  []string
}

// groupByDomain groups recipients by lower-cased domain in order of first
// appearance, each recipient once.
func groupByDomain(rcpts []string) []domainGroup {
	var groups []domainGroup
	idx := map[string]int{}
	seen := map[string]bool{}
	for _, r := range rcpts {
		if seen[r] {
			continue
		}
		seen[r] = true
		d := strings.ToLower(message.Domain(r))
		i, ok := idx[d]
		if !ok {
			i = len(groups)
			idx[d] = i
			groups = append(groups, domainGroup{domain: d})
		}
		groups[i].rcpts = append(groups[i].rcpts, r)
	}
	return groups
}

// mxHost is one mail exchanger of a domain.
type mxHost struct {
	name  string
	pref  uint16
	addrs []net.IPAddr // known already for an implicit MX
}

// deliverDomain runs the one transaction for the recipients of domain.
func (m *MX) deliverDomain(ctx context.Context, from string, dsn message.DSN, domain string, rcpts []string, msg message.Message, cache map[string]*conn) ([]RecipientResult, error) {
	if cn := cache[domain]; cn != nil {
		delete(cache, domain)
		if cn.c.Reset() == nil {
			rs, err := cn.send(ctx, message.Envelope{From: from, To: rcpts, DSN: dsn}, msg)
			cn.outcome.apply(rs)
			keep(cache, domain, cn)
			return rs, err
		}
		m.log.note("kept connection for %s is gone; reconnecting", domain)
		cn.broken = true
		cn.close()
	}
	var dp domainPolicy
	fail := func(host string, e *Error) ([]RecipientResult, error) {
		res := &Result{}
		res.failAll(rcpts, host, e)
		tlsOutcome{mtasts: string(dp.mode)}.apply(res.Recipients)
		return res.Recipients, e
	}
	if domain == "" {
		return fail("", &Error{Kind: HostUnknown, Op: "dns", Err: errors.New("recipient address has no domain")})
	}
	hosts, rerr := m.route(ctx, domain)
	if rerr != nil {
		return fail(domain, rerr)
	}
	dp = m.domainPolicy(ctx, domain)
	var (
		lastErr  *Error
		lastHost string
		tempErr  *Error
		resolved bool
	)
	for _, h := range hosts {
		addrs := h.addrs
		if addrs == nil {
			var err error
			addrs, err = m.lookupIP(ctx, h.name)
			if err != nil {
				e := dnsError(h.name, err)
				m.log.note("MX host %s: %v", h.name, e)
				lastErr, lastHost = e, h.name
				if e.Kind == Temporary {
					tempErr = e
				}
				continue
			}
		}
		resolved = true
		hp, perr := m.hostPolicy(ctx, &dp, h.name)
		if perr != nil {
			m.log.note("MX host %s: %v", h.name, perr)
			lastErr, lastHost, tempErr = perr, h.name, perr
			continue
		}
		for _, a := range addrs {
			cn, err := open(ctx, m.dialConfig(h.name, a, hp))
			if err != nil {
				e := asError(err)
				if hp.by != "" {
					e = policyFailure(e, hp, &dp, h.name)
				}
				m.log.note("%s [%s]: %v; trying the next address", h.name, a.String(), e)
				lastErr, lastHost = e, h.name
				if e.Kind == Temporary {
					tempErr = e
				}
				if ctx.Err() != nil {
					return fail(h.name, e)
				}
				continue
			}
			cn.outcome = m.outcome(cn, hp, &dp)
			rs, err := cn.send(ctx, message.Envelope{From: from, To: rcpts, DSN: dsn}, msg)
			cn.outcome.apply(rs)
			keep(cache, domain, cn)
			return rs, err
		}
	}
	switch {
	case tempErr != nil:
		// Some host may answer later: a retry can succeed.
		lastErr = tempErr
	case !resolved:
		lastErr = &Error{Kind: HostUnknown, Op: "dns", Host: domain, Err: errors.New("no mail exchanger of the domain has an address")}
		lastHost = domain
	}
	return fail(lastHost, lastErr)
}

// keep stores a healthy connection in cache, or closes it.
func keep(cache map[string]*conn, domain string, cn *conn) {
	if cache != nil && !cn.broken {
		cache[domain] = cn
		return
	}
	cn.close()
}

// dialConfig is how to reach host at a under hp: DANE and an enforced
// MTA-STS policy require STARTTLS (verified by TLSA records, or by roots
// and the MX name); otherwise the profile's mode applies.
func (m *MX) dialConfig(host string, a net.IPAddr, hp hostPolicy) dialConfig {
	tc := m.opts.TLSConfig
	if tc != nil {
		tc = tc.Clone()
		tc.ServerName = ""
	} else if hp.by != "" || m.opts.TLS == TLSOpportunistic {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	mode := m.opts.TLS
	switch {
	case hp.by == TLSByDANE:
		// RFC 7672 section 3.1: TLSA records, not the web PKI, decide.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = daneVerifier(hp.tlsa, host)
		mode = TLSStartTLS
	case hp.by == TLSByMTASTS:
		// The web PKI decides, whatever a pin in the profile relaxed.
		tc.InsecureSkipVerify = false
		mode = TLSStartTLS
	case mode == TLSOpportunistic:
		// Nobody checks MX certificates without DANE or MTA-STS: encrypting
		// against passive eavesdropping is what opportunistic TLS can give.
		tc.InsecureSkipVerify = true
	}
	return dialConfig{
		Addr: net.JoinHostPort(a.String(), strconv.Itoa(m.opts.Port)), Host: host,
		Helo: m.opts.Helo, TLS: mode, TLSConfig: tc,
		Timeout: m.opts.Timeout, Dial: m.opts.Dial, Log: m.log,
	}
}

// route returns the mail exchangers of domain in the order to try them.
func (m *MX) route(ctx context.Context, domain string) ([]mxHost, *Error) {
	lctx, cancel := m.lookupContext(ctx)
	mxs, err := m.opts.Resolver.LookupMX(lctx, domain)
	cancel()
	var dnse *net.DNSError
	switch {
	case len(mxs) > 0:
		// Go drops malformed records and reports them with the good ones:
		// the good ones are enough to deliver.
	case err != nil && !(errors.As(err, &dnse) && dnse.IsNotFound):
		return nil, dnsError(domain, err)
	default:
		// No MX records (NODATA or NXDOMAIN look alike here): the domain
		// itself is the mail exchanger when it has an address (implicit
		// MX, RFC 5321 section 5.1); NXDOMAIN fails that lookup too.
		addrs, err := m.lookupIP(ctx, domain)
		if err != nil {
			e := dnsError(domain, err)
			if e.Kind == HostUnknown {
				e.Detail = "no such domain, or it has no MX, A or AAAA record"
			}
			return nil, e
		}
		m.log.note("%s has no MX record; delivering to its address (implicit MX)", domain)
		return []mxHost{{name: domain, addrs: addrs}}, nil
	}
	hosts := make([]mxHost, 0, len(mxs))
	for _, mx := range mxs {
		name := strings.TrimSuffix(mx.Host, ".")
		if name == "" {
			// RFC 7505: "MX 0 ." says the domain accepts no mail at all.
			return nil, &Error{Kind: HostUnknown, Op: "dns", Host: domain, Err: errors.New("the domain accepts no mail (null MX)")}
		}
		hosts = append(hosts, mxHost{name: name, pref: mx.Pref})
	}
	// Go's resolver already shuffles equal preferences; sorting them by
	// name first makes the injected Shuffle the only source of order.
	slices.SortFunc(hosts, func(a, b mxHost) int {
		if a.pref != b.pref {
			return int(a.pref) - int(b.pref)
		}
		return strings.Compare(a.name, b.name)
	})
	for i := 0; i < len(hosts); {
		j := i + 1
		for j < len(hosts) && hosts[j].pref == hosts[i].pref {
			j++
		}
		same := hosts[i:j]
		m.opts.Shuffle(len(same), func(a, b int) { same[a], same[b] = same[b], same[a] })
		i = j
	}
	if m.log != nil {
		var b strings.Builder
		for _, h := range hosts {
			fmt.Fprintf(&b, " %s(%d)", h.name, h.pref)
		}
		m.log.note("MX for %s:%s", domain, b.String())
	}
	return hosts, nil
}

func (m *MX) lookupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.opts.Timeout > 0 {
		return context.WithTimeout(ctx, m.opts.Timeout)
	}
	return context.WithCancel(ctx)
}

func (m *MX) lookupIP(ctx context.Context, host string) ([]net.IPAddr, error) {
	lctx, cancel := m.lookupContext(ctx)
	defer cancel()
	addrs, err := m.opts.Resolver.LookupIPAddr(lctx, host)
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
	}
	return addrs, err
}

// ProbeResult describes one mail exchanger as Probe found it.
type ProbeResult struct {
	Host       string   // MX host name (the domain itself for an implicit MX)
	Preference uint16   // MX preference; 0 for an implicit MX
	Implicit   bool     // the domain has no MX record and is its own exchanger
	Addrs      []string // its IP addresses
	Addr       string   // the address that answered, "" if none did
	Answered   bool     // a server greeted and accepted EHLO
	STARTTLS   bool     // it offered STARTTLS
	Extensions []string // EHLO keywords it offered
	Err        error    // why it did not answer (a *Error), nil if it did
	// TLSPolicy is how Deliver would protect the connection: TLSByDANE,
	// TLSByMTASTS, or "" for the profile's tls mode.
	TLSPolicy string
	// PolicyErr says why Deliver would skip the host (not allowed by an
	// enforced MTA-STS policy, TLSA lookup failed); nil if it would not.
	PolicyErr error
}

// Probe resolves domain as Deliver would and connects to each of its mail
// exchangers (EHLO, then QUIT, no mail sent), for "profile test": it shows
// which hosts would take the mail and whether they offer STARTTLS. The
// error is non-nil only when the domain cannot be routed at all (null MX,
// NXDOMAIN, DNS failure); per-host failures are in the results.
func (m *MX) Probe(ctx context.Context, domain string) ([]ProbeResult, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	hosts, rerr := m.route(ctx, domain)
	if rerr != nil {
		return nil, rerr
	}
	dp := m.domainPolicy(ctx, domain)
	out := make([]ProbeResult, 0, len(hosts))
	for _, h := range hosts {
		pr := ProbeResult{Host: h.name, Preference: h.pref, Implicit: h.addrs != nil}
		hp, perr := m.hostPolicy(ctx, &dp, h.name)
		pr.TLSPolicy = hp.by
		if perr != nil {
			pr.PolicyErr = perr
		}
		addrs := h.addrs
		if addrs == nil {
			var err error
			if addrs, err = m.lookupIP(ctx, h.name); err != nil {
				pr.Err = dnsError(h.name, err)
				out = append(out, pr)
				continue
			}
		}
		for _, a := range addrs {
			pr.Addrs = append(pr.Addrs, a.String())
		}
		for _, a := range addrs {
			cfg := m.dialConfig(h.name, a, hp)
			cn, err := openOnce(ctx, cfg, TLSNone)
			if err != nil {
				pr.Err = asError(err)
				continue
			}
			pr.Err = nil
			pr.Addr, pr.Answered = a.String(), true
			pr.STARTTLS, _ = cn.c.Extension("STARTTLS")
			pr.Extensions = (&Session{cn: cn}).Extensions()
			cn.close()
			break
		}
		out = append(out, pr)
	}
	return out, nil
}

// ErrMultipleSPF reports a domain publishing more than one SPF record,
// which RFC 7208 section 4.5 makes a permanent error for receivers.
var ErrMultipleSPF = errors.New("delivery: more than one SPF record")

// LookupSPF returns the SPF record (RFC 7208) of domain, if it publishes
// one, so "profile test" can tell whether this host may send for the
// sender's domain. A domain without TXT records or without an SPF record
// gives "", false, nil. Several SPF records give the first one, true and
// ErrMultipleSPF.
func LookupSPF(ctx context.Context, r TXTResolver, domain string) (string, bool, error) {
	txts, err := r.LookupTXT(ctx, domain)
	if err != nil {
		var dnse *net.DNSError
		if errors.As(err, &dnse) && dnse.IsNotFound {
			return "", false, nil
		}
		return "", false, dnsError(domain, err)
	}
	var found []string
	for _, t := range txts {
		if isSPF(t) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return "", false, nil
	case 1:
		return found[0], true, nil
	}
	return found[0], true, fmt.Errorf("%s: %w", domain, ErrMultipleSPF)
}

// isSPF reports whether a TXT record is an SPF version 1 record: exactly
// "v=spf1" followed by a space or nothing (RFC 7208 section 4.5).
func isSPF(t string) bool {
	const v = "v=spf1"
	if len(t) < len(v) || !strings.EqualFold(t[:len(v)], v) {
		return false
	}
	return len(t) == len(v) || t[len(v)] == ' '
}

var _ Transport = (*MX)(nil)
