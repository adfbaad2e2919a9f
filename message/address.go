package message

import (
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// DataError reports input that can never become a valid message: a bad
// address, a line break smuggled into a header, an unusable header name.
// Callers map it to exit 65 (EX_DATAERR).
type DataError struct {
	Msg string
}

func (e *DataError) Error() string { return e.Msg }

func dataErrorf(format string, args ...any) error {
	return &DataError{Msg: fmt.Sprintf(format, args...)}
}

// CheckHeaderValue refuses CR, LF and NUL, the bytes that would end a
// header line early and let data inject headers of its own.
func CheckHeaderValue(name, value string) error {
	if i := strings.IndexAny(value, "\r\n\x00"); i >= 0 {
		return dataErrorf("header %s: value contains a %s", name, ctlName(value[i]))
	}
	return nil
}

func ctlName(b byte) string {
	switch b {
	case '\r':
		return "carriage return (CR)"
	case '\n':
		return "line feed (LF)"
	}
	return "NUL byte"
}

// ValidHeaderName reports whether name is an RFC 5322 field name:
// printable ASCII except the colon.
func ValidHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// ParseAddress parses one address ("a@b", "Name <a@b>") and returns it with
// its display name decoded and its domain in ASCII (punycode), so Unicode
// domains work on any server.
func ParseAddress(s string) (*mail.Address, error) {
	if i := strings.IndexAny(s, "\r\n\x00"); i >= 0 {
		return nil, dataErrorf("invalid address %q: contains a %s", s, ctlName(s[i]))
	}
	items, err := ParseAddressItems(s)
	if err != nil {
		return nil, dataErrorf("invalid address %q: %v", s, err)
	}
	if len(items) != 1 || items[0].Group || len(items[0].Members) != 1 {
		return nil, dataErrorf("invalid address %q: want one address", s)
	}
	return mailAddress(items[0].Members[0])
}

// ParseList parses a comma-separated address list; commas inside quoted
// display names do not split it.
func ParseList(s string) ([]*mail.Address, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if i := strings.IndexAny(s, "\r\n\x00"); i >= 0 {
		return nil, dataErrorf("invalid address list %q: contains a %s", s, ctlName(s[i]))
	}
	list, err := ParseAddressList(s)
	if err != nil {
		return nil, dataErrorf("invalid address %q: %v", s, err)
	}
	var out []*mail.Address
	for _, m := range list {
		a, err := mailAddress(m)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// mailAddress turns a parsed mailbox into a composable address: the name
// unquoted and RFC 2047 decoded, the address normalized.
func mailAddress(m Mailbox) (*mail.Address, error) {
	a := &mail.Address{Name: decodeName(m), Address: m.Addr}
	if err := normalize(a); err != nil {
		return nil, dataErrorf("invalid address %q: %v", m.Raw, err)
	}
	return a, nil
}

var wordDecoder mime.WordDecoder

// decodeName is the display name a reader sees: quoted strings unquoted,
// encoded words decoded (left as written when they do not decode).
func decodeName(m Mailbox) string {
	name := m.Comment
	if m.Phrase != "" {
		var b strings.Builder
		inQuote := false
		for i := 0; i < len(m.Phrase); i++ {
			switch c := m.Phrase[i]; {
			case c == '"':
				inQuote = !inQuote
			case c == '\\' && inQuote && i+1 < len(m.Phrase):
				i++
				b.WriteByte(m.Phrase[i])
			default:
				b.WriteByte(c)
			}
		}
		name = b.String()
	}
	name = strings.Join(strings.Fields(name), " ")
	if !strings.Contains(name, "=?") { // no encoded word
		return name
	}
	if d, err := wordDecoder.DecodeHeader(name); err == nil {
		return d
	}
	return name
}

func normalize(a *mail.Address) error {
	at := lastAt(a.Address)
	if at <= 0 || at == len(a.Address)-1 {
		return fmt.Errorf("want local@domain")
	}
	local, domain := a.Address[:at], a.Address[at+1:]
	if strings.HasPrefix(local, "-") {
		return fmt.Errorf("local part starts with '-'")
	}
	// RFC 5322 dot-atoms have no empty parts. Only here, not in the list
	// parser: sendmail passes such headers on as Postfix does, but an
	// address mailout sends to or from is refused before a relay refuses it.
	if local[0] != '"' && emptyDotPart(local) {
		return fmt.Errorf("local part %q has a leading, trailing or double dot (quote it: \"%s\"@%s)", local, local, domain)
	}
	if domain[0] != '[' && emptyDotPart(domain) {
		return fmt.Errorf("domain %q has a leading, trailing or double dot", domain)
	}
	ascii, err := domainToASCII(domain)
	if err != nil {
		return fmt.Errorf("domain %q: %v", domain, err)
	}
	if !strings.Contains(ascii, ".") && !strings.EqualFold(ascii, "localhost") {
		// Single-label domains are legal but nearly always a typo for a script.
		if ascii == "" {
			return fmt.Errorf("empty domain")
		}
	}
	if ascii = strings.ToLower(ascii); ascii != domain {
		a.Address = local + "@" + ascii
	}
	return nil
}

func emptyDotPart(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..")
}

// domainToASCII is idna.Lookup.ToASCII, which costs more than the rest of
// parsing an address, with a shortcut for the domains it returns as they
// are: labels of ASCII letters, digits and inner hyphens, none with
// hyphens in its third and fourth place (which marks "xn--" punycode).
func domainToASCII(domain string) (string, error) {
	if plainDomain(domain) {
		return domain, nil
	}
	return idna.Lookup.ToASCII(domain)
}

func plainDomain(domain string) bool {
	for label := range strings.SplitSeq(domain, ".") {
		n := len(label)
		if n == 0 || label[0] == '-' || label[n-1] == '-' || n >= 4 && label[2] == '-' && label[3] == '-' {
			return false
		}
		for i := 0; i < n; i++ {
			switch c := label[i]; {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			default:
				return false
			}
		}
	}
	return true
}

// NeedsSMTPUTF8 reports whether an address has a non-ASCII local part, which
// only a server offering SMTPUTF8 (RFC 6531) may receive.
func NeedsSMTPUTF8(addr string) bool {
	for i := 0; i < len(addr); i++ {
		if addr[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// Domain returns the part after the last '@' outside a quoted local part.
func Domain(addr string) string {
	if i := lastAt(addr); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// LoginAddress is LOGIN@HOST, the sender of last resort; an unknown login
// is root, as cron's mail is.
func LoginAddress(login, host string) string {
	if login == "" {
		login = "root"
	}
	return login + "@" + host
}

// Dedupe drops repeated addresses, compared without case, keeping the
// first spelling and the order.
func Dedupe(addrs []string) []string {
	seen := make(map[string]bool, len(addrs))
	out := addrs[:0:0]
	for _, a := range addrs {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}
