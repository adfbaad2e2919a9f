package cmd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/rogpeppe/go-internal/testscript"

	"mailout/delivery"
	"mailout/internal/dnstest"
	"mailout/internal/ststest"
)

// cmdDNSD is the script command "dnsd NAME [ad=ZONE]... 'RR'...": it
// starts a DNS server on loopback answering with the records (zone-file
// syntax, see dnstest.New), with the AD bit set for the ad= zones as a
// validating resolver would (dnstest.Server.SetAD), sets NAME_ADDR to its
// "127.0.0.1:PORT" for a profile's resolver key, and stops it when the
// script ends.
func cmdDNSD(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: dnsd NAME [ad=ZONE]... 'RR'...")
	}
	var zones, rrs []string
	for _, a := range args[1:] {
		if z, ok := strings.CutPrefix(a, "ad="); ok {
			zones = append(zones, z)
		} else {
			rrs = append(rrs, a)
		}
	}
	srv, err := dnstest.New(rrs...)
	ts.Check(err)
	ts.Defer(func() { srv.Close() })
	for _, z := range zones {
		srv.SetAD(z, true)
	}
	ts.Setenv(args[0]+"_ADDR", srv.Addr())
}

// cmdSTSD is the script command "stsd NAME DOMAIN=FILE...": it serves
// each FILE as DOMAIN's MTA-STS policy over HTTPS (ststest), sets
// NAME_PROXY to the CONNECT proxy that reaches it (for HTTPS_PROXY) and
// NAME_CA to a file with its certificate.
func cmdSTSD(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: stsd NAME DOMAIN=FILE...")
	}
	policies := map[string]string{}
	var domains []string
	for _, a := range args[1:] {
		domain, file, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("stsd: %q is not DOMAIN=FILE", a)
		}
		b, err := os.ReadFile(ts.MkAbs(file))
		ts.Check(err)
		policies[domain] = string(b)
		domains = append(domains, domain)
	}
	srv, err := ststest.New(domains...)
	ts.Check(err)
	ts.Defer(srv.Close)
	for d, p := range policies {
		srv.SetPolicy(d, p)
	}
	ca := ts.MkAbs(args[0] + "-ca.pem")
	ts.Check(os.WriteFile(ca, srv.CertPEM(), 0o644))
	ts.Setenv(args[0]+"_PROXY", srv.ProxyURL())
	ts.Setenv(args[0]+"_CA", ca)
}

// cmdTLSA is the script command "tlsa NAME": it sets NAME_TLSA to the
// SHA-256 of the SubjectPublicKeyInfo of smtpd NAME's certificate, the
// data of a "3 1 1" TLSA record.
func cmdTLSA(ts *testscript.TestScript, neg bool, args []string) {
	ss := server(ts, args)
	block, _ := pem.Decode(ss.srv.CertPEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	ts.Check(err)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	ts.Setenv(args[0]+"_TLSA", hex.EncodeToString(sum[:]))
}

// cmdDKIMVerify is the script command "dkimverify FILE DNSADDR": it checks
// the DKIM signatures of the message in FILE with go-msgauth, fetching keys
// from the DNS server at DNSADDR (e.g. $D_ADDR from dnsd). It fails when
// the message has no signature or one does not verify; "! dkimverify"
// expects a message without a valid signature.
func cmdDKIMVerify(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: dkimverify FILE DNSADDR")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	res := delivery.ResolverFor(args[1])
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return res.LookupTXT(context.Background(), name) },
	})
	ts.Check(err)
	ok := len(vs) > 0
	for _, v := range vs {
		if v.Err != nil {
			ts.Logf("signature d=%s: %v", v.Domain, v.Err)
			ok = false
		} else {
			ts.Logf("signature d=%s verified, headers %v", v.Domain, v.HeaderKeys)
		}
	}
	if len(vs) == 0 {
		ts.Logf("no DKIM-Signature")
	}
	if ok == neg {
		ts.Fatalf("dkimverify %s: verified %v, want %v", args[0], ok, !neg)
	}
}
