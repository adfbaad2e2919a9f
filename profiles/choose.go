package profiles

import (
	"fmt"
	"strings"

	"mailout/message"
)

// Choose picks the profile for a message. The first rule that applies wins:
//
//  1. name (-P, --profile, MAILOUT_PROFILE), which must exist;
//  2. the profile whose From address equals sender, the envelope sender
//     (-r, sendmail -f), compared case-insensitively; sender may be a bare
//     address or "Name <addr>". When several profiles match, default_profile
//     wins if it is one of them, else the first by name;
//  3. default_profile;
//  4. the only profile.
//
// Otherwise it returns a [*ConfigError] that lists the profiles.
func (c *Config) Choose(name, sender string) (*Profile, error) {
	if name != "" {
		if p, ok := c.Profiles[name]; ok {
			return p, nil
		}
		return nil, c.chooseError("no profile %q", name)
	}
	if addr := bareAddress(sender); addr != "" {
		var match *Profile
		for _, n := range c.Names() {
			p := c.Profiles[n]
			if !strings.EqualFold(p.FromAddress(), addr) {
				continue
			}
			if match == nil || n == c.DefaultProfile {
				match = p
			}
		}
		if match != nil {
			return match, nil
		}
	}
	if c.DefaultProfile != "" {
		if p, ok := c.Profiles[c.DefaultProfile]; ok {
			return p, nil
		}
		return nil, c.chooseError("default_profile %q does not exist", c.DefaultProfile)
	}
	switch len(c.Profiles) {
	case 1:
		for _, p := range c.Profiles {
			return p, nil
		}
	case 0:
		return nil, c.chooseError("no profile to send with")
	}
	return nil, c.chooseError("several profiles and no default_profile: choose one with -P/--profile or set default_profile")
}

func (c *Config) chooseError(format string, args ...any) *ConfigError {
	msg := fmt.Sprintf(format, args...)
	if c.Path == "" {
		msg += " (no config file found)"
	} else {
		msg += listProfiles(c)
	}
	return &ConfigError{File: c.Path, Msg: msg}
}

// bareAddress extracts the address from "a@b", "<a@b>" or "Name <a@b>".
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if a, err := message.ParseAddress(s); err == nil {
		return a.Address
	}
	return strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
}
