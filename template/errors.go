package template

import (
	"errors"
	htmltemplate "html/template"
	"strconv"
	"strings"
	"text/template/parse"
)

// Error is a template error: a syntax error, a field used but not given, a
// header that may not be set, a header value holding a line break, or an
// attachment outside the attach root. The caller maps it to exit status 65.
//
// Line and Col are 1-based and refer to the template file; Col counts bytes
// and is 0 when it is not known. Field names the data field of a "not given"
// error; the message then leaves the column out, since it names the field.
type Error struct {
	File  string
	Line  int
	Col   int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0 && e.Field == "":
		return e.File + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": " + e.Msg
	case e.Line > 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.File + ": " + e.Msg
}

// DataError is an error in a data file read by [LoadDataFile], or in data
// given to [Template.Render] (a reserved key). Line and Col are 1-based and 0
// when not known. The caller maps it to exit status 65.
type DataError struct {
	File string
	Line int
	Col  int
	Msg  string
	Err  error // the decoder's error, if any
}

func (e *DataError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": " + e.Msg
	case e.Line > 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	case e.File != "":
		return e.File + ": " + e.Msg
	}
	return e.Msg
}

func (e *DataError) Unwrap() error { return e.Err }

// piece is one separately parsed part of the template source: the value of
// one header line (unfolded), or the body. Its segments map byte offsets in
// src back to file positions.
type piece struct {
	name string // template name in the text/template set
	src  string
	segs []segment
}

// segment says that src[off:] (up to the next segment) starts in the file on
// line line at 0-based byte column col.
type segment struct {
	off, line, col int
}

// position maps a 1-based line and 0-based byte column inside p.src, as
// text/template reports them, to a 1-based file line and column.
func (p *piece) position(line, col int) (int, int) {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(p.src[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	off += col
	s := p.segs[0]
	for _, x := range p.segs[1:] {
		if x.off > off {
			break
		}
		s = x
	}
	// A segment holds no newline except the body's, whose lines follow on.
	rel := p.src[s.off:min(off, len(p.src))]
	if n := strings.Count(rel, "\n"); n > 0 {
		return s.line + n, len(rel) - strings.LastIndexByte(rel, '\n')
	}
	return s.line, s.col + len(rel) + 1
}

// errorFrom turns an error of text/template or html/template into an *Error
// that names the template file, line and column. It never returns nil.
func (t *Template) errorFrom(err error) *Error {
	var he *htmltemplate.Error
	if errors.As(err, &he) {
		// Drop the escaper's internal state from the description.
		desc, _, _ := strings.Cut(he.Description, ": {state")
		if he.ErrorCode == htmltemplate.ErrEndContext {
			desc = "the HTML ends inside a tag, an attribute or a script: is a quote or a tag left open?"
		}
		if he.Node != nil {
			loc, _ := (*parse.Tree)(nil).ErrorContext(he.Node)
			if e := t.locate(loc+": "+desc, desc); e != nil {
				return e
			}
		}
		return &Error{File: t.name, Msg: desc}
	}
	msg := err.Error()
	if e := t.locate(strings.TrimPrefix(msg, "template: "), ""); e != nil {
		return e
	}
	return &Error{File: t.name, Msg: strings.TrimPrefix(msg, "template: ")}
}

// locate parses "NAME:LINE[:COL]: message" (the shape of text/template's
// errors after "template: ") for one of t's pieces. When desc is not empty
// it replaces the message. It returns nil when s names no piece.
func (t *Template) locate(s, desc string) *Error {
	for _, p := range t.pieces {
		rest, ok := strings.CutPrefix(s, p.name+":")
		if !ok {
			continue
		}
		e := &Error{File: t.name}
		line, rest, ok := cutNumber(rest)
		if !ok {
			// "NAME: message": no position.
			e.Line, e.Msg = p.segs[0].line, strings.TrimSpace(rest)
			return e
		}
		if col, after, ok := cutNumber(strings.TrimPrefix(rest, ":")); ok && rest[0] == ':' && strings.HasPrefix(after, ": ") {
			// An exec error (or html/template's): "NAME:LINE:COL: message".
			e.Line, e.Col = p.position(line, col)
			if e.Msg = desc; desc == "" {
				e.Msg, e.Field = execMessage(after[2:])
			}
			return e
		}
		// A parse error, "NAME:LINE: message", which has no column.
		e.Msg = strings.TrimPrefix(rest, ": ")
		at := line
		// An error in an action spanning lines names the line it started on.
		if i := strings.LastIndex(e.Msg, " started at "+p.name+":"); i >= 0 {
			if n, tail, ok := cutNumber(e.Msg[i+len(" started at "+p.name+":"):]); ok && tail == "" {
				at, e.Msg = n, strings.TrimSuffix(e.Msg[:i], " in action")
			}
		}
		if e.Msg == "unexpected EOF" {
			e.Msg = "unexpected end of template: an {{if}}, {{range}}, {{with}}, {{block}} or {{define}} lacks its {{end}}"
		}
		if desc != "" {
			e.Msg = desc
		}
		if c := p.guessColumn(at, p.name+":"+strconv.Itoa(line)+rest); c >= 0 {
			e.Line, e.Col = p.position(at, c)
		} else {
			e.Line, _ = p.position(at, 0)
		}
		return e
	}
	return nil
}

// execMessage rewrites the part of an exec error after its position:
// `executing "NAME" at <CTX>: MSG`. A missing map key becomes
// `field "a.b" not given`, and its field path is returned too.
func execMessage(s string) (msg, field string) {
	const missing = ">: map has no entry for key "
	if i := strings.LastIndex(s, missing); i >= 0 {
		if key, err := strconv.Unquote(s[i+len(missing):]); err == nil {
			ctx := ""
			if j := strings.Index(s, " at <"); j >= 0 && j+5 <= i {
				ctx = s[j+5 : i]
			}
			field = fieldPath(ctx, key)
			if env, ok := strings.CutPrefix(field, "Env."); ok {
				return "environment variable " + strconv.Quote(env) + " not set", field
			}
			return "field " + strconv.Quote(field) + " not given", field
		}
	}
	if j := strings.Index(s, " at <"); j >= 0 && strings.HasPrefix(s, "executing ") {
		return s[j+1:], ""
	}
	return s, ""
}

// fieldPath names the missing field: the field chain of ctx up to key (so
// ".customer.name" with key "name" is "customer.name"), else key alone.
func fieldPath(ctx, key string) string {
	c := strings.TrimPrefix(ctx, "$")
	if !strings.HasPrefix(c, ".") {
		return key
	}
	segs := strings.Split(c[1:], ".")
	for _, s := range segs {
		if !isIdentifier(s) {
			return key
		}
	}
	for i, s := range segs {
		if s == key {
			return strings.Join(segs[:i+1], ".")
		}
	}
	return key
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r != '_' && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r > 127) {
			return false
		}
	}
	return true
}

// cutNumber splits a leading decimal number off s.
func cutNumber(s string) (int, string, bool) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 {
		return 0, s, false
	}
	n, _ := strconv.Atoi(s[:i])
	return n, s[i:], true
}

// guessColumn finds the 0-based column, on line line of p.src, of the action
// that makes text/template report the parse error want ("NAME:LINE:
// message"). The parser reports lines only, so each action on that line is
// tried in turn: the first whose end, as the end of the text, gives the
// same error is the culprit. It returns -1 when none does.
func (p *piece) guessColumn(line int, want string) int {
	start := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(p.src[start:], '\n')
		if i < 0 {
			return -1
		}
		start += i + 1
	}
	end := len(p.src)
	if i := strings.IndexByte(p.src[start:], '\n'); i >= 0 {
		end = start + i
	}
	for tries, from := 0, start; tries < 20; tries++ {
		i := strings.Index(p.src[from:end], "{{")
		if i < 0 {
			return -1
		}
		open := from + i
		stop := len(p.src)
		if j := strings.Index(p.src[open+2:], "}}"); j >= 0 {
			stop = open + 2 + j + 2
		}
		_, err := newText(p.name).Parse(p.src[:stop])
		if err != nil && strings.TrimPrefix(err.Error(), "template: ") == want {
			return open - start
		}
		from = open + 2
	}
	return -1
}
