package profiles

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"mailout/message"
)

// loader decodes one config file. Checks run in three stages (single values,
// merged profiles, cross references); a stage runs only when the one before
// found nothing, and its earliest error in file order is reported, so an
// error never follows from an earlier one.
type loader struct {
	file  string // path as given, for messages
	dir   string // absolute folder of file, for relative paths
	home  string // for "~/"
	lines keyLines
	errs  []*ConfigError
}

// setting is one validated value and where it was written.
type setting struct {
	val any // string, []string, int, bool or time.Duration
	at  origin
}

// settings are the keys of one profile-like table ([defaults] or a profile).
type settings map[string]setting

func (s settings) has(k string) bool { _, ok := s[k]; return ok }

func (s settings) str(k, def string) string {
	if v, ok := s[k]; ok {
		return v.val.(string)
	}
	return def
}

// keyString is the dotted form of path, quoting pieces that need it.
func keyString(path []string) string { return toml.Key(path).String() }

func (l *loader) errAt(path []string, format string, args ...any) *ConfigError {
	return &ConfigError{File: l.file, Line: l.lines.line(path), Key: keyString(path), Msg: fmt.Sprintf(format, args...)}
}

func (l *loader) fail(path []string, format string, args ...any) {
	l.errs = append(l.errs, l.errAt(path, format, args...))
}

// first returns the earliest recorded error in file order, or nil.
func (l *loader) first() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Line < l.errs[j].Line })
	return l.errs[0]
}

func (l *loader) at(path []string) origin {
	return origin{key: keyString(path), line: l.lines.line(path)}
}

func (l *loader) syntaxError(err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &ConfigError{File: l.file, Msg: err.Error(), Err: err}
	}
	msg := strings.TrimSuffix(pe.Message, ".")
	if r, n := utf8.DecodeRuneInString(msg); n > 0 && len(msg) > n {
		if r2, _ := utf8.DecodeRuneInString(msg[n:]); unicode.IsLower(r2) {
			msg = string(unicode.ToLower(r)) + msg[n:]
		}
	}
	return &ConfigError{File: l.file, Line: pe.Position.Line, Msg: msg, Err: err}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (l *loader) load(c *Config, text string) error {
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return l.syntaxError(err)
	}
	l.lines = indexKeyLines(text)

	// Stage 1: every value on its own.
	var (
		defaults    = settings{}
		tables      = map[string]settings{}
		tomlAliases map[string][]string
	)
	for _, k := range sortedKeys(raw) {
		v, path := raw[k], []string{k}
		switch key, known := Lookup(k); {
		case k == "aliases":
			tomlAliases = l.aliasTable(path, v)
		case k == "defaults":
			if m, ok := l.table(path, v); ok {
				defaults = l.profileTable(path, m)
			}
		case k == "profiles":
			m, ok := l.table(path, v)
			if !ok {
				break
			}
			for _, name := range sortedKeys(m) {
				ppath := []string{k, name}
				if name == "" {
					l.fail(ppath, "a profile needs a name")
					continue
				}
				if pm, ok := l.table(ppath, m[name]); ok {
					tables[name] = l.profileTable(ppath, pm)
				}
			}
		case known && key.top != nil:
			if val, ok := key.parse(l, path, v); ok {
				assign(key.top(c), val)
			}
		default:
			l.unknown(path, keyNames(false))
		}
	}
	if err := l.first(); err != nil {
		return err
	}

	// Stage 2: profiles merged with [defaults].
	for name, own := range tables {
		c.Profiles[name] = l.buildProfile(name, own, defaults)
	}
	if err := l.first(); err != nil {
		return err
	}

	// Stage 3: references between keys and to other files.
	if c.DefaultProfile != "" && c.Profiles[c.DefaultProfile] == nil {
		l.fail([]string{"default_profile"}, "no profile %q%s", c.DefaultProfile, listProfiles(c))
	}
	if err := l.first(); err != nil {
		return err
	}
	if c.AliasesFile != "" {
		aliases, warnings, err := readAliasesFile(c.AliasesFile)
		if err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				return err
			}
			return l.errAt([]string{"aliases_file"}, "cannot read %s: %s", c.AliasesFile, reason(err))
		}
		c.Aliases, c.Warnings = aliases, warnings
	}
	for name, targets := range tomlAliases {
		c.Aliases[name] = targets
	}
	return nil
}

// listProfiles is " (profiles: a, b)", for error messages.
func listProfiles(c *Config) string {
	if len(c.Profiles) == 0 {
		return " (the file defines no profiles)"
	}
	return " (profiles: " + strings.Join(c.Names(), ", ") + ")"
}

func (l *loader) unknown(path []string, known []string) {
	name := path[len(path)-1]
	lower := strings.ToLower(name)
	switch secret := strings.Contains(lower, "pass") || strings.Contains(lower, "secret"); {
	case len(path) > 1 && secret && strings.HasPrefix(lower, "oauth"):
		l.fail(path, "unknown key %q: a client secret never goes in the config file; use oauth_client_secret_command or oauth_client_secret_env", name)
		return
	case len(path) > 1 && secret:
		l.fail(path, "unknown key %q: a password never goes in the config file; use password_command, password_env or the keyring", name)
		return
	}
	if s := suggest(name, known); s != "" {
		l.fail(path, "unknown key %q (did you mean %q?)", name, s)
		return
	}
	l.fail(path, "unknown key %q", name)
}

// suggest returns the known name closest to name, if it is close.
func suggest(name string, known []string) string {
	best, bestD := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(name), k)
		if d <= max(2, len(k)/3) && (bestD < 0 || d < bestD) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// typeName names the TOML type of a decoded value.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	default:
		return "a date or time"
	}
}

func (l *loader) wrongType(path []string, want string, v any) {
	l.fail(path, "must be %s, not %s", want, typeName(v))
}

func (l *loader) str(path []string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		l.wrongType(path, "a string", v)
	}
	return s, ok
}

func (l *loader) nonEmpty(path []string, v any) (string, bool) {
	s, ok := l.str(path, v)
	if ok && s == "" {
		l.fail(path, "must not be empty")
		return "", false
	}
	return s, ok
}

// word is a non-empty string without blanks or control characters.
func (l *loader) word(path []string, v any) (string, bool) {
	s, ok := l.nonEmpty(path, v)
	if ok && strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		l.fail(path, "%q must not contain blanks or control characters", s)
		return "", false
	}
	return s, ok
}

func (l *loader) integer(path []string, v any) (int64, bool) {
	n, ok := v.(int64)
	if !ok {
		l.wrongType(path, "an integer", v)
	}
	return n, ok
}

func (l *loader) boolean(path []string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		l.wrongType(path, "true or false", v)
	}
	return b, ok
}

func (l *loader) table(path []string, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		l.wrongType(path, "a table", v)
	}
	return m, ok
}

// duration is a string such as "30s"; a bare number is refused, since
// BurntSushi/toml would read it as nanoseconds.
func (l *loader) duration(path []string, v any, atLeast time.Duration) (time.Duration, bool) {
	name := path[len(path)-1]
	if n, ok := v.(int64); ok {
		l.fail(path, "must be a duration string such as \"%ds\", not the bare number %d", n, n)
		return 0, false
	}
	s, ok := v.(string)
	if !ok {
		l.wrongType(path, "a duration string such as \"30s\"", v)
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		l.fail(path, "invalid duration %q (use a number with a unit: \"30s\", \"5m\", \"120h\")", s)
		return 0, false
	}
	if d < atLeast {
		l.fail(path, "%s %s is too short (at least %s)", name, s, atLeast)
		return 0, false
	}
	return d, true
}

// path is a non-empty file name, made absolute.
func (l *loader) path(path []string, v any) (string, bool) {
	s, ok := l.nonEmpty(path, v)
	if !ok {
		return "", false
	}
	return l.resolve(s), true
}

// aliasTable validates [aliases]: name = "a, b" or name = ["a", "b"].
func (l *loader) aliasTable(path []string, v any) map[string][]string {
	m, ok := l.table(path, v)
	if !ok {
		return nil
	}
	out := map[string][]string{}
	for _, name := range sortedKeys(m) {
		apath := append(path[:len(path):len(path)], name)
		key := strings.ToLower(name)
		if _, dup := out[key]; dup {
			l.fail(apath, "alias %q is defined twice (names are case-insensitive)", name)
			continue
		}
		if name == "" || strings.ContainsAny(name, "@ \t") {
			l.fail(apath, "alias name %q must be a local name without @ or blanks", name)
			continue
		}
		var items []string
		switch tv := m[name].(type) {
		case string:
			items = splitList(tv)
		case []any:
			for _, e := range tv {
				s, ok := e.(string)
				if !ok {
					l.fail(apath, "must be a list of strings, not a list with %s", typeName(e))
					break
				}
				items = append(items, splitList(s)...)
			}
		default:
			l.wrongType(apath, "a string or a list of strings", tv)
			continue
		}
		if len(items) == 0 {
			l.fail(apath, "alias %q has no targets", name)
			continue
		}
		for _, it := range items {
			if kind := unsupportedTarget(it); kind != "" {
				l.fail(apath, "%s target %q is not supported (mailout delivers to addresses only)", kind, it)
			}
		}
		out[key] = items
	}
	return out
}

// splitList splits a comma-separated list, honouring double quotes, and
// drops empty items and the quotes.
func splitList(s string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	flush := func() {
		if t := strings.TrimSpace(b.String()); t != "" {
			out = append(out, t)
		}
		b.Reset()
	}
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			flush()
		default:
			b.WriteRune(r)
		}
	}
	flush()
	return out
}

// profileTable validates the keys of [defaults] or [profiles.NAME].
func (l *loader) profileTable(path []string, m map[string]any) settings {
	out := settings{}
	for _, k := range sortedKeys(m) {
		kpath := append(path[:len(path):len(path)], k)
		val, ok := l.profileValue(kpath, k, m[k])
		if ok {
			out[k] = setting{val: val, at: l.at(kpath)}
		}
	}
	l.oneOf(path, out, "password_command", "password_env")
	l.oneOf(path, out, "oauth_client_secret_command", "oauth_client_secret_env")
	return out
}

// oneOf refuses a table that sets both keys of one secret source, at the
// later of the two.
func (l *loader) oneOf(path []string, out settings, a, b string) {
	if !out.has(a) || !out.has(b) {
		return
	}
	later := b
	if out[a].at.line > out[b].at.line {
		later = a
	}
	l.fail(append(path[:len(path):len(path)], later),
		"%s and %s are both set; a profile has exactly one secret source", a, b)
}

// profileValue validates one profile key. ok is false when it recorded an
// error (or the key is unknown).
func (l *loader) profileValue(path []string, name string, v any) (any, bool) {
	k, ok := profileKey(name)
	switch {
	case !ok:
		l.unknown(path, keyNames(true))
		return nil, false
	case k.parse == nil:
		return l.enum(path, v, k.Values...)
	}
	return k.parse(l, path, v)
}

// The parse functions of Schema that adapt a loader check to its signature.

func (l *loader) strValue(path []string, v any) (any, bool)      { return l.str(path, v) }
func (l *loader) boolValue(path []string, v any) (any, bool)     { return l.boolean(path, v) }
func (l *loader) nonEmptyValue(path []string, v any) (any, bool) { return l.nonEmpty(path, v) }
func (l *loader) pathValue(path []string, v any) (any, bool)     { return l.path(path, v) }

// durationValue is a duration of at least a second.
func (l *loader) durationValue(path []string, v any) (any, bool) {
	return l.duration(path, v, time.Second)
}

// optWord is "" or a word.
func (l *loader) optWord(path []string, v any) (any, bool) {
	s, ok := l.str(path, v)
	if ok && s != "" {
		return l.word(path, v)
	}
	return s, ok
}

func (l *loader) domain(path []string, v any) (any, bool) {
	s, ok := l.word(path, v)
	if ok && strings.Contains(s, "@") {
		l.fail(path, "must be a domain name without @")
		return nil, false
	}
	return s, ok
}

// logValue is "syslog", "" or a file name.
func (l *loader) logValue(path []string, v any) (any, bool) {
	if s, ok := l.str(path, v); !ok || s == "syslog" || s == "" {
		return s, ok
	}
	return l.path(path, v)
}

func (l *loader) enum(path []string, v any, allowed ...string) (any, bool) {
	s, ok := l.str(path, v)
	if !ok {
		return nil, false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	var shown []string
	for _, a := range allowed {
		if a == "" {
			a = `""`
		}
		shown = append(shown, a)
	}
	name := path[len(path)-1]
	l.fail(path, "unknown %s %q (use %s)", name, s, strings.Join(shown, ", "))
	return nil, false
}

// httpURL is "" or an absolute http or https URL with a host.
func (l *loader) httpURL(path []string, v any) (any, bool) {
	s, ok := l.str(path, v)
	if !ok || s == "" {
		return s, ok
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		l.fail(path, "%q is not an http or https URL (such as \"https://api.example.com\")", s)
		return nil, false
	}
	return s, true
}

// absPath is "" or a file name that is absolute or starts with "~/": it
// names a file mailout writes, which must not move with the config file.
func (l *loader) absPath(path []string, v any) (any, bool) {
	s, ok := l.str(path, v)
	if !ok || s == "" {
		return s, ok
	}
	if !filepath.IsAbs(s) && !strings.HasPrefix(s, "~/") {
		l.fail(path, "%q must be an absolute path or start with ~/", s)
		return nil, false
	}
	return l.resolve(s), true
}

// words is a list of strings without blanks, such as OAuth scopes.
func (l *loader) words(path []string, v any) (any, bool) {
	list, ok := v.([]any)
	if !ok {
		l.wrongType(path, "a list of strings", v)
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := l.word(path, e)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (l *loader) port(path []string, v any) (any, bool) {
	n, ok := l.integer(path, v)
	if !ok {
		return nil, false
	}
	if n < 1 || n > 65535 {
		l.fail(path, "%s %d out of range 1-65535", path[len(path)-1], n)
		return nil, false
	}
	return int(n), true
}

func (l *loader) from(path []string, v any) (any, bool) {
	s, ok := l.str(path, v)
	if !ok || s == "" {
		return s, ok
	}
	if _, err := message.ParseAddress(s); err != nil {
		l.fail(path, "invalid address %q", s)
		return nil, false
	}
	return s, true
}

func (l *loader) envName(path []string, v any) (any, bool) {
	s, ok := l.str(path, v)
	if !ok || s == "" {
		return s, ok
	}
	valid := true
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			valid = false
			break
		}
	}
	if !valid {
		l.fail(path, "%q is not an environment variable name (write the name without $, such as SMTP_PASSWORD)", s)
		return nil, false
	}
	return s, true
}
