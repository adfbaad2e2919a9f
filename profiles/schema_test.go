package profiles

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// specSection is SPEC.md's "Configuration" section up to "Profile choice",
// copied verbatim (the tests cannot reach the contract outside the module).
func specSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/spec-configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	tomlAssign = regexp.MustCompile(`^([a-z_]+)\s*=\s*([^#]*?)\s*(?:#\s*(.*))?$`)
	tomlTable  = regexp.MustCompile(`^\[([a-z_]+)(?:\.[a-z0-9_]+)?\]`)
	// pipeValue is a value next to a "|" in a comment, such as "mx" in
	// "smtp (default) | mx | graph".
	pipeValue = regexp.MustCompile(`([a-z0-9_-]+)(?:\s*\([^)]*\))?\s*\|\s*([a-z0-9_-]+)`)
)

// specKeys reads the TOML examples of the section: each assigned key with
// the table it is in ("" top level, "aliases", "defaults", "profiles"),
// and the values its comment lists with "|" (continuation comment lines
// count for the key above).
func specKeys(t *testing.T, text string) (tables map[string]string, values map[string][]string) {
	t.Helper()
	tables, values = map[string]string{}, map[string][]string{}
	inBlock, table, last := false, "", ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock, table, last = strings.HasPrefix(line, "```toml"), "", ""
			continue
		case !inBlock:
			continue
		}
		comment := ""
		if m := tomlTable.FindStringSubmatch(line); m != nil {
			table, last = m[1], ""
			tables[m[1]] = ""
			continue
		} else if m := tomlAssign.FindStringSubmatch(line); m != nil {
			last = m[1]
			if table != "aliases" { // alias names are not keys
				tables[m[1]] = table
			}
			comment = m[3]
		} else if c, ok := strings.CutPrefix(strings.TrimSpace(line), "#"); ok && strings.HasPrefix(line, " ") {
			comment = c // a continuation of the comment above
		}
		if last == "" {
			continue
		}
		// A "|" at the start of a continuation line follows the value
		// ending the line above.
		comment = strings.TrimSpace(comment)
		if rest, ok := strings.CutPrefix(comment, "|"); ok && len(values[last]) > 0 {
			comment = values[last][len(values[last])-1] + " |" + rest
		}
		for {
			m := pipeValue.FindStringSubmatchIndex(comment)
			if m == nil {
				break
			}
			for _, v := range []string{comment[m[2]:m[3]], comment[m[4]:m[5]]} {
				if !slices.Contains(values[last], v) {
					values[last] = append(values[last], v)
				}
			}
			comment = comment[m[4]:] // the right value may start the next pair
		}
	}
	return tables, values
}

// TestSchemaMatchesSpec: every key SPEC.md's configuration examples set is
// in Schema, at the right level, with the values its comment lists; and
// every key and value of Schema is named in that section.
func TestSchemaMatchesSpec(t *testing.T) {
	text := specSection(t)
	tables, values := specKeys(t, text)
	if len(tables) < 30 {
		t.Fatalf("found only %d keys in the SPEC excerpt: %v", len(tables), tables)
	}
	for name, table := range tables {
		k, ok := Lookup(name)
		switch {
		case !ok:
			t.Errorf("SPEC key %q is not in Schema", name)
		case k.Profile != (table == "defaults" || table == "profiles"):
			t.Errorf("SPEC key %q is in [%s]; Schema says profile key %v", name, table, k.Profile)
		}
		for _, v := range values[name] {
			if !slices.Contains(k.Values, v) {
				t.Errorf("SPEC lists %s = %q; Schema allows %q", name, v, k.Values)
			}
		}
	}
	words := map[string]bool{}
	for _, w := range regexp.MustCompile(`[a-z0-9_-]+`).FindAllString(text, -1) {
		words[w] = true
	}
	for _, k := range Schema {
		if _, ok := tables[k.Name]; !ok && !strings.Contains(text, "`"+k.Name+"`") && !strings.Contains(text, "{"+k.Name+"}") &&
			!regexp.MustCompile(`#.*\b`+k.Name+`\b`).MatchString(text) {
			t.Errorf("Schema key %q is not named in SPEC.md's configuration section", k.Name)
		}
		for _, v := range k.Values {
			if v != "" && !words[v] {
				t.Errorf("Schema value %s = %q is not in SPEC.md's configuration section", k.Name, v)
			}
		}
	}
}

// TestSchemaComplete: every key has a doc line and a way to be decoded and
// stored, and the profile keys' fields are distinct.
func TestSchemaComplete(t *testing.T) {
	seen := map[string]bool{}
	fields := map[any]string{}
	p, c := &Profile{}, &Config{}
	for _, k := range Schema {
		if seen[k.Name] {
			t.Errorf("key %q twice", k.Name)
		}
		seen[k.Name] = true
		if k.Doc == "" || strings.HasSuffix(k.Doc, ".") {
			t.Errorf("key %q: doc %q", k.Name, k.Doc)
		}
		switch {
		case k.Type == TypeTable:
			continue
		case k.parse == nil && k.Values == nil:
			t.Errorf("key %q has no parse function and no values", k.Name)
		case k.field == nil && k.top == nil:
			t.Errorf("key %q has no field", k.Name)
		}
		var ptr any
		if k.Profile {
			ptr = k.field(p)
		} else {
			ptr = k.top(c)
		}
		if other, dup := fields[ptr]; dup {
			t.Errorf("keys %q and %q share a field", k.Name, other)
		}
		fields[ptr] = k.Name
		for _, tr := range k.Transports {
			if !slices.Contains(allTransports, tr) {
				t.Errorf("key %q: unknown transport %q", k.Name, tr)
			}
		}
	}
}
