package delivery

import (
	"strings"

	"mailout/message"
)

// dsnParams returns what env's DSN request (RFC 3461) adds to MAIL FROM
// (RET=, ENVID=) and to each RCPT TO (NOTIFY=), each with its leading
// space. Both are "" when env asks nothing, and when the server does not
// offer DSN: the request is then left out, as Postfix does, and the
// transcript says so. ORCPT is never sent: the recipient is the original
// one as far as mailout knows.
func (cn *conn) dsnParams(env message.Envelope) (mail, rcpt string) {
	d := env.DSN
	if d.IsZero() {
		return "", ""
	}
	if ok, _ := cn.c.Extension("DSN"); !ok {
		cn.log.note("%s does not offer DSN; sending without the NOTIFY, RET and ENVID parameters", cn.host)
		return "", ""
	}
	if d.Ret != "" {
		mail += " RET=" + xtext(d.Ret)
	}
	if d.EnvID != "" {
		mail += " ENVID=" + xtext(d.EnvID)
	}
	if d.Notify != "" {
		rcpt = " NOTIFY=" + xtext(d.Notify)
	}
	return mail, rcpt
}

// xtext encodes s as RFC 3461 section 4 has it: "+", "=" and every byte
// outside "!" to "~" become "+" and two upper-case hex digits.
func xtext(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			b.WriteByte('+')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
