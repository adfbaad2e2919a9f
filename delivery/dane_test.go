package delivery

import (
	"strings"
	"testing"
)

func TestLoopbackNameserver(t *testing.T) {
	for _, tt := range []struct {
		name, conf, want string
	}{
		{"local unbound first", "# local unbound\nnameserver 127.0.0.1\nnameserver 10.0.0.1\n", "127.0.0.1:53"},
		{"IPv6 loopback", "search example.test\nnameserver ::1\n", "[::1]:53"},
		{"other loopback address", "nameserver 127.0.0.53\n", "127.0.0.53:53"},
		{"first is remote", "nameserver 10.0.0.1\nnameserver 127.0.0.1\n", ""},
		{"no nameserver", "options edns0\n", ""},
		{"nameserver without address", "nameserver\nnameserver 127.0.0.1\n", "127.0.0.1:53"},
		{"not an address", "nameserver localhost\n", ""},
		{"indented, with a tab", "  nameserver\t::1\n", "[::1]:53"},
		{"empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := LoopbackNameserver(strings.NewReader(tt.conf)); got != tt.want {
				t.Errorf("LoopbackNameserver(%q) = %q, want %q", tt.conf, got, tt.want)
			}
		})
	}
}
