package message

import (
	"errors"
	"strings"
)

// This file is mailout's one RFC 5322 address-list parser. It keeps each
// mailbox as it was written, so sendmail's fix-ups can write an unchanged
// mailbox back byte for byte, and it accepts bare local names ("root"),
// which the callers qualify through aliases or local_domain.
// [ParseAddress] and [ParseList] build on it for composed messages.

// ParseAddressList parses an RFC 5322 address list, such as the value of a
// To header or a command line argument. Members of groups
// ("team: a@x, b@y;") are returned as plain mailboxes; an empty group
// ("undisclosed-recipients:;") adds none. Bare local names ("root") are
// accepted. Addresses keep their original spelling: nothing is decoded.
func ParseAddressList(s string) ([]Mailbox, error) {
	items, err := ParseAddressItems(s)
	if err != nil {
		return nil, err
	}
	var out []Mailbox
	for _, it := range items {
		out = append(out, it.Members...)
	}
	return out, nil
}

// Mailbox is one parsed mailbox, with the original text kept so that an
// unchanged mailbox is written back exactly as it was.
type Mailbox struct {
	// Raw is the trimmed original text.
	Raw string
	// Phrase is the display name as written before "<" (possibly quoted or
	// RFC 2047 encoded); "" if none.
	Phrase string
	// Comment is the text of the first comment of a bare addr-spec, the
	// old form "root (Cron Daemon)".
	Comment string
	// Addr is the addr-spec: a local part, optionally followed by "@" and
	// a domain. A bare local name ("root") has no "@".
	Addr string
}

// DisplayName is the name a user sees, as written: the phrase, else the
// comment.
func (m Mailbox) DisplayName() string {
	if m.Phrase != "" {
		return m.Phrase
	}
	return m.Comment
}

// RenderName is the display name to write in front of a new address: the
// phrase as written, or the comment turned into a phrase.
func (m Mailbox) RenderName() string {
	if m.Phrase != "" {
		return m.Phrase
	}
	if m.Comment != "" {
		return Phrase(m.Comment)
	}
	return ""
}

// AddressItem is one member of an address list: a mailbox or a group.
type AddressItem struct {
	// Raw is the trimmed original text of the member.
	Raw string
	// Group is set for "name: members;".
	Group bool
	// GroupName is the raw display name of a group.
	GroupName string
	// Members are a group's mailboxes, or the one mailbox of a member that
	// is not a group.
	Members []Mailbox
}

var errUnbalanced = errors.New("unbalanced quotes, comments or angle brackets")

// ParseAddressItems parses an address list into its members, groups kept
// as groups. Empty members (",,") are skipped, as RFC 5322's obsolete
// syntax allows.
func ParseAddressItems(s string) ([]AddressItem, error) {
	parts, err := splitTop(s, true)
	if err != nil {
		return nil, err
	}
	var items []AddressItem
	for _, p := range parts {
		p = trimWSP(p)
		if p == "" {
			continue
		}
		it, err := parseItem(p)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func parseItem(p string) (AddressItem, error) {
	if colon := topIndex(p, ':'); colon >= 0 {
		semi := strings.LastIndexByte(p, ';')
		if semi < colon || strings.TrimSpace(stripComments(p[semi+1:])) != "" {
			return AddressItem{}, errors.New("group without a closing \";\": " + quote(p))
		}
		members, err := splitTop(p[colon+1:semi], false)
		if err != nil {
			return AddressItem{}, err
		}
		it := AddressItem{Raw: p, Group: true, GroupName: trimWSP(p[:colon])}
		for _, m := range members {
			if m = trimWSP(m); m == "" {
				continue
			}
			mb, err := parseMailbox(m)
			if err != nil {
				return AddressItem{}, err
			}
			it.Members = append(it.Members, mb)
		}
		return it, nil
	}
	mb, err := parseMailbox(p)
	if err != nil {
		return AddressItem{}, err
	}
	return AddressItem{Raw: p, Members: []Mailbox{mb}}, nil
}

// parseMailbox parses "Name <addr>", "<addr>", "addr" or "addr (comment)".
func parseMailbox(s string) (Mailbox, error) {
	s = trimWSP(s)
	m := Mailbox{Raw: s}
	if lt := topIndex(s, '<'); lt >= 0 {
		gt := indexOutsideQuotes(s, lt+1, '>')
		if gt < 0 {
			return Mailbox{}, errors.New("missing \">\": " + quote(s))
		}
		if strings.TrimSpace(stripComments(s[gt+1:])) != "" {
			return Mailbox{}, errors.New("text after \">\": " + quote(s))
		}
		m.Phrase = trimWSP(s[:lt])
		inner := trimWSP(s[lt+1 : gt])
		if strings.HasPrefix(inner, "@") { // obsolete source route: <@a,@b:user@c>
			if c := strings.IndexByte(inner, ':'); c >= 0 {
				inner = trimWSP(inner[c+1:])
			}
		}
		m.Addr = inner
	} else if !strings.ContainsAny(s, "\"(") { // no quoted string, no comment: as it is
		m.Addr = s
	} else {
		var b strings.Builder
		inQuote := false
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case inQuote:
				b.WriteByte(c)
				if c == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				} else if c == '"' {
					inQuote = false
				}
			case c == '"':
				inQuote = true
				b.WriteByte(c)
			case c == '(':
				end, text := readComment(s, i)
				if end < 0 {
					return Mailbox{}, errUnbalanced
				}
				if m.Comment == "" {
					m.Comment = strings.TrimSpace(text)
				}
				i = end
			default:
				b.WriteByte(c)
			}
		}
		m.Addr = trimWSP(b.String())
	}
	if err := CheckAddrSpec(m.Addr); err != nil {
		return Mailbox{}, err
	}
	return m, nil
}

// readComment reads the comment that starts at s[i] == '('. It returns the
// index of the closing ')' and the comment text with quoted-pairs resolved,
// or -1 when the comment is not closed.
func readComment(s string, i int) (int, string) {
	var b strings.Builder
	depth := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			continue
		case c == '(':
			depth++
			if depth == 1 {
				continue
			}
		case c == ')':
			depth--
			if depth == 0 {
				return i, b.String()
			}
		}
		b.WriteByte(c)
	}
	return -1, ""
}

// CheckAddrSpec accepts local-part ["@" domain], where the local part is a
// dot-atom or a quoted string and the domain a dot-atom or a domain literal.
// Bytes above 127 are allowed (RFC 6531/6532); spaces, control characters
// and unquoted specials are not.
func CheckAddrSpec(a string) error {
	if a == "" {
		return errors.New("empty address")
	}
	local, domain, hasAt := a, "", false
	if at := lastAt(a); at >= 0 {
		local, domain, hasAt = a[:at], a[at+1:], true
	}
	if !validAddrSpec(local, domain, hasAt) {
		return errors.New("invalid address " + quote(a))
	}
	return nil
}

// validAddrSpec is CheckAddrSpec's test, without the error it costs to
// make for every valid address too.
func validAddrSpec(local, domain string, hasAt bool) bool {
	if local == "" || (hasAt && domain == "") {
		return false
	}
	if local[0] == '"' {
		if !isQuotedString(local) {
			return false
		}
	} else if !isDotAtom(local) {
		return false
	}
	if hasAt {
		if domain[0] == '[' {
			if domain[len(domain)-1] != ']' || len(domain) < 3 || strings.ContainsAny(domain[1:len(domain)-1], "[]\\ \t") {
				return false
			}
		} else if !isDotAtom(domain) {
			return false
		}
	}
	return true
}

// isQuotedString reports whether s is exactly one RFC 5322 quoted string
// without control characters.
func isQuotedString(s string) bool {
	if len(s) < 2 || s[0] != '"' {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			return i == len(s)-1
		case c < 0x20 && c != '\t' || c == 0x7f:
			return false
		}
	}
	return false
}

func isDotAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && !isAtext(c) {
			return false
		}
	}
	return true
}

// isAtext reports whether c is RFC 5322 atext, counting bytes above 127
// (UTF-8, RFC 6532) as atext.
func isAtext(c byte) bool {
	switch {
	case c >= 0x80:
		return true
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// Phrase renders a display name as written: as it is when it is a
// sequence of atoms (RFC 2047 encoded words are atoms too), else as a
// quoted string.
func Phrase(name string) string {
	name = strings.TrimSpace(name)
	atoms := name != ""
	for i := 0; i < len(name) && atoms; i++ {
		atoms = isAtext(name[i]) || name[i] == ' ' || name[i] == '\t'
	}
	if atoms {
		return name
	}
	return quote(name)
}

// quote returns s as an RFC 5322 quoted string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// lexer tracks quoted strings and nested (comments) while a scan walks an
// address list, the part every scanner below shares.
type lexer struct {
	inQuote bool
	depth   int
}

// skip consumes s[i] when it is inside, opens or closes a quoted string or
// a comment, returning the index the scan continues from and true;
// otherwise it returns false and the byte is the caller's.
func (l *lexer) skip(s string, i int) (int, bool) {
	c := s[i]
	switch {
	case l.inQuote:
		if c == '\\' {
			i++
		} else if c == '"' {
			l.inQuote = false
		}
	case l.depth > 0:
		if c == '\\' {
			i++
		} else if c == '(' {
			l.depth++
		} else if c == ')' {
			l.depth--
		}
	case c == '"':
		l.inQuote = true
	case c == '(':
		l.depth++
	default:
		return i, false
	}
	return i, true
}

// splitTop splits s at commas outside quoted strings, comments and angle
// brackets. With groups set, a "name: ... ;" group is one piece.
func splitTop(s string, groups bool) ([]string, error) {
	var parts []string
	var lx lexer
	inAngle, inGroup, start := false, false, 0
	for i := 0; i < len(s); i++ {
		var skipped bool
		if i, skipped = lx.skip(s, i); skipped {
			continue
		}
		c := s[i]
		switch {
		case c == ')':
			return nil, errUnbalanced
		case inAngle:
			if c == '>' {
				inAngle = false
			} else if c == '<' {
				return nil, errUnbalanced
			}
		case c == '<':
			inAngle = true
		case c == '>':
			return nil, errUnbalanced
		case groups && c == ':' && !inGroup:
			inGroup = true
		case groups && c == ';' && inGroup:
			inGroup = false
		case c == ',' && !inGroup:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if lx.inQuote || inAngle || inGroup || lx.depth > 0 {
		return nil, errUnbalanced
	}
	return append(parts, s[start:]), nil
}

// topIndex returns the index of the first c outside quoted strings,
// comments and angle brackets, or -1. With c == '<' it finds the start of
// an angle-addr. c must not be '"', '(' or ')'.
func topIndex(s string, c byte) int {
	var lx lexer
	inAngle := false
	for i := 0; i < len(s); i++ {
		var skipped bool
		if i, skipped = lx.skip(s, i); skipped {
			continue
		}
		switch ch := s[i]; {
		case ch == c && !inAngle:
			return i
		case ch == '<':
			inAngle = true
		case ch == '>':
			inAngle = false
		}
	}
	return -1
}

// indexOutsideQuotes returns the index of the first c at or after from that
// is not inside a quoted string, or -1.
func indexOutsideQuotes(s string, from int, c byte) int {
	inQuote := false
	for i := from; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuote:
			if ch == '\\' {
				i++
			} else if ch == '"' {
				inQuote = false
			}
		case ch == c:
			return i
		case ch == '"':
			inQuote = true
		}
	}
	return -1
}

// lastAt returns the index of the last "@" outside a quoted local part.
func lastAt(a string) int {
	at := strings.LastIndexByte(a, '@')
	if at >= 0 && strings.IndexByte(a[at:], '"') >= 0 {
		return -1 // "@" inside a quoted local part without domain
	}
	return at
}

// LocalPart returns the part of an addr-spec before its "@" (all of a bare
// local name).
func LocalPart(a string) string {
	if at := lastAt(a); at >= 0 {
		return a[:at]
	}
	return a
}

// stripComments removes (comments) from s.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '(' {
			end, _ := readComment(s, i)
			if end < 0 {
				return s
			}
			i = end
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func trimWSP(s string) string { return strings.Trim(s, " \t") }
