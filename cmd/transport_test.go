package cmd

import (
	"testing"

	"mailout/delivery"
	"mailout/profiles"
	"mailout/spool"
)

// TestServerOptionsBadAddress checks that a --server that does not parse
// (see delivery.SplitHostPort) is a usage error naming the flag.
func TestServerOptionsBadAddress(t *testing.T) {
	r := &runner{env: &Env{Getenv: func(string) string { return "" }}}
	for in, want := range map[string]string{
		"::1":       `--server "::1": address ::1: too many colons in address`,
		"[::1":      `--server "[::1": address [::1: missing ']' in address`,
		"host:0":    `--server "host:0": bad port`,
		"host:smtp": `--server "host:smtp": bad port`,
		"host:":     `--server "host:": bad port`,
	} {
		_, err := r.serverOptions(spool.Route{Server: in, TLS: string(delivery.TLSStartTLS)})
		if err == nil || err.Error() != want || exitCode(err) != exitUsage {
			t.Errorf("serverOptions(%q) error = %v (exit %d), want %q (exit %d)", in, err, exitCode(err), want, exitUsage)
		}
	}
	o, err := r.serverOptions(spool.Route{Server: "[::1]", TLS: string(delivery.TLSImplicit)})
	if err != nil || o.Host != "::1" || o.Port != 465 {
		t.Errorf("serverOptions([::1], tls) = %s:%d, %v; want ::1:465", o.Host, o.Port, err)
	}
}

func TestRouteFor(t *testing.T) {
	work := &profiles.Profile{Name: "work", Transport: "smtp"}
	direct := &profiles.Profile{Name: "direct", Transport: "mx"}
	for _, tt := range []struct {
		name string
		p    *profiles.Profile
		del  deliveryOptions
		want spool.Route
	}{
		{"relay profile", work, deliveryOptions{}, spool.Route{Transport: "smtp", Profile: "work"}},
		{"mx profile", direct, deliveryOptions{}, spool.Route{Transport: "mx", Profile: "direct"}},
		// The case a spool used to get wrong: --mx through a relay profile.
		{"--mx through a relay profile", work, deliveryOptions{mx: true}, spool.Route{Transport: "mx", Profile: "work"}},
		{"--mx alone", nil, deliveryOptions{mx: true}, spool.Route{Transport: "mx"}},
		{"--server", nil, deliveryOptions{server: "127.0.0.1:2525"}, spool.Route{Transport: "smtp", Server: "127.0.0.1:2525", TLS: "starttls"}},
		{"--server --tls --user", nil, deliveryOptions{server: "h", tls: "tls", user: "me"}, spool.Route{Transport: "smtp", Server: "h", TLS: "tls", User: "me"}},
		{"nothing", nil, deliveryOptions{}, spool.Route{}},
	} {
		if got := routeFor(tt.p, tt.del); got != tt.want {
			t.Errorf("%s: routeFor = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
