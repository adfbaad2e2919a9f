package template

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// Kind is the kind of a template's body.
type Kind int

const (
	// Plain is a text/plain body, rendered with text/template.
	Plain Kind = iota
	// HTML is a text/html body, rendered with html/template; a
	// {{define "text"}} block gives its plain-text alternative.
	HTML
	// Markdown is a text/markdown body: rendered with text/template, it is
	// the plain text, and converted to HTML it is the HTML alternative.
	Markdown
)

func (k Kind) String() string {
	switch k {
	case HTML:
		return "text/html"
	case Markdown:
		return "text/markdown"
	}
	return "text/plain"
}

// Template names inside the template sets; a user's {{define}} names live
// in the same name space, hence the prefix.
const (
	bodyName   = "mailout-body"
	textName   = "text" // the plain-text alternative of an HTML or Markdown body
	headerName = "mailout-header-"
)

// Template is a parsed message template. It is safe for concurrent use.
type Template struct {
	name    string // the file name, as given to Parse
	dir     string // its folder, absolute
	kind    Kind
	headers []headerField // with Content-Type taken out
	pieces  []*piece      // the headers' values and the body, for error positions
	text    *texttemplate.Template
	html    *htmltemplate.Template // for HTML only
	hasText bool                   // a "text" template is defined
	// markdown converts a Markdown body; goldmark's converters are safe
	// for concurrent use.
	markdown goldmark.Markdown
	pool     sync.Pool // of *instance
	// literals are the text templates that are only text and {{ .field }}
	// actions, by name: Render fills them in without text/template.
	literals map[string]literal
}

// Parse parses a template file: header lines, a blank line, the body. name
// is the file's path; it is used in errors, for the folder of relative
// Attach: paths and for the body kind (".html" and ".htm" mean text/html,
// ".md" and ".markdown" mean text/markdown, unless a Content-Type header
// says otherwise). Every error is an *Error.
func Parse(name string, src []byte) (*Template, error) {
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	s := strings.ReplaceAll(string(src), "\r\n", "\n")
	if bad := firstInvalid(s); bad >= 0 {
		line, col := lineCol([]byte(s), int64(bad))
		return nil, &Error{File: name, Line: line, Col: col, Msg: "template is not valid UTF-8"}
	}
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, &Error{File: name, Msg: "template folder: " + err.Error()}
	}
	b, perr := splitBlock(name, s)
	if perr != nil {
		return nil, perr
	}
	t := &Template{name: name, dir: dir, kind: kindOfName(name)}
	if err := t.checkHeaders(b); err != nil {
		return nil, err
	}

	t.text = newText(bodyName)
	for i := range t.headers {
		h := &t.headers[i]
		h.val.name = headerName + strconv.Itoa(i+1)
		t.pieces = append(t.pieces, &h.val)
		if _, err := t.text.New(h.val.name).Parse(h.val.src); err != nil {
			return nil, t.errorFrom(err)
		}
	}
	body := &piece{name: bodyName, src: b.body, segs: []segment{{off: 0, line: b.bodyLine, col: 0}}}
	t.pieces = append(t.pieces, body)
	if _, err := t.text.Parse(body.src); err != nil {
		return nil, t.errorFrom(err)
	}
	if err := t.checkCalls(); err != nil {
		return nil, err
	}
	t.hasText = t.text.Lookup(textName) != nil
	t.literals = map[string]literal{}
	for _, x := range t.text.Templates() {
		if l, ok := literalOf(x.Tree); ok {
			t.literals[x.Name()] = l
		}
	}

	if t.kind == Markdown {
		t.markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))
	}
	if t.kind == HTML {
		t.html = htmltemplate.New(bodyName).Funcs(funcs(zeroTime)).Option("missingkey=error")
		if _, err := t.html.Parse(body.src); err != nil {
			return nil, t.errorFrom(err)
		}
		// html/template finds context errors (an action in an ambiguous
		// place) when it first executes: do that on a copy now, so that the
		// error comes before any message is sent.
		probe, err := t.html.Clone()
		if err != nil {
			return nil, t.errorFrom(err)
		}
		var he *htmltemplate.Error
		if err := probe.Execute(io.Discard, map[string]any{}); errors.As(err, &he) {
			return nil, t.errorFrom(err)
		}
	}
	return t, nil
}

// checkCalls reports a {{template "name"}} whose template is defined
// nowhere, which text/template would only find when it runs.
func (t *Template) checkCalls() *Error {
	var walk func(n parse.Node) *Error
	walk = func(n parse.Node) *Error {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
		case *parse.IfNode:
			return walkBranch(walk, &n.BranchNode)
		case *parse.RangeNode:
			return walkBranch(walk, &n.BranchNode)
		case *parse.WithNode:
			return walkBranch(walk, &n.BranchNode)
		case *parse.TemplateNode:
			if t.text.Lookup(n.Name) == nil {
				loc, _ := (*parse.Tree)(nil).ErrorContext(n)
				msg := fmt.Sprintf("no such template %q", n.Name)
				if e := t.locate(loc+": "+msg, msg); e != nil {
					return e
				}
				return &Error{File: t.name, Msg: msg}
			}
		}
		return nil
	}
	for _, x := range t.text.Templates() {
		if x.Tree != nil {
			if err := walk(x.Tree.Root); err != nil {
				return err
			}
		}
	}
	return nil
}

func walkBranch(walk func(parse.Node) *Error, b *parse.BranchNode) *Error {
	if err := walk(b.List); err != nil {
		return err
	}
	return walk(b.ElseList)
}

// firstInvalid returns the offset of the first byte of s that is not valid
// UTF-8, or -1.
func firstInvalid(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// checkHeaders validates the header names, takes Content-Type out (it sets
// the kind) and keeps the others in t.headers.
func (t *Template) checkHeaders(b *block) *Error {
	seen := map[string]int{}
	for _, h := range b.headers {
		key := strings.ToLower(h.name)
		if first, ok := seen[key]; ok && (isSingle(h.name) || key == "content-type") {
			return &Error{File: t.name, Line: h.line, Col: 1,
				Msg: fmt.Sprintf("header %q given twice (first on line %d)", h.name, first)}
		}
		seen[key] = h.line
		switch {
		case structural(h.name):
			return &Error{File: t.name, Line: h.line, Col: 1, Msg: fmt.Sprintf(
				"header %q may not be set in a template: mailout writes the MIME structure itself", h.name)}
		case key == "content-type":
			k, err := kindOf(strings.TrimSpace(h.val.src))
			if err != nil {
				return &Error{File: t.name, Line: h.line, Col: h.val.segs[0].col + 1, Msg: err.Error()}
			}
			t.kind = k
		default:
			t.headers = append(t.headers, h)
		}
	}
	return nil
}

func kindOfName(name string) Kind {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".html", ".htm":
		return HTML
	case ".md", ".markdown":
		return Markdown
	}
	return Plain
}

func zeroTime() time.Time { return time.Time{} }

// newText makes an empty text/template with the package's functions and
// strict map lookups.
func newText(name string) *texttemplate.Template {
	return texttemplate.New(name).Funcs(funcs(zeroTime)).Option("missingkey=error")
}

// Name returns the template's file name as given to [Parse].
func (t *Template) Name() string { return t.name }

// Kind returns the kind of the template's body.
func (t *Template) Kind() Kind { return t.kind }

// Data is what a template renders from.
type Data struct {
	// Values are the fields: {{ .name }}. Build them with [MergeData]; the
	// key "Env" is reserved. A nil value renders as "".
	Values map[string]any
	// Env is the environment for {{ .Env.NAME }}. The caller leaves out
	// secrets (MAILOUT_PASSWORD, a profile's password_env).
	Env map[string]string
}

// Options are the settings of one rendering.
type Options struct {
	// Now is what the now function returns; the zero time if unset.
	Now time.Time
	// AttachRoot is the folder every attachment must lie under. Empty means
	// the template's folder; a relative path is taken from the working
	// directory.
	AttachRoot string
}

// Header is one rendered header field.
type Header struct {
	Name  string // as written in the template
	Value string // one line, not encoded, without surrounding blanks
}

// Rendered is a rendered message template.
type Rendered struct {
	// Headers are the header fields in file order, without Attach and
	// Content-Type. A header whose value renders empty is left out.
	Headers []Header
	// Attach are the attachments: absolute, cleaned paths under the attach
	// root, in file order. They need not exist.
	Attach []string
	// Text is the plain-text body, or "" for an HTML template without a
	// {{define "text"}} block.
	Text string
	// HTML is the HTML body of an HTML or Markdown template, else "".
	HTML string
}

// Values returns the values of the headers named name (compared without
// regard to case), in order.
func (r *Rendered) Values(name string) []string {
	var vs []string
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			vs = append(vs, h.Value)
		}
	}
	return vs
}

// Render renders the template with data d. It is safe to call from several
// goroutines at once. A field used but not given, a header value holding a
// control character (CR, LF, NUL, ...) or invalid UTF-8, and an attachment
// outside the attach root are *Errors; a reserved data key is a *DataError.
func (t *Template) Render(d Data, o Options) (*Rendered, error) {
	if _, ok := d.Values["Env"]; ok {
		return nil, &DataError{Msg: `data field "Env" is reserved for the environment ({{ .Env.NAME }})`}
	}
	// The data map and a copy of the template sets are made only for what
	// the literals cannot fill in.
	var (
		data map[string]any
		in   *instance
	)
	defer func() {
		if in != nil {
			t.pool.Put(in)
		}
	}()
	prepare := func() error {
		if in != nil {
			return nil
		}
		data = make(map[string]any, len(d.Values)+1)
		for k, v := range d.Values {
			if v == nil {
				v = ""
			}
			data[k] = v
		}
		env := d.Env
		if env == nil {
			env = map[string]string{}
		}
		data["Env"] = env
		var err error
		if in, err = t.instance(); err != nil {
			return err
		}
		in.now = o.Now
		return nil
	}
	text := func(name string) (string, error) {
		if s, ok := t.literals[name].fill(d.Values); ok {
			return s, nil
		}
		if err := prepare(); err != nil {
			return "", err
		}
		return execute(in.text.ExecuteTemplate, name, data)
	}

	var root, rootReal string
	r := &Rendered{}
	for _, h := range t.headers {
		v, err := text(h.val.name)
		if err != nil {
			return nil, t.errorFrom(err)
		}
		if msg := badHeaderValue(v); msg != "" {
			return nil, &Error{File: t.name, Line: h.line, Msg: fmt.Sprintf("header %q: %s", h.name, msg)}
		}
		v = strings.Trim(v, " \t")
		if v == "" {
			continue
		}
		if !strings.EqualFold(h.name, "Attach") {
			r.Headers = append(r.Headers, Header{Name: h.name, Value: v})
			continue
		}
		if root == "" {
			if root, rootReal, err = t.attachRoot(o.AttachRoot); err != nil {
				return nil, &Error{File: t.name, Line: h.line, Msg: err.Error()}
			}
		}
		p, err := t.attachPath(v, root, rootReal)
		if err != nil {
			return nil, &Error{File: t.name, Line: h.line, Msg: err.Error()}
		}
		r.Attach = append(r.Attach, p)
	}

	body, err := text(bodyName)
	if err != nil {
		return nil, t.errorFrom(err)
	}
	switch t.kind {
	case Plain:
		r.Text = body
	case HTML:
		if err := prepare(); err != nil {
			return nil, t.errorFrom(err)
		}
		if r.HTML, err = execute(in.html.ExecuteTemplate, bodyName, data); err != nil {
			return nil, t.errorFrom(err)
		}
	case Markdown:
		r.Text = body
		var out bytes.Buffer
		if err := t.markdown.Convert([]byte(body), &out); err != nil {
			return nil, &Error{File: t.name, Msg: "markdown: " + err.Error()}
		}
		r.HTML = out.String()
	}
	if t.hasText && t.kind != Plain {
		alt, err := text(textName)
		if err != nil {
			return nil, t.errorFrom(err)
		}
		r.Text = strings.TrimLeft(alt, "\n")
	}
	return r, nil
}

// instance is a copy of the template sets for one rendering at a time, with
// now bound to its own field. Copies are pooled: html/template escapes a
// template when it first runs it, which costs more than the rendering.
type instance struct {
	now  time.Time
	text *texttemplate.Template
	html *htmltemplate.Template // for HTML only
}

// instance takes a copy of the template sets from the pool, or makes one.
func (t *Template) instance() (*instance, error) {
	if in, ok := t.pool.Get().(*instance); ok {
		return in, nil
	}
	in := &instance{}
	now := map[string]any{"now": func() time.Time { return in.now }}
	var err error
	if in.text, err = t.text.Clone(); err != nil {
		return nil, err
	}
	strictText(in.text)
	in.text.Funcs(now)
	if t.html != nil {
		if in.html, err = t.html.Clone(); err != nil {
			return nil, err
		}
		for _, x := range in.html.Templates() {
			x.Option("missingkey=error")
		}
		in.html.Funcs(now)
	}
	return in, nil
}

// strictText sets missingkey=error on every template of a set: Clone and
// {{define}} do not carry options over to the associated templates.
func strictText(t *texttemplate.Template) {
	for _, x := range t.Templates() {
		x.Option("missingkey=error")
	}
}

// literal is a text template made only of text and {{ .field }} actions,
// the usual header and body: filling it in is a few appends, where
// text/template's reflection would cost more than the rest of composing a
// row's message.
type literal []literalPart

// literalPart is some text, then the value of a field when field is not "".
type literalPart struct {
	text  string
	field string
}

// literalOf returns tree as a literal, if it is one.
func literalOf(tree *parse.Tree) (literal, bool) {
	if tree == nil || tree.Root == nil {
		return nil, false
	}
	l := literal{}
	for _, n := range tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			l = append(l, literalPart{text: string(n.Text)})
		case *parse.ActionNode:
			p := n.Pipe
			if len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return nil, false
			}
			f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 || f.Ident[0] == "Env" {
				return nil, false
			}
			l = append(l, literalPart{field: f.Ident[0]})
		default:
			return nil, false
		}
	}
	return l, true
}

// fill renders l with values as text/template would, for string and nil
// values. It reports false, for text/template to render or to report,
// when l is nil or a field is missing or holds anything else.
func (l literal) fill(values map[string]any) (string, bool) {
	if l == nil {
		return "", false
	}
	n := 0
	for _, p := range l {
		n += len(p.text)
		if p.field != "" {
			s, ok := values[p.field].(string)
			if !ok {
				if v, found := values[p.field]; !found || v != nil {
					return "", false
				}
			}
			n += len(s)
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range l {
		b.WriteString(p.text)
		if p.field != "" {
			s, _ := values[p.field].(string)
			b.WriteString(s)
		}
	}
	return b.String(), true
}

func execute(run func(io.Writer, string, any) error, name string, data any) (string, error) {
	var b strings.Builder
	err := run(&b, name, data)
	return b.String(), err
}

// badHeaderValue says what makes a rendered header value unusable, or "".
// CR and LF would start a new header (injection), NUL is never allowed, and
// no other control character but tab belongs in a header either.
func badHeaderValue(v string) string {
	if !utf8.ValidString(v) {
		return "value is not valid UTF-8"
	}
	for _, r := range v {
		switch {
		case r == '\r' || r == '\n':
			return "value contains a line break (CR or LF)"
		case r == 0:
			return "value contains a NUL byte"
		case r < 0x20 && r != '\t' || r == 0x7f:
			return fmt.Sprintf("value contains the control character %U", r)
		}
	}
	return ""
}
