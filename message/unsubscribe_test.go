package message

import (
	"fmt"
	"strings"
	"testing"
)

func TestUnsubscribeFields(t *testing.T) {
	oneClick := Field{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}
	for _, tt := range []struct {
		in      string
		want    []Field
		wantErr string
	}{
		{in: ""},
		{in: "https://example.com/u?id=1", want: []Field{{Name: "List-Unsubscribe", Value: "<https://example.com/u?id=1>"}, oneClick}},
		{in: "HTTPS://example.com/u", want: []Field{{Name: "List-Unsubscribe", Value: "<HTTPS://example.com/u>"}, oneClick}},
		{in: "http://example.com/u", want: []Field{{Name: "List-Unsubscribe", Value: "<http://example.com/u>"}}},
		{in: "mailto:leave@example.com?subject=unsubscribe", want: []Field{{Name: "List-Unsubscribe", Value: "<mailto:leave@example.com?subject=unsubscribe>"}}},
		{in: "mailto:%6Ceave@example.com", want: []Field{{Name: "List-Unsubscribe", Value: "<mailto:%6Ceave@example.com>"}}},
		{in: "mailto:leave", wantErr: `"mailto:leave": want mailto:ADDR with a full address`},
		{in: "mailto:", wantErr: `"mailto:": want mailto:ADDR with a full address`},
		{in: "mailto:a@b@c", wantErr: `"mailto:a@b@c": want mailto:ADDR with a full address`},
		{in: "mailto:%zz@example.com", wantErr: `"mailto:%zz@example.com": want mailto:ADDR with a full address`},
		{in: "https://", wantErr: `"https://": the URL has no host`},
		{in: "ftp://example.com/u", wantErr: `"ftp://example.com/u": want an https URL or mailto:ADDR`},
		{in: "example.com/u", wantErr: `"example.com/u": want an https URL or mailto:ADDR`},
		{in: "https://exa%mple.com/", wantErr: `"https://exa%mple.com/": not a URL`},
		{in: "https://example.com/a b", wantErr: `"https://example.com/a b": want an https URL or mailto:ADDR without blanks, quotes or <>`},
		{in: "https://example.com/a>\r\nBcc: x@example.com", wantErr: "without blanks, quotes or <>"},
		{in: `https://example.com/"`, wantErr: "without blanks, quotes or <>"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := UnsubscribeFields(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tt.wantErr) {
					t.Fatalf("UnsubscribeFields(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("UnsubscribeFields(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzUnsubscribeFields checks that whatever the value, the fields made
// from it are one line each and keep the value inside one pair of <>.
func FuzzUnsubscribeFields(f *testing.F) {
	for _, s := range []string{"https://example.com/u?id=1", "mailto:a@example.com", "http://x", "mailto:%61@b.c", "https://a/>\r\nBcc: x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		fields, err := UnsubscribeFields(v)
		if err != nil || v == "" {
			return
		}
		if fields[0].Value != "<"+v+">" {
			t.Errorf("UnsubscribeFields(%q) List-Unsubscribe = %q, want the value in <>", v, fields[0].Value)
		}
		for _, fl := range fields {
			if err := CheckHeaderValue(fl.Name, fl.Value); err != nil {
				t.Errorf("UnsubscribeFields(%q) gave %s: %q: %v", v, fl.Name, fl.Value, err)
			}
			if strings.Count(fl.Value, "<") > 1 || strings.Count(fl.Value, ">") > 1 {
				t.Errorf("UnsubscribeFields(%q) gave %s: %q with a nested <>", v, fl.Name, fl.Value)
			}
		}
	})
}
