package sendmail

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSender(t *testing.T) {
	tests := []struct {
		in   string
		addr string
		null bool
		bad  bool
	}{
		{in: ""},
		{in: "<>", null: true},
		{in: " root ", addr: "root"},
		{in: "Cron <cron@example.com>", addr: "cron@example.com"},
		{in: "a@example.com, b@example.com", bad: true},
		{in: "not an address", bad: true},
	}
	for _, tt := range tests {
		addr, null, err := ParseSender(tt.in)
		if (err != nil) != tt.bad || addr != tt.addr || null != tt.null {
			t.Errorf("ParseSender(%q) = %q, %v, %v", tt.in, addr, null, err)
		}
		var de *DataError
		if tt.bad && !errors.As(err, &de) {
			t.Errorf("ParseSender(%q) error %v is not a DataError", tt.in, err)
		}
	}
}

func TestResolveSender(t *testing.T) {
	base := SenderPolicy{Hostname: "host.example.com", Login: "ana", IsLocal: testIsLocal}
	with := func(f func(*SenderPolicy)) SenderPolicy { p := base; f(&p); return p }
	tests := []struct {
		name string
		p    SenderPolicy
		want Sender
	}{
		{"no sender, no profile: LOGIN@FQDN", base,
			Sender{Envelope: "ana@host.example.com", From: "ana@host.example.com", Domain: "host.example.com"}},
		{"no login is root", with(func(p *SenderPolicy) { p.Login = "" }),
			Sender{Envelope: "root@host.example.com", From: "root@host.example.com", Domain: "host.example.com"}},
		{"no sender: the profile's from", with(func(p *SenderPolicy) { p.ProfileFrom = "cron@example.com"; p.FullName = "Cron Daemon" }),
			Sender{Envelope: "cron@example.com", From: "Cron Daemon <cron@example.com>", Domain: "example.com"}},
		{"local -f root becomes the profile's from", with(func(p *SenderPolicy) { p.Sender = "root"; p.ProfileFrom = "cron@example.com" }),
			Sender{Envelope: "cron@example.com", From: "cron@example.com", Domain: "example.com"}},
		{"root@localhost is local too", with(func(p *SenderPolicy) { p.Sender = "root@localhost"; p.ProfileFrom = "cron@example.com" }),
			Sender{Envelope: "cron@example.com", From: "cron@example.com", Domain: "example.com"}},
		{"a foreign sender stays", with(func(p *SenderPolicy) { p.Sender = "me@other.org"; p.ProfileFrom = "cron@example.com" }),
			Sender{Envelope: "me@other.org", From: "me@other.org", Domain: "other.org"}},
		{"always rewrites a foreign sender", with(func(p *SenderPolicy) {
			p.Sender = "me@other.org"
			p.ProfileFrom = "cron@example.com"
			p.Rewrite = "always"
		}), Sender{Envelope: "cron@example.com", From: "cron@example.com", Domain: "example.com"}},
		{"never keeps a local name, qualified", with(func(p *SenderPolicy) {
			p.Sender = "root"
			p.ProfileFrom = "cron@example.com"
			p.Rewrite = "never"
		}), Sender{Envelope: "root@host.example.com", From: "root@host.example.com", Domain: "host.example.com"}},
		{"a bare name without a profile from is qualified", with(func(p *SenderPolicy) { p.Sender = "root" }),
			Sender{Envelope: "root@host.example.com", From: "root@host.example.com", Domain: "host.example.com"}},
		{"null sender keeps <> and adds the profile's From", with(func(p *SenderPolicy) { p.Null = true; p.ProfileFrom = "cron@example.com" }),
			Sender{Envelope: "", From: "cron@example.com", Domain: "example.com"}},
	}
	for _, tt := range tests {
		if got := ResolveSender(tt.p); got != tt.want {
			t.Errorf("%s: ResolveSender = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestQualifierRecipients(t *testing.T) {
	aliases := map[string][]string{"root": {"ops@example.com", "Admin@Example.com"}, "ana": {"ana@example.com"}}
	q := Qualifier{
		Expand: func(name string) ([]string, bool) {
			xs, ok := aliases[strings.ToLower(name)]
			return xs, ok
		},
		IsLocal: testIsLocal,
	}
	tests := []struct {
		args []string
		want []string
		err  string
	}{
		{args: []string{"root"}, want: []string{"ops@example.com", "Admin@example.com"}},
		{args: []string{"root, ana@host", "admin@EXAMPLE.com"}, want: []string{"ops@example.com", "Admin@example.com", "ana@example.com"}},
		{args: []string{`"Doe, J" <j@example.org>`, "j@example.org"}, want: []string{"j@example.org"}},
		{args: []string{"bob@host"}, want: []string{"bob@host"}},
		{args: []string{"bob"}, err: `local recipient "bob" matches no alias and no local_domain is set`},
		{args: []string{"a@"}, err: `invalid recipient "a@"`},
		{args: []string{"team: a@example.org, ana;"}, want: []string{"a@example.org", "ana@example.com"}},
	}
	for _, tt := range tests {
		got, err := q.Recipients(tt.args)
		if tt.err != "" {
			var de *DataError
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &de) {
				t.Errorf("Recipients(%q) error = %v, want a DataError with %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Recipients(%q) = %q, %v; want %q", tt.args, got, err, tt.want)
		}
	}
}
