package template

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// longLoop matches a number big enough to make {{range N}} run for long.
var longLoop = regexp.MustCompile(`[0-9]{4}|[0-9]e|0x|0b|0o|_`)

// FuzzParse feeds arbitrary template files to Parse and renders what it
// accepts: neither may panic, every error is an *Error (or a *DataError),
// and a rendering has clean headers and attachments under the root.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"To: {{ .name }} <{{ .email }}>\nSubject: Your order {{ .order }}\nAttach: invoices/{{ .order }}.pdf\n\nHello {{ .name }}, ...\n",
		"Subject: a\n  folded {{ .name }}\n\tagain\n\nbody",
		"Content-Type: text/html\nSubject: x\n\n{{define \"text\"}}t {{ .name }}{{end}}<p>{{ .name }}</p>",
		"Content-Type: text/markdown\n\n# {{ .name | upper }}\n\n- {{ index . \"first name\" | default \"n/a\" }}",
		"Subject: {{ .a }\n\n",
		"X-A:\r\nX-B: {{ .multi }}\r\n\r\n{{ .Env.HOME }}",
		" cont\n\n",
		"NoColon\n\nbody",
		"MIME-Version: 1.0\n\n",
		"Attach: /etc/passwd\n\n",
		"Attach: ../{{ .order }}\n\n",
		"Subject: {{ now | date \"2006\" }} {{ .tags | join \",\" }}\n\n{{ if .x }}{{ end }}",
		"",
		"\n",
	} {
		f.Add(s, uint8(0))
	}
	dir := f.TempDir()
	values := map[string]any{
		"name": "Zoë", "email": "z@example.com", "order": "42", "first name": "Z",
		"multi": "a\nb", "tags": []any{"x", "y"}, "x": "", "a": map[string]any{"b": "c"},
	}
	f.Fuzz(func(t *testing.T, src string, ext uint8) {
		if len(src) > 4096 || longLoop.MatchString(src) {
			t.Skip("too big to render quickly")
		}
		name := filepath.Join(dir, []string{"f.tpl", "f.html", "f.md"}[int(ext)%3])
		tp, err := Parse(name, []byte(src))
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Parse(%q) error %v is a %T, want *Error", src, err, err)
			}
			return
		}
		r, err := tp.Render(Data{Values: values, Env: map[string]string{"HOME": "/home/z"}}, Options{Now: time.Unix(0, 0)})
		if err != nil {
			var te *Error
			var de *DataError
			if !errors.As(err, &te) && !errors.As(err, &de) {
				t.Fatalf("Render(%q) error %v is a %T, want *Error", src, err, err)
			}
			return
		}
		for _, h := range r.Headers {
			if badNameByte(h.Name) >= 0 || h.Name == "" {
				t.Errorf("Render(%q): bad header name %q", src, h.Name)
			}
			if strings.ContainsAny(h.Value, "\r\n\x00") {
				t.Errorf("Render(%q): header %q = %q holds CR, LF or NUL", src, h.Name, h.Value)
			}
			if structural(h.Name) || strings.EqualFold(h.Name, "Content-Type") || strings.EqualFold(h.Name, "Attach") {
				t.Errorf("Render(%q): header %q should not be in Headers", src, h.Name)
			}
		}
		for _, a := range r.Attach {
			if !within(dir, a) || filepath.Clean(a) != a {
				t.Errorf("Render(%q): attachment %q is not a clean path under %s", src, a, dir)
			}
		}
	})
}

// FuzzRender feeds arbitrary data values into a fixed template: no header
// may ever hold CR or LF, and a value holding one must be refused.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"Bob", "Bob\nBcc: victim@example.com", "x\r\nSubject: spoof", "\r", "\x00", "Jürgen 📦",
		"  padded  ", "", "a\u2028b", "\x85next line", "=?utf-8?q?x?=", "<script>", "{{ .name }}",
	} {
		f.Add(s, s)
	}
	tp, err := Parse("fuzz.tpl", []byte("To: {{ .name }} <{{ .email }}>\nSubject: Hello {{ .name | trim }}\n"+
		"X-Folded: a\n  {{ .email }}\nReply-To: {{ index . \"reply\" | default .email }}\n\nDear {{ .name }},\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, email string) {
		r, err := tp.Render(Data{Values: map[string]any{"name": name, "email": email}}, Options{})
		if strings.ContainsAny(name+email, "\r\n") && err == nil {
			t.Fatalf("Render(name=%q, email=%q) = %+v, want an error for the line break", name, email, r.Headers)
		}
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Render(name=%q, email=%q) error %v is a %T, want *Error", name, email, err, err)
			}
			return
		}
		for _, h := range r.Headers {
			if strings.ContainsAny(h.Value, "\r\n") {
				t.Fatalf("Render(name=%q, email=%q): header %s = %q holds CR or LF", name, email, h.Name, h.Value)
			}
		}
		if want := "Dear " + name + ",\n"; r.Text != want {
			t.Errorf("Render(name=%q).Text = %q, want %q", name, r.Text, want)
		}
	})
}
