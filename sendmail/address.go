package sendmail

import (
	"mime"
	"strings"

	"mailout/message"
)

// IsLocalAddr reports whether addr is an address of this machine: a bare
// name without "@", or an address whose domain is "localhost",
// "localhost.localdomain" or one of localDomains (the host name and FQDN),
// compared without case and without a trailing dot.
func IsLocalAddr(addr string, localDomains []string) bool {
	if addr == "" {
		return false
	}
	if message.LocalPart(addr) == addr {
		return true
	}
	d := strings.TrimSuffix(message.Domain(addr), ".")
	if strings.EqualFold(d, "localhost") || strings.EqualFold(d, "localhost.localdomain") {
		return true
	}
	for _, l := range localDomains {
		if l = strings.TrimSuffix(l, "."); l != "" && strings.EqualFold(d, l) {
			return true
		}
	}
	return false
}

// FormatFrom formats a From header value from a full name (-F, a passwd
// GECOS field, a profile) and an address: "addr" without a name, otherwise
// "Name <addr>" with the name quoted when it needs to be, or RFC 2047
// encoded when it is not ASCII.
func FormatFrom(name, addr string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return addr
	}
	if !isASCII(name) && !strings.ContainsAny(name, "\r\n") {
		return mime.QEncoding.Encode("utf-8", name) + " <" + addr + ">"
	}
	return message.Phrase(name) + " <" + addr + ">"
}

// renderMailbox writes "name <addr>", or addr alone without a name.
func renderMailbox(name, addr string) string {
	if name == "" {
		return addr
	}
	return name + " <" + addr + ">"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
