package profiles

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestReadAliasesFile(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "aliases", `# /etc/aliases
postmaster: root
MAILER-DAEMON:	postmaster
root: ops@example.com,
	admin@example.com
  # a comment between continuation lines

	, "Quoted Person <qp@example.com>"
"weird name": x@example.com
logs: |/usr/bin/logger, /var/log/mail.archive, :include:/etc/mail/list, keep@example.com
onlypipe: "|/bin/cat"
Postmaster: someone-else
crlf: c@example.com`+"\r\n", 0o644)
	got, warnings, err := readAliasesFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"postmaster":    {"root"},
		"mailer-daemon": {"postmaster"},
		"root":          {"ops@example.com", "admin@example.com", "Quoted Person <qp@example.com>"},
		"weird name":    {"x@example.com"},
		"logs":          {"keep@example.com"},
		"crlf":          {"c@example.com"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("aliases = %q\nwant %q", got, want)
	}
	wantWarnings := []string{
		fmt.Sprintf(`%s:10: alias "logs": pipe target "|/usr/bin/logger" ignored`, p),
		fmt.Sprintf(`%s:10: alias "logs": file target "/var/log/mail.archive" ignored`, p),
		fmt.Sprintf(`%s:10: alias "logs": :include: target ":include:/etc/mail/list" ignored`, p),
		fmt.Sprintf(`%s:11: alias "onlypipe": pipe target "|/bin/cat" ignored`, p),
		fmt.Sprintf(`%s:12: alias "Postmaster" is defined again; the first definition is used`, p),
	}
	if len(warnings) != len(wantWarnings) {
		t.Fatalf("warnings = %q", warnings)
	}
	for i, w := range wantWarnings {
		if !strings.HasPrefix(warnings[i], w) {
			t.Errorf("warning %d = %q, want prefix %q", i, warnings[i], w)
		}
	}
}

func TestReadAliasesFileErrors(t *testing.T) {
	tests := []struct {
		text, msg string
		line      int
	}{
		{"ok: a@b\njust words\n", `expected "name: address, ...", got "just words"`, 2},
		{"  indented: first\n", "continuation line without an alias before it", 1},
		{"\"unterminated: x\n", "expected", 1},
		{": nobody\n", "expected", 1},
	}
	for _, tt := range tests {
		p := writeFile(t, t.TempDir(), "aliases", tt.text, 0o644)
		_, _, err := readAliasesFile(p)
		ce, ok := err.(*ConfigError)
		if !ok || ce.File != p || ce.Line != tt.line || !strings.Contains(ce.Msg, tt.msg) {
			t.Errorf("readAliasesFile(%q) = %v, want %s:%d: %s", tt.text, err, p, tt.line, tt.msg)
		}
	}
}

// TestAliasesTOMLWins: [aliases] replaces a same-named aliases_file entry
// (case-insensitively) and warnings reach Config.Warnings.
func TestAliasesTOMLWins(t *testing.T) {
	dir := t.TempDir()
	af := writeFile(t, dir, "aliases", "root: file@example.com\nbob: bob@file.example\nx: |/bin/true\n", 0o644)
	p := writeFile(t, dir, "config.toml", fmt.Sprintf(`
aliases_file = %q
[aliases]
ROOT = "toml@example.com, second@example.com"
team = ["a@example.com", "b@example.com, c@example.com"]
`, af), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"root": {"toml@example.com", "second@example.com"},
		"bob":  {"bob@file.example"},
		"team": {"a@example.com", "b@example.com", "c@example.com"},
	}
	if !reflect.DeepEqual(c.Aliases, want) {
		t.Errorf("Aliases = %q, want %q", c.Aliases, want)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], `pipe target "|/bin/true" ignored`) {
		t.Errorf("Warnings = %q", c.Warnings)
	}
}

func TestExpand(t *testing.T) {
	base := map[string][]string{
		"root":     {"ops@example.com"},
		"ops-team": {"alice", "bob@example.org", "ALICE"},
		"alice":    {"alice@example.net"},
		"loop1":    {"loop2"},
		"loop2":    {"loop1", "x@example.com"},
		"self":     {"self", "self@elsewhere.example"},
		"chain":    {"unknownuser"},
		"diamond":  {"left", "right"},
		"left":     {"shared"},
		"right":    {"shared"},
		"shared":   {"s@example.com"},
	}
	withDefault := map[string][]string{"default": {"catchall@example.com"}}
	for k, v := range base {
		withDefault[k] = v
	}
	tests := []struct {
		name        string
		aliases     map[string][]string
		localDomain string
		in          string
		want        []string
		ok          bool
	}{
		{"address passes", base, "", "u@example.com", []string{"u@example.com"}, true},
		{"simple alias", base, "", "root", []string{"ops@example.com"}, true},
		{"case-insensitive", base, "", "Root", []string{"ops@example.com"}, true},
		{"recursive, several, no duplicates", base, "", "ops-team", []string{"alice@example.net", "bob@example.org"}, true},
		{"loop without local_domain", base, "", "loop1", []string{"x@example.com"}, true},
		{"loop with local_domain", base, "example.com", "loop1", []string{"loop1@example.com", "x@example.com"}, true},
		{"self reference is own mailbox", base, "example.com", "self", []string{"self@example.com", "self@elsewhere.example"}, true},
		{"diamond", base, "", "diamond", []string{"s@example.com"}, true},
		{"local_domain", base, "example.com", "carol", []string{"carol@example.com"}, true},
		{"target to local_domain", base, "example.com", "chain", []string{"unknownuser@example.com"}, true},
		{"nothing applies", base, "", "carol", nil, false},
		{"unresolvable target", base, "", "chain", nil, false},
		{"default alias", withDefault, "", "carol", []string{"catchall@example.com"}, true},
		{"default beats local_domain", withDefault, "example.com", "carol", []string{"catchall@example.com"}, true},
		{"alias beats default", withDefault, "example.com", "root", []string{"ops@example.com"}, true},
		{"default for nested names", withDefault, "", "chain", []string{"catchall@example.com"}, true},
		{"default pointing to a name", map[string][]string{"default": {"ops"}}, "example.com", "carol", []string{"ops@example.com"}, true},
		{"empty", base, "example.com", " ", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Aliases: tt.aliases, LocalDomain: tt.localDomain}
			got, ok := c.Expand(tt.in)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Expand(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
