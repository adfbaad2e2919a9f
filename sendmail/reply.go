package sendmail

// The sysexits(3) statuses that decide a permanent reply after DATA.
const (
	exUsage       = 64 // EX_USAGE
	exNoUser      = 67 // EX_NOUSER
	exNoHost      = 68 // EX_NOHOST
	exUnavailable = 69 // EX_UNAVAILABLE
)

// Failure is a message of the -bs dialogue that could not be relayed, in
// the terms its reply depends on. The caller fills it from its delivery
// outcome, so this package knows nothing of how the message was relayed.
type Failure struct {
	// Err is what went wrong; its text is the reply's, unless the relay's
	// own refusal is passed back.
	Err error
	// Accepted says the relay took the message for some recipients.
	Accepted bool
	// RelayCode is the relay's own reply code when it refused (4xx or 5xx);
	// 0 when it gave none. RelayText is that reply's text, RelayHost the
	// relay, and Rcpt the recipient it refused, if it concerned one.
	RelayCode                  int
	RelayText, RelayHost, Rcpt string
	// Exit is the sysexits status the caller maps Err to: 67 (EX_NOUSER)
	// and 68 (EX_NOHOST) are refused with 550, 69 (EX_UNAVAILABLE) and 64
	// (EX_USAGE) with 554.
	Exit int
}

// Reply is the answer to the end of DATA for a failed message, as
// [DeliverFunc] returns it. A message the relay took for some recipients
// is a 250 that names the refused ones: a 5xx would make the client send
// it again to those who already have it. Otherwise the relay's own code
// and text are passed back when it refused, 5xx is given for what can
// never be sent, and Err itself for the rest, which [Serve] answers with
// 554 5.6.0 for a *DataError and 451 (try again) for anything else.
func (f Failure) Reply() error {
	if f.Accepted {
		return &Reply{Code: 250, Text: "sent, but not to all: " + f.Err.Error()}
	}
	if f.RelayCode >= 400 && f.RelayCode < 600 {
		text := f.RelayText + " (relay " + f.RelayHost
		if f.Rcpt != "" {
			text += ", for " + f.Rcpt
		}
		return &Reply{Code: f.RelayCode, Text: text + ")"}
	}
	switch f.Exit {
	case exNoUser, exNoHost:
		return &Reply{Code: 550, Text: f.Err.Error()}
	case exUnavailable, exUsage:
		return &Reply{Code: 554, Text: f.Err.Error()}
	}
	return f.Err
}
