package template_test

import (
	"errors"
	"fmt"
	"time"

	"mailout/template"
)

func Example() {
	src := []byte(`To: {{ .name }} <{{ .email }}>
Subject: Your order {{ .order }}
Attach: invoices/{{ .order }}.pdf

Hello {{ .name | title }},
your order {{ .order }} left on {{ now | date "2 January" }}.
{{ index . "note" | default "Thank you!" }}
`)
	t, err := template.Parse("/srv/mail/invoice.tpl", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	dataFile, _ := template.LoadDataFile("defaults.json", []byte(`{"order": "0"}`))
	row := map[string]any{"name": "zoë", "email": "zoe@example.com", "order": "A-17"}
	r, err := t.Render(template.Data{Values: template.MergeData(dataFile, row)},
		template.Options{Now: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range r.Headers {
		fmt.Printf("%s: %s\n", h.Name, h.Value)
	}
	fmt.Println("attach:", r.Attach)
	fmt.Print(r.Text)
	// Output:
	// To: zoë <zoe@example.com>
	// Subject: Your order A-17
	// attach: [/srv/mail/invoices/A-17.pdf]
	// Hello Zoë,
	// your order A-17 left on 1 May.
	// Thank you!
}

func ExampleError() {
	t, _ := template.Parse("invoice.tpl", []byte("To: {{ .email }}\nSubject: Your order {{ .order }}\n\nHi\n"))
	_, err := t.Render(template.Data{Values: map[string]any{"email": "a@example.com"}}, template.Options{})
	var te *template.Error
	if errors.As(err, &te) {
		fmt.Println(te)
		fmt.Println("field:", te.Field, "line:", te.Line)
	}
	// Output:
	// invoice.tpl:2: field "order" not given
	// field: order line: 2
}
