package profiles

import (
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	prof := func(name, from string) *Profile { return &Profile{Name: name, From: from} }
	two := map[string]*Profile{
		"work":     prof("work", "Me <me@work.example>"),
		"personal": prof("personal", "me@home.example"),
	}
	tests := []struct {
		name, pick, sender, def string
		profiles                map[string]*Profile
		path                    string
		want                    string
		wantErr                 string
	}{
		{"by name", "personal", "me@work.example", "work", two, "c.toml", "personal", ""},
		{"unknown name", "nope", "", "work", two, "c.toml", "", `c.toml: no profile "nope" (profiles: personal, work)`},
		{"by sender", "", "ME@Work.Example", "personal", two, "c.toml", "work", ""},
		{"by sender with name", "", "Someone <me@home.example>", "work", two, "c.toml", "personal", ""},
		{"by sender in brackets", "", "<me@home.example>", "work", two, "c.toml", "personal", ""},
		{"sender unknown: default", "", "other@example.com", "personal", two, "c.toml", "personal", ""},
		{"no sender: default", "", "", "work", two, "c.toml", "work", ""},
		{"only profile", "", "", "", map[string]*Profile{"solo": prof("solo", "")}, "c.toml", "solo", ""},
		{"none to choose", "", "x@y", "", two, "c.toml", "", "c.toml: several profiles and no default_profile: choose one with -P/--profile or set default_profile (profiles: personal, work)"},
		{"no profiles", "", "", "", map[string]*Profile{}, "c.toml", "", "no profile to send with (the file defines no profiles)"},
		{"no file", "work", "", "", map[string]*Profile{}, "", "", `no profile "work" (no config file found)`},
		{"several match: default wins", "", "same@example.com", "b", map[string]*Profile{
			"a": prof("a", "same@example.com"), "b": prof("b", "same@example.com"), "c": prof("c", "same@example.com")}, "c.toml", "b", ""},
		{"several match: first by name", "", "same@example.com", "x", map[string]*Profile{
			"x": prof("x", "x@example.com"), "b": prof("b", "same@example.com"), "a": prof("a", "same@example.com")}, "c.toml", "a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Path: tt.path, DefaultProfile: tt.def, Profiles: tt.profiles}
			p, err := c.Choose(tt.pick, tt.sender)
			if tt.wantErr != "" {
				if !IsConfigError(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Choose(%q, %q) error = %v, want %q", tt.pick, tt.sender, err, tt.wantErr)
				}
				return
			}
			if err != nil || p.Name != tt.want {
				t.Errorf("Choose(%q, %q) = %v, %v; want %s", tt.pick, tt.sender, p, err, tt.want)
			}
		})
	}
}

// TestChooseLoaded goes through Load.
func TestChooseLoaded(t *testing.T) {
	c, _, err := loadText(t, `
default_profile = "b"
[profiles.a]
host = "h"
from = "A Person <A@Example.COM>"
[profiles.b]
host = "h"
`)
	if err != nil {
		t.Fatal(err)
	}
	for sender, want := range map[string]string{"a@example.com": "a", "root": "b", "": "b"} {
		p, err := c.Choose("", sender)
		if err != nil || p.Name != want {
			t.Errorf("Choose(%q) = %v, %v; want %s", sender, p, err, want)
		}
	}
}
