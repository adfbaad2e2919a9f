package sendmail

import (
	"strings"

	"mailout/message"
)

// ParseSender turns -f's argument into a bare address; "" (no -f) stays
// "". "<>" is the null reverse-path: addr is "" and null is true.
func ParseSender(s string) (addr string, null bool, err error) {
	switch s = strings.TrimSpace(s); s {
	case "":
		return "", false, nil
	case "<>":
		return "", true, nil
	}
	list, err := message.ParseAddressList(s)
	if err != nil || len(list) != 1 {
		return "", false, dataErrorf("invalid sender %q", s)
	}
	return list[0].Addr, false, nil
}

// SenderPolicy is everything the choice of a raw message's envelope
// sender and added From depends on.
type SenderPolicy struct {
	// Sender is the bare address from [ParseSender], "" when -f was not
	// given or was "<>" (then Null is set).
	Sender string
	Null   bool
	// FullName is -F, the name of an added From.
	FullName string
	// ProfileFrom is the bare address of the profile's from, "" when it
	// has none.
	ProfileFrom string
	// Rewrite is the profile's from_rewrite: "local" (or ""), "always" or
	// "never".
	Rewrite string
	// Hostname is this machine's fully qualified name, which qualifies a
	// bare -f name and the LOGIN@FQDN fallback.
	Hostname string
	// Login is the user's passwd name; "" means root.
	Login string
	// IsLocal reports whether an address belongs to this machine.
	IsLocal func(addr string) bool
}

// Sender is the outcome of [ResolveSender].
type Sender struct {
	// Envelope is the MAIL FROM address, "" for the null reverse-path.
	Envelope string
	// From is the From header to add when the message has none.
	From string
	// Domain is the domain for a generated Message-ID.
	Domain string
}

// ResolveSender applies SPEC.md's sender rules for raw messages: a local
// envelope sender (cronie's "-f root") becomes the profile's from, which
// providers accept, as does every sender with from_rewrite = "always";
// another bare name is qualified with the host name; no sender at all is
// the profile's from, else LOGIN@FQDN.
func ResolveSender(p SenderPolicy) Sender {
	sender := p.Sender
	switch {
	case p.Null:
	case sender == "":
		sender = p.ProfileFrom
	case p.ProfileFrom != "" && (p.Rewrite == "always" || p.Rewrite != "never" && p.IsLocal != nil && p.IsLocal(sender)):
		sender = p.ProfileFrom
	case !strings.Contains(sender, "@"):
		sender += "@" + p.Hostname
	}
	if sender == "" && !p.Null {
		sender = message.LoginAddress(p.Login, p.Hostname)
	}
	s := Sender{Envelope: sender, From: FormatFrom(p.FullName, sender)}
	if sender == "" {
		s.From = FormatFrom(p.FullName, p.ProfileFrom)
	}
	for _, a := range []string{sender, p.ProfileFrom, "@" + p.Hostname} {
		if s.Domain = message.Domain(a); s.Domain != "" {
			break
		}
	}
	return s
}

// Qualifier expands local names for raw messages. Expand is the one alias
// expander (profiles.Config.Expand): aliases, then local_domain.
type Qualifier struct {
	Expand  func(name string) ([]string, bool)
	IsLocal func(addr string) bool
}

// Local expands a local name ("root", the local part of root@thishost),
// for [FixupOptions.Qualify]. A name that nothing expands is a
// *DataError.
func (q Qualifier) Local(name string) ([]string, error) {
	if q.Expand != nil {
		if addrs, ok := q.Expand(name); ok {
			return addrs, nil
		}
	}
	return nil, dataErrorf("local recipient %q matches no alias and no local_domain is set", name)
}

// Recipients turns sendmail's recipient arguments into bare envelope
// addresses: comma lists split, local names (bare, or at this machine)
// through the aliases, else local_domain; an address at this machine that
// nothing expands stays as it is. The result has no duplicates.
func (q Qualifier) Recipients(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		list, err := message.ParseAddressList(a)
		if err != nil {
			return nil, dataErrorf("invalid recipient %q: %v", a, err)
		}
		for _, m := range list {
			addrs := []string{m.Addr}
			if local := message.LocalPart(m.Addr); local == m.Addr || q.IsLocal != nil && q.IsLocal(m.Addr) {
				exp, err := q.Local(local)
				switch {
				case err == nil:
					addrs = exp
				case local == m.Addr:
					return nil, err
				}
			}
			for _, x := range addrs {
				pa, err := message.ParseAddress(x)
				if err != nil {
					return nil, err
				}
				out = append(out, pa.Address)
			}
		}
	}
	return message.Dedupe(out), nil
}
