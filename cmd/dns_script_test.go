package cmd_test

import (
	"bytes"
	"context"
	"os"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/rogpeppe/go-internal/testscript"

	"mailout/delivery"
	"mailout/internal/dnstest"
)

// cmdDNSD is the script command "dnsd NAME 'RR'...": it starts a DNS
// server on loopback answering with the records (zone-file syntax, see
// dnstest.New), sets NAME_ADDR to its "127.0.0.1:PORT" for a profile's
// resolver key, and stops it when the script ends.
func cmdDNSD(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: dnsd NAME 'RR'...")
	}
	srv, err := dnstest.New(args[1:]...)
	ts.Check(err)
	ts.Defer(func() { srv.Close() })
	ts.Setenv(args[0]+"_ADDR", srv.Addr())
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
