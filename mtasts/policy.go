// Package mtasts implements the sending side of SMTP MTA Strict Transport
// Security (RFC 8461): parsing the _mta-sts TXT record and the policy
// file, matching MX host names against the policy, and fetching policies
// over HTTPS with a cache keyed by the record's id and the policy's
// max_age.
package mtasts

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a policy's mode.
type Mode string

// Policy modes (RFC 8461 section 5).
const (
	Enforce Mode = "enforce" // deliver only to matching MX hosts over verified TLS
	Testing Mode = "testing" // deliver as without a policy, but report what enforce would refuse
	None    Mode = "none"    // the domain withdrew its policy
)

// MaxAgeLimit is the largest max_age honoured (RFC 8461 section 3.2: about
// one year); larger values are clamped to it.
const MaxAgeLimit = 31557600 * time.Second

// Policy is a parsed policy file.
type Policy struct {
	Mode   Mode
	MX     []string // patterns: "mx.example.com" or "*.example.com", lower case
	MaxAge time.Duration
}

// Parse parses a policy file (RFC 8461 section 3.2). Lines end in CRLF or
// LF; unknown keys are ignored as the RFC demands, and for a repeated
// single-valued key the first value counts. version, mode and max_age are
// required, and at least one mx unless the mode is none.
func Parse(b []byte) (*Policy, error) {
	var (
		p                          Policy
		haveVersion, haveMode, age bool
	)
	for n, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("policy line %d: no colon", n+1)
		}
		key, val := string(k), strings.TrimSpace(string(v))
		if !validKey(key) {
			return nil, fmt.Errorf("policy line %d: bad key %q", n+1, key)
		}
		switch key {
		case "version":
			if haveVersion {
				continue
			}
			if val != "STSv1" {
				return nil, fmt.Errorf("policy version %q, want STSv1", val)
			}
			haveVersion = true
		case "mode":
			if haveMode {
				continue
			}
			switch m := Mode(val); m {
			case Enforce, Testing, None:
				p.Mode = m
			default:
				return nil, fmt.Errorf("policy mode %q, want enforce, testing or none", val)
			}
			haveMode = true
		case "max_age":
			if age {
				continue
			}
			if val == "" || len(val) > 10 || strings.Trim(val, "0123456789") != "" {
				return nil, fmt.Errorf("policy max_age %q is not a number of seconds", val)
			}
			s, _ := strconv.ParseInt(val, 10, 64) // 10 digits always fit
			p.MaxAge = time.Duration(min(s, int64(MaxAgeLimit/time.Second))) * time.Second
			age = true
		case "mx":
			pat := strings.ToLower(strings.TrimSuffix(val, "."))
			if !validPattern(pat) {
				return nil, fmt.Errorf("policy mx %q is not a host name or *.domain pattern", val)
			}
			p.MX = append(p.MX, pat)
		}
	}
	switch {
	case !haveVersion:
		return nil, errors.New("policy has no version")
	case !haveMode:
		return nil, errors.New("policy has no mode")
	case !age:
		return nil, errors.New("policy has no max_age")
	case len(p.MX) == 0 && p.Mode != None:
		return nil, errors.New("policy has no mx")
	}
	return &p, nil
}

// validKey reports whether k is a policy key: 1 to 32 of ALPHA, DIGIT and
// "_", "-", ".".
func validKey(k string) bool {
	if k == "" || len(k) > 32 {
		return false
	}
	for _, c := range []byte(k) {
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// validPattern reports whether pat is a lower-case host name, optionally
// with a "*." first label.
func validPattern(pat string) bool {
	pat = strings.TrimPrefix(pat, "*.")
	if pat == "" || len(pat) > 253 {
		return false
	}
	for _, label := range strings.Split(pat, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

// Match reports whether the MX host name host is allowed by the policy: it
// equals a pattern, or a "*.domain" pattern matches it with exactly one
// label in place of the "*" (RFC 8461 section 4.1). Case and a trailing dot
// do not matter.
func (p *Policy) Match(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// ParseRecord parses an _mta-sts TXT record (RFC 8461 section 3.1),
// "v=STSv1; id=20160831085700Z;", and returns its id.
func ParseRecord(txt string) (string, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", errors.New("record does not start with v=STSv1")
	}
	id := ""
	for _, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || !validKey(k) {
			return "", fmt.Errorf("record field %q is not key=value", f)
		}
		if k == "id" && id == "" {
			if v == "" || len(v) > 32 || !allAlnum(v) {
				return "", fmt.Errorf("record id %q is not 1 to 32 letters and digits", v)
			}
			id = v
		}
	}
	if id == "" {
		return "", errors.New("record has no id")
	}
	return id, nil
}

func allAlnum(s string) bool {
	for _, c := range []byte(s) {
		if !isAlnum(c) {
			return false
		}
	}
	return true
}

// IsRecord reports whether a TXT string claims to be an MTA-STS record;
// others at the name are ignored (RFC 8461 section 3.1).
func IsRecord(txt string) bool {
	rest, ok := strings.CutPrefix(txt, "v=STSv1")
	return ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";")
}
