package template

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type wantHeader struct {
	name, src string
	line      int
}

func TestSplitBlock(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		headers  []wantHeader
		body     string
		bodyLine int
	}{
		{
			name: "headers and body",
			src:  "To: {{ .email }}\nSubject: Hi\n\nHello\nthere\n",
			headers: []wantHeader{
				{"To", "{{ .email }}", 1},
				{"Subject", "Hi", 2},
			},
			body: "Hello\nthere\n", bodyLine: 4,
		},
		{
			name: "folded header keeps the whitespace of the continuation",
			src:  "Subject: one\n  two\n\tthree\nTo: x\n\nbody",
			headers: []wantHeader{
				{"Subject", "one  two\tthree", 1},
				{"To", "x", 4},
			},
			body: "body", bodyLine: 6,
		},
		{
			name:    "no blank line: all headers",
			src:     "Subject: x\nTo: y",
			headers: []wantHeader{{"Subject", "x", 1}, {"To", "y", 2}},
			body:    "", bodyLine: 3,
		},
		{
			name:    "trailing newline, no body",
			src:     "Subject: x\n",
			headers: []wantHeader{{"Subject", "x", 1}},
			body:    "", bodyLine: 3,
		},
		{
			name:    "blank line of spaces ends the headers",
			src:     "Subject: x\n \t \nbody\n",
			headers: []wantHeader{{"Subject", "x", 1}},
			body:    "body\n", bodyLine: 3,
		},
		{
			name: "no headers",
			src:  "\nHello\n", body: "Hello\n", bodyLine: 2,
		},
		{
			name: "empty file",
			src:  "", body: "", bodyLine: 2,
		},
		{
			name:    "value without space, empty value, colon in value",
			src:     "X-A:b\nX-Empty:\nX-Url: http://example.com:80/\n\n",
			headers: []wantHeader{{"X-A", "b", 1}, {"X-Empty", "", 2}, {"X-Url", "http://example.com:80/", 3}},
			body:    "", bodyLine: 5,
		},
		{
			name:    "a second blank line belongs to the body",
			src:     "Subject: x\n\n\nbody",
			headers: []wantHeader{{"Subject", "x", 1}},
			body:    "\nbody", bodyLine: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := splitBlock("t.tpl", tt.src)
			if err != nil {
				t.Fatalf("splitBlock(%q) error %v", tt.src, err)
			}
			var got []wantHeader
			for _, h := range b.headers {
				got = append(got, wantHeader{h.name, h.val.src, h.line})
			}
			if !reflect.DeepEqual(got, tt.headers) {
				t.Errorf("splitBlock(%q) headers = %+v, want %+v", tt.src, got, tt.headers)
			}
			if b.body != tt.body || b.bodyLine != tt.bodyLine {
				t.Errorf("splitBlock(%q) body = %q at line %d, want %q at line %d", tt.src, b.body, b.bodyLine, tt.body, tt.bodyLine)
			}
		})
	}
}

func TestSplitBlockSegments(t *testing.T) {
	b, err := splitBlock("t.tpl", "Subject: ab\n   cd\n\n")
	if err != nil {
		t.Fatal(err)
	}
	p := &b.headers[0].val
	want := []segment{{off: 0, line: 1, col: 9}, {off: 2, line: 2, col: 0}}
	if !reflect.DeepEqual(p.segs, want) {
		t.Fatalf("segments = %+v, want %+v", p.segs, want)
	}
	// Offsets in the unfolded value map back to file positions.
	for _, c := range []struct{ off, line, col int }{{0, 1, 10}, {1, 1, 11}, {2, 2, 1}, {5, 2, 4}} {
		if l, col := p.position(1, c.off); l != c.line || col != c.col {
			t.Errorf("position(1, %d) = %d:%d, want %d:%d", c.off, l, col, c.line, c.col)
		}
	}
}

func TestSplitBlockErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"continuation first", " Subject: x\n\n", `t.tpl:1:1: continuation line before the first header`},
		{"no colon", "Hello Bob,\n\nbody", `t.tpl:1:1: "Hello Bob," is not a header: want "Name: value", and a blank line between the headers and the body`},
		{"no colon after a header", "Subject: x\nHello\n\n", `t.tpl:2:1: "Hello" is not a header`},
		{"empty name", ": x\n\n", `t.tpl:1:1: header without a name`},
		{"space before colon", "Subject : x\n\n", `t.tpl:1:8: header name "Subject ": character ' ' not allowed`},
		{"non-ASCII name", "Betreff-ü: x\n\n", `t.tpl:1:9: header name "Betreff-ü": character 'ü' not allowed`},
		{"control in name", "X-\x01: x\n\n", `t.tpl:1:3: header name "X-\x01": character '\x01' not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := splitBlock("t.tpl", tt.src)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("splitBlock(%q) error = %v, want prefix %q", tt.src, err, tt.want)
			}
		})
	}
}

func TestParseHeaders(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		src     string
		kind    Kind
		wantErr string
	}{
		{name: "plain by default", file: "a.tpl", src: "Subject: x\n\nbody", kind: Plain},
		{name: ".html file", file: "a.html", src: "Subject: x\n\n<p>body</p>", kind: HTML},
		{name: ".HTM file", file: "dir/A.HTM", src: "Subject: x\n\n<p>body</p>", kind: HTML},
		{name: ".md file", file: "a.md", src: "Subject: x\n\n# body", kind: Markdown},
		{name: "Content-Type html", file: "a.tpl", src: "Content-Type: text/html; charset=utf-8\n\n<p>", kind: HTML},
		{name: "Content-Type markdown", file: "a.tpl", src: "content-type: text/markdown\n\n# x", kind: Markdown},
		{name: "Content-Type wins over the extension", file: "a.html", src: "Content-Type: text/plain\n\nx", kind: Plain},
		{name: "CRLF line ends", file: "a.tpl", src: "Subject: x\r\nTo: y\r\n\r\nbody\r\n", kind: Plain},
		{name: "byte order mark", file: "a.tpl", src: "\uFEFFSubject: x\n\nbody", kind: Plain},
		{name: "To may not repeat", file: "a.tpl", src: "To: a\nSubject: s\nto: b\n\n",
			wantErr: `a.tpl:3:1: header "to" given twice (first on line 1)`},
		{name: "custom headers may repeat", file: "a.tpl", src: "X-Tag: a\nX-Tag: b\nAttach: a\nAttach: b\n\n", kind: Plain},
		{name: "MIME-Version", file: "a.tpl", src: "Subject: x\nMIME-Version: 1.0\n\n",
			wantErr: `a.tpl:2:1: header "MIME-Version" may not be set in a template: mailout writes the MIME structure itself`},
		{name: "Content-Transfer-Encoding", file: "a.tpl", src: "Content-Transfer-Encoding: base64\n\n",
			wantErr: `a.tpl:1:1: header "Content-Transfer-Encoding" may not be set in a template`},
		{name: "Content-Disposition", file: "a.tpl", src: "content-disposition: inline\n\n",
			wantErr: `a.tpl:1:1: header "content-disposition" may not be set in a template`},
		{name: "any other Content-*", file: "a.tpl", src: "Content-ID: <x@y>\n\n",
			wantErr: `a.tpl:1:1: header "Content-ID" may not be set in a template`},
		{name: "Content-Type multipart", file: "a.tpl", src: "Content-Type: multipart/mixed\n\n",
			wantErr: `a.tpl:1:15: Content-Type "multipart/mixed": want text/plain, text/html or text/markdown`},
		{name: "Content-Type charset", file: "a.tpl", src: "Content-Type: text/plain; charset=latin1\n\n",
			wantErr: `a.tpl:1:15: Content-Type charset "latin1": templates are UTF-8`},
		{name: "Content-Type twice", file: "a.tpl", src: "Content-Type: text/plain\nContent-Type: text/html\n\n",
			wantErr: `a.tpl:2:1: header "Content-Type" given twice (first on line 1)`},
		{name: "invalid UTF-8", file: "a.tpl", src: "Subject: x\n\nab\xffc",
			wantErr: `a.tpl:3:3: template is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := Parse(tt.file, []byte(tt.src))
			if tt.wantErr != "" {
				var te *Error
				if !errors.As(err, &te) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want *Error %q", tt.src, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error = %v", tt.src, err)
			}
			if tp.Kind() != tt.kind {
				t.Errorf("Parse(%q).Kind() = %v, want %v", tt.src, tp.Kind(), tt.kind)
			}
		})
	}
}
