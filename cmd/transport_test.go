package cmd

import (
	"testing"

	"mailout/delivery"
	"mailout/profiles"
	"mailout/spool"
)

func TestSplitHostPort(t *testing.T) {
	for _, tt := range []struct {
		in   string
		mode delivery.TLSMode
		host string
		port int
		bad  bool
	}{
		{"smtp.example.test", delivery.TLSStartTLS, "smtp.example.test", 587, false},
		{"smtp.example.test", delivery.TLSImplicit, "smtp.example.test", 465, false},
		{"127.0.0.1", delivery.TLSNone, "127.0.0.1", 25, false},
		{"127.0.0.1:2525", delivery.TLSNone, "127.0.0.1", 2525, false},
		{"[::1]", delivery.TLSStartTLS, "::1", 587, false},
		{"[::1]:2525", delivery.TLSStartTLS, "::1", 2525, false},
		{"::1", delivery.TLSStartTLS, "", 0, true},
		{"[::1", delivery.TLSStartTLS, "", 0, true},
		{"host:0", delivery.TLSStartTLS, "", 0, true},
		{"host:smtp", delivery.TLSStartTLS, "", 0, true},
		{"host:", delivery.TLSStartTLS, "", 0, true},
	} {
		host, port, err := splitHostPort(tt.in, tt.mode)
		if tt.bad {
			if err == nil || exitCode(err) != exitUsage {
				t.Errorf("splitHostPort(%q) = %q, %d, %v; want a usage error", tt.in, host, port, err)
			}
			continue
		}
		if err != nil || host != tt.host || port != tt.port {
			t.Errorf("splitHostPort(%q, %s) = %q, %d, %v; want %q, %d", tt.in, tt.mode, host, port, err, tt.host, tt.port)
		}
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
