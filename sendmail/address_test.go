package sendmail

import (
	"fmt"
	"reflect"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"root", []Address{{Addr: "root"}}},
		{"root (Cron Daemon)", []Address{{Name: "Cron Daemon", Addr: "root"}}},
		{"Root User <root@host>", []Address{{Name: "Root User", Addr: "root@host"}}},
		{`"Doe, Jane" <jane@example.org>, bob@example.org`, []Address{{Name: `"Doe, Jane"`, Addr: "jane@example.org"}, {Addr: "bob@example.org"}}},
		{"<@relay.example:user@example.org>", []Address{{Addr: "user@example.org"}}},
		{"undisclosed-recipients:;", nil},
		{"team: a@example.org, b;, c@example.org", []Address{{Addr: "a@example.org"}, {Addr: "b"}, {Addr: "c@example.org"}}},
		{`"quoted local"@example.org`, []Address{{Addr: `"quoted local"@example.org`}}},
		{`"a@b"`, []Address{{Addr: `"a@b"`}}},
		{"user@[192.0.2.1]", []Address{{Addr: "user@[192.0.2.1]"}}},
		{"=?utf-8?q?J=C3=BCrgen?= <j@example.org>", []Address{{Name: "=?utf-8?q?J=C3=BCrgen?=", Addr: "j@example.org"}}},
		{"Jürgen <jürgen@bücher.example>", []Address{{Name: "Jürgen", Addr: "jürgen@bücher.example"}}},
		{"a@example.org,, ,b@example.org", []Address{{Addr: "a@example.org"}, {Addr: "b@example.org"}}},
		{"a@example.org (x (nested) y)", []Address{{Name: "x (nested) y", Addr: "a@example.org"}}},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := ParseAddressList(tt.in)
		if err != nil {
			t.Errorf("ParseAddressList(%q) error: %v", tt.in, err)
			continue
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

func TestIsLocalAddr(t *testing.T) {
	domains := []string{"host", "host.example.com."}
	tests := []struct {
		addr string
		want bool
	}{
		{"root", true},
		{"root@localhost", true},
		{"root@LOCALHOST.localdomain", true},
		{"root@host", true},
		{"root@Host.Example.Com", true},
		{"root@host.example.com.", true},
		{"root@example.com", false},
		{"root@otherhost", false},
		{`"a@host"`, true},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsLocalAddr(tt.addr, domains); got != tt.want {
			t.Errorf("IsLocalAddr(%q, %q) = %v, want %v", tt.addr, domains, got, tt.want)
		}
	}
}

func TestFormatFrom(t *testing.T) {
	tests := []struct {
		name, addr, want string
	}{
		{"", "cron@example.com", "cron@example.com"},
		{"CronDaemon", "cron@example.com", "CronDaemon <cron@example.com>"},
		{"Cron Daemon", "cron@example.com", "Cron Daemon <cron@example.com>"},
		{"J. Doe, Jr.", "j@example.com", `"J. Doe, Jr." <j@example.com>`},
		{`say "hi"`, "j@example.com", `"say \"hi\"" <j@example.com>`},
		{"Jürgen Müller", "j@example.com", "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@example.com>"},
		{"  padded  ", "p@example.com", "padded <p@example.com>"},
	}
	for _, tt := range tests {
		if got := FormatFrom(tt.name, tt.addr); got != tt.want {
			t.Errorf("FormatFrom(%q, %q) = %q, want %q", tt.name, tt.addr, got, tt.want)
		}
	}
}

func ExampleParse() {
	// Debian's cron runs: sendmail -FCronDaemon -i -B8BITMIME -oem root
	inv, err := Parse([]string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("full name %q, ignore dots %v, body %s, recipients %q\n",
		inv.FullName, inv.IgnoreDots, inv.BodyType, inv.Recipients)
	// Output:
	// full name "CronDaemon", ignore dots true, body 8BITMIME, recipients ["root"]
}
