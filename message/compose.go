// Package message builds RFC 5322 / MIME messages that write themselves,
// streaming and byte-identically every time, to any io.Writer: the DKIM
// signer hashes them, the SMTP DATA stream carries them, the spool stores
// them and --dry-run prints them, all from one composition.
package message

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Envelope is the SMTP envelope: MAIL FROM and RCPT TO. From "" is the
// null sender <> used for bounces.
type Envelope struct {
	From string
	To   []string
	// DSN is what the sender asks of delivery status notifications; the
	// zero DSN asks nothing and the servers' defaults apply.
	DSN DSN
}

// DSN holds a message's delivery status notification requests (RFC 3461):
// sendmail's -N, -R and -V. An SMTP session sends them as MAIL FROM and
// RCPT TO parameters when the server offers DSN and leaves them out when
// it does not; the HTTP API transports ignore them.
type DSN struct {
	// Notify is NOTIFY= of every recipient: "NEVER", or a comma-separated
	// list of SUCCESS, FAILURE and DELAY; "" leaves it out.
	Notify string
	// Ret is RET= of MAIL FROM: "FULL" or "HDRS"; "" leaves it out.
	Ret string
	// EnvID is ENVID= of MAIL FROM as given (printable US-ASCII); the
	// session xtext-encodes it. "" leaves it out.
	EnvID string
}

// IsZero tells whether d asks for nothing.
func (d DSN) IsZero() bool { return d == DSN{} }

// Message is anything that writes a complete message; writing it twice must
// give the same bytes.
type Message interface {
	WriteTo(w io.Writer) (int64, error)
}

// Field is one extra header.
type Field struct {
	Name, Value string
}

// Part is an attachment or an inline part, opened only when written.
type Part struct {
	Path        string // file to read
	Name        string // file name shown to the recipient; default: base name of Path
	ContentType string // default: from the extension, else sniffed
	Inline      bool   // inline part referenced from HTML as cid:ContentID
	ContentID   string // default: Name
}

// Spec describes a message to compose.
type Spec struct {
	From      *mail.Address
	To, Cc    []*mail.Address
	ReplyTo   []*mail.Address
	Subject   string
	Date      time.Time
	MessageID string // with angle brackets
	Headers   []Field
	Text      Source // text/plain body; nil for none
	HTML      Source // text/html body; nil for none
	Parts     []Part
	// Boundary seeds the MIME boundaries, so output is reproducible; the
	// Message-ID is used when empty.
	Boundary string
}

// InputError reports a file the message needs that cannot be read: a body
// file, an attachment. Callers map it to exit 66 (EX_NOINPUT).
type InputError struct {
	Path string
	Err  error
}

func (e *InputError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return fmt.Sprintf("%s: no such file", e.Path)
	}
	return fmt.Sprintf("%s: %v", e.Path, unwrapPathErr(e.Err))
}

func (e *InputError) Unwrap() error { return e.Err }

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Composed is a message ready to be written.
type Composed struct {
	header []byte // top-level header block without the MIME part
	root   node
}

type node interface {
	writeTo(w *bufio.Writer) error
}

// structural is the set of header names a caller may not set, because the
// composer owns the MIME structure.
func structural(name string) bool {
	n := strings.ToLower(name)
	return n == "mime-version" || strings.HasPrefix(n, "content-")
}

// IsStructural reports whether a header name belongs to the MIME structure
// (MIME-Version, Content-*), which users may not set by hand.
func IsStructural(name string) bool { return structural(name) }

// New validates a Spec and prepares it for writing. Files are checked now
// (so a missing attachment fails before anything is sent) but read only
// when the message is written.
func New(s Spec) (*Composed, error) {
	if s.From == nil {
		return nil, dataErrorf("no From address")
	}
	if s.MessageID == "" || s.Date.IsZero() {
		return nil, dataErrorf("message needs a Date and a Message-ID")
	}
	var h strings.Builder
	h.Grow(512)
	writeField(&h, "Date", s.Date.Format(time.RFC1123Z))
	writeField(&h, "From", formatAddrs([]*mail.Address{s.From}))
	if len(s.To) > 0 {
		writeField(&h, "To", formatAddrs(s.To))
	}
	if len(s.Cc) > 0 {
		writeField(&h, "Cc", formatAddrs(s.Cc))
	}
	if len(s.ReplyTo) > 0 {
		writeField(&h, "Reply-To", formatAddrs(s.ReplyTo))
	}
	if err := CheckHeaderValue("Subject", s.Subject); err != nil {
		return nil, err
	}
	writeField(&h, "Subject", encodeText(s.Subject))
	writeField(&h, "Message-ID", s.MessageID)
	for _, f := range s.Headers {
		if !ValidHeaderName(f.Name) {
			return nil, dataErrorf("invalid header name %q", f.Name)
		}
		if structural(f.Name) {
			return nil, dataErrorf("header %s is set by mailout from the message structure", f.Name)
		}
		if err := CheckHeaderValue(f.Name, f.Value); err != nil {
			return nil, err
		}
		writeField(&h, f.Name, encodeText(f.Value))
	}
	writeField(&h, "MIME-Version", "1.0")

	seed := s.Boundary
	if seed == "" {
		seed = s.MessageID
	}
	b := &builder{seed: seed}
	root, err := b.build(s)
	if err != nil {
		return nil, err
	}
	return &Composed{header: []byte(h.String()), root: root}, nil
}

// writers recycles the buffered writers of WriteTo: a batch composes
// thousands of messages, and a fresh 64 KiB buffer for each one showed up
// as a third of its CPU time in allocation and garbage collection.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// WriteTo writes the message with CRLF line endings.
func (c *Composed) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(cw)
	defer func() {
		bw.Reset(nil)
		writers.Put(bw)
	}()
	if _, err := bw.Write(c.header); err != nil {
		return cw.n, err
	}
	if err := c.root.writeTo(bw); err != nil {
		return cw.n, err
	}
	err := bw.Flush()
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type builder struct {
	seed  string
	count int
}

func (b *builder) boundary() string {
	b.count++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", b.seed, b.count)))
	return "=_mailout_" + hex.EncodeToString(sum[:12])
}

func (b *builder) build(s Spec) (node, error) {
	var body node
	var text, html node
	var err error
	if s.Text != nil {
		if text, err = newTextNode("text/plain", s.Text); err != nil {
			return nil, err
		}
	}
	if s.HTML != nil {
		if html, err = newTextNode("text/html", s.HTML); err != nil {
			return nil, err
		}
	}
	switch {
	case text != nil && html != nil:
		body = &multipart{kind: "alternative", boundary: b.boundary(), parts: []node{text, html}}
	case html != nil:
		body = html
	case text != nil:
		body = text
	}
	var inline, attach []node
	for _, p := range s.Parts {
		n, err := newFileNode(p)
		if err != nil {
			return nil, err
		}
		if p.Inline {
			inline = append(inline, n)
		} else {
			attach = append(attach, n)
		}
	}
	if len(inline) > 0 {
		parts := inline
		if body != nil {
			parts = append([]node{body}, inline...)
		}
		body = &multipart{kind: "related", boundary: b.boundary(), parts: parts}
	}
	if len(attach) > 0 {
		parts := attach
		if body != nil {
			parts = append([]node{body}, attach...)
		}
		body = &multipart{kind: "mixed", boundary: b.boundary(), parts: parts}
	}
	if body == nil {
		body = &textNode{ctype: "text/plain", src: Bytes(nil), enc: "7bit"}
	}
	return body, nil
}

type multipart struct {
	kind     string
	boundary string
	parts    []node
}

func (m *multipart) writeTo(w *bufio.Writer) error {
	fmt.Fprintf(w, "Content-Type: multipart/%s;\r\n boundary=\"%s\"\r\n\r\n", m.kind, m.boundary)
	w.WriteString("This is a multi-part message in MIME format.\r\n")
	for _, p := range m.parts {
		fmt.Fprintf(w, "\r\n--%s\r\n", m.boundary)
		if err := p.writeTo(w); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\r\n--%s--\r\n", m.boundary)
	return err
}

type textNode struct {
	ctype string
	src   Source
	enc   string // 7bit or quoted-printable
}

// newTextNode scans the content once to choose the encoding: 7bit when every
// line is short ASCII, else quoted-printable, which survives any relay
// (8-bit text, lines over 998 octets, stray CRs).
func newTextNode(ctype string, src Source) (node, error) {
	if b, ok := src.(Bytes); ok {
		return &textNode{ctype: ctype, src: src, enc: chooseEncoding(b, nil)}, nil
	}
	rc, err := src.Open()
	if err != nil {
		return nil, inputErr(src, err)
	}
	defer rc.Close()
	buf := make([]byte, 32<<10)
	st := &scanState{}
	for {
		n, err := rc.Read(buf)
		if chooseEncoding(buf[:n], st) != "7bit" {
			return &textNode{ctype: ctype, src: src, enc: "quoted-printable"}, nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, inputErr(src, err)
		}
	}
	enc := "7bit"
	if st.prev == '\r' {
		enc = "quoted-printable"
	}
	return &textNode{ctype: ctype, src: src, enc: enc}, nil
}

// scanState carries chooseEncoding across chunks.
type scanState struct {
	line int
	prev byte
}

// chooseEncoding returns "7bit" while every line so far is short ASCII
// with CRLF or LF endings, else "quoted-printable". With st nil, p is the
// whole content.
func chooseEncoding(p []byte, st *scanState) string {
	whole := st == nil
	if whole {
		st = &scanState{}
	}
	for _, c := range p {
		switch {
		case c == '\n':
			st.line = 0
		case st.prev == '\r':
			return "quoted-printable" // bare CR
		case c >= 0x80 || c == 0:
			return "quoted-printable"
		case c == '\r':
			// counted with the LF that must follow
		default:
			st.line++
			if st.line > 998 {
				return "quoted-printable"
			}
		}
		st.prev = c
	}
	if whole && st.prev == '\r' {
		return "quoted-printable"
	}
	return "7bit"
}

func inputErr(src Source, err error) error {
	if f, ok := src.(File); ok {
		return &InputError{Path: string(f), Err: err}
	}
	return fmt.Errorf("read body: %w", err)
}

func (t *textNode) writeTo(w *bufio.Writer) error {
	fmt.Fprintf(w, "Content-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: %s\r\n\r\n", t.ctype, t.enc)
	rc, err := t.src.Open()
	if err != nil {
		return inputErr(t.src, err)
	}
	defer rc.Close()
	if t.enc == "7bit" {
		cw := &crlfWriter{w: w}
		if _, err := io.Copy(cw, rc); err != nil {
			return err
		}
		if cw.prev != '\n' && cw.n > 0 {
			_, err = w.WriteString("\r\n")
		}
		return err
	}
	qw := quotedprintable.NewWriter(w)
	tw := &trailWriter{w: qw}
	if _, err := io.Copy(tw, rc); err != nil {
		return err
	}
	if err := qw.Close(); err != nil {
		return err
	}
	if tw.last != '\n' && tw.n > 0 {
		_, err = w.WriteString("\r\n")
	}
	return err
}

type trailWriter struct {
	w    io.Writer
	last byte
	n    int64
}

func (t *trailWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		t.last = p[len(p)-1]
		t.n += int64(len(p))
	}
	return t.w.Write(p)
}

// crlfWriter turns bare LF into CRLF.
type crlfWriter struct {
	w    io.Writer
	prev byte
	n    int64
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	start := 0
	for i, b := range p {
		if b == '\n' && (i > 0 && p[i-1] != '\r' || i == 0 && c.prev != '\r') {
			if _, err := c.w.Write(p[start:i]); err != nil {
				return 0, err
			}
			if _, err := c.w.Write([]byte("\r\n")); err != nil {
				return 0, err
			}
			start = i + 1
		}
	}
	if _, err := c.w.Write(p[start:]); err != nil {
		return 0, err
	}
	if len(p) > 0 {
		c.prev = p[len(p)-1]
		c.n += int64(len(p))
	}
	return len(p), nil
}

type fileNode struct {
	path, name, ctype, cid string
	inline                 bool
}

func newFileNode(p Part) (node, error) {
	st, err := os.Stat(p.Path)
	if err != nil {
		return nil, &InputError{Path: p.Path, Err: err}
	}
	if st.IsDir() {
		return nil, &InputError{Path: p.Path, Err: errors.New("is a directory")}
	}
	f, err := os.Open(p.Path)
	if err != nil {
		return nil, &InputError{Path: p.Path, Err: err}
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	f.Close()
	name := p.Name
	if name == "" {
		name = filepath.Base(p.Path)
	}
	if err := CheckHeaderValue("attachment name", name); err != nil {
		return nil, err
	}
	ctype := p.ContentType
	if ctype == "" {
		ctype = detectType(name, head[:n])
	}
	cid := p.ContentID
	if cid == "" {
		cid = name
	}
	if err := CheckHeaderValue("Content-ID", cid); err != nil {
		return nil, err
	}
	if strings.ContainsAny(cid, "<>") {
		return nil, dataErrorf("invalid Content-ID %q", cid)
	}
	return &fileNode{path: p.Path, name: name, ctype: ctype, cid: cid, inline: p.Inline}, nil
}

func detectType(name string, head []byte) string {
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" {
		return t
	}
	if len(head) > 0 && utf8.Valid(head) && !strings.ContainsRune(string(head), 0) {
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

func (f *fileNode) writeTo(w *bufio.Writer) error {
	mt, params, err := mime.ParseMediaType(f.ctype)
	if err != nil {
		mt, params = "application/octet-stream", map[string]string{}
	}
	params["name"] = f.name
	disp := "attachment"
	if f.inline {
		disp = "inline"
	}
	writeField(w, "Content-Type", mime.FormatMediaType(mt, params))
	writeField(w, "Content-Transfer-Encoding", "base64")
	writeField(w, "Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": f.name}))
	if f.inline {
		writeField(w, "Content-ID", "<"+f.cid+">")
	}
	w.WriteString("\r\n")
	rc, err := os.Open(f.path)
	if err != nil {
		return &InputError{Path: f.path, Err: err}
	}
	defer rc.Close()
	lb := &lineBreaker{w: w}
	enc := base64.NewEncoder(base64.StdEncoding, lb)
	if _, err := io.Copy(enc, rc); err != nil {
		return &InputError{Path: f.path, Err: err}
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if lb.col > 0 {
		_, err = w.WriteString("\r\n")
	}
	return err
}

// lineBreaker cuts base64 output into 76-column lines (RFC 2045).
type lineBreaker struct {
	w   io.Writer
	col int
}

func (l *lineBreaker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := 76 - l.col
		if room > len(p) {
			room = len(p)
		}
		if _, err := l.w.Write(p[:room]); err != nil {
			return 0, err
		}
		l.col += room
		p = p[room:]
		if l.col == 76 {
			if _, err := l.w.Write([]byte("\r\n")); err != nil {
				return 0, err
			}
			l.col = 0
		}
	}
	return n, nil
}

// encodeText RFC 2047-encodes a header value when it is not plain ASCII.
func encodeText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

func formatAddrs(list []*mail.Address) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = FormatAddress(a)
	}
	return strings.Join(parts, ", ")
}

// FormatAddress renders an address for a header: the display name quoted
// or RFC 2047-encoded as needed.
func FormatAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	if isPhrase(a.Name) {
		return a.Name + " <" + a.Address + ">"
	}
	// Only the name goes through mail.Address: its String would quote an
	// already quoted local part ("j d"@x) a second time.
	name := (&mail.Address{Name: a.Name, Address: "x@x"}).String()
	return strings.TrimSuffix(name, "<x@x>") + "<" + a.Address + ">"
}

// isPhrase reports whether a display name can stand unquoted: ASCII atoms
// separated by single spaces.
func isPhrase(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if c >= 0x7f || c < 0x21 || strings.IndexByte("()<>[]:;@\\,.\"", c) >= 0 {
			return false
		}
	}
	return true
}

// writeField writes "Name: value" folded at spaces so no line exceeds 78
// characters where a space allows it.
func writeField(w io.StringWriter, name, value string) {
	if len(name)+2+len(value) <= 78 { // one line: no word to fold
		w.WriteString(name)
		w.WriteString(": ")
		w.WriteString(value)
		w.WriteString("\r\n")
		return
	}
	line := name + ":"
	col := len(line)
	var b strings.Builder
	b.WriteString(line)
	words := strings.Split(value, " ")
	for i, word := range words {
		if i > 0 && col+1+len(word) > 78 && col > len(name)+1 {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteByte(' ')
		b.WriteString(word)
		col += 1 + len(word)
	}
	b.WriteString("\r\n")
	w.WriteString(b.String())
}
