package mtasts

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	p, err := Parse([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET.\r\nmax_age: 604800\r\nextension: ignored\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != Enforce || p.MaxAge != 604800*time.Second || strings.Join(p.MX, ",") != "mail.example.com,*.example.net" {
		t.Errorf("got %+v", p)
	}
	p, err = Parse([]byte("version: STSv1\nmode: none\nmax_age: 99999999999\n"))
	if err == nil {
		t.Errorf("11-digit max_age parsed: %+v", p)
	}
	p, err = Parse([]byte("version: STSv1\nmode: none\nmax_age: 9999999999\n"))
	if err != nil || p.MaxAge != MaxAgeLimit || p.Mode != None {
		t.Errorf("mode none: %+v, %v", p, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"mode: enforce\nmx: a.test\nmax_age: 1\n",                        // no version
		"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",        // wrong version
		"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",         // bad mode
		"version: STSv1\nmode: enforce\nmax_age: 1\n",                    // no mx
		"version: STSv1\nmode: enforce\nmx: a.test\n",                    // no max_age
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",       // negative
		"version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n",       // bad host
		"version: STSv1\nmode: enforce\nmx: *.*.a.test\nmax_age: 1\n",    // double wildcard
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\ngarbage", // no colon
	} {
		if p, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, p)
		}
	}
}

func TestMatch(t *testing.T) {
	p := &Policy{MX: []string{"mx.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mx.example.com":    true,
		"MX.Example.COM.":   true,
		"mx2.example.com":   false,
		"a.example.net":     true,
		"a.b.example.net":   false, // the wildcard is one label
		"example.net":       false,
		".example.net":      false,
		"xexample.net":      false,
		"a.example.net.org": false,
	} {
		if got := p.Match(host); got != want {
			t.Errorf("Match(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseRecord(t *testing.T) {
	for in, want := range map[string]string{
		"v=STSv1; id=20160831085700Z;": "20160831085700Z",
		"v=STSv1;id=abc":               "abc",
		"v=STSv1 ; id=abc ; ext=1":     "abc",
	} {
		if !IsRecord(in) {
			t.Errorf("IsRecord(%q) = false", in)
		}
		if got, err := ParseRecord(in); err != nil || got != want {
			t.Errorf("ParseRecord(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"v=STSv1;", "v=STSv1; id=", "v=STSv1; id=a-b", "v=spf1 -all", "v=STSv1; nokey"} {
		if id, err := ParseRecord(in); err == nil {
			t.Errorf("ParseRecord(%q) = %q, want an error", in, id)
		}
	}
	if IsRecord("v=STSv10; id=1") || IsRecord("v=spf1") {
		t.Error("IsRecord accepts a non-STS record")
	}
}

// FuzzParse checks that Parse never panics and that what it accepts is
// self-consistent: a valid mode, patterns that match what they name.
func FuzzParse(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Add([]byte("version:STSv1\nmode:testing\nmx:a\nmax_age:1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		if p.Mode != Enforce && p.Mode != Testing && p.Mode != None {
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > MaxAgeLimit {
			t.Fatalf("max_age %v", p.MaxAge)
		}
		for _, pat := range p.MX {
			host := strings.Replace(pat, "*", "x", 1)
			if !p.Match(host) {
				t.Fatalf("pattern %q does not match %q", pat, host)
			}
		}
	})
}

// FuzzParseRecord checks ParseRecord never panics and returns ids of the
// RFC's alphabet.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseRecord(s)
		if err == nil && (id == "" || len(id) > 32 || !allAlnum(id)) {
			t.Fatalf("id %q", id)
		}
	})
}
