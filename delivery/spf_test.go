package delivery

import "testing"

func TestSPFMechanism(t *testing.T) {
	for k, want := range map[TransportKind]string{
		TransportMX:        "a mx",
		TransportGraph:     "include:spf.protection.outlook.com",
		TransportGmail:     "include:_spf.google.com",
		TransportSES:       "include:amazonses.com",
		TransportMailgun:   "include:mailgun.org",
		TransportSparkPost: "include:sparkpostmail.com",
		TransportSMTP:      "",
		"":                 "",
		"carrier-pigeon":   "",
	} {
		if got := SPFMechanism(k); got != want {
			t.Errorf("SPFMechanism(%q) = %q, want %q", k, got, want)
		}
	}
	for name := range providers {
		if SPFMechanism(TransportKind(name)) == "" {
			t.Errorf("API provider %s has no SPF include", name)
		}
	}
}

func TestSPFNames(t *testing.T) {
	for _, tt := range []struct {
		rec, mech string
		want      bool
	}{
		{"v=spf1 include:amazonses.com ~all", "include:amazonses.com", true},
		{"v=spf1 ip4:192.0.2.1 include:_spf.google.com include:mailgun.org -all", "include:mailgun.org", true},
		{"v=spf1 ip4:192.0.2.1 -all", "include:amazonses.com", false},
		{"v=spf1 include:amazonses.com.evil.test -all", "include:amazonses.com", false},
		{"v=spf1 redirect=amazonses.com", "include:amazonses.com", false},
		{"v=spf1 -all", "a mx", true}, // not checkable: counted as named
		{"", "include:mailgun.org", false},
		{"v=spf1 -all", "", true},
	} {
		if got := SPFNames(tt.rec, tt.mech); got != tt.want {
			t.Errorf("SPFNames(%q, %q) = %v, want %v", tt.rec, tt.mech, got, tt.want)
		}
	}
}
