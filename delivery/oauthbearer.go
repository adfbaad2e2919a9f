package delivery

import (
	"net"
	"strings"

	"github.com/wneessen/go-mail/smtp"
)

// oauthBearer is SASL OAUTHBEARER (RFC 7628) for go-mail's client.
// go-mail's own XOAUTH2 already answers a 334 error challenge with an empty
// line; this one answers it with the single byte 0x01 the RFC requires, and
// the server's 535 that follows becomes AuthFailed like any refusal.
func oauthBearer(user, token, addr string) smtp.Auth {
	host, port, _ := net.SplitHostPort(addr)
	return &bearerAuth{user: user, token: token, host: host, port: port}
}

type bearerAuth struct{ user, token, host, port string }

func (a *bearerAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	// gs2-header "n,a=USER," then key=value pairs, each ended by 0x01.
	resp := "n,a=" + saslName(a.user) + ",\x01"
	if a.host != "" {
		resp += "host=" + a.host + "\x01"
	}
	if a.port != "" {
		resp += "port=" + a.port + "\x01"
	}
	resp += "auth=Bearer " + a.token + "\x01\x01"
	return "OAUTHBEARER", []byte(resp), nil
}

func (a *bearerAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return []byte{0x01}, nil // the challenge is an error report: end the exchange
	}
	return nil, nil
}

// saslName escapes "," and "=" in an authzid (RFC 5801).
func saslName(s string) string { return strings.NewReplacer(",", "=2C", "=", "=3D").Replace(s) }
