package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestOneLine(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"  trimmed\n", "trimmed"},
		{"554 5.7.1 rejected\r\n  see https://x.test/", "554 5.7.1 rejected see https://x.test/"},
		{"a\tb  c", "a b c"},
		{"multi\nline\n\nerror", "multi line error"},
		{"esc\x1b[31mred\x00nul\x7fdel", "esc [31mred nul del"},
		{"nbsp\u00a0and\u2028sep", "nbsp and sep"},
		{"caf\xe9", "caf\uFFFD"},
		{"über straße", "über straße"},
		{"\r\n\t ", ""},
	} {
		if got := OneLine(tt.in); got != tt.want {
			t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJoinLines(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"one", "one"},
		{"gpg: decryption failed\nsecond\n", "gpg: decryption failed; second"},
		{"a\n\n  b\tc\r\n", "a; b c"},
		{"  lead\n  \n trail  ", "lead; trail"},
		{"no\rfeed", "no feed"}, // a lone CR is no line break
		{"x \r\n y", "x; y"},
	} {
		if got := JoinLines(tt.in, "; "); got != tt.want {
			t.Errorf("JoinLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("a", 299) + "é" // é is 2 bytes: byte 300 is inside it
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 10, ""},
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven cha..."},
		{long, 300, strings.Repeat("a", 299) + "..."},
		{long, 301, long},
		{"日本語", 4, "日..."},
		{"日本語", 0, "..."},
	} {
		got := Truncate(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, not valid UTF-8", tt.in, tt.n, got)
		}
	}
}

// FuzzOneLine checks that OneLine's result is one line of valid UTF-8
// with no control characters and no doubled or outer spaces.
func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"a\r\nb", " x\t\x1by ", "caf\xe9", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := OneLine(s)
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n\t\x00\x1b") ||
			strings.Contains(got, "  ") || strings.TrimSpace(got) != got {
			t.Errorf("OneLine(%q) = %q", s, got)
		}
		if OneLine(got) != got {
			t.Errorf("OneLine is not idempotent on %q: %q", s, got)
		}
	})
}
