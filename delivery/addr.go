package delivery

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is the submission port for a TLS mode: 465 for implicit TLS
// (RFC 8314), 25 for none, 587 for STARTTLS and opportunistic (RFC 6409).
// It lives here, beside the modes, so a relay given without a port is
// dialled where its mode expects, whoever builds the options.
func DefaultPort(mode TLSMode) int {
	switch mode {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	}
	return 587
}

// errBadPort reports a port that is not a number from 1 to 65535.
var errBadPort = errors.New("bad port")

// SplitHostPort splits a relay address, HOST[:PORT]: a bare host or a
// bracketed IPv6 address ("[::1]") takes mode's [DefaultPort]. An
// unbracketed IPv6 address, a missing or non-numeric port and a port out
// of range are errors naming s. It is the parsing of --server, kept out
// of cmd so that it is table-tested here with the ports it depends on.
func SplitHostPort(s string, mode TLSMode) (string, int, error) {
	if !hasPort(s) {
		return strings.Trim(s, "[]"), DefaultPort(mode), nil
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: %w", s, errBadPort)
	}
	return host, port, nil
}

// hasPort reports whether s names a port: it has a colon after any
// closing bracket. An unbracketed IPv6 address counts as one with a port,
// for net.SplitHostPort to refuse.
func hasPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	return i >= 0 && !strings.Contains(s[i:], "]")
}
