package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"mailout/mtasts"
)

// MTASTSMode says how direct delivery applies recipient domains' MTA-STS
// policies (RFC 8461), as in the mta_sts profile key.
type MTASTSMode string

// MTA-STS modes.
const (
	MTASTSOff     MTASTSMode = "off"     // no lookups
	MTASTSTesting MTASTSMode = "testing" // fetch and report, never refuse
	MTASTSEnforce MTASTSMode = "enforce" // honour each policy as published: enforce an enforce policy, report a testing one
)

// How a recipient's MX connection was protected (RecipientResult.TLS).
const (
	TLSByDANE          = "dane"          // certificate matched the host's DNSSEC-validated TLSA records
	TLSByMTASTS        = "mta-sts"       // certificate verified for an MX host the domain's enforced policy names
	TLSVerified        = "starttls"      // certificate verified because the profile demands it (tls = "starttls")
	TLSByOpportunistic = "opportunistic" // encrypted, certificate not checked
	TLSPlain           = "none"          // plaintext
)

// tlsOutcome is how an MX connection is protected, for results and logs.
type tlsOutcome struct {
	tls    string // one of the TLSBy… constants
	mtasts string // the MTA-STS mode applied to the domain, "" without a policy
	report string // what a testing policy would have refused
}

func (o tlsOutcome) apply(rs []RecipientResult) {
	for i := range rs {
		rs[i].TLS, rs[i].MTASTS, rs[i].TLSReport = o.tls, o.mtasts, o.report
	}
}

// domainPolicy is the MTA-STS side of a domain's TLS policy, decided once
// before dialing any of its hosts.
type domainPolicy struct {
	domain string
	sts    *mtasts.Policy
	id     string
	mode   mtasts.Mode // Enforce or Testing: how sts is applied; "" without a policy
	err    error       // why a policy the domain seems to publish is unusable
}

func (dp *domainPolicy) name() string {
	return fmt.Sprintf("the MTA-STS policy of %s (mode %s)", dp.domain, dp.mode)
}

// domainPolicy looks up domain's MTA-STS policy. An unusable policy is
// no policy (RFC 8461 section 3.3), noted in the transcript.
func (m *MX) domainPolicy(ctx context.Context, domain string) domainPolicy {
	dp := domainPolicy{domain: domain}
	if m.sts == nil || m.opts.TLS == TLSNone {
		return dp
	}
	r := m.sts.Lookup(ctx, domain)
	if r.Err != nil {
		dp.err = r.Err
		m.log.note("MTA-STS policy of %s unusable, delivering as without one: %v", domain, r.Err)
	}
	if r.Policy == nil || r.Policy.Mode == mtasts.None {
		return dp
	}
	dp.sts, dp.id, dp.mode = r.Policy, r.ID, mtasts.Testing
	if r.Policy.Mode == mtasts.Enforce && m.opts.MTASTS == MTASTSEnforce {
		dp.mode = mtasts.Enforce
	}
	from := "fetched"
	if r.Cached {
		from = "cached"
	}
	m.log.note("MTA-STS policy of %s (%s, id %s): mode %s, applied as %s, mx %s", domain, from, r.ID, r.Policy.Mode, dp.mode, strings.Join(r.Policy.MX, " "))
	return dp
}

// hostPolicy is how to protect the connection to one MX host.
type hostPolicy struct {
	by   string // TLSByDANE, TLSByMTASTS, or "" for the profile's tls mode
	tlsa []TLSA // usable TLSA records for DANE; none means encrypt without authenticating
}

// hostPolicy decides how to reach host: DANE when its TLSA records are
// DNSSEC-validated (DANE wins over MTA-STS, RFC 8461 section 2), else the
// domain's enforced MTA-STS policy, else the profile's mode. A host the
// enforced policy does not name, or whose TLSA lookup failed, is not to
// be used: the error says why.
func (m *MX) hostPolicy(ctx context.Context, dp *domainPolicy, host string) (hostPolicy, *Error) {
	if m.opts.DANE != nil && m.opts.TLS != TLSNone {
		name := "_" + strconv.Itoa(m.opts.Port) + "._tcp." + host
		lctx, cancel := m.lookupContext(ctx)
		recs, secure, err := m.opts.DANE.LookupTLSA(lctx, name)
		cancel()
		switch {
		case err != nil:
			return hostPolicy{}, &Error{Kind: Temporary, Op: "dane", Host: host, Err: err}
		case secure && len(recs) > 0:
			u := usable(recs)
			m.log.note("DANE for %s: %d TLSA records, %d usable", host, len(recs), len(u))
			return hostPolicy{by: TLSByDANE, tlsa: u}, nil
		case secure:
			m.log.note("DANE for %s: no TLSA records (DNSSEC-validated)", host)
		}
	}
	if dp.mode == mtasts.Enforce {
		if !dp.sts.Match(host) {
			return hostPolicy{}, &Error{Kind: Temporary, Op: "mta-sts", Host: host,
				Err: fmt.Errorf("MX host not allowed by %s", dp.name())}
		}
		return hostPolicy{by: TLSByMTASTS}, nil
	}
	return hostPolicy{}, nil
}

// policyFailure turns a TLS failure under DANE or an enforced MTA-STS
// policy into the temporary failure both RFCs ask for (RFC 8461 section
// 5, RFC 7672 section 2.2): the host is skipped, the mail waits, and it is
// never sent in clear. Network failures are left as they are.
func policyFailure(e *Error, hp hostPolicy, dp *domainPolicy, host string) *Error {
	if e.Op != "tls" && e.Op != "starttls" {
		return e
	}
	why := dp.name() + " requires STARTTLS with a certificate valid for the MX host"
	if hp.by == TLSByDANE {
		why = "DANE requires STARTTLS with a certificate matching its TLSA records"
	}
	err := e.Err
	if errors.Is(err, errNoSTARTTLS) {
		err = errNoSTARTTLS
	}
	return &Error{Kind: Temporary, Op: "tls", Host: host, Err: fmt.Errorf("%s: %w", why, err)}
}

// outcome says how cn, opened under hp, is protected; for a testing
// policy it also says what enforcing it would have refused.
func (m *MX) outcome(cn *conn, hp hostPolicy, dp *domainPolicy) tlsOutcome {
	o := tlsOutcome{tls: hp.by, mtasts: string(dp.mode)}
	switch {
	case o.tls != "":
	case !cn.tls:
		o.tls = TLSPlain
	case m.opts.TLS == TLSStartTLS:
		o.tls = TLSVerified
	default:
		o.tls = TLSByOpportunistic
	}
	if dp.mode == mtasts.Testing && hp.by == "" {
		if why := m.wouldRefuse(cn, dp); why != "" {
			o.report = fmt.Sprintf("%s would refuse %s: %s", dp.name(), cn.host, why)
			m.log.note("%s", o.report)
		}
	}
	return o
}

// wouldRefuse says why an enforced policy would not have used cn: host not
// named, no STARTTLS, or a certificate not valid for the host.
func (m *MX) wouldRefuse(cn *conn, dp *domainPolicy) string {
	if !dp.sts.Match(cn.host) {
		return "the MX host is not in its mx list"
	}
	if !cn.tls {
		return "no usable STARTTLS"
	}
	st, err := cn.c.GetTLSConnectionState()
	if err != nil || len(st.PeerCertificates) == 0 {
		return "no server certificate"
	}
	opts := x509.VerifyOptions{DNSName: cn.host, Intermediates: x509.NewCertPool()}
	if m.opts.TLSConfig != nil {
		opts.Roots = m.opts.TLSConfig.RootCAs
	}
	for _, c := range st.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := st.PeerCertificates[0].Verify(opts); err != nil {
		return "certificate not valid: " + err.Error()
	}
	return ""
}

// DomainPolicy is the TLS policy direct delivery would apply to a domain,
// for "profile test".
type DomainPolicy struct {
	MTASTS   string   // MTA-STS mode applied: "enforce", "testing", or "" without a policy
	PolicyID string   // the policy's record id
	MX       []string // the policy's mx patterns
	Err      error    // why a policy the domain seems to publish is unusable
}

// Policy returns the MTA-STS policy of domain as Deliver would apply it.
func (m *MX) Policy(ctx context.Context, domain string) DomainPolicy {
	dp := m.domainPolicy(ctx, strings.ToLower(strings.TrimSuffix(domain, ".")))
	out := DomainPolicy{MTASTS: string(dp.mode), PolicyID: dp.id, Err: dp.err}
	if dp.sts != nil {
		out.MX = dp.sts.MX
	}
	return out
}
