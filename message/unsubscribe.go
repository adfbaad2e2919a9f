package message

import (
	"fmt"
	"net/url"
	"strings"
)

// UnsubscribeFields returns the List-Unsubscribe field (RFC 2369) for v,
// an https or http URL or a mailto: address, plus List-Unsubscribe-Post
// (RFC 8058, one-click) when v is an https URL: what large mailbox
// providers require of bulk senders. An empty v gives no fields. A value
// with blanks, quotes or angle brackets is refused, so that it cannot
// break out of the <> it is written in. The header rules are the
// message's, so they live here; batch's flag only supplies v.
func UnsubscribeFields(v string) ([]Field, error) {
	if v == "" {
		return nil, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%q: %s", v, why)
	}
	if strings.ContainsAny(v, " \t\r\n<>\"") {
		return nil, bad("want an https URL or mailto:ADDR without blanks, quotes or <>")
	}
	u, err := url.Parse(v)
	if err != nil {
		return nil, bad("not a URL")
	}
	post := false
	switch strings.ToLower(u.Scheme) {
	case "https":
		post = true
		fallthrough
	case "http":
		if u.Host == "" {
			return nil, bad("the URL has no host")
		}
	case "mailto":
		addr, _, _ := strings.Cut(u.Opaque, "?")
		if addr, err = url.PathUnescape(addr); err != nil || !strings.Contains(addr, "@") {
			return nil, bad("want mailto:ADDR with a full address")
		}
		if _, err := ParseAddress(addr); err != nil {
			return nil, bad("want mailto:ADDR with a full address")
		}
	default:
		return nil, bad("want an https URL or mailto:ADDR")
	}
	fields := []Field{{Name: "List-Unsubscribe", Value: "<" + v + ">"}}
	if post {
		fields = append(fields, Field{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"})
	}
	return fields, nil
}
