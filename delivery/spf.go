package delivery

import (
	"slices"
	"strings"
)

// SPFMechanism returns the SPF mechanism (RFC 7208) that a sender's
// domain publishes to authorize the servers a transport of kind k sends
// from: "a mx" for direct MX delivery (this host, named the way most
// domains do it), "include:DOMAIN" for an HTTP API provider (its
// published include), and "" for a relay, whose servers only the relay's
// operator can name. Which servers a transport uses is delivery's
// knowledge, so "profile test" asks here rather than keeping a table.
func SPFMechanism(k TransportKind) string {
	if k == TransportMX {
		return "a mx"
	}
	if p, ok := providers[string(k)]; ok && p.spf != "" {
		return "include:" + p.spf
	}
	return ""
}

// SPFNames reports whether SPF record rec names mech as one of its
// terms, so that "profile test" can warn when a provider's include is
// missing. Only a single include: mechanism can be checked this way;
// any other mech (such as "a mx", which several records satisfy) is
// reported as named. Terms are compared exactly, as they are written.
func SPFNames(rec, mech string) bool {
	if !strings.HasPrefix(mech, "include:") {
		return true
	}
	return slices.Contains(strings.Fields(rec), mech)
}
