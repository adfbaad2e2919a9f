package template

import "testing"

func BenchmarkRender(b *testing.B) {
	for _, file := range []string{"a.tpl", "a.html", "a.md"} {
		tp, err := Parse(file, []byte("To: {{ .name }} <{{ .email }}>\nSubject: Hello {{ .name }}\n\n{{define \"text\"}}Dear {{ .name }}{{end}}Dear **{{ .name }}**,\n\nthanks.\n"))
		if err != nil {
			b.Fatal(err)
		}
		d := Data{Values: map[string]any{"name": "Bob", "email": "b@example.com"}}
		b.Run(file, func(b *testing.B) {
			for b.Loop() {
				if _, err := tp.Render(d, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
