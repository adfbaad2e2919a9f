package profiles

import (
	"os"
	"path/filepath"
	"testing"
)

func TestIsSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	src := "[defaults]\ntimeout = \"20s\"\n\n[profiles.a]\nhost = \"smtp.example.com\"\nport = 587\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Profiles["a"]
	for key, want := range map[string]bool{"port": true, "host": true, "timeout": true, "tls": false, "auth": false} {
		if got := p.IsSet(key); got != want {
			t.Errorf("IsSet(%q) = %v, want %v", key, got, want)
		}
	}
}
