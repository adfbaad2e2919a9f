package template

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            string // the whole message
		line, col       int
	}{
		{
			name: "bad action in a header", file: "invoice.tpl",
			src:  "To: {{ .email }}\nSubject: Order {{ .order }\n\nbody\n",
			want: `invoice.tpl:2:16: unexpected "}" in operand`, line: 2, col: 16,
		},
		{
			name: "second action on a body line", file: "invoice.tpl",
			src:  "Subject: x\n\nHello {{ .name }},\nyour {{ .order | nosuch }}\n",
			want: `invoice.tpl:4:6: function "nosuch" not defined`, line: 4, col: 6,
		},
		{
			name: "unexpected end", file: "invoice.tpl",
			src:  "Subject: x\n\n{{ if .a }}\nyes\n{{ end }}{{ end }}\n",
			want: `invoice.tpl:5:10: unexpected {{end}}`, line: 5, col: 10,
		},
		{
			name: "action in the continuation of a folded header", file: "invoice.tpl",
			src:  "Subject: Hello\n  {{ .a ) }}\n\n",
			want: `invoice.tpl:2:3: unexpected right paren`, line: 2, col: 3,
		},
		{
			name: "missing end", file: "invoice.tpl",
			src:  "Subject: x\n\n{{ range .items }}\n- {{ . }}\n",
			want: `invoice.tpl:5: unexpected end of template: an {{if}}, {{range}}, {{with}}, {{block}} or {{define}} lacks its {{end}}`,
			line: 5,
		},
		{
			name: "unclosed action", file: "invoice.tpl",
			src:  "Subject: x\n\nHi {{ .name\n",
			want: `invoice.tpl:3:4: unclosed action`, line: 3, col: 4,
		},
		{
			name: "html context error found at parse time", file: "mail.html",
			src:  "Subject: x\n\n<p>\n{{ if .a }}<a href=\"{{ end }}\">x</a>\n",
			want: `mail.html:4:7: {{if}} branches end in different contexts`, line: 4, col: 7,
		},
		{
			name: "HTML left open", file: "mail.html",
			src:  "Subject: x\n\n<a href=\"{{ .url }}\n",
			want: `mail.html: the HTML ends inside a tag, an attribute or a script: is a quote or a tag left open?`,
		},
		{
			name: "undefined template", file: "mail.html",
			src:  "Subject: x\n\n<p>\n  {{ template \"sig\" }}\n",
			want: `mail.html:4:15: no such template "sig"`, line: 4, col: 15,
		},
		{
			name: "undefined template in text", file: "invoice.tpl",
			src:  "Subject: {{ template \"subj\" }}\n\n{{ if .a }}{{ else }}{{ template \"sig\" . }}{{ end }}{{ define \"subj\" }}s{{ end }}\n",
			want: `invoice.tpl:3:34: no such template "sig"`, line: 3, col: 34,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.file, []byte(tt.src))
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Parse(%q) error = %v (%T), want *Error", tt.src, err, err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error = %q, want %q", tt.src, err, tt.want)
			}
			if te.Line != tt.line || te.Col != tt.col || te.File != tt.file {
				t.Errorf("Parse(%q) error at %s:%d:%d, want %s:%d:%d", tt.src, te.File, te.Line, te.Col, tt.file, tt.line, tt.col)
			}
		})
	}
}

func TestRenderMissingField(t *testing.T) {
	tests := []struct {
		name, src string
		values    map[string]any
		want      string
		field     string
		line      int
	}{
		{
			name:   "in the body",
			src:    "To: {{ .email }}\nSubject: Order\n\nHello {{ .name }},\nyour order {{ .order }}\n",
			values: map[string]any{"email": "a@b.example", "name": "Al"},
			want:   `invoice.tpl:5: field "order" not given`, field: "order", line: 5,
		},
		{
			name:   "in a header",
			src:    "To: {{ .email }}\nSubject: Your order {{ .order }}\n\nbody\n",
			values: map[string]any{"email": "a@b.example"},
			want:   `invoice.tpl:2: field "order" not given`, field: "order", line: 2,
		},
		{
			name:   "nested",
			src:    "Subject: x\n\n{{ .customer.address.city }}\n",
			values: map[string]any{"customer": map[string]any{"name": "x"}},
			want:   `invoice.tpl:3: field "customer.address" not given`, field: "customer.address", line: 3,
		},
		{
			name: "in a define",
			src:  "Subject: x\n\n{{ define \"sig\" }}\n--\n{{ .sender }}\n{{ end }}Hi{{ template \"sig\" . }}\n",
			want: `invoice.tpl:5: field "sender" not given`, field: "sender", line: 5,
		},
		{
			name: "in an if",
			src:  "Subject: x\n\n{{ if .vip }}VIP{{ end }}\n",
			want: `invoice.tpl:3: field "vip" not given`, field: "vip", line: 3,
		},
		{
			name: "default does not help an absent field",
			src:  "Subject: x\n\n{{ .title | default \"Sir\" }}\n",
			want: `invoice.tpl:3: field "title" not given`, field: "title", line: 3,
		},
		{
			name: "environment",
			src:  "Subject: x\n\n{{ .Env.MAILOUT_PASSWORD }}\n",
			want: `invoice.tpl:3: environment variable "MAILOUT_PASSWORD" not set`, field: "Env.MAILOUT_PASSWORD", line: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := Parse("invoice.tpl", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = tp.Render(Data{Values: tt.values, Env: map[string]string{"HOME": "/root"}}, Options{})
			var te *Error
			if !errors.As(err, &te) || err.Error() != tt.want {
				t.Fatalf("Render(%q) error = %v, want %q", tt.src, err, tt.want)
			}
			if te.Field != tt.field || te.Line != tt.line {
				t.Errorf("Render(%q) error field %q line %d, want %q line %d", tt.src, te.Field, te.Line, tt.field, tt.line)
			}
		})
	}
}

func TestRenderMissingFieldHTMLAndText(t *testing.T) {
	src := "Subject: x\n\n{{ define \"text\" }}Hi {{ .who }}{{ end }}\n<p>{{ .name }}</p>\n"
	tp, err := Parse("mail.html", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tp.Render(Data{Values: map[string]any{"who": "x"}}, Options{})
	if err == nil || err.Error() != `mail.html:4: field "name" not given` {
		t.Errorf("Render error = %v, want the HTML body's missing field", err)
	}
	_, err = tp.Render(Data{Values: map[string]any{"name": "x"}}, Options{})
	if err == nil || err.Error() != `mail.html:3: field "who" not given` {
		t.Errorf("Render error = %v, want the text block's missing field", err)
	}
}

func TestRenderHeaderInjection(t *testing.T) {
	tp, err := Parse("a.tpl", []byte("To: {{ .to }}\nSubject: Hello {{ .name }}\nX-Id: {{ .id }}\n\nbody {{ .name }}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, value, want string
	}{
		{"LF", "Bob\nBcc: victim@example.com", `a.tpl:2: header "Subject": value contains a line break (CR or LF)`},
		{"CRLF", "Bob\r\nBcc: victim@example.com", `a.tpl:2: header "Subject": value contains a line break (CR or LF)`},
		{"CR", "Bob\r", `a.tpl:2: header "Subject": value contains a line break (CR or LF)`},
		{"trailing LF", "Bob\n", `a.tpl:2: header "Subject": value contains a line break (CR or LF)`},
		{"NUL", "Bob\x00", `a.tpl:2: header "Subject": value contains a NUL byte`},
		{"other control", "Bob\x1b[31m", `a.tpl:2: header "Subject": value contains the control character U+001B`},
		{"invalid UTF-8", "Bob\xff", `a.tpl:2: header "Subject": value is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tp.Render(Data{Values: map[string]any{"to": "a@b.example", "name": tt.value, "id": "1"}}, Options{})
			var te *Error
			if !errors.As(err, &te) || err.Error() != tt.want {
				t.Errorf("Render(name=%q) error = %v, want %q", tt.value, err, tt.want)
			}
		})
	}
	// A line break in the body is fine; a tab in a header too.
	r, err := tp.Render(Data{Values: map[string]any{"to": "a@b.example", "name": "A\tB", "id": "x\ny"}}, Options{})
	if err == nil {
		t.Fatalf("Render with a line break in X-Id = %+v, want an error", r)
	}
	r, err = tp.Render(Data{Values: map[string]any{"to": "a@b.example", "name": "A\tB", "id": "1"}}, Options{})
	if err != nil || r.Values("Subject")[0] != "Hello A\tB" {
		t.Errorf("Render with a tab = %+v, %v, want the tab kept", r, err)
	}
}

func TestRenderReservedEnv(t *testing.T) {
	tp, err := Parse("a.tpl", []byte("\nbody"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tp.Render(Data{Values: map[string]any{"Env": "x"}}, Options{})
	var de *DataError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), `data field "Env" is reserved`) {
		t.Errorf("Render with an Env field: error = %v, want a *DataError", err)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "a.tpl", Line: 3, Col: 5, Msg: "m"}, "a.tpl:3:5: m"},
		{&Error{File: "a.tpl", Line: 3, Msg: "m"}, "a.tpl:3: m"},
		{&Error{File: "a.tpl", Line: 3, Col: 5, Field: "x", Msg: `field "x" not given`}, `a.tpl:3: field "x" not given`},
		{&Error{File: "a.tpl", Msg: "m"}, "a.tpl: m"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", *tt.err, got, tt.want)
		}
	}
}
