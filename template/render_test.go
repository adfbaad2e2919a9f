package template

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// render parses src as file and renders it with values and env.
func render(t *testing.T, file, src string, values map[string]any, env map[string]string) *Rendered {
	t.Helper()
	tp, err := Parse(file, []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q) error: %v", src, err)
	}
	r, err := tp.Render(Data{Values: values, Env: env}, Options{Now: time.Date(2024, 3, 9, 14, 5, 0, 0, time.UTC)})
	if err != nil {
		t.Fatalf("Render(%q) error: %v", src, err)
	}
	return r
}

func TestRenderNonASCII(t *testing.T) {
	src := "To: {{ .name }} <{{ .email }}>\n" +
		"Subject: Ihre Bestellung {{ .order }} – {{ .name }}\n" +
		"X-Campaign: spring\n" +
		"Cc: {{ .cc }}\n" +
		"Content-Type: text/plain\n" +
		"\n" +
		"Grüß Gott {{ .name }},\n" +
		"Ihre Bestellung {{ .order }} ist unterwegs. 📦\n"
	values := map[string]any{"name": "Jürgen Müller", "email": "jürgen@bücher.example", "order": "A-17", "cc": ""}
	r := render(t, "order.tpl", src, values, nil)
	want := []Header{
		{"To", "Jürgen Müller <jürgen@bücher.example>"},
		{"Subject", "Ihre Bestellung A-17 – Jürgen Müller"},
		{"X-Campaign", "spring"},
	}
	if !reflect.DeepEqual(r.Headers, want) {
		t.Errorf("Headers = %q, want %q (an empty Cc is left out)", r.Headers, want)
	}
	if wantText := "Grüß Gott Jürgen Müller,\nIhre Bestellung A-17 ist unterwegs. 📦\n"; r.Text != wantText {
		t.Errorf("Text = %q, want %q", r.Text, wantText)
	}
	if r.HTML != "" || r.Attach != nil {
		t.Errorf("HTML = %q, Attach = %q, want none", r.HTML, r.Attach)
	}
	if got := r.Values("subject"); len(got) != 1 || got[0] != want[1].Value {
		t.Errorf("Values(subject) = %q, want [%q]", got, want[1].Value)
	}
}

func TestRenderFoldedHeader(t *testing.T) {
	r := render(t, "a.tpl", "Subject: Hello\n  {{ .name }}\n\n", map[string]any{"name": "Ann"}, nil)
	if got := r.Values("Subject"); len(got) != 1 || got[0] != "Hello  Ann" {
		t.Errorf("Subject = %q, want [\"Hello  Ann\"]", got)
	}
}

func TestRenderHTMLEscapes(t *testing.T) {
	values := map[string]any{"name": `<script>alert("x")</script>`, "url": "javascript:alert(1)"}
	for _, tc := range []struct{ file, src string }{
		{"mail.html", "Subject: {{ .name }}\n\n<p>Hello {{ .name }}</p>\n<a href=\"{{ .url }}\">x</a>\n"},
		{"mail.tpl", "Content-Type: text/html\nSubject: {{ .name }}\n\n<p>Hello {{ .name }}</p>\n<a href=\"{{ .url }}\">x</a>\n"},
	} {
		r := render(t, tc.file, tc.src, values, nil)
		want := "<p>Hello &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>\n<a href=\"#ZgotmplZ\">x</a>\n"
		if r.HTML != want {
			t.Errorf("%s: HTML = %q, want %q", tc.file, r.HTML, want)
		}
		if r.Text != "" {
			t.Errorf("%s: Text = %q, want \"\" (no text block)", tc.file, r.Text)
		}
		// Headers are text, not HTML: no escaping there.
		if got := r.Values("Subject"); len(got) != 1 || got[0] != values["name"] {
			t.Errorf("%s: Subject = %q, want the value unescaped", tc.file, got)
		}
	}
}

func TestRenderHTMLWithTextBlock(t *testing.T) {
	src := "Subject: Hi\n\n" +
		"{{define \"text\"}}\nHello {{ .name }},\nyour code is {{ .code }}.\n{{end}}" +
		"<p>Hello {{ .name }},</p><p>your code is <b>{{ .code }}</b>.</p>\n"
	r := render(t, "mail.html", src, map[string]any{"name": "Zoë <Z>", "code": "a&b"}, nil)
	if want := "Hello Zoë <Z>,\nyour code is a&b.\n"; r.Text != want {
		t.Errorf("Text = %q, want %q (text/template rules, no escaping)", r.Text, want)
	}
	if want := "<p>Hello Zoë &lt;Z&gt;,</p><p>your code is <b>a&amp;b</b>.</p>\n"; r.HTML != want {
		t.Errorf("HTML = %q, want %q", r.HTML, want)
	}
}

func TestRenderMarkdown(t *testing.T) {
	src := "Subject: News\n\n# Hello {{ .name }}\n\nThis is **important**: {{ .note }}\n\n- one\n- [two]({{ .link }})\n"
	values := map[string]any{"name": "Ana", "note": "<script>x</script>", "link": "javascript:alert(1)"}
	r := render(t, "news.md", src, values, nil)
	if want := "# Hello Ana\n\nThis is **important**: <script>x</script>\n\n- one\n- [two](javascript:alert(1))\n"; r.Text != want {
		t.Errorf("Text = %q, want the rendered markdown %q", r.Text, want)
	}
	for _, want := range []string{"<h1>Hello Ana</h1>", "<strong>important</strong>", "<li>one</li>"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML = %q, want it to contain %q", r.HTML, want)
		}
	}
	if strings.Contains(r.HTML, "<script>") || strings.Contains(r.HTML, "javascript:") {
		t.Errorf("HTML = %q holds raw HTML from the data", r.HTML)
	}

	// Content-Type selects markdown too, and a text block replaces the text.
	r = render(t, "news.tpl", "Content-Type: text/markdown\n\n{{define \"text\"}}plain {{ .name }}{{end}}*hi* {{ .name }}\n",
		values, nil)
	if r.Text != "plain Ana" || !strings.Contains(r.HTML, "<em>hi</em> Ana") {
		t.Errorf("Text = %q, HTML = %q, want \"plain Ana\" and <em>hi</em> Ana", r.Text, r.HTML)
	}
}

func TestRenderDefineInBodyUsedInHeader(t *testing.T) {
	src := "Subject: {{ template \"subj\" . }}\n\n{{ define \"subj\" }}Order {{ .order }}{{ end }}Body\n"
	r := render(t, "a.tpl", src, map[string]any{"order": "7"}, nil)
	if got := r.Values("Subject"); len(got) != 1 || got[0] != "Order 7" {
		t.Errorf("Subject = %q, want [\"Order 7\"]", got)
	}
	if r.Text != "Body\n" {
		t.Errorf("Text = %q, want \"Body\\n\"", r.Text)
	}
}

func TestRenderData(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		values map[string]any
		env    map[string]string
		want   string
	}{
		{"field with spaces", `{{ index . "first name" }}`, map[string]any{"first name": "Eve"}, nil, "Eve"},
		{"absent field through index", `[{{ index . "nope" }}]`, nil, nil, "[]"},
		{"absent nested through index", `[{{ index . "a" "b" "c" }}]`, map[string]any{"a": map[string]any{}}, nil, "[]"},
		{"index into a list", `{{ index .items 1 }}[{{ index .items 9 }}]`, map[string]any{"items": []any{"a", "b"}}, nil, "b[]"},
		{"empty string counts as given", `[{{ .x }}]`, map[string]any{"x": ""}, nil, "[]"},
		{"nil value renders empty", `[{{ .x }}]`, map[string]any{"x": nil}, nil, "[]"},
		{"nested data", `{{ .customer.name }} {{ range .items }}{{ .sku }},{{ end }}`,
			map[string]any{"customer": map[string]any{"name": "Bo"}, "items": []any{map[string]any{"sku": "A"}, map[string]any{"sku": "B"}}}, nil, "Bo A,B,"},
		{"numbers", `{{ .n }} {{ .f }} {{ if gt .n 5 }}big{{ end }}`, map[string]any{"n": int64(1000000), "f": 2.5}, nil, "1000000 2.5 big"},
		{"environment", `{{ .Env.USER }} {{ index .Env "NOPE" }}`, nil, map[string]string{"USER": "ops"}, "ops "},
		{"optional via if and index", `{{ if index . "vip" }}VIP{{ else }}-{{ end }}`, nil, nil, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, "a.tpl", "\n"+tt.body, tt.values, tt.env)
			if r.Text != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.body, r.Text, tt.want)
			}
		})
	}
}

func TestFuncs(t *testing.T) {
	values := map[string]any{
		"name":  "  mary-jane o'neil  ",
		"tags":  []any{"a", "b", int64(3)},
		"words": []string{"x", "y"},
		"empty": "",
		"zero":  int64(0),
		"when":  "2024-12-24",
		"stamp": "2024-12-24T18:30:00Z",
	}
	tests := []struct{ body, want string }{
		{`{{ .empty | default "n/a" }}`, "n/a"},
		{`{{ index . "absent" | default "n/a" }}`, "n/a"},
		{`{{ .zero | default "n/a" }}`, "0"},
		{`{{ .name | trim | default "n/a" }}`, "mary-jane o'neil"},
		{`{{ .name | trim | upper }}`, "MARY-JANE O'NEIL"},
		{`{{ "ÄBC" | lower }}`, "äbc"},
		{`{{ .name | trim | title }}`, "Mary-Jane O'neil"},
		{`{{ "élan vital don't" | title }}`, "Élan Vital Don't"},
		{`{{ .tags | join ", " }}`, "a, b, 3"},
		{`{{ join "+" .words }}`, "x+y"},
		{`{{ join .words "/" }}`, "x/y"},
		{`{{ .empty | join "," }}`, ""},
		{`{{ "a-b-c" | replace "-" " " }}`, "a b c"},
		{`{{ now | date "2006-01-02 15:04" }}`, "2024-03-09 14:05"},
		{`{{ .when | date "2 Jan 2006" }}`, "24 Dec 2024"},
		{`{{ .stamp | date "15:04" }}`, "18:30"},
		{`{{ .empty | date "2006" }}`, ""},
		{`{{ printf "%05.1f" 3.14159 }}`, "003.1"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			r := render(t, "a.tpl", "\n"+tt.body, values, nil)
			if r.Text != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.body, r.Text, tt.want)
			}
		})
	}
}

func TestFuncErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{{ "soon" | date "2006" }}`, `a.tpl:2:13: at <date "2006">: error calling date: "soon" is not a date`},
		{`{{ index . 3 }}`, `a.tpl:2:4: at <index . 3>: error calling index: index key has type int; want string`},
	}
	for _, tt := range tests {
		tp, err := Parse("a.tpl", []byte("\n"+tt.body))
		if err != nil {
			t.Fatal(err)
		}
		_, err = tp.Render(Data{}, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Render(%q) error = %v, want %q", tt.body, err, tt.want)
		}
	}
}

// TestRenderConcurrent renders one template from many goroutines, each with
// its own time; run with -race to check that renders share nothing.
func TestRenderConcurrent(t *testing.T) {
	for _, file := range []string{"a.tpl", "a.html", "a.md"} {
		tp, err := Parse(file, []byte("Subject: {{ .n }} {{ now | date \"2006\" }}\n\n{{define \"text\"}}t{{ .n }}{{end}}{{ .n }} {{ now | date \"2006\" }}"))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				year := 2000 + i
				r, err := tp.Render(Data{Values: map[string]any{"n": i}}, Options{Now: time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)})
				if err != nil {
					t.Error(err)
					return
				}
				if got, want := r.Values("Subject"), fmt.Sprintf("%d %d", i, year); len(got) != 1 || got[0] != want {
					t.Errorf("%s: Subject = %q, want [%q]", file, got, want)
				}
				if want := fmt.Sprintf("%d %d", i, year); file == "a.tpl" && r.Text != want {
					t.Errorf("%s: Text = %q, want %q", file, r.Text, want)
				}
			}()
		}
		wg.Wait()
	}
}

// TestLiteralsRenderLikeTextTemplate renders templates with and without
// the literal fast path: the results and the errors must be the same.
func TestLiteralsRenderLikeTextTemplate(t *testing.T) {
	values := map[string]any{"name": "Zoë", "email": "z@example.com", "code": "007", "none": nil, "n": int64(3),
		"multi": "a\nb", "t": map[string]any{"x": "y"}}
	for _, src := range []string{
		"To: {{ .name }} <{{ .email }}>\nSubject: Your code {{ .code }}\n\nHello {{ .name }}, {{- .code -}} .\n",
		"Subject: {{ .none }}x\n\n{{ .n }} {{ .t }}",
		"Subject: {{ .missing }}\n\nbody",
		"Subject: s\n\n{{ .missing }}",
		"Subject: {{ .multi }}\n\n",
		"Subject: {{ .Env.HOME }} {{ .name | upper }}\n\n{{ .t.x }} {{ $x := .name }}{{ $x }}",
		"Content-Type: text/html\nSubject: {{ .name }}\n\n{{define \"text\"}}Dear {{ .name }}{{end}}<p>{{ .name }}</p>",
		"Content-Type: text/markdown\n\n# {{ .name }}\n",
		"Subject: empty body\n\n",
	} {
		for _, file := range []string{"a.tpl", "a.html", "a.md"} {
			tp, err := Parse(file, []byte(src))
			if err != nil {
				t.Fatalf("Parse(%q): %v", src, err)
			}
			d := Data{Values: values, Env: map[string]string{"HOME": "/home/z"}}
			fast, fastErr := tp.Render(d, Options{})
			tp.literals = nil
			slow, slowErr := tp.Render(d, Options{})
			if fmt.Sprint(fastErr) != fmt.Sprint(slowErr) || !reflect.DeepEqual(fast, slow) {
				t.Errorf("%s %q: with literals %+v, %v; without %+v, %v", file, src, fast, fastErr, slow, slowErr)
			}
		}
	}
}
