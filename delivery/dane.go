package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TLSA is one TLSA record (RFC 6698 section 2.1).
type TLSA struct {
	Usage        uint8 // 2 DANE-TA, 3 DANE-EE; the PKIX usages 0 and 1 are unusable for SMTP (RFC 7672 section 3.1.3)
	Selector     uint8 // 0 full certificate, 1 SubjectPublicKeyInfo
	MatchingType uint8 // 0 exact, 1 SHA-256, 2 SHA-512
	Data         []byte
}

// TLSAResolver finds the TLSA records of a name and whether DNSSEC
// validated them. secure false means DANE does not apply (an unsigned
// zone, or a resolver that does not validate); an error means the lookup
// failed where the zone is signed, so the host must not be used now.
type TLSAResolver interface {
	LookupTLSA(ctx context.Context, name string) (recs []TLSA, secure bool, err error)
}

// DNSSECResolver asks a validating resolver (unbound, systemd-resolved
// with DNSSEC=yes) directly and trusts its AD bit, which Go's resolver
// does not show. The path to the resolver must be trusted, as RFC 7672
// section 2.1.1 says: a resolver on loopback.
type DNSSECResolver struct {
	Addr    string        // "IP:PORT" of the resolver
	Timeout time.Duration // per query; 0 means 5 s
}

// LookupTLSA implements TLSAResolver. A SERVFAIL is what a validating
// resolver answers for a forged (bogus) record, so it fails the lookup
// when the host's address is DNSSEC-signed; for an unsigned host it is the
// broken server of a zone without DANE and is ignored (RFC 7672 section
// 2.2.3 asks TLSA only of hosts with secure addresses).
func (r *DNSSECResolver) LookupTLSA(ctx context.Context, name string) ([]TLSA, bool, error) {
	in, err := r.exchange(ctx, name, dns.TypeTLSA)
	if err == nil && (in.Rcode == dns.RcodeSuccess || in.Rcode == dns.RcodeNameError) {
		if !in.AuthenticatedData {
			return nil, false, nil
		}
		var recs []TLSA
		for _, rr := range in.Answer {
			if t, ok := rr.(*dns.TLSA); ok {
				data, herr := hex.DecodeString(t.Certificate)
				if herr != nil {
					continue // unusable, like an unknown usage
				}
				recs = append(recs, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
			}
		}
		return recs, true, nil
	}
	if err == nil {
		err = fmt.Errorf("%s", dns.RcodeToString[in.Rcode])
	}
	host := dns.Fqdn(name)
	if labels := dns.SplitDomainName(host); len(labels) > 2 {
		host = dns.Fqdn(strings.Join(labels[2:], ".")) // drop _PORT._tcp
	}
	a, aerr := r.exchange(ctx, host, dns.TypeA)
	if aerr == nil && a.Rcode == dns.RcodeSuccess && !a.AuthenticatedData {
		return nil, false, nil
	}
	return nil, true, fmt.Errorf("TLSA lookup of %s failed: %w", name, err)
}

// exchange sends one query with AD and DO set (RFC 6840 section 5.7: ask
// for the AD bit), over TCP when the UDP answer is truncated.
func (r *DNSSECResolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.AuthenticatedData = true
	m.SetEdns0(1232, true)
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	c := &dns.Client{Net: "udp", Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, r.Addr)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.Addr)
	}
	return in, err
}

// usable keeps the records RFC 7672 section 3.1 lets SMTP use: DANE-TA(2)
// and DANE-EE(3), with a known selector and matching type.
func usable(recs []TLSA) []TLSA {
	var out []TLSA
	for _, r := range recs {
		if (r.Usage == 2 || r.Usage == 3) && r.Selector <= 1 && r.MatchingType <= 2 {
			out = append(out, r)
		}
	}
	return out
}

// matches reports whether cert is what rec names.
func (rec TLSA) matches(cert *x509.Certificate) bool {
	data := cert.Raw
	if rec.Selector == 1 {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch rec.MatchingType {
	case 1:
		sum := sha256.Sum256(data)
		return bytes.Equal(sum[:], rec.Data)
	case 2:
		sum := sha512.Sum512(data)
		return bytes.Equal(sum[:], rec.Data)
	}
	return bytes.Equal(data, rec.Data)
}

// daneVerifier checks a server's certificates against usable TLSA
// records of host (RFC 7672 section 3.1): DANE-EE matches the leaf alone,
// without name or expiry checks; DANE-TA matches a certificate of the
// chain the server sent, which must then issue a leaf valid for host. With
// no usable record TLS is still required, unauthenticated (section 2.2).
func daneVerifier(recs []TLSA, host string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		certs := cs.PeerCertificates
		if len(recs) == 0 || len(certs) == 0 {
			if len(certs) == 0 {
				return errors.New("the server sent no certificate")
			}
			return nil
		}
		for _, rec := range recs {
			if rec.Usage == 3 && rec.matches(certs[0]) {
				return nil
			}
		}
		var taErr error
		for i, c := range certs {
			for _, rec := range recs {
				if rec.Usage != 2 || !rec.matches(c) {
					continue
				}
				roots := x509.NewCertPool()
				roots.AddCert(c)
				inter := x509.NewCertPool()
				for _, ic := range certs[1:max(i, 1)] {
					inter.AddCert(ic)
				}
				_, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
				if err == nil {
					return nil
				}
				taErr = err
			}
		}
		if taErr != nil {
			return fmt.Errorf("the certificate of %s chains to its TLSA trust anchor but %w", host, taErr)
		}
		return fmt.Errorf("the certificate of %s matches none of its %d TLSA records", host, len(recs))
	}
}

// LoopbackNameserver returns "IP:53" of the first nameserver in conf, a
// resolv.conf, when it is on loopback, else "": only a local validating
// resolver's AD bit can be trusted (RFC 7672 section 2.1.1), so only such
// a one may become a [DNSSECResolver]. The caller opens the file; this
// rule is DANE's, so it lives here and not in cmd.
func LoopbackNameserver(conf io.Reader) string {
	sc := bufio.NewScanner(conf)
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
