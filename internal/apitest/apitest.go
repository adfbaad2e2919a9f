// Package apitest runs HTTP servers on the loopback interface that
// implement the mail-sending endpoints of Microsoft Graph, the Gmail API,
// Amazon SES v2, Mailgun and SparkPost, for tests. Each server checks what
// its provider checks (method, path, credentials — a SigV4 signature is
// recomputed here, independently of the AWS SDK — content type, the form
// or JSON layout, the base64) and records the MIME message it received
// with the recipients the request named.
//
// A request that fails a check gets the provider's 400 (or 401/403 for
// credentials) with the reason, so a test sees what was wrong; [Options]
// injects the failures a client must survive: any status with
// Retry-After, for the first N requests or for all.
package apitest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server.
type Options struct {
	Kind string // graph, gmail, ses, mailgun or sparkpost
	// Key is the API key (mailgun, sparkpost) or bearer token (graph,
	// gmail) the server accepts.
	Key string
	// AccessKey, SecretKey and Region are the AWS credentials SES
	// requests must be signed with.
	AccessKey, SecretKey, Region string
	// Verify, when set, decides which bearer tokens (graph, gmail) are
	// valid instead of Key: an identity provider's check.
	Verify func(token string) bool
	// MailgunDomain is the domain in mailgun's path.
	MailgunDomain string
	// Status, when set, answers every send with it (and ErrorText) after
	// the checks; FailFirst limits that to the first N sends.
	Status     int
	ErrorText  string
	RetryAfter string
	FailFirst  int
	// Reject are recipients SparkPost refuses (suppressed, invalid): it
	// counts them in total_rejected_recipients and never says which.
	Reject []string
	// Discard keeps only each message's size and SHA-256, not its bytes:
	// for benchmarks with huge attachments.
	Discard bool
	Addr    string // listen address; default 127.0.0.1:0
}

// Message is one accepted send.
type Message struct {
	To     []string // recipients the request named (the envelope)
	Data   []byte   // the MIME message, decoded from the request; nil with Discard
	Size   int64
	SHA256 string
}

// Server is a running fake API.
type Server struct {
	opts   Options
	ln     net.Listener
	srv    *http.Server
	mu     sync.Mutex
	msgs   []Message
	sends  int
	times  []time.Time // when each send request arrived
	errors []string
	conns  map[string]bool
}

// New starts a server; Close stops it.
func New(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	switch o.Kind {
	case "graph", "gmail", "ses", "mailgun", "sparkpost":
	default:
		return nil, fmt.Errorf("apitest: unknown kind %q", o.Kind)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, ln: ln, conns: map[string]bool{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.mu.Lock()
				s.conns[c.RemoteAddr().String()] = true
				s.mu.Unlock()
			}
		}}
	go s.srv.Serve(ln)
	return s, nil
}

// Start is New for a test, closed by t.Cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// URL is the base URL to configure as api_url.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Messages returns the accepted messages so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Sends counts send requests, failed ones included.
func (s *Server) Sends() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sends
}

// SendTimes returns when each send request arrived (failed ones included),
// so a test can prove a client waited at least as long as it was told.
func (s *Server) SendTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

// Errors returns the checks requests failed.
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errors...)
}

// Connections counts the TCP connections clients opened.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// SetOptions changes the fault settings of a running server.
func (s *Server) SetOptions(f func(*Options)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.opts)
}

type problem struct {
	status int
	msg    string
}

func (p *problem) Error() string { return p.msg }

func bad(format string, args ...any) error {
	return &problem{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func denied(status int, msg string) error { return &problem{status: status, msg: msg} }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o := s.opts
	s.mu.Unlock()
	if r.Method == http.MethodGet {
		s.account(w, r, o)
		return
	}
	msg, err := s.receive(r, o)
	if err != nil {
		var p *problem
		if !errors.As(err, &p) {
			p = &problem{status: http.StatusBadRequest, msg: err.Error()}
		}
		s.mu.Lock()
		s.errors = append(s.errors, p.msg)
		s.mu.Unlock()
		s.fail(w, o, p.status, p.msg, "")
		return
	}
	s.mu.Lock()
	s.sends++
	n := s.sends
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	if o.Status != 0 && (o.FailFirst == 0 || n <= o.FailFirst) {
		text := o.ErrorText
		if text == "" {
			text = http.StatusText(o.Status)
		}
		s.fail(w, o, o.Status, text, o.RetryAfter)
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, *msg)
	id := fmt.Sprintf("apitest-%d", len(s.msgs))
	s.mu.Unlock()
	s.ok(w, o, id, msg.To)
}

// fail answers in the provider's error shape.
func (s *Server) fail(w http.ResponseWriter, o Options, status int, text, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	var body any
	switch o.Kind {
	case "graph", "gmail":
		body = map[string]any{"error": map[string]any{"code": status, "message": text}}
	case "sparkpost":
		body = map[string]any{"errors": []any{map[string]any{"message": text}}}
	case "ses":
		w.Header().Set("X-Amzn-ErrorType", "BadRequestException")
		body = map[string]any{"message": text}
	default:
		body = map[string]any{"message": text}
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func (s *Server) ok(w http.ResponseWriter, o Options, id string, to []string) {
	w.Header().Set("Content-Type", "application/json")
	switch o.Kind {
	case "graph":
		w.WriteHeader(http.StatusAccepted)
	case "gmail":
		json.NewEncoder(w).Encode(map[string]any{"id": id, "threadId": id, "labelIds": []string{"SENT"}})
	case "ses":
		json.NewEncoder(w).Encode(map[string]any{"MessageId": id})
	case "mailgun":
		json.NewEncoder(w).Encode(map[string]any{"id": "<" + id + "@apitest>", "message": "Queued. Thank you."})
	case "sparkpost":
		rejected := 0
		for _, rc := range to {
			if slices.Contains(o.Reject, rc) {
				rejected++
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"results": map[string]any{
			"total_rejected_recipients": rejected, "total_accepted_recipients": len(to) - rejected, "id": id}})
	}
}

// account answers the cheap authenticated calls a credentials check uses.
func (s *Server) account(w http.ResponseWriter, r *http.Request, o Options) {
	var err error
	switch {
	case o.Kind == "mailgun" && r.URL.Path == "/v3/domains/"+o.MailgunDomain:
		err = s.checkBasic(r, o)
	case o.Kind == "sparkpost" && r.URL.Path == "/api/v1/account":
		err = s.checkKey(r, o)
	case o.Kind == "ses" && r.URL.Path == "/v2/email/account":
		err = s.checkSigV4(r, o, sha256.Sum256(nil))
	default:
		err = &problem{status: http.StatusNotFound, msg: "no such endpoint " + r.Method + " " + r.URL.Path}
	}
	if err != nil {
		p := err.(*problem)
		s.fail(w, o, p.status, p.msg, "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{}`)
}

func (s *Server) receive(r *http.Request, o Options) (*Message, error) {
	if r.Method != http.MethodPost {
		return nil, bad("method %s, want POST", r.Method)
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch o.Kind {
	case "graph":
		return s.graph(r, o, mt)
	case "gmail":
		return s.gmail(r, o, mt)
	case "ses":
		return s.ses(r, o, mt)
	case "mailgun":
		return s.mailgun(r, o, mt, params)
	default:
		return s.sparkpost(r, o, mt)
	}
}

func (s *Server) graph(r *http.Request, o Options, mt string) (*Message, error) {
	from, ok := strings.CutPrefix(r.URL.Path, "/v1.0/users/")
	from, ok2 := strings.CutSuffix(from, "/sendMail")
	if !ok || !ok2 || from == "" {
		return nil, bad("path %s, want /v1.0/users/{from}/sendMail", r.URL.Path)
	}
	if err := s.checkBearer(r, o); err != nil {
		return nil, err
	}
	if mt != "text/plain" {
		return nil, bad("content type %q, want text/plain", mt)
	}
	m, err := s.store(base64.NewDecoder(base64.StdEncoding, r.Body), o)
	if err != nil {
		return nil, bad("body is not base64 MIME: %v", err)
	}
	return m, headerRecipients(m)
}

func (s *Server) gmail(r *http.Request, o Options, mt string) (*Message, error) {
	if r.URL.Path != "/gmail/v1/users/me/messages/send" {
		return nil, bad("path %s, want /gmail/v1/users/me/messages/send", r.URL.Path)
	}
	if err := s.checkBearer(r, o); err != nil {
		return nil, err
	}
	if mt != "application/json" {
		return nil, bad("content type %q, want application/json", mt)
	}
	var v struct {
		Raw string `json:"raw"`
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		return nil, bad("body: %v", err)
	}
	raw, err := base64.URLEncoding.DecodeString(v.Raw)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(v.Raw); err != nil {
			return nil, bad("raw is not base64url: %v", err)
		}
	}
	m, _ := s.store(bytes.NewReader(raw), o)
	return m, headerRecipients(m)
}

func (s *Server) ses(r *http.Request, o Options, mt string) (*Message, error) {
	if r.URL.Path != "/v2/email/outbound-emails" {
		return nil, bad("path %s, want /v2/email/outbound-emails", r.URL.Path)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bad("body: %v", err)
	}
	if err := s.checkSigV4(r, o, sha256.Sum256(body)); err != nil {
		return nil, err
	}
	if mt != "application/json" {
		return nil, bad("content type %q, want application/json", mt)
	}
	var v struct {
		Destination struct {
			ToAddresses, CcAddresses, BccAddresses []string
		}
		Content struct {
			Raw *struct{ Data []byte }
		}
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, bad("body: %v", err)
	}
	if v.Content.Raw == nil || len(v.Content.Raw.Data) == 0 {
		return nil, bad("no Content.Raw.Data")
	}
	m, _ := s.store(bytes.NewReader(v.Content.Raw.Data), o)
	d := v.Destination
	m.To = append(append(append([]string(nil), d.ToAddresses...), d.CcAddresses...), d.BccAddresses...)
	if len(m.To) == 0 {
		return nil, bad("no Destination")
	}
	return m, nil
}

func (s *Server) mailgun(r *http.Request, o Options, mt string, params map[string]string) (*Message, error) {
	if want := "/v3/" + o.MailgunDomain + "/messages.mime"; r.URL.Path != want {
		return nil, bad("path %s, want %s", r.URL.Path, want)
	}
	if err := s.checkBasic(r, o); err != nil {
		return nil, err
	}
	if mt != "multipart/form-data" {
		return nil, bad("content type %q, want multipart/form-data", mt)
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var (
		m  *Message
		to []string
	)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bad("form: %v", err)
		}
		switch p.FormName() {
		case "to":
			b, _ := io.ReadAll(p)
			to = append(to, string(b))
		case "message":
			if p.FileName() == "" {
				return nil, bad("message is not a file field")
			}
			if m, err = s.store(p, o); err != nil {
				return nil, bad("message: %v", err)
			}
		default:
			return nil, bad("unexpected form field %q", p.FormName())
		}
	}
	if m == nil {
		return nil, bad("'message' parameter is missing")
	}
	if len(to) == 0 {
		return nil, bad("'to' parameter is missing")
	}
	m.To = to
	return m, nil
}

func (s *Server) sparkpost(r *http.Request, o Options, mt string) (*Message, error) {
	if r.URL.Path != "/api/v1/transmissions" {
		return nil, bad("path %s, want /api/v1/transmissions", r.URL.Path)
	}
	if err := s.checkKey(r, o); err != nil {
		return nil, err
	}
	if mt != "application/json" {
		return nil, bad("content type %q, want application/json", mt)
	}
	var v struct {
		Recipients []struct {
			Address struct {
				Email string `json:"email"`
			} `json:"address"`
		} `json:"recipients"`
		Content struct {
			EmailRFC822 string `json:"email_rfc822"`
		} `json:"content"`
	}
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		return nil, bad("body: %v", err)
	}
	if v.Content.EmailRFC822 == "" {
		return nil, bad("no content.email_rfc822")
	}
	m, _ := s.store(strings.NewReader(v.Content.EmailRFC822), o)
	for _, rc := range v.Recipients {
		m.To = append(m.To, rc.Address.Email)
	}
	if len(m.To) == 0 {
		return nil, bad("no recipients")
	}
	return m, nil
}

// store reads a message, keeping its bytes unless Discard.
func (s *Server) store(r io.Reader, o Options) (*Message, error) {
	h := sha256.New()
	var buf bytes.Buffer
	w := io.MultiWriter(h, &buf)
	if o.Discard {
		w = h
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return nil, err
	}
	m := &Message{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if !o.Discard {
		m.Data = buf.Bytes()
	}
	return m, nil
}

// headerRecipients is what Graph and Gmail do with a message: send it
// to its To, Cc and Bcc, and deliver it without the Bcc header.
func headerRecipients(m *Message) error {
	data := m.Data
	if data == nil {
		return nil
	}
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return bad("message has no header/body separator")
	}
	for _, line := range unfold(string(data[:end])) {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(name) {
		case "to", "cc", "bcc":
			for _, a := range strings.Split(value, ",") {
				a = strings.TrimSpace(a)
				if i := strings.LastIndexByte(a, '<'); i >= 0 {
					a = strings.TrimSuffix(a[i+1:], ">")
				}
				if a != "" {
					m.To = append(m.To, a)
				}
			}
		}
	}
	// Drop the Bcc field, continuation lines included.
	var out bytes.Buffer
	skip := false
	for _, l := range strings.SplitAfter(string(data[:end+2]), "\r\n") {
		if l == "" {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			name, _, _ := strings.Cut(l, ":")
			skip = strings.EqualFold(name, "bcc")
		}
		if !skip {
			out.WriteString(l)
		}
	}
	out.Write(data[end+2:])
	m.Data = out.Bytes()
	return nil
}

func unfold(h string) []string {
	var out []string
	for _, l := range strings.Split(h, "\r\n") {
		if len(out) > 0 && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			out[len(out)-1] += l
			continue
		}
		out = append(out, l)
	}
	return out
}

func (s *Server) checkBearer(r *http.Request, o Options) error {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return denied(http.StatusUnauthorized, "Access token is empty.")
	}
	if o.Verify != nil && !o.Verify(tok) || o.Verify == nil && tok != o.Key {
		return denied(http.StatusUnauthorized, "Access token has expired or is not yet valid.")
	}
	return nil
}

func (s *Server) checkBasic(r *http.Request, o Options) error {
	u, p, ok := r.BasicAuth()
	if !ok || u != "api" || p != o.Key {
		return denied(http.StatusUnauthorized, "Forbidden")
	}
	return nil
}

func (s *Server) checkKey(r *http.Request, o Options) error {
	if r.Header.Get("Authorization") != o.Key {
		return denied(http.StatusUnauthorized, "Unauthorized.")
	}
	return nil
}

// checkSigV4 recomputes the AWS Signature Version 4 of r from the
// documented algorithm: canonical request, string to sign, derived key.
func (s *Server) checkSigV4(r *http.Request, o Options, payload [32]byte) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return denied(http.StatusForbidden, "Missing Authentication Token")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[0] != o.AccessKey {
		return denied(http.StatusForbidden, "The security token included in the request is invalid.")
	}
	date, region, service := cred[1], cred[2], cred[3]
	if region != o.Region || service != "ses" || cred[4] != "aws4_request" {
		return denied(http.StatusForbidden, fmt.Sprintf("Credential should be scoped to a valid region and service ses, not %s/%s", region, service))
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, date) {
		return denied(http.StatusForbidden, "X-Amz-Date does not match the credential scope")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !contains(signed, "host") || !contains(signed, "x-amz-date") {
		return denied(http.StatusForbidden, "SignedHeaders must include host and x-amz-date")
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + escapePath(r.URL.EscapedPath()) + "\n" + canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range signed {
		var v string
		switch h {
		case "host":
			v = r.Host
		case "content-length":
			v = fmt.Sprint(r.ContentLength)
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		canon.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n" + hex.EncodeToString(payload[:]))
	creq := sha256.Sum256([]byte(canon.String()))
	scope := strings.Join(cred[1:], "/")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creq[:])
	k := hmacSHA256([]byte("AWS4"+o.SecretKey), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return denied(http.StatusForbidden, "The request signature we calculated does not match the signature you provided.")
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// escapePath is the path as SigV4 canonicalizes it: each segment
// URI-encoded once (RFC 3986 unreserved characters left as they are).
func escapePath(p string) string {
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			u = s
		}
		segs[i] = uriEncode(u)
	}
	return strings.Join(segs, "/")
}

func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}
