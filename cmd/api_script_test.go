package cmd_test

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"mailout/internal/apitest"
)

type apiKey struct{}

// apiServers are a script's fake HTTP APIs, by name.
type apiServers struct {
	mu sync.Mutex
	m  map[string]*apitest.Server
}

func (a *apiServers) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.m {
		s.Close()
	}
}

func newAPIServers(e *testscript.Env) {
	a := &apiServers{m: map[string]*apitest.Server{}}
	e.Values[apiKey{}] = a
	e.Defer(a.closeAll)
}

func apiServer(ts *testscript.TestScript, name string) *apitest.Server {
	a := ts.Value(apiKey{}).(*apiServers)
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.m[name]
	if !ok {
		ts.Fatalf("no API server %q", name)
	}
	return s
}

// apid NAME KIND [key=K] [domain=D] [aws=ACCESS:SECRET:REGION]
// [status=CODE] [text=T] [retryafter=V] [failfirst=N] [discard]
// [bearer=IDP] [reject=ADDR]... starts a fake provider API (internal/apitest) and sets
// NAME_URL; with bearer, the oauthd IDP decides which tokens are valid.
func cmdAPID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: apid NAME KIND [options]")
	}
	o := apitest.Options{Kind: args[1], Key: "test-key", MailgunDomain: "mg.example.com",
		AccessKey: "AKIDTEST", SecretKey: "test-secret", Region: "eu-west-1"}
	for _, a := range args[2:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "key":
			o.Key = v
		case "domain":
			o.MailgunDomain = v
		case "aws":
			parts := strings.Split(v, ":")
			if len(parts) != 3 {
				ts.Fatalf("apid: aws=ACCESS:SECRET:REGION")
			}
			o.AccessKey, o.SecretKey, o.Region = parts[0], parts[1], parts[2]
		case "status":
			o.Status = atoi(ts, v)
		case "text":
			o.ErrorText = v
		case "retryafter":
			o.RetryAfter = v
		case "failfirst":
			o.FailFirst = atoi(ts, v)
		case "discard":
			o.Discard = true
		case "reject":
			o.Reject = append(o.Reject, v)
		case "bearer":
			o.Verify = idp(ts, v).Valid
		default:
			ts.Fatalf("apid: unknown option %q", a)
		}
	}
	srv, err := apitest.New(o)
	ts.Check(err)
	a := ts.Value(apiKey{}).(*apiServers)
	a.mu.Lock()
	a.m[args[0]] = srv
	a.mu.Unlock()
	ts.Setenv(args[0]+"_URL", srv.URL())
}

// apibox NAME N [sends|conns] asserts that NAME accepted exactly N
// messages, or received N send requests (failed ones too), or accepted N
// TCP connections.
func cmdAPIBox(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: apibox NAME N [sends|conns]")
	}
	srv := apiServer(ts, args[0])
	want := atoi(ts, args[1])
	got := len(srv.Messages())
	what := "messages"
	if len(args) > 2 {
		switch args[2] {
		case "sends":
			got, what = srv.Sends(), "send requests"
		case "conns":
			got, what = srv.Connections(), "connections"
		default:
			ts.Fatalf("apibox: count messages, sends or conns, not %q", args[2])
		}
	}
	if (got == want) == neg {
		ts.Fatalf("%s has %d %s, want %s%d (refused: %q)", args[0], got, what, map[bool]string{true: "not ", false: ""}[neg], want, srv.Errors())
	}
}

// apigap NAME I J DURATION asserts that send request J (from 1) reached
// NAME at least DURATION after send request I: a wait the client was asked
// for, never a bound on speed.
func cmdAPIGap(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: apigap NAME I J DURATION")
	}
	times := apiServer(ts, args[0]).SendTimes()
	i, j := atoi(ts, args[1]), atoi(ts, args[2])
	d, err := time.ParseDuration(args[3])
	ts.Check(err)
	if i < 1 || j <= i || j > len(times) {
		ts.Fatalf("apigap: %s has %d send requests, not %d and %d", args[0], len(times), i, j)
	}
	if gap := times[j-1].Sub(times[i-1]); gap < d {
		ts.Fatalf("send %d came %v after send %d, want at least %v", j, gap.Round(time.Millisecond), i, d)
	}
}

// apifetch NAME I FILE writes message I (from 0) as the API received it to
// FILE and the recipients the request named to FILE.env.
func cmdAPIFetch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: apifetch NAME I FILE")
	}
	srv := apiServer(ts, args[0])
	i := atoi(ts, args[1])
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Messages()) <= i && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	msgs := srv.Messages()
	if len(msgs) <= i {
		ts.Fatalf("apifetch: %s has %d messages (refused: %q)", args[0], len(msgs), srv.Errors())
	}
	m := msgs[i]
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), m.Data, 0o644))
	var b strings.Builder
	for _, t := range m.To {
		fmt.Fprintf(&b, "to: <%s>\n", t)
	}
	fmt.Fprintf(&b, "size: %d\n", m.Size)
	ts.Check(os.WriteFile(ts.MkAbs(args[2]+".env"), []byte(b.String()), 0o644))
}

// cmpmime A B compares two MIME messages as decode shows them, except for
// Date, Message-Id and the boundaries derived from it, which differ
// between two runs: the same headers,
// structure, text and attachment bytes.
var boundaryParam = regexp.MustCompile(`boundary="?[^";]+"?`)

func cmdCmpMIME(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cmpmime A B")
	}
	var out [2]string
	for i, f := range args {
		raw, err := os.ReadFile(ts.MkAbs(f))
		ts.Check(err)
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		ts.Check(err)
		var b strings.Builder
		for _, k := range sortedKeys(m.Header) {
			if k == "Date" || k == "Message-Id" {
				continue
			}
			for _, v := range m.Header[k] {
				fmt.Fprintf(&b, "%s: %s\n", k, boundaryParam.ReplaceAllString(v, "boundary=B"))
			}
		}
		ts.Check(decodePart(&b, textproto(m.Header), m.Body))
		out[i] = b.String()
	}
	if (out[0] == out[1]) == neg {
		ts.Fatalf("%s and %s differ:\n%s\n---\n%s", args[0], args[1], out[0], out[1])
	}
}

// apistop NAME stops a fake API, so its address refuses connections.
func cmdAPIStop(ts *testscript.TestScript, neg bool, args []string) {
	ts.Check(apiServer(ts, args[0]).Close())
}
