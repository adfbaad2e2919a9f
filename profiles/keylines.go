package profiles

import (
	"strconv"
	"strings"
)

// keyLines maps every key of a TOML document to the 1-based line where it is
// first defined. BurntSushi/toml v1.6.0 records key positions but exports them
// only inside a ParseError, so validation errors find their line here.
//
// Keys are stored as their path pieces joined by "\x00". A table that is only
// implied (profiles in [profiles.work]) gets the line of its first use.
type keyLines map[string]int

// indexKeyLines scans a TOML document. It is meant for documents the toml
// package has already accepted, but it never panics or loops on bad input.
func indexKeyLines(src string) keyLines {
	sc := &lineScanner{s: src, line: 1, out: keyLines{}}
	sc.document()
	return sc.out
}

// line returns the line of path, or of its longest defined prefix, or 0.
func (kl keyLines) line(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := kl[strings.Join(path[:n], "\x00")]; ok {
			return l
		}
	}
	return 0
}

type lineScanner struct {
	s    string
	i    int
	line int
	out  keyLines
}

func (sc *lineScanner) eof() bool { return sc.i >= len(sc.s) }

func (sc *lineScanner) peek() byte {
	if sc.eof() {
		return 0
	}
	return sc.s[sc.i]
}

// adv moves one byte forward, counting lines.
func (sc *lineScanner) adv() {
	if sc.eof() {
		return
	}
	if sc.s[sc.i] == '\n' {
		sc.line++
	}
	sc.i++
}

func (sc *lineScanner) record(path []string) {
	for n := 1; n <= len(path); n++ {
		k := strings.Join(path[:n], "\x00")
		if _, ok := sc.out[k]; !ok {
			sc.out[k] = sc.line
		}
	}
}

func (sc *lineScanner) skipSpace() {
	for c := sc.peek(); c == ' ' || c == '\t'; c = sc.peek() {
		sc.adv()
	}
}

// skipTrivia skips blanks, newlines and comments.
func (sc *lineScanner) skipTrivia() {
	for !sc.eof() {
		switch sc.peek() {
		case ' ', '\t', '\r', '\n':
			sc.adv()
		case '#':
			sc.skipLine()
		default:
			return
		}
	}
}

// skipLine moves past the next newline.
func (sc *lineScanner) skipLine() {
	for !sc.eof() {
		c := sc.peek()
		sc.adv()
		if c == '\n' {
			return
		}
	}
}

func (sc *lineScanner) document() {
	var table []string
	for {
		sc.skipTrivia()
		if sc.eof() {
			return
		}
		start := sc.i
		if sc.peek() == '[' {
			sc.adv()
			if sc.peek() == '[' {
				sc.adv()
			}
			table = sc.key()
			sc.record(table)
		} else {
			k := sc.key()
			sc.skipSpace()
			if len(k) > 0 && sc.peek() == '=' {
				sc.adv()
				full := join(table, k)
				sc.record(full)
				sc.skipSpace()
				sc.value(full)
			}
		}
		sc.skipLine()
		if sc.i == start {
			sc.adv()
		}
	}
}

func join(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// key reads a (possibly dotted, possibly quoted) key.
func (sc *lineScanner) key() []string {
	var parts []string
	for {
		sc.skipSpace()
		start := sc.i
		switch sc.peek() {
		case '"':
			sc.str()
			raw := sc.s[start:sc.i]
			if u, err := strconv.Unquote(raw); err == nil {
				parts = append(parts, u)
			} else {
				parts = append(parts, strings.Trim(raw, `"`))
			}
		case '\'':
			sc.str()
			parts = append(parts, strings.Trim(sc.s[start:sc.i], `'`))
		default:
			for isBare(sc.peek()) {
				sc.adv()
			}
			if sc.i == start {
				return parts
			}
			parts = append(parts, sc.s[start:sc.i])
		}
		sc.skipSpace()
		if sc.peek() != '.' {
			return parts
		}
		sc.adv()
	}
}

// str skips a basic, literal or multi-line string starting at the cursor.
func (sc *lineScanner) str() {
	q := sc.peek()
	if strings.HasPrefix(sc.s[sc.i:], strings.Repeat(string(q), 3)) {
		sc.i += 3
		for !sc.eof() {
			if q == '"' && sc.peek() == '\\' {
				sc.adv()
				sc.adv()
				continue
			}
			if strings.HasPrefix(sc.s[sc.i:], strings.Repeat(string(q), 3)) {
				sc.i += 3
				for n := 0; n < 2 && sc.peek() == q; n++ { // up to two quotes may end the content
					sc.adv()
				}
				return
			}
			sc.adv()
		}
		return
	}
	sc.adv()
	for !sc.eof() {
		c := sc.peek()
		if c == '\n' {
			return
		}
		sc.adv()
		if c == '\\' && q == '"' {
			sc.adv()
			continue
		}
		if c == q {
			return
		}
	}
}

// value skips one value; keys of inline tables are recorded under path.
func (sc *lineScanner) value(path []string) {
	switch sc.peek() {
	case '"', '\'':
		sc.str()
	case '[':
		sc.adv()
		for {
			sc.skipTrivia()
			if sc.eof() {
				return
			}
			if sc.peek() == ']' {
				sc.adv()
				return
			}
			start := sc.i
			sc.value(path)
			sc.skipTrivia()
			if sc.peek() == ',' {
				sc.adv()
			}
			if sc.i == start {
				sc.adv()
			}
		}
	case '{':
		sc.adv()
		for {
			sc.skipTrivia()
			if sc.eof() {
				return
			}
			if sc.peek() == '}' {
				sc.adv()
				return
			}
			start := sc.i
			k := sc.key()
			sc.skipSpace()
			if len(k) > 0 && sc.peek() == '=' {
				sc.adv()
				full := join(path, k)
				sc.record(full)
				sc.skipSpace()
				sc.value(full)
			}
			sc.skipTrivia()
			if sc.peek() == ',' {
				sc.adv()
			}
			if sc.i == start {
				sc.adv()
			}
		}
	default:
		for !sc.eof() && !strings.ContainsRune(",]}#\r\n", rune(sc.peek())) {
			sc.adv()
		}
	}
}
