package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"time"
)

// Kind classifies a delivery failure by what the caller can do about it.
type Kind int

// Kinds of failure, each mapping to one sysexits code in the command layer.
const (
	Temporary   Kind = iota + 1 // 4xx, timeout, refused or dropped connection: retrying can succeed
	Rejected                    // a recipient refused permanently (5xx to RCPT)
	Unavailable                 // permanent refusal, TLS required or unverifiable, AUTH required but not offered
	HostUnknown                 // no such domain, no MX/A/AAAA, null MX
	AuthFailed                  // the server refused the credentials
	Config                      // no usable secret, bad TLS files: fix the configuration
	Data                        // the message cannot be sent as it is (non-ASCII address without SMTPUTF8 is Unavailable)
)

var kindNames = map[Kind]string{
	Temporary: "temporary", Rejected: "rejected", Unavailable: "unavailable",
	HostUnknown: "host unknown", AuthFailed: "authentication failed", Config: "configuration", Data: "data",
}

func (k Kind) String() string { return kindNames[k] }

// severity orders kinds as SPEC.md's mixed-outcome rule does: permanent
// before temporary, so a temporary result always means a retry can fix all.
func (k Kind) severity() int {
	switch k {
	case AuthFailed:
		return 7
	case Config:
		return 6
	case Data:
		return 5
	case HostUnknown:
		return 4
	case Rejected:
		return 3
	case Unavailable:
		return 2
	case Temporary:
		return 1
	}
	return 0
}

// Error is a classified delivery failure.
type Error struct {
	Kind  Kind
	Op    string // connect, tls, auth, mail, rcpt, data, dns
	Host  string // server it happened at, if any
	Rcpt  string // recipient it concerns, if one
	Code  int    // SMTP reply code, if any
	Reply string // SMTP reply text, if any
	// RetryAfter is how long the server asked us to wait before retrying
	// (HTTP Retry-After); 0 when it did not say.
	RetryAfter time.Duration
	// Detail says what went wrong when the cause's own text is not the
	// one to show ("timed out" for an i/o timeout); "" shows Err's.
	Detail string
	// Err is the cause, as the network, TLS, DNS or SMTP client reported
	// it: errors.Is and errors.As see through an *Error to it.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Rcpt != "" {
		fmt.Fprintf(&b, "%s: ", e.Rcpt)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, "%s: server %s said %d %s", e.Op, e.Host, e.Code, e.Reply)
		return b.String()
	}
	if e.Host != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Op, e.Host)
	} else if e.Op != "" {
		fmt.Fprintf(&b, "%s: ", e.Op)
	}
	switch {
	case e.Detail != "":
		b.WriteString(e.Detail)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	}
	return strings.TrimSuffix(b.String(), ": ")
}

// Unwrap returns the cause, so that errors.Is(err, context.Canceled) and
// errors.As(err, &netErr) work on delivery errors.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of a delivery error, or 0 for other errors.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// IsTemporary reports whether err is a failure a later retry can fix:
// what a spool keeps.
func IsTemporary(err error) bool { return KindOf(err) == Temporary }

// IsFatal reports whether err will recur for every message sent the same
// way: the server refused the credentials, or the configuration (secret,
// key, TLS files) is unusable. A batch stops at the first one, so wrong
// credentials cost one failed AUTH, not one per message.
func IsFatal(err error) bool {
	switch KindOf(err) {
	case AuthFailed, Config:
		return true
	}
	return false
}

// DroppedBeforeMail reports a connection that failed at MAIL without an
// SMTP reply: nothing of the message was sent, so a kept session that
// the server had closed can be replaced and the message sent on a fresh
// one at once.
func DroppedBeforeMail(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Temporary && e.Op == "mail" && e.Code == 0
}

// LostInData reports a connection lost while the message was being sent
// or before its final reply: the server may have accepted it, so an
// immediate retry could deliver it twice.
func LostInData(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Temporary && e.Op == "data" && e.Code == 0
}

// Retryable reports whether a failed delivery may be tried again at once:
// a temporary failure that cannot have delivered the message already.
func Retryable(err error) bool { return IsTemporary(err) && !LostInData(err) }

// Worst returns the error that decides the exit status among errs.
func Worst(errs ...error) error {
	var worst error
	best := -1
	for _, err := range errs {
		if err == nil {
			continue
		}
		s := KindOf(err).severity()
		if s > best {
			worst, best = err, s
		}
	}
	return worst
}

// replyError classifies an SMTP reply error at op.
func replyError(op, host, rcpt string, err error) *Error {
	var te *textproto.Error
	if errors.As(err, &te) {
		k := Unavailable
		if te.Code/100 == 4 {
			k = Temporary
		} else if op == "rcpt" {
			k = Rejected
		} else if op == "auth" && (te.Code == 535 || te.Code == 534 || te.Code == 530 || te.Code == 538) {
			k = AuthFailed
		}
		return &Error{Kind: k, Op: op, Host: host, Rcpt: rcpt, Code: te.Code, Reply: te.Msg, Err: err}
	}
	return netError(op, host, err)
}

// netError classifies a transport-level error: TLS verification problems
// are permanent (69), everything else on the wire is temporary.
func netError(op, host string, err error) *Error {
	var (
		uae  x509.UnknownAuthorityError
		hne  x509.HostnameError
		cie  x509.CertificateInvalidError
		ve   *tls.CertificateVerificationError
		dnse *net.DNSError
		pin  *PinError
	)
	switch {
	case errors.As(err, &ve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie), errors.As(err, &pin):
		return &Error{Kind: Unavailable, Op: "tls", Host: host, Detail: "certificate not trusted: " + err.Error(), Err: err}
	case errors.As(err, &dnse) && dnse.IsNotFound:
		return &Error{Kind: HostUnknown, Op: op, Host: host, Detail: "no such host", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: Temporary, Op: op, Host: host, Detail: "interrupted", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Kind: Temporary, Op: op, Host: host, Detail: "connection refused", Err: err}
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: Temporary, Op: op, Host: host, Detail: "timed out", Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: Temporary, Op: op, Host: host, Detail: "timed out", Err: err}
	}
	return &Error{Kind: Temporary, Op: op, Host: host, Err: err}
}

// dnsError classifies a failed lookup of name: a name that does not exist
// is permanent, anything else (timeout, SERVFAIL, no answer) temporary.
func dnsError(name string, err error) *Error {
	var dnse *net.DNSError
	switch {
	case errors.As(err, &dnse) && dnse.IsNotFound:
		return &Error{Kind: HostUnknown, Op: "dns", Host: name, Detail: "no such domain", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: Temporary, Op: "dns", Host: name, Detail: "interrupted", Err: err}
	case errors.As(err, &dnse) && dnse.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: Temporary, Op: "dns", Host: name, Detail: "lookup timed out", Err: err}
	case errors.As(err, &dnse):
		return &Error{Kind: Temporary, Op: "dns", Host: name, Detail: "lookup failed: " + dnse.Err, Err: err}
	}
	return &Error{Kind: Temporary, Op: "dns", Host: name, Err: err}
}

// PinError reports a server certificate whose SHA-256 does not match the
// pinned tls_fingerprint.
type PinError struct {
	Want, Got string
}

func (e *PinError) Error() string {
	return fmt.Sprintf("certificate fingerprint %s does not match the pinned %s", e.Got, e.Want)
}
