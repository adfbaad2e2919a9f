package cmd_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"mailout/internal/oauthtest"
)

// The test identity providers of a script, by name.
type oauthKey struct{}

type oauthState struct {
	mu   sync.Mutex
	idps map[string]*oauthtest.Server
}

func (s *oauthState) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, idp := range s.idps {
		idp.Close()
	}
}

func setupOAuth(e *testscript.Env) {
	st := &oauthState{idps: map[string]*oauthtest.Server{}}
	e.Values[oauthKey{}] = st
	e.Defer(st.closeAll)
}

func idp(ts *testscript.TestScript, name string) *oauthtest.Server {
	st := ts.Value(oauthKey{}).(*oauthState)
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.idps[name]
	if !ok {
		ts.Fatalf("no identity provider %q (start it with oauthd)", name)
	}
	return s
}

// oauthd NAME [rotate] [autoapprove] [secret=S] [slowdown=N] [fail=STATUS] starts a test
// OAuth authorization server and sets NAME_URL, NAME_DEVICE, NAME_AUTH,
// NAME_TOKEN and NAME_CLIENT. A running one takes new options
// ("oauthd NAME fail=0").
func cmdOAuthd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: oauthd NAME [options]")
	}
	apply := func(o *oauthtest.Options) {
		for _, a := range args[1:] {
			k, v, _ := strings.Cut(a, "=")
			switch k {
			case "autoapprove":
				o.AutoApprove = true
			case "rotate":
				o.Rotate = true
			case "secret":
				o.ClientSecret = v
			case "slowdown":
				o.SlowDown = atoi(ts, v)
			case "fail":
				o.FailStatus = atoi(ts, v)
			default:
				ts.Fatalf("oauthd: unknown option %q", a)
			}
		}
	}
	st := ts.Value(oauthKey{}).(*oauthState)
	st.mu.Lock()
	s, ok := st.idps[args[0]]
	st.mu.Unlock()
	if ok {
		s.SetOptions(apply)
		return
	}
	var o oauthtest.Options
	apply(&o)
	s, err := oauthtest.New(o)
	ts.Check(err)
	st.mu.Lock()
	st.idps[args[0]] = s
	st.mu.Unlock()
	n := args[0]
	ts.Setenv(n+"_URL", s.URL())
	ts.Setenv(n+"_DEVICE", s.DeviceURL())
	ts.Setenv(n+"_AUTH", s.AuthURL())
	ts.Setenv(n+"_TOKEN", s.TokenURL())
	ts.Setenv(n+"_CLIENT", s.ClientID())
}

var grantTypes = map[string]string{
	"all": "", "refresh": "refresh_token", "client": "client_credentials",
	"device": "urn:ietf:params:oauth:grant-type:device_code", "code": "authorization_code",
}

// oauthd-count NAME GRANT N asserts that NAME answered N token requests of
// GRANT (all, refresh, client, device, code).
func cmdOAuthdCount(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: oauthd-count NAME GRANT N")
	}
	gt, ok := grantTypes[args[1]]
	if !ok {
		ts.Fatalf("oauthd-count: unknown grant %q", args[1])
	}
	got, want := idp(ts, args[0]).Requests(gt), atoi(ts, args[2])
	if (got == want) == neg {
		ts.Fatalf("%s answered %d %s requests, want %d", args[0], got, args[1], want)
	}
}

// oauthd-approve NAME is the user approving the pending device login, by
// an HTTP POST to the server's approval endpoint; it waits up to 10 s for a
// login to be pending.
func cmdOAuthdApprove(ts *testscript.TestScript, neg bool, args []string) {
	s := idp(ts, args[0])
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.PostForm(s.ApproveURL(), url.Values{})
		ts.Check(err)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("oauthd-approve: no device login pending")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// oauthd-revoke NAME revokes every grant NAME issued.
func cmdOAuthdRevoke(ts *testscript.TestScript, neg bool, args []string) {
	idp(ts, args[0]).RevokeAll()
}

// oauthd-noleak NAME FILE... fails if any token NAME issued appears in a
// FILE ("stdout" and "stderr" are the last command's).
func cmdOAuthdNoLeak(ts *testscript.TestScript, neg bool, args []string) {
	toks := idp(ts, args[0]).Issued()
	if len(toks) == 0 {
		ts.Fatalf("oauthd-noleak: %s issued no token yet", args[0])
	}
	for _, f := range args[1:] {
		data := ts.ReadFile(f)
		for _, tok := range toks {
			if tok != "" && strings.Contains(data, tok) {
				ts.Fatalf("%s holds a token issued by %s", f, args[0])
			}
		}
	}
}

var authURL = regexp.MustCompile(`http://127\.0\.0\.1:\d+/authorize\?\S+`)

// oauthd-browse NAME FILE is the user's browser: it waits up to 10 s for
// an authorization URL of NAME to appear in FILE (mailout's stderr, or what
// a fake xdg-open wrote), GETs it and follows the redirect to mailout's
// loopback listener.
func cmdOAuthdBrowse(ts *testscript.TestScript, neg bool, args []string) {
	s := idp(ts, args[0])
	deadline := time.Now().Add(10 * time.Second)
	var u string
	for u == "" {
		data, _ := os.ReadFile(ts.MkAbs(args[1]))
		if m := authURL.Find(data); m != nil && strings.HasPrefix(string(m), s.AuthURL()) {
			u = string(m)
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("oauthd-browse: no authorization URL in %s: %q", args[1], data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(u)
	ts.Check(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "signed in") {
		ts.Fatalf("oauthd-browse: redirect answered %d %q", resp.StatusCode, body)
	}
}
