package sendmail

import (
	"fmt"
	"testing"
)

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
