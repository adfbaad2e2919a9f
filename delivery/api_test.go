package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"mailout/internal/apitest"
	"mailout/message"
)

const apiMsg = "From: a@example.com\r\nTo: b@example.net\r\nSubject: \"quoted\" \\ tab\t\r\n\r\nhello\r\n"

func apiServer(t *testing.T, kind string, tweak func(*apitest.Options)) (*apitest.Server, APIOptions) {
	o := apitest.Options{Kind: kind, Key: "k3y", AccessKey: "AKIDTEST", SecretKey: "s3cret", Region: "eu-west-1", MailgunDomain: "mg.example.com"}
	if tweak != nil {
		tweak(&o)
	}
	srv := apitest.Start(t, o)
	ao := APIOptions{
		Kind: kind, URL: srv.URL(), MailgunDomain: "mg.example.com", Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "s3cret", ""),
		Token:       func(context.Context) (string, error) { return "k3y", nil },
		Secret:      func(context.Context) (string, error) { return "k3y", nil },
		Timeout:     5 * time.Second,
	}
	return srv, ao
}

func TestAPIProvidersDeliverTheMIMEToTheEnvelope(t *testing.T) {
	for _, kind := range []string{"graph", "gmail", "ses", "mailgun", "sparkpost"} {
		t.Run(kind, func(t *testing.T) {
			srv, o := apiServer(t, kind, nil)
			var log bytes.Buffer
			o.Verbose = &log
			a, err := NewAPI(o)
			if err != nil {
				t.Fatal(err)
			}
			env := message.Envelope{From: "a@example.com", To: []string{"b@example.net", "hidden@example.org"}}
			res, err := a.Deliver(context.Background(), env, rawMessage(apiMsg))
			if err != nil {
				t.Fatalf("deliver: %v (server saw %q)", err, srv.Errors())
			}
			if res.Transport != kind || res.Accepted() != 2 {
				t.Errorf("result %+v", res)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			if string(msgs[0].Data) != apiMsg {
				t.Errorf("server got %q, want %q", msgs[0].Data, apiMsg)
			}
			got := slices.Clone(msgs[0].To)
			slices.Sort(got)
			if !slices.Equal(got, []string{"b@example.net", "hidden@example.org"}) {
				t.Errorf("recipients %q", got)
			}
			if strings.Contains(log.String(), "k3y") || strings.Contains(log.String(), "s3cret") {
				t.Errorf("verbose log shows a secret:\n%s", log.String())
			}
			if !strings.Contains(log.String(), "Authorization: <redacted>") || !strings.Contains(log.String(), "POST "+srv.URL()) {
				t.Errorf("verbose log:\n%s", log.String())
			}
		})
	}
}

func TestAPIStatusClasses(t *testing.T) {
	for _, tt := range []struct {
		status int
		kind   Kind
	}{{401, AuthFailed}, {403, AuthFailed}, {429, Temporary}, {503, Temporary}, {400, Unavailable}, {404, Unavailable}, {413, Unavailable}} {
		srv, o := apiServer(t, "mailgun", func(o *apitest.Options) {
			o.Status, o.ErrorText, o.RetryAfter = tt.status, "provider says no", "7"
		})
		a, _ := NewAPI(o)
		res, err := a.Deliver(context.Background(), message.Envelope{From: "a@example.com", To: []string{"b@example.net"}}, rawMessage(apiMsg))
		var e *Error
		if !errors.As(err, &e) || e.Kind != tt.kind || e.Code != tt.status {
			t.Errorf("%d: error %#v, want kind %v", tt.status, err, tt.kind)
			continue
		}
		if !strings.Contains(e.Error(), "provider says no") {
			t.Errorf("%d: %q lacks the provider's text", tt.status, e.Error())
		}
		want := time.Duration(0)
		if tt.kind == Temporary {
			want = 7 * time.Second
		}
		if e.RetryAfter != want {
			t.Errorf("%d: RetryAfter %v, want %v", tt.status, e.RetryAfter, want)
		}
		if len(res.Recipients) != 1 || res.Recipients[0].Status != statusFor(e) {
			t.Errorf("%d: recipients %+v", tt.status, res.Recipients)
		}
		if srv.Sends() != 1 {
			t.Errorf("%d: %d sends", tt.status, srv.Sends())
		}
	}
}

func TestAPIWrongCredentialsAre77(t *testing.T) {
	for _, kind := range []string{"graph", "ses", "mailgun", "sparkpost"} {
		_, o := apiServer(t, kind, func(o *apitest.Options) { o.Key, o.SecretKey = "other", "other" })
		a, _ := NewAPI(o)
		_, err := a.Deliver(context.Background(), message.Envelope{From: "a@example.com", To: []string{"b@example.net"}}, rawMessage(apiMsg))
		if KindOf(err) != AuthFailed {
			t.Errorf("%s: %v, want authentication failed", kind, err)
		}
	}
}

func TestAPISizeLimitBeforeSending(t *testing.T) {
	big := rawMessage("Subject: x\r\n\r\n" + strings.Repeat("a", 4<<20))
	// The provider's own host: refused before any connection.
	called := false
	a, err := NewAPI(APIOptions{Kind: "graph", Token: func(context.Context) (string, error) { called = true; return "t", nil },
		Dial: func(context.Context, string, string) (net.Conn, error) { t.Fatal("dialled"); return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Deliver(context.Background(), message.Envelope{From: "a@example.com", To: []string{"b@example.net"}}, big)
	if KindOf(err) != Unavailable || !strings.Contains(err.Error(), "limit") || called {
		t.Errorf("graph 4 MB: %v (token asked: %v)", err, called)
	}
	// A server that is not the provider's decides for itself.
	srv, o := apiServer(t, "graph", nil)
	a, _ = NewAPI(o)
	if _, err := a.Deliver(context.Background(), message.Envelope{From: "a@example.com", To: []string{"b@example.net"}}, big); err != nil {
		t.Errorf("loopback server: %v", err)
	}
	if len(srv.Messages()) != 1 {
		t.Error("loopback server got nothing")
	}
}

func TestAPIConfigErrors(t *testing.T) {
	for _, o := range []APIOptions{
		{Kind: "fax"},
		{Kind: "mailgun"},
		{Kind: "ses"},
		{Kind: "gmail", URL: "ftp://x"},
	} {
		if _, err := NewAPI(o); KindOf(err) != Config {
			t.Errorf("%+v: %v, want a configuration error", o, err)
		}
	}
	// A token that cannot be had is configuration, never "deferred".
	_, o := apiServer(t, "gmail", nil)
	o.Token = func(context.Context) (string, error) { return "", errors.New("not logged in") }
	a, _ := NewAPI(o)
	res, err := a.Deliver(context.Background(), message.Envelope{To: []string{"b@example.net"}}, rawMessage(apiMsg))
	if KindOf(err) != Config || res.Recipients[0].Status != Refused {
		t.Errorf("token error: %v %+v", err, res)
	}
}

func TestAPIRefusedConnectionIsTemporary(t *testing.T) {
	srv, o := apiServer(t, "sparkpost", nil)
	srv.Close()
	a, _ := NewAPI(o)
	res, err := a.Deliver(context.Background(), message.Envelope{To: []string{"b@example.net"}}, rawMessage(apiMsg))
	if KindOf(err) != Temporary || len(res.Pending()) != 1 {
		t.Errorf("%v %+v", err, res)
	}
}

func TestAPISilentServerTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // reads the request, never answers
		}
	}()
	a, _ := NewAPI(APIOptions{Kind: "sparkpost", URL: "http://" + l.Addr().String(), Timeout: 200 * time.Millisecond,
		Secret: func(context.Context) (string, error) { return "k", nil }})
	res, err := a.Deliver(context.Background(), message.Envelope{To: []string{"b@example.net"}}, rawMessage(apiMsg))
	if KindOf(err) != Temporary || !strings.Contains(err.Error(), "timed out") || len(res.Pending()) != 1 {
		t.Errorf("%v %+v", err, res)
	}
}

func TestAPIRedirectIsNotSuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, "<html>login</html>")
			return
		}
		http.Redirect(w, r, "/login", http.StatusFound)
	}))
	defer srv.Close()
	a, _ := NewAPI(APIOptions{Kind: "sparkpost", URL: srv.URL, Secret: func(context.Context) (string, error) { return "k", nil }})
	_, err := a.Deliver(context.Background(), message.Envelope{To: []string{"b@example.net"}}, rawMessage(apiMsg))
	var e *Error
	if !errors.As(err, &e) || e.Kind != Unavailable || e.Code != http.StatusFound {
		t.Errorf("302: %v", err)
	}
}

// vanishing writes the message once, then fails half-way as an attachment
// removed in the meantime would.
type vanishing struct{ n int }

func (v *vanishing) WriteTo(w io.Writer) (int64, error) {
	v.n++
	n, err := io.WriteString(w, apiMsg[:len(apiMsg)/2])
	if err != nil || v.n == 1 {
		m, err := io.WriteString(w, apiMsg[len(apiMsg)/2:])
		return int64(n + m), err
	}
	return int64(n), &message.InputError{Path: "gone.pdf", Err: os.ErrNotExist}
}

func TestAPIUnreadableAttachmentDuringUploadIsAnInputError(t *testing.T) {
	srv, o := apiServer(t, "mailgun", nil)
	a, _ := NewAPI(o)
	res, err := a.Deliver(context.Background(), message.Envelope{To: []string{"b@example.net"}}, &vanishing{})
	var ie *message.InputError
	if !errors.As(err, &ie) || res != nil {
		t.Errorf("%v %+v, want the input error", err, res)
	}
	if len(srv.Messages()) != 0 {
		t.Error("a truncated message was accepted")
	}
}

func TestAPIOneConnectionForManyMessages(t *testing.T) {
	srv, o := apiServer(t, "mailgun", nil)
	a, _ := NewAPI(o)
	for range 5 {
		if _, err := a.Deliver(context.Background(), message.Envelope{To: []string{"b@example.net"}}, rawMessage(apiMsg)); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections for 5 sequential messages, want 1", n)
	}
}

func TestJSONStringEscapesWhileWriting(t *testing.T) {
	in := "a\"b\\c\r\n\t\x01\x1f é ✓"
	var b bytes.Buffer
	b.WriteByte('"')
	w := &jsonString{w: &b}
	for i := range len(in) { // one byte at a time: escapes never depend on chunking
		w.Write([]byte{in[i]})
	}
	b.WriteByte('"')
	var out string
	if err := json.Unmarshal(b.Bytes(), &out); err != nil || out != in {
		t.Errorf("%s decodes to %q (%v)", b.String(), out, err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":    0,
		"120": 2 * time.Minute,
		"-1":  0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		"soon": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}
