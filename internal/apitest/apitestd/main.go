// Command apitestd serves one fake provider API (package apitest) on
// loopback for benchmarks: it prints the base URL, serves until its
// standard input closes, and then prints how many messages it took.
//
// Usage: apitestd -kind mailgun [-key K] [-domain D] [-discard]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"mailout/internal/apitest"
)

func main() {
	var o apitest.Options
	flag.StringVar(&o.Kind, "kind", "mailgun", "graph, gmail, ses, mailgun or sparkpost")
	flag.StringVar(&o.Key, "key", "bench-key", "API key or bearer token to accept")
	flag.StringVar(&o.MailgunDomain, "domain", "mg.example.com", "mailgun domain")
	flag.BoolVar(&o.Discard, "discard", false, "keep only each message's size and hash")
	flag.StringVar(&o.Addr, "addr", "127.0.0.1:0", "listen address (loopback)")
	flag.Parse()
	srv, err := apitest.New(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apitestd:", err)
		os.Exit(1)
	}
	fmt.Println(srv.URL())
	io.Copy(io.Discard, os.Stdin)
	msgs := srv.Messages()
	var bytes int64
	for _, m := range msgs {
		bytes += m.Size
	}
	fmt.Fprintf(os.Stderr, "apitestd: %d messages, %d bytes, %d refused, %d connections\n", len(msgs), bytes, len(srv.Errors()), srv.Connections())
	srv.Close()
}
