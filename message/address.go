package message

import (
	"fmt"
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
// its domain in ASCII (punycode), so Unicode domains work on any server.
func ParseAddress(s string) (*mail.Address, error) {
	if err := CheckHeaderValue("address", s); err != nil {
		return nil, dataErrorf("invalid address %q: contains a %s", s, ctlName(s[strings.IndexAny(s, "\r\n\x00")]))
	}
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return nil, dataErrorf("invalid address %q: %v", s, trimMailErr(err))
	}
	if err := normalize(a); err != nil {
		return nil, dataErrorf("invalid address %q: %v", s, err)
	}
	return a, nil
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
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, dataErrorf("invalid address %q: %v", s, trimMailErr(err))
	}
	for _, a := range list {
		if err := normalize(a); err != nil {
			return nil, dataErrorf("invalid address %q: %v", a.Address, err)
		}
	}
	return list, nil
}

// SplitList splits a comma-separated list of addresses or bare names,
// honouring quotes and angle brackets, so `"Doe, J" <j@x>, root` is two items.
func SplitList(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, angle, escaped := false, 0, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && quoted:
			escaped = true
		case r == '"':
			quoted = !quoted
		case r == '<' && !quoted:
			angle++
		case r == '>' && !quoted && angle > 0:
			angle--
		case r == ',' && !quoted && angle == 0:
			if t := strings.TrimSpace(cur.String()); t != "" {
				out = append(out, t)
			}
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if t := strings.TrimSpace(cur.String()); t != "" {
		out = append(out, t)
	}
	return out
}

func trimMailErr(err error) string {
	return strings.TrimPrefix(err.Error(), "mail: ")
}

func normalize(a *mail.Address) error {
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return fmt.Errorf("want local@domain")
	}
	local, domain := a.Address[:at], a.Address[at+1:]
	if strings.HasPrefix(local, "-") {
		return fmt.Errorf("local part starts with '-'")
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return fmt.Errorf("domain %q: %v", domain, err)
	}
	if !strings.Contains(ascii, ".") && !strings.EqualFold(ascii, "localhost") {
		// Single-label domains are legal but nearly always a typo for a script.
		if ascii == "" {
			return fmt.Errorf("empty domain")
		}
	}
	a.Address = local + "@" + strings.ToLower(ascii)
	return nil
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

// Domain returns the part after the last '@'.
func Domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}
