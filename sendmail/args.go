package sendmail

import (
	"fmt"
	"strings"

	"mailout/message"
)

// Invocation is a parsed sendmail command line.
type Invocation struct {
	// Mode is "" or "m" (-bm) to send a message, "p" (-bp) to list the
	// queue, "q" (-q, or any -qXX) to flush the queue, and "s" (-bs) to
	// speak SMTP on stdin and stdout (see [Serve]). The last mode option
	// wins.
	Mode string
	// Headers (-t) takes recipients from the To, Cc and Bcc headers too.
	Headers bool
	// IgnoreDots (-i, -oi): a line holding a single "." does not end the
	// message.
	IgnoreDots bool
	// Sender is the envelope sender from -f or -r, exactly as given
	// (it may be "<>" or "Name <addr>"; the caller interprets it).
	Sender string
	// FullName is the sender's full name from -F.
	FullName string
	// Config is the configuration file from -C.
	Config string
	// Verbose is -v.
	Verbose bool
	// DSNNotify (-N), DSNRet (-R), EnvID (-V) and BodyType (-B) are the
	// DSN and BODY parameters, exactly as given; Parse has checked them
	// (a bad value is a [*UsageError]). [Invocation.DSN] is the first
	// three as a session sends them. BodyType needs nothing sent: the
	// session declares BODY=8BITMIME whenever the server offers it, which
	// is right for a 7BIT body too.
	DSNNotify, DSNRet, EnvID, BodyType string
	// Recipients are the arguments after the options. An argument holding
	// a comma-separated list is split (commas inside quotes, comments and
	// angle brackets do not split), each piece is trimmed and empty pieces
	// are dropped. A piece may still be in "Name <addr>" form; see
	// [message.ParseAddressList].
	Recipients []string
	// Warnings name the options that were ignored because mailout does not
	// know them, e.g. "ignored unknown option -Z"; the caller logs them.
	Warnings []string
}

// UsageError is a command line that sendmail mode cannot run: an
// unsupported mode such as -bv, a missing option argument, an option after
// the recipients. Callers exit 64 (EX_USAGE).
type UsageError struct {
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

func usageErrorf(format string, args ...any) *UsageError {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// withArg lists the option letters that take an argument, attached (-fuser)
// or as the next word (-f user): sendmail's and Postfix's getopt strings.
// -o and -q are handled apart: they only take the rest of their own word.
const withArg = "ABCDFLMNORVXbdefhpr"

// unsupportedModes explains the -b modes mailout does not implement.
var unsupportedModes = map[byte]string{
	'v': "verify addresses",
	'i': "initialize the alias database",
	't': "address test mode",
	'd': "daemon mode",
	'D': "daemon mode",
	'h': "host status",
	'H': "purge host status",
	'P': "queue counts",
	'a': "ARPANET mode",
}

// Parse parses a sendmail command line, args without argv[0].
//
// It stops at "--" or at the first word that is not an option, as Postfix
// does; every later word is a recipient. A recipient that starts with "-"
// is only accepted after "--": anywhere else it is most likely a misplaced
// option, and Parse returns a [*UsageError] instead of mailing it.
func Parse(args []string) (Invocation, error) {
	var inv Invocation
	i := 0
	dashes := false
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			dashes = true
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		if a[1] == '-' {
			inv.warnf("ignored unknown option %s", a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch {
			case c == 't':
				inv.Headers = true
			case c == 'i':
				inv.IgnoreDots = true
			case c == 'v':
				inv.Verbose = true
			case c == 'm' || c == 'n' || c == 'G' || c == 'U':
				// -m (me too), -n (no aliasing), -G (gateway), -U (initial
				// submission): nothing to do.
			case c == 'I':
				return Invocation{}, usageErrorf("sendmail mode -I (initialize the alias database) is not supported")
			case c == 'o':
				// -oX: the option letter and its value are the rest of the
				// word (-oi, -oem, -odi, -or0s, -oQ/dir).
				switch val := a[j+1:]; val {
				case "i":
					inv.IgnoreDots = true
				case "":
					inv.warnf("ignored option -o without a value")
				}
				j = len(a)
			case c == 'q':
				// -q, -q1h, -qR.site, -qI...: all flush the queue.
				inv.Mode = "q"
				j = len(a)
			case strings.IndexByte(withArg, c) >= 0:
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return Invocation{}, usageErrorf("option -%c needs an argument", c)
					}
					i++
					val = args[i]
				}
				if err := inv.set(c, val); err != nil {
					return Invocation{}, err
				}
				j = len(a)
			default:
				inv.warnf("ignored unknown option -%c", c)
			}
		}
	}
	for _, a := range args[i:] {
		for _, r := range splitRecipients(a) {
			if !dashes && r[0] == '-' {
				return Invocation{}, usageErrorf("%q after the first recipient: put options before recipients, or \"--\" before a recipient that starts with \"-\"", r)
			}
			inv.Recipients = append(inv.Recipients, r)
		}
	}
	if (inv.Mode == "p" || inv.Mode == "q" || inv.Mode == "s") && len(inv.Recipients) > 0 {
		flag := map[string]string{"p": "-bp", "q": "-q", "s": "-bs"}[inv.Mode]
		return Invocation{}, usageErrorf("sendmail %s takes no recipients", flag)
	}
	return inv, nil
}

// set applies an option letter that takes an argument.
func (inv *Invocation) set(c byte, val string) error {
	switch c {
	case 'b':
		if val == "" {
			return usageErrorf("option -b needs an argument")
		}
		switch val[0] {
		case 'm':
			inv.Mode = "m"
		case 'p':
			inv.Mode = "p"
		case 's':
			inv.Mode = "s"
		default:
			if what, ok := unsupportedModes[val[0]]; ok {
				return usageErrorf("sendmail mode -b%c (%s) is not supported", val[0], what)
			}
			return usageErrorf("sendmail mode -b%s is not supported", val)
		}
	case 'f', 'r':
		inv.Sender = val
	case 'F':
		inv.FullName = val
	case 'C':
		inv.Config = val
	case 'N':
		if _, err := notify(val); err != nil {
			return err
		}
		inv.DSNNotify = val
	case 'R':
		if r := strings.ToUpper(val); r != "FULL" && r != "HDRS" {
			return usageErrorf("bad -R value %q: want full or hdrs", val)
		}
		inv.DSNRet = val
	case 'V':
		if err := checkEnvID(val); err != nil {
			return err
		}
		inv.EnvID = val
	case 'B':
		if b := strings.ToUpper(val); b != "7BIT" && b != "8BITMIME" {
			return usageErrorf("bad -B value %q: want 7bit or 8bitmime", val)
		}
		inv.BodyType = val
	case 'X', 'L', 'h', 'O':
		// -X logfile, -L tag, -h hopcount, -O option=value: ignored.
	default:
		// -A, -D, -M, -d, -e, -p: sendmail options mailout has no use for.
		inv.warnf("ignored unsupported option -%c %s", c, val)
	}
	return nil
}

// DSN is the delivery status notification request of -N, -R and -V, in
// the form MAIL FROM and RCPT TO carry it (upper case, NOTIFY keywords in
// RFC 3461 order). Parse has checked the values.
func (inv Invocation) DSN() message.DSN {
	var n string
	if inv.DSNNotify != "" {
		n, _ = notify(inv.DSNNotify)
	}
	return message.DSN{Notify: n, Ret: strings.ToUpper(inv.DSNRet), EnvID: inv.EnvID}
}

// notify checks a -N value, "never" or a comma-separated list of success,
// failure and delay in any case and order, and returns it as NOTIFY= has
// it.
func notify(val string) (string, error) {
	bad := func(why string) (string, error) {
		return "", usageErrorf("bad -N value %q: %s", val, why)
	}
	seen := map[string]bool{}
	for _, k := range strings.Split(val, ",") {
		k = strings.ToUpper(strings.TrimSpace(k))
		switch k {
		case "NEVER", "SUCCESS", "FAILURE", "DELAY":
			seen[k] = true
		case "":
			return bad("an empty keyword; want never, or a comma-separated list of success, failure and delay")
		default:
			return bad(fmt.Sprintf("unknown keyword %q; want never, or a comma-separated list of success, failure and delay", strings.ToLower(k)))
		}
	}
	if seen["NEVER"] {
		if len(seen) > 1 {
			return bad("never cannot be combined with success, failure or delay")
		}
		return "NEVER", nil
	}
	var out []string
	for _, k := range []string{"SUCCESS", "FAILURE", "DELAY"} {
		if seen[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ","), nil
}

// maxEnvID is RFC 3461's limit on an envelope identifier, in characters
// before xtext encoding (section 4.4), as Postfix enforces it.
const maxEnvID = 100

// checkEnvID checks a -V value: 1 to 100 printable US-ASCII characters.
func checkEnvID(val string) error {
	if val == "" || len(val) > maxEnvID {
		return usageErrorf("bad -V value: an envelope id has 1 to %d characters, not %d", maxEnvID, len(val))
	}
	for i := 0; i < len(val); i++ {
		if c := val[i]; c < 0x20 || c > 0x7e {
			return usageErrorf("bad -V value %q: an envelope id is printable US-ASCII", val)
		}
	}
	return nil
}

func (inv *Invocation) warnf(format string, args ...any) {
	inv.Warnings = append(inv.Warnings, fmt.Sprintf(format, args...))
}

// splitRecipients splits one argument into the members of its address
// list ("Doe, John" <john@example.com> is one member, a group is one).
// An argument that does not parse is kept whole: the address check
// downstream rejects it with a better message.
func splitRecipients(s string) []string {
	items, err := message.ParseAddressItems(s)
	if err != nil {
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		return []string{s}
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Raw)
	}
	return out
}
