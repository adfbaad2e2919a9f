package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"mailout/internal/text"
	"mailout/message"
)

// APIOptions configure delivery through a provider's HTTP API: graph,
// gmail, ses, mailgun or sparkpost. Each takes the complete MIME message, so
// what arrives is exactly what --dry-run prints.
type APIOptions struct {
	Kind string // graph, gmail, ses, mailgun, sparkpost
	// URL replaces the provider's base URL (EU regions, national clouds,
	// compatible servers, tests); "" is the provider's own.
	URL string
	// Token returns an OAuth bearer token (graph, gmail).
	Token func(ctx context.Context) (string, error)
	// TokenRejected, when set, is told a bearer token the API answered
	// 401 to, so that the source stops handing it out.
	TokenRejected func(token string)
	// Secret returns the API key (mailgun, sparkpost).
	Secret func(ctx context.Context) (string, error)
	// MailgunDomain is the sending domain in mailgun's URL.
	MailgunDomain string
	// Region and Credentials sign SES requests (SigV4).
	Region      string
	Credentials aws.CredentialsProvider
	Timeout     time.Duration    // per connect and per read/write of inactivity
	Dial        DialFunc         // nil means net.Dialer
	Now         func() time.Time // signing clock and Retry-After dates; nil means time.Now
	Verbose     io.Writer        // method, URL, status, message id; Authorization redacted
}

// API delivers through an HTTP API. One API holds one HTTP client whose
// keep-alive connections all callers (batch workers) share.
type API struct {
	opts   APIOptions
	p      *provider
	base   *url.URL
	client *http.Client
	log    *transcript
}

// NewAPI returns the transport for o.Kind; a bad kind or URL is a Config
// error.
func NewAPI(o APIOptions) (*API, error) {
	p, ok := providers[o.Kind]
	if !ok {
		return nil, &Error{Kind: Config, Op: "api", Err: fmt.Errorf("unknown API transport %q", o.Kind)}
	}
	raw := o.URL
	if raw == "" {
		raw = strings.ReplaceAll(p.base, "{region}", o.Region)
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, &Error{Kind: Config, Op: "api", Err: fmt.Errorf("api_url %q is not an http(s) URL", o.URL)}
	}
	if err := p.check(o); err != nil {
		return nil, &Error{Kind: Config, Op: "api", Err: err}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &API{opts: o, p: p, base: base}
	if o.Verbose != nil {
		a.log = &transcript{w: o.Verbose}
	}
	a.client = &http.Client{
		// A redirect is an answer, never followed: a POST turned into a
		// GET of a login page must not count as sent.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dial(ctx, o.Dial, addr, o.Timeout)
			},
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   o.Timeout,
			ResponseHeaderTimeout: o.Timeout,
		}}
	return a, nil
}

// Name is the transport's name as --json reports it.
func (a *API) Name() string { return a.p.name }

// provider is what differs between the APIs: where a message goes, how the
// request body wraps it, how the request is authorized, and how the
// answer names the message.
type provider struct {
	name  string
	base  string   // default base URL
	hosts []string // domains whose servers enforce limit (see enforcesLimit)
	spf   string   // the SPF include that covers the servers sending for it (see SPFMechanism)
	// limit is the largest message the provider takes; limitBody says it
	// counts the request body (graph's base64), not the MIME message.
	limit     int64
	limitBody bool
	check     func(o APIOptions) error
	build     func(a *API, env message.Envelope, msg message.Message) (*call, error)
	authorize func(ctx context.Context, a *API, req *http.Request, payloadHash string) error
	hashBody  bool // authorize needs the body's SHA-256 (SigV4)
	id        func(body []byte) string
	// rejected, when set, is how many recipients an accepted request
	// still refused, by the answer (SparkPost, which never says which).
	rejected func(body []byte) int
	// probe is the path of a cheap authenticated GET that proves the
	// credentials; nil where the sending scope allows no such call (Graph's
	// Mail.Send, Gmail's gmail.send), and getting a token is the proof.
	probe func(a *API) string
}

// call is one prepared request; body writes the request body around msg,
// the same bytes every time, so it can be counted (and hashed) before it
// is streamed.
type call struct {
	method, path string
	contentType  string
	body         func(w io.Writer, msg message.Message) error
}

var providers = map[string]*provider{
	"graph": graph, "gmail": gmail, "ses": ses, "mailgun": mailgun, "sparkpost": sparkpost,
}

// Deliver sends msg in one request. The request body is produced from
// the composer while it is sent; a first pass through a counter gives its
// length (and hash, for SES), so memory does not grow with the message.
func (a *API) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	res := &Result{Transport: a.p.name}
	host := a.base.Host
	fail := func(e *Error) (*Result, error) {
		res.failAll(env.To, host, e)
		return res, e
	}
	c, err := a.p.build(a, env, msg)
	if err != nil {
		return fail(asAPIError(err))
	}
	size, bodySize, sum, err := a.measure(c, msg)
	if err != nil {
		var ie *message.InputError
		if errors.As(err, &ie) {
			return nil, err
		}
		return fail(&Error{Kind: Temporary, Op: "compose", Err: err})
	}
	counted := size
	if a.p.limitBody {
		counted = bodySize
	}
	if a.p.limit > 0 && a.enforcesLimit() && counted > a.p.limit {
		return fail(&Error{Kind: Unavailable, Op: "size", Host: host,
			Err: fmt.Errorf("message is %s, over %s's limit of %s; nothing was sent", humanSize(counted), a.p.name, humanSize(a.p.limit))})
	}

	pr, pw := io.Pipe()
	writeErr := make(chan error, 1)
	go func() {
		err := c.body(pw, msg)
		pw.CloseWithError(err)
		writeErr <- err
	}()
	req, err := http.NewRequestWithContext(ctx, c.method, a.base.JoinPath(c.path).String(), pr)
	if err != nil {
		pr.CloseWithError(err)
		<-writeErr
		return fail(&Error{Kind: Config, Op: "api", Err: err})
	}
	req.ContentLength = bodySize
	req.Header.Set("Content-Type", c.contentType)
	req.Header.Set("User-Agent", "mailout")
	if err := a.p.authorize(ctx, a, req, sum); err != nil {
		pr.CloseWithError(err)
		<-writeErr
		return fail(asAPIError(err))
	}
	resp, body, e := a.exchange(req)
	if e != nil && e.Code == http.StatusUnauthorized && a.opts.TokenRejected != nil {
		if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
			a.opts.TokenRejected(tok)
		}
	}
	if e != nil {
		// An unreadable attachment ends the upload; say so, not "network".
		pr.CloseWithError(e)
		var ie *message.InputError
		if werr := <-writeErr; errors.As(werr, &ie) {
			return nil, werr
		}
		return fail(e)
	}
	id := a.p.id(body)
	if id != "" {
		a.log.note("message id %s", id)
	}
	reply := strings.TrimSpace(resp.Status + " " + id)
	if a.p.rejected != nil {
		if n := a.p.rejected(body); n > 0 {
			return a.refusedSome(res, env, host, resp.StatusCode, id, n)
		}
	}
	for _, rc := range env.To {
		res.Recipients = append(res.Recipients, RecipientResult{Address: rc, Status: Accepted, Host: host, Reply: reply})
	}
	return res, nil
}

// refusedSome reports a request the API took while refusing n of its
// recipients without naming them: all of them refused, or, when some went,
// the accepted status for each (which went is unknown) and a Rejected
// error saying how many did not, so the exit status is 67 and nothing is
// sent again.
func (a *API) refusedSome(res *Result, env message.Envelope, host string, code int, id string, n int) (*Result, error) {
	all := len(env.To)
	what := fmt.Sprintf("%d of %d recipients without saying which", n, all)
	if n >= all {
		what = "every recipient"
	}
	e := &Error{Kind: Rejected, Op: "rcpt", Host: host, Code: code,
		Reply: fmt.Sprintf("%s: %s refused %s", strings.TrimSpace(http.StatusText(code)+" "+id), a.p.name, what)}
	a.log.note("%s", e.Reply)
	if n >= all {
		res.failAll(env.To, host, e)
		return res, e
	}
	for _, rc := range env.To {
		res.Recipients = append(res.Recipients, RecipientResult{Address: rc, Status: Accepted, Host: host, Reply: replyText(e)})
	}
	return res, e
}

// exchange sends req and reads the answer's first 64 KB. A failure comes
// back classified: no answer (75), or the provider's status with its own
// message and Retry-After.
func (a *API) exchange(req *http.Request) (*http.Response, []byte, *Error) {
	host := a.base.Host
	a.log.note("%s %s", req.Method, req.URL.Redacted())
	a.log.line("->", "Authorization: <redacted>")
	if req.ContentLength > 0 {
		a.log.line("->", "Content-Type: %s", req.Header.Get("Content-Type"))
		a.log.line("->", "Content-Length: %d", req.ContentLength)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, netError("api", host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a.log.line("<-", "%s", resp.Status)
	if resp.StatusCode/100 == 2 {
		return resp, body, nil
	}
	text := providerMessage(body)
	if text == "" {
		text = http.StatusText(resp.StatusCode)
	}
	a.log.line("<-", "%s", text)
	e := &Error{Kind: statusKind(resp.StatusCode), Op: "api", Host: host, Code: resp.StatusCode, Reply: text}
	if e.Kind == Temporary {
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), a.opts.Now())
	}
	return resp, body, e
}

// Probe proves the credentials without sending: the provider's cheap
// authenticated call, or getting a token. It says what it did.
func (a *API) Probe(ctx context.Context) (string, error) {
	if a.p.probe == nil {
		tok := &http.Request{Header: http.Header{}}
		if err := a.p.authorize(ctx, a, tok, ""); err != nil {
			return "", asAPIError(err)
		}
		return "OAuth token obtained (the send scope allows no read to test it with)", nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base.JoinPath(a.p.probe(a)).String(), nil)
	if err != nil {
		return "", &Error{Kind: Config, Op: "api", Err: err}
	}
	req.Header.Set("User-Agent", "mailout")
	emptyHash := sha256.Sum256(nil)
	if err := a.p.authorize(ctx, a, req, hex.EncodeToString(emptyHash[:])); err != nil {
		return "", asAPIError(err)
	}
	resp, _, e := a.exchange(req)
	if e != nil {
		return "", e
	}
	return fmt.Sprintf("GET %s: %s", req.URL.Path, resp.Status), nil
}

// measure writes the request body to a counter, counting the MIME message
// inside it too, and hashes it when the provider signs the payload.
func (a *API) measure(c *call, msg message.Message) (size, bodySize int64, sum string, err error) {
	cw := &counter{}
	var w io.Writer = cw
	var h hash.Hash
	if a.p.hashBody {
		h = sha256.New()
		w = io.MultiWriter(cw, h)
	}
	mc := &countedMessage{msg: msg}
	if err := c.body(w, mc); err != nil {
		return 0, 0, "", err
	}
	if h != nil {
		sum = hex.EncodeToString(h.Sum(nil))
	}
	return mc.n, cw.n, sum, nil
}

// enforcesLimit reports whether the base URL is the provider's own (its
// default, or a host under its domain such as an EU region): another
// server, a proxy or a compatible service, sets its own limit and says so
// with 413.
func (a *API) enforcesLimit() bool {
	h := strings.ToLower(a.base.Hostname())
	for _, d := range a.p.hosts {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// statusKind maps an HTTP status to what the caller can do about it.
func statusKind(code int) Kind {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return AuthFailed
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return Temporary
	}
	return Unavailable
}

// retryAfter parses Retry-After: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// providerMessage digs the human-readable error out of a provider's
// answer: {"error":{"message"}} (Graph, Gmail), {"message"} (Mailgun, SES),
// {"errors":[{"message","description"}]} (SparkPost), else plain text.
func providerMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Upper   string          `json:"Message"`
		Errors  []struct {
			Message     string `json:"message"`
			Description string `json:"description"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &v) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case len(v.Error) > 0 && json.Unmarshal(v.Error, &inner) == nil && inner.Message != "":
			return oneLineText(inner.Message)
		case len(v.Error) > 0 && json.Unmarshal(v.Error, &s) == nil && s != "":
			return oneLineText(s)
		case v.Message != "":
			return oneLineText(v.Message)
		case v.Upper != "":
			return oneLineText(v.Upper)
		case len(v.Errors) > 0:
			m := v.Errors[0].Message
			if d := v.Errors[0].Description; d != "" {
				m += ": " + d
			}
			return oneLineText(m)
		}
	}
	return oneLineText(string(body))
}

// oneLineText is an error text from a provider as it goes into an
// error: on one line, at most 300 bytes.
func oneLineText(s string) string {
	return text.Truncate(text.OneLine(s), 300)
}

// asAPIError keeps a classified error, and files anything else (a token
// or key that could not be had) as configuration.
func asAPIError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Config, Op: "auth", Err: err}
}

// bearer authorizes with an OAuth token (graph, gmail).
func bearer(ctx context.Context, a *API, req *http.Request, _ string) error {
	if a.opts.Token == nil {
		return errors.New("no OAuth token source: set oauth in the profile")
	}
	tok, err := a.opts.Token(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// apiKey returns the profile's secret, the API key.
func apiKey(ctx context.Context, a *API) (string, error) {
	if a.opts.Secret == nil {
		return "", errors.New("no API key source: set password_command, password_env or a keyring entry")
	}
	return a.opts.Secret(ctx)
}

func humanSize(n int64) string {
	const mb = 1 << 20
	if n >= mb {
		return strconv.FormatFloat(float64(n)/mb, 'f', 1, 64) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// countedMessage counts the bytes msg writes.
type countedMessage struct {
	msg message.Message
	n   int64
}

func (m *countedMessage) WriteTo(w io.Writer) (int64, error) {
	n, err := m.msg.WriteTo(w)
	m.n += n
	return n, err
}

// jsonString writes a JSON string literal's content, escaping on the fly,
// so a message can sit inside a JSON body without being held in memory.
// Bytes from 0x80 pass unchanged: valid UTF-8 stays valid.
type jsonString struct {
	w   io.Writer
	buf []byte
}

func (j *jsonString) Write(p []byte) (int, error) {
	const hexd = "0123456789abcdef"
	j.buf = j.buf[:0]
	start := 0
	for i, c := range p {
		var esc string
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '\r':
			esc = `\r`
		case c == '\t':
			esc = `\t`
		case c < 0x20:
			esc = `\u00` + string(hexd[c>>4]) + string(hexd[c&0xf])
		default:
			continue
		}
		j.buf = append(j.buf, p[start:i]...)
		j.buf = append(j.buf, esc...)
		start = i + 1
	}
	out := p
	if start > 0 {
		out = append(j.buf, p[start:]...)
		j.buf = out
	}
	if _, err := j.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// jsonQuote is s as a JSON string literal.
func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// bccHeader is what Graph and Gmail need to reach the envelope
// recipients the message's To and Cc do not name: both take their
// recipients from the MIME header and strip Bcc before delivery, so a
// Bcc line ahead of the message carries them ("" when none is missing).
func bccHeader(env message.Envelope, msg message.Message) (string, error) {
	hc := &headerCapture{}
	if _, err := msg.WriteTo(hc); err != nil && !errors.Is(err, errHeaderDone) {
		return "", err
	}
	named := map[string]bool{}
	if m, err := mail.ReadMessage(bytes.NewReader(append(hc.buf, "\r\n\r\n"...))); err == nil {
		for _, k := range []string{"To", "Cc"} {
			list, _ := m.Header.AddressList(k)
			for _, a := range list {
				named[strings.ToLower(a.Address)] = true
			}
		}
	}
	var missing []string
	for _, rc := range env.To {
		if !named[strings.ToLower(rc)] {
			missing = append(missing, rc)
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	return "Bcc: " + strings.Join(missing, ", ") + "\r\n", nil
}

var errHeaderDone = errors.New("header complete")

// headerCapture keeps a message's header block and stops the writer at
// its end, so finding the header costs nothing like the whole message.
type headerCapture struct{ buf []byte }

func (h *headerCapture) Write(p []byte) (int, error) {
	start := max(0, len(h.buf)-3)
	h.buf = append(h.buf, p...)
	if i := bytes.Index(h.buf[start:], []byte("\r\n\r\n")); i >= 0 {
		h.buf = h.buf[:start+i]
		return len(p), errHeaderDone
	}
	if len(h.buf) > 1<<20 {
		return len(p), errHeaderDone
	}
	return len(p), nil
}
