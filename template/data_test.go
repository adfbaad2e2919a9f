package template

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMergeDataPrecedence(t *testing.T) {
	dataFile := map[string]any{
		"name":     "from data",
		"company":  "ACME",
		"customer": map[string]any{"name": "data", "city": "Oslo"},
		"tags":     []any{"a"},
	}
	row := map[string]any{"name": "from csv", "email": "x@y.example", "customer": map[string]any{"name": "csv"}}
	vars := map[string]any{"name": "from var", "tags": "b"}
	got := MergeData(dataFile, row, vars)
	want := map[string]any{
		"name":     "from var",
		"company":  "ACME",
		"email":    "x@y.example",
		"customer": map[string]any{"name": "csv", "city": "Oslo"},
		"tags":     "b",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergeData = %v, want %v", got, want)
	}
	// The inputs stay as they were.
	if dataFile["name"] != "from data" || dataFile["customer"].(map[string]any)["name"] != "data" {
		t.Errorf("MergeData changed its input: %v", dataFile)
	}
	if got := MergeData(); got == nil || len(got) != 0 {
		t.Errorf("MergeData() = %v, want an empty map", got)
	}
	if got := MergeData(nil, map[string]any{"a": "1"}, nil); !reflect.DeepEqual(got, map[string]any{"a": "1"}) {
		t.Errorf("MergeData(nil, a, nil) = %v", got)
	}
}

func TestLoadDataFileJSON(t *testing.T) {
	src := "\uFEFF" + `{
  "name": "Zoë",
  "count": 1000000,
  "price": 12.5,
  "big": 12345678901234567890,
  "ok": true,
  "none": null,
  "customer": {"city": "Köln", "tags": ["a", null]}
}`
	got, err := LoadDataFile("data.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name":     "Zoë",
		"count":    int64(1000000),
		"price":    12.5,
		"big":      1.2345678901234567e19,
		"ok":       true,
		"none":     "",
		"customer": map[string]any{"city": "Köln", "tags": []any{"a", ""}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadDataFile = %#v, want %#v", got, want)
	}
	r := render(t, "a.tpl", "\n{{ .count }} {{ .price }} {{ .customer.city }}", got, nil)
	if r.Text != "1000000 12.5 Köln" {
		t.Errorf("rendered = %q, want numbers printed as written", r.Text)
	}
}

func TestLoadDataFileTOML(t *testing.T) {
	src := `name = "Zoë"
count = 3
due = 2024-12-24
[customer]
city = "Köln"
[[items]]
sku = "A"
[[items]]
sku = "B"
`
	got, err := LoadDataFile("DATA.TOML", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got["name"] != "Zoë" || got["count"] != int64(3) || got["customer"].(map[string]any)["city"] != "Köln" {
		t.Errorf("LoadDataFile = %#v", got)
	}
	if _, ok := got["due"].(time.Time); !ok {
		t.Errorf("due = %#v, want a time.Time", got["due"])
	}
	r := render(t, "a.tpl", "\n{{ .due | date \"2 Jan\" }}{{ range .items }} {{ .sku }}{{ end }}", got, nil)
	if r.Text != "24 Dec A B" {
		t.Errorf("rendered = %q, want \"24 Dec A B\"", r.Text)
	}
}

func TestLoadDataFileErrors(t *testing.T) {
	tests := []struct {
		name, path, src, want string
		line, col             int
	}{
		{"JSON syntax", "d.json", "{\n  \"a\": 1,\n  \"b\": ]\n}", "d.json:3:8: invalid JSON: invalid character ']' looking for beginning of value", 3, 8},
		{"JSON truncated", "d.json", "{\"a\": ", "d.json:1:7: invalid JSON: unexpected end of file", 1, 7},
		{"JSON empty", "d.json", "", "d.json:1:1: invalid JSON: unexpected end of file", 1, 1},
		{"JSON array", "d.json", "[1, 2]", "d.json:1: top level is an array: want an object", 1, 0},
		{"JSON trailing data", "d.json", "{}\n{}", "d.json:2:1: data after the top-level object", 2, 1},
		{"TOML syntax", "d.toml", "a = 1\nb = \"x\n", "d.toml:2:", 2, 0},
		{"TOML duplicate", "d.toml", "a = 1\na = 2\n", "d.toml:2:", 2, 0},
		{"unknown extension", "d.yaml", "a: 1", "d.yaml: unknown data file type: want .json or .toml", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadDataFile(tt.path, []byte(tt.src))
			var de *DataError
			if !errors.As(err, &de) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("LoadDataFile(%q) error = %v, want *DataError %q", tt.src, err, tt.want)
			}
			if de.Line != tt.line || (tt.col != 0 && de.Col != tt.col) {
				t.Errorf("LoadDataFile(%q) error at %d:%d, want %d:%d", tt.src, de.Line, de.Col, tt.line, tt.col)
			}
		})
	}
}
