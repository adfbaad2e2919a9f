package cmd

import (
	"slices"
	"testing"

	"mailout/message"
	"mailout/profiles"
)

func TestShortHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web1.example.com", "web1"},
		{"web1", "web1"},
		{"", ""},
		{"localhost.localdomain", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := shortHost(tt.in); got != tt.want {
				t.Errorf("shortHost(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSecretVars(t *testing.T) {
	tests := []struct {
		name string
		cfg  *profiles.Config
		want []string
	}{
		{"no config", nil, []string{"MAILOUT_PASSWORD"}},
		{"no profiles", &profiles.Config{}, []string{"MAILOUT_PASSWORD"}},
		{"password_env of every profile", &profiles.Config{Profiles: map[string]*profiles.Profile{
			"a": {Name: "a", PasswordEnv: "A_PW"},
			"b": {Name: "b", PasswordCommand: "pass b"},
			"c": {Name: "c", PasswordEnv: "C_PW"},
		}}, []string{"A_PW", "C_PW", "MAILOUT_PASSWORD"}},
		{"oauth_client_secret_env", &profiles.Config{Profiles: map[string]*profiles.Profile{
			"m": {Name: "m", OAuth: "microsoft", OAuthClientSecretEnv: "APP_SECRET"},
		}}, []string{"APP_SECRET", "MAILOUT_PASSWORD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := secretVars(tt.cfg)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("secretVars() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHasHeader(t *testing.T) {
	fields := []message.Field{{Name: "X-Job", Value: "a"}, {Name: "auto-submitted", Value: "no"}}
	tests := []struct {
		name string
		want bool
	}{
		{"Auto-Submitted", true},
		{"X-JOB", true},
		{"Subject", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasHeader(fields, tt.name); got != tt.want {
				t.Errorf("hasHeader(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}
