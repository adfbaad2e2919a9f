package message

import (
	"reflect"
	"testing"
)

type nameAddr struct{ Name, Addr string }

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []nameAddr
	}{
		{"root", []nameAddr{{Addr: "root"}}},
		{"root (Cron Daemon)", []nameAddr{{Name: "Cron Daemon", Addr: "root"}}},
		{"Root User <root@host>", []nameAddr{{Name: "Root User", Addr: "root@host"}}},
		{`"Doe, Jane" <jane@example.org>, bob@example.org`, []nameAddr{{Name: `"Doe, Jane"`, Addr: "jane@example.org"}, {Addr: "bob@example.org"}}},
		{"<@relay.example:user@example.org>", []nameAddr{{Addr: "user@example.org"}}},
		{"undisclosed-recipients:;", nil},
		{"team: a@example.org, b;, c@example.org", []nameAddr{{Addr: "a@example.org"}, {Addr: "b"}, {Addr: "c@example.org"}}},
		{`"quoted local"@example.org`, []nameAddr{{Addr: `"quoted local"@example.org`}}},
		{`"a@b"`, []nameAddr{{Addr: `"a@b"`}}},
		{"user@[192.0.2.1]", []nameAddr{{Addr: "user@[192.0.2.1]"}}},
		{"=?utf-8?q?J=C3=BCrgen?= <j@example.org>", []nameAddr{{Name: "=?utf-8?q?J=C3=BCrgen?=", Addr: "j@example.org"}}},
		{"Jürgen <jürgen@bücher.example>", []nameAddr{{Name: "Jürgen", Addr: "jürgen@bücher.example"}}},
		{"a@example.org,, ,b@example.org", []nameAddr{{Addr: "a@example.org"}, {Addr: "b@example.org"}}},
		{"a@example.org (x (nested) y)", []nameAddr{{Name: "x (nested) y", Addr: "a@example.org"}}},
		{"", nil},
	}
	for _, tt := range tests {
		list, err := ParseAddressList(tt.in)
		if err != nil {
			t.Errorf("ParseAddressList(%q) error: %v", tt.in, err)
			continue
		}
		var got []nameAddr
		for _, m := range list {
			got = append(got, nameAddr{m.DisplayName(), m.Addr})
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAddressList(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseAddressListErrors(t *testing.T) {
	for _, in := range []string{
		"John Smith",
		"a@",
		"@example.org",
		"<>",
		"Name <a@example.org",
		"Name <a@example.org> trailing",
		`"unclosed@example.org`,
		"a@example.org (unclosed",
		"a@example.org)",
		"team: a@example.org",
		"a b@example.org",
		"a@exa mple.org",
		"a\x01@example.org",
		"a@[1.2.3.4",
		"<<a@example.org>>",
	} {
		if got, err := ParseAddressList(in); err == nil {
			t.Errorf("ParseAddressList(%q) = %#v, want an error", in, got)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct{ in, name, addr string }{
		{"a@Example.ORG", "", "a@example.org"},
		{`"Doe, Jane" <jane@example.org>`, "Doe, Jane", "jane@example.org"},
		{"=?utf-8?q?J=C3=BCrgen?= <j@example.org>", "Jürgen", "j@example.org"},
		{"root@host (Cron Daemon)", "Cron Daemon", "root@host"},
		{"Jörg <j@bücher.example>", "Jörg", "j@xn--bcher-kva.example"},
		{`"say \"hi\"" <s@example.org>`, `say "hi"`, "s@example.org"},
		{`"a..b"@example.org`, "", `"a..b"@example.org`},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tt.in, err)
			continue
		}
		if a.Name != tt.name || a.Address != tt.addr {
			t.Errorf("ParseAddress(%q) = %q <%s>, want %q <%s>", tt.in, a.Name, a.Address, tt.name, tt.addr)
		}
	}
	for _, bad := range []string{"root", "a@b, c@d", "team: a@b;", "-x@example.org", "<>", "a@",
		"a..b@example.org", ".a@example.org", "a.@example.org", "a@example..org", "a@.example.org", "a@example.org."} {
		if a, err := ParseAddress(bad); !isData(err) {
			t.Errorf("ParseAddress(%q) = %v, %v; want a DataError", bad, a, err)
		}
	}
}
