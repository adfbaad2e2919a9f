package delivery

import (
	"errors"
	"net"
	"testing"
)

func TestDefaultPort(t *testing.T) {
	for mode, want := range map[TLSMode]int{
		TLSStartTLS: 587, TLSOpportunistic: 587, TLSImplicit: 465, TLSNone: 25, "": 587,
	} {
		if got := DefaultPort(mode); got != want {
			t.Errorf("DefaultPort(%q) = %d, want %d", mode, got, want)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      string
		mode    TLSMode
		host    string
		port    int
		wantErr string // the whole message; "" for success
	}{
		{"bare host, starttls", "smtp.example.test", TLSStartTLS, "smtp.example.test", 587, ""},
		{"bare host, tls", "smtp.example.test", TLSImplicit, "smtp.example.test", 465, ""},
		{"bare host, opportunistic", "smtp.example.test", TLSOpportunistic, "smtp.example.test", 587, ""},
		{"bare IPv4, none", "127.0.0.1", TLSNone, "127.0.0.1", 25, ""},
		{"IPv4 with port", "127.0.0.1:2525", TLSNone, "127.0.0.1", 2525, ""},
		{"highest port", "h:65535", TLSNone, "h", 65535, ""},
		{"bracketed IPv6", "[::1]", TLSStartTLS, "::1", 587, ""},
		{"bracketed IPv6 with port", "[::1]:2525", TLSStartTLS, "::1", 2525, ""},
		{"bracketed full IPv6 with port", "[2001:db8::1]:25", TLSImplicit, "2001:db8::1", 25, ""},
		{"empty", "", TLSStartTLS, "", 587, ""},
		{"unbracketed IPv6", "::1", TLSStartTLS, "", 0, `"::1": address ::1: too many colons in address`},
		{"unclosed bracket", "[::1", TLSStartTLS, "", 0, `"[::1": address [::1: missing ']' in address`},
		{"port 0", "host:0", TLSStartTLS, "", 0, `"host:0": bad port`},
		{"port too big", "host:65536", TLSStartTLS, "", 0, `"host:65536": bad port`},
		{"negative port", "host:-1", TLSStartTLS, "", 0, `"host:-1": bad port`},
		{"service name", "host:smtp", TLSStartTLS, "", 0, `"host:smtp": bad port`},
		{"empty port", "host:", TLSStartTLS, "", 0, `"host:": bad port`},
		{"only a colon", ":", TLSStartTLS, "", 0, `":": bad port`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host, port, err := SplitHostPort(tt.in, tt.mode)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("SplitHostPort(%q, %s) = %q, %d, %v; want error %q", tt.in, tt.mode, host, port, err, tt.wantErr)
				}
				var ae *net.AddrError
				if !errors.Is(err, errBadPort) && !errors.As(err, &ae) {
					t.Errorf("SplitHostPort(%q) error %v wraps neither errBadPort nor *net.AddrError", tt.in, err)
				}
				return
			}
			if err != nil || host != tt.host || port != tt.port {
				t.Errorf("SplitHostPort(%q, %s) = %q, %d, %v; want %q, %d", tt.in, tt.mode, host, port, err, tt.host, tt.port)
			}
		})
	}
}
