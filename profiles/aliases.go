package profiles

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// readAliasesFile parses a file in the classic /etc/aliases format:
//
//	# comment
//	name: target, target
//	    continued target    (a line starting with a blank continues the entry)
//	"quoted name": "quoted target"
//
// Names are case-insensitive. Pipes ("|cmd"), files ("/path") and
// ":include:" targets are skipped with a warning; an entry left with no
// target is dropped. A name defined twice keeps its first entry (as Postfix
// does), with a warning. A line without a colon is a [*ConfigError].
func readAliasesFile(path string) (map[string][]string, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()

	aliases := map[string][]string{}
	var warnings []string
	var entry strings.Builder
	entryLine := 0
	finish := func() error {
		defer entry.Reset()
		if entryLine == 0 {
			return nil
		}
		text := entry.String()
		name, rest, ok := cutName(text)
		if !ok {
			return &ConfigError{File: path, Line: entryLine, Msg: fmt.Sprintf("expected \"name: address, ...\", got %q", strings.TrimSpace(text))}
		}
		key := strings.ToLower(name)
		if _, dup := aliases[key]; dup {
			warnings = append(warnings, fmt.Sprintf("%s:%d: alias %q is defined again; the first definition is used", path, entryLine, name))
			return nil
		}
		var targets []string
		for _, t := range splitList(rest) {
			if kind := unsupportedTarget(t); kind != "" {
				warnings = append(warnings, fmt.Sprintf("%s:%d: alias %q: %s target %q ignored (mailout delivers to addresses only)", path, entryLine, name, kind, t))
				continue
			}
			targets = append(targets, t)
		}
		if len(targets) > 0 {
			aliases[key] = targets
		}
		return nil
	}

	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case line[0] == ' ' || line[0] == '\t':
			if entryLine == 0 {
				return nil, nil, &ConfigError{File: path, Line: n, Msg: "continuation line without an alias before it"}
			}
			entry.WriteString(" ")
			entry.WriteString(trimmed)
		default:
			if err := finish(); err != nil {
				return nil, nil, err
			}
			entryLine = n
			entry.WriteString(line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if err := finish(); err != nil {
		return nil, nil, err
	}
	return aliases, warnings, nil
}

// cutName splits `name: rest` or `"name": rest`.
func cutName(s string) (name, rest string, ok bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `"`) {
		end := strings.Index(s[1:], `"`)
		if end < 0 {
			return "", "", false
		}
		name, s = s[1:1+end], strings.TrimSpace(s[2+end:])
		if !strings.HasPrefix(s, ":") {
			return "", "", false
		}
		return name, s[1:], name != ""
	}
	name, rest, ok = strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return "", "", false
	}
	return name, rest, true
}

// unsupportedTarget names the kind of a pipe, file or include target, or
// returns "" for an address or a local name.
func unsupportedTarget(t string) string {
	switch {
	case strings.HasPrefix(t, "|"):
		return "pipe"
	case strings.HasPrefix(strings.ToLower(t), ":include:"):
		return ":include:"
	case strings.HasPrefix(t, "/"):
		return "file"
	}
	return ""
}

// Expand turns a recipient without '@' into addresses. In order:
//
//  1. an alias of that name (names are case-insensitive), expanded
//     recursively: a target that is itself an alias is expanded in turn,
//     and a name met again inside its own expansion stands for its own
//     mailbox, name@local_domain (as "bob: bob, bob@home" means in
//     /etc/aliases), so loops end;
//  2. the "default" alias;
//  3. name@local_domain.
//
// Targets without '@' inside an expansion follow the same rules. The result
// has no duplicates (compared case-insensitively). A recipient with '@' is
// returned as it is. ok is false when no rule applies, and for a name
// holding blanks or quotes, which is neither an alias nor a local part to
// qualify. A nil Config expands nothing.
func (c *Config) Expand(name string) (addrs []string, ok bool) {
	name = strings.TrimSpace(name)
	if c == nil || name == "" || strings.ContainsAny(name, " \t\"") {
		return nil, false
	}
	if strings.Contains(name, "@") {
		return []string{name}, true
	}
	e := expansion{c: c, active: map[string]bool{}, seen: map[string]bool{}}
	e.expand(name)
	return e.out, len(e.out) > 0
}

type expansion struct {
	c      *Config
	active map[string]bool // aliases being expanded on the current path
	seen   map[string]bool // lower-cased addresses already in out
	out    []string
}

func (e *expansion) add(addr string) {
	if k := strings.ToLower(addr); !e.seen[k] {
		e.seen[k] = true
		e.out = append(e.out, addr)
	}
}

func (e *expansion) alias(key string) bool {
	targets, ok := e.c.Aliases[key]
	if !ok || e.active[key] {
		return false
	}
	e.active[key] = true
	for _, t := range targets {
		e.expand(t)
	}
	delete(e.active, key)
	return true
}

func (e *expansion) expand(name string) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return
	case strings.Contains(name, "@"):
		e.add(name)
		return
	}
	key := strings.ToLower(name)
	if e.active[key] { // a loop: the name's own mailbox
		if e.c.LocalDomain != "" {
			e.add(name + "@" + e.c.LocalDomain)
		}
		return
	}
	if e.alias(key) || e.alias("default") {
		return
	}
	if e.c.LocalDomain != "" {
		e.add(name + "@" + e.c.LocalDomain)
	}
}
