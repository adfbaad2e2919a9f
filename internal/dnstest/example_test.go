package dnstest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"mailout/internal/dnstest"
)

// MX lookups through the test server. In a test, use
// dnstest.Start(t, records...) instead of New and Close.
func Example() {
	srv, err := dnstest.New(
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN MX 10 mx1.example.test.",
		"mx1.example.test. IN A 127.0.0.2",
		"nullmx.test. IN MX 0 .",
	)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	r := srv.Resolver() // a *net.Resolver: inject it where code takes one
	ctx := context.Background()

	mxs, _ := r.LookupMX(ctx, "example.test.")
	for _, mx := range mxs {
		fmt.Println(mx.Pref, mx.Host)
	}
	null, _ := r.LookupMX(ctx, "nullmx.test.")
	fmt.Printf("null MX host %q\n", null[0].Host)

	var de *net.DNSError
	_, err = r.LookupMX(ctx, "mx1.example.test.") // the name exists, but has no MX (NODATA)
	fmt.Println("no MX, not found:", errors.As(err, &de) && de.IsNotFound)
	_, err = r.LookupMX(ctx, "absent.test.") // NXDOMAIN
	fmt.Println("absent, not found:", errors.As(err, &de) && de.IsNotFound)
	// Output:
	// 10 mx1.example.test.
	// 20 mx2.example.test.
	// null MX host "."
	// no MX, not found: true
	// absent, not found: true
}

// Failures: SERVFAIL is a temporary error; a dropped name times out.
func ExampleServer_ServFail() {
	srv, err := dnstest.New("example.test. IN MX 10 mx1.example.test.")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	r := srv.Resolver()

	srv.ServFail("example.test.")
	_, err = r.LookupMX(context.Background(), "example.test.")
	var de *net.DNSError
	fmt.Println("temporary:", errors.As(err, &de) && de.IsTemporary && !de.IsNotFound)

	srv.Restore("example.test.")
	srv.Drop("example.test.")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = r.LookupMX(ctx, "example.test.")
	fmt.Println("timeout:", errors.As(err, &de) && de.IsTimeout)
	// Output:
	// temporary: true
	// timeout: true
}
