package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"mailout/delivery"
	"mailout/message"
	"mailout/profiles"
	"mailout/sendmail"
)

// runSendmail is sendmail mode (argv[0] "sendmail", or `mailout sendmail`):
// a complete message on stdin, relayed with only the documented fix-ups.
// Callers throw stderr away, so every outcome also goes to the log.
func (r *runner) runSendmail(ctx context.Context, args []string) error {
	if len(args) == 1 && args[0] == "--help" {
		_, err := fmt.Fprint(r.env.Stdout, sendmailHelp)
		return err
	}
	inv, err := sendmail.Parse(args)
	if err != nil {
		return withCode(exitUsage, err)
	}
	switch inv.Mode {
	case "p":
		return r.runApp(ctx, withConfig([]string{"mailout", "queue", "list"}, inv.Config))
	case "q":
		return r.runApp(ctx, withConfig([]string{"mailout", "queue", "flush"}, inv.Config))
	}
	cfg, err := r.sendmailConfig(inv)
	if err != nil {
		if inv.Mode == "s" {
			// Frameworks show the SMTP reply, and often drop stderr.
			sendmail.Refuse(r.env.Stdout, "mailout: "+err.Error())
		}
		return err
	}
	for _, w := range append(cfg.Warnings, inv.Warnings...) {
		r.logf(cfg, "warning: %s", w)
	}
	if inv.Mode == "s" {
		return r.serveSendmail(ctx, cfg, inv)
	}
	s, err := r.newSendmailRun(cfg, inv, r.env.Stdin)
	if err != nil {
		r.logFailure(cfg, inv, err)
		return err
	}
	defer s.cleanup()
	_, err = r.sendmailDeliver(ctx, s)
	return err
}

func (r *runner) sendmailConfig(inv sendmail.Invocation) (*profiles.Config, error) {
	path, err := profiles.Locate(inv.Config, r.env.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := profiles.Load(path)
	if err != nil {
		return nil, err
	}
	r.cfg, r.cfgDone = cfg, true
	return cfg, nil
}

// serveSendmail is -bs: SMTP on stdin and stdout, each message taken
// through the same fix-ups and delivery as a piped one, the relay's answer
// passed back as the reply to its DATA.
func (r *runner) serveSendmail(ctx context.Context, cfg *profiles.Config, inv sendmail.Invocation) error {
	// A client that goes away closes our stdout too; the reply then fails
	// to write, which must not kill us (SIGPIPE) before the exit status
	// says whether a message was cut short.
	signal.Ignore(syscall.SIGPIPE)
	deliver := func(ctx context.Context, env sendmail.Envelope, msg io.Reader) (string, error) {
		one := inv
		one.Sender, one.Recipients, one.Headers, one.IgnoreDots = env.From, env.To, false, true
		if one.Sender == "" {
			one.Sender = "<>"
		}
		s, err := r.newSendmailRun(cfg, one, msg)
		if err != nil {
			r.logFailure(cfg, one, err)
			return "", smtpReply(err, nil)
		}
		defer s.cleanup()
		out, err := r.sendmailDeliver(ctx, s)
		switch {
		case err != nil:
			return "", smtpReply(err, out.result)
		case out.queueID != "":
			return "queued as " + out.queueID + " (the relay could not take it now; mailout retries)", nil
		}
		return "sent", nil
	}
	err := sendmail.Serve(ctx, r.env.Stdin, r.env.Stdout, sendmail.ServeOptions{
		Domain: r.env.Hostname(), Deliver: deliver,
		Logf: func(format string, args ...any) { r.logf(cfg, "sendmail -bs: "+format, args...) },
	})
	if errors.Is(err, sendmail.ErrIncomplete) {
		r.logf(cfg, "sendmail -bs: %v", err)
		return withCode(exitTempFail, err)
	}
	return err
}

// smtpReply is the reply after DATA for a failed delivery: res and err
// put in sendmail's terms, the exit status among them.
func smtpReply(err error, res *delivery.Result) error {
	f := sendmail.Failure{Err: err, Accepted: res != nil && res.Accepted() > 0, Exit: exitCode(err)}
	var de *delivery.Error
	if errors.As(err, &de) {
		f.RelayCode, f.RelayText, f.RelayHost, f.Rcpt = de.Code, de.Reply, de.Host, de.Rcpt
	}
	return f.Reply()
}

const sendmailHelp = `mailout sendmail - a sendmail drop-in: relay the message on stdin

USAGE:
   sendmail [flags] [--] RECIPIENT...        (mailout as /usr/sbin/sendmail)
   mailout sendmail [flags] [--] RECIPIENT...

FLAGS:
   -t            also take recipients from To, Cc and Bcc
   -i, -oi       a lone "." line does not end the message
   -f ADDR       envelope sender (-r ADDR too); picks the profile whose from matches
   -F NAME       full name for an added From header
   -C FILE       configuration file
   -bm           send (the default); -bp lists the queue; -q flushes it
   -bs           speak SMTP on stdin and stdout (Symfony, Laravel)
   -v            SMTP transcript on stderr
   -N, -R, -V, -B  DSN and body type parameters
   Other -oX, -X FILE, -L TAG, -h N, -O OPT=VAL, -G, -U, -m, -n are ignored.

Only these changes are made: Date, Message-ID and From added when missing;
Bcc and Resent-Bcc removed; local To/Cc names and a local From or envelope
sender rewritten per the profile; CRLF line ends; lines over 998 octets
folded; NUL bytes removed from the body. See 'mailout man'.

Examples:
   ln -s "$(command -v mailout)" /usr/sbin/sendmail
   printf 'Subject: test\n\nhello\n' | sendmail -t -i ops@example.com
`

func withConfig(args []string, cfg string) []string {
	if cfg != "" {
		args = append(args, "--config", cfg)
	}
	return args
}

// sendmailRun is one message going through sendmail mode.
type sendmailRun struct {
	cfg     *profiles.Config
	inv     sendmail.Invocation
	profile *profiles.Profile
	env     message.Envelope
	file    string
	msgID   string
}

func (s *sendmailRun) cleanup() { os.Remove(s.file) }

func (r *runner) localDomains() []string {
	fq := r.env.Hostname()
	short, _, _ := strings.Cut(fq, ".")
	return []string{fq, short}
}

// newSendmailRun reads the message from src through the fix-ups into a
// temporary file and settles its envelope.
func (r *runner) newSendmailRun(cfg *profiles.Config, inv sendmail.Invocation, src io.Reader) (*sendmailRun, error) {
	s := &sendmailRun{cfg: cfg, inv: inv}
	locals := r.localDomains()
	isLocal := func(a string) bool { return sendmail.IsLocalAddr(a, locals) }
	sender, null, err := sendmail.ParseSender(inv.Sender)
	if err != nil {
		return nil, err
	}
	if len(cfg.Profiles) == 0 && r.env.Getenv("MAILOUT_PROFILE") == "" {
		return nil, hinted(withCode(exitConfig, errors.New("no profile to send with")),
			"create /etc/mailout/config.toml with a [profiles.NAME] table (see 'mailout --help')")
	}
	p, err := cfg.Choose(r.env.Getenv("MAILOUT_PROFILE"), sender)
	if err != nil {
		return nil, err
	}
	s.profile = p
	login, _ := r.env.LoginName()
	snd := sendmail.ResolveSender(sendmail.SenderPolicy{
		Sender: sender, Null: null, FullName: inv.FullName, ProfileFrom: p.FromAddress(),
		Rewrite: p.FromRewrite, Hostname: r.env.Hostname(), Login: login, IsLocal: isLocal,
	})
	q := sendmail.Qualifier{Expand: cfg.Expand, IsLocal: isLocal}
	now := r.env.Now()
	id, err := message.NewMessageID(r.env.Rand, now, snd.Domain)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "mailout-sendmail-*")
	if err != nil {
		return nil, withCode(exitIOErr, fmt.Errorf("store message: %w", err))
	}
	s.file = f.Name()
	res, err := sendmail.Fixup(f, src, sendmail.FixupOptions{
		IgnoreDots: inv.IgnoreDots, Now: now, MessageID: id, From: snd.From,
		IsLocal: isLocal, Qualify: q.Local, RewriteFrom: p.FromRewrite, ProfileFrom: p.From,
		CollectRecipients: inv.Headers,
	})
	if cerr := f.Close(); err == nil && cerr != nil {
		err = withCode(exitIOErr, cerr)
	}
	if err != nil {
		os.Remove(s.file)
		return nil, err
	}
	for _, w := range res.Warnings {
		r.logf(cfg, "warning: %s", w)
	}
	s.msgID = res.MessageID
	rcpts, err := q.Recipients(inv.Recipients)
	if err != nil {
		os.Remove(s.file)
		return nil, err
	}
	s.env = message.Envelope{From: snd.Envelope, To: message.Dedupe(append(rcpts, res.Recipients...)), DSN: inv.DSN()}
	if len(s.env.To) == 0 {
		os.Remove(s.file)
		return nil, usageErrorf("no recipients: name them as arguments or use -t")
	}
	return s, nil
}

// sendmailDeliver relays the fixed-up message. A temporary failure is
// spooled when queue_dir is set (exit 0), else it is 75: a stray spool
// that nothing flushes is worse than a caller that knows.
func (r *runner) sendmailDeliver(ctx context.Context, s *sendmailRun) (*jsonOutput, error) {
	del := deliveryOptions{verbose: s.inv.Verbose, queueOnFailure: s.cfg.QueueDir != "", queueForLogin: s.cfg.QueueDir != ""}
	og := &outgoing{msg: message.Raw{Src: message.File(s.file)}, env: s.env, messageID: s.msgID, profile: s.profile}
	out := &jsonOutput{}
	return out, r.deliverOutgoing(ctx, s.cfg, og, del, out)
}

func (r *runner) logFailure(cfg *profiles.Config, inv sendmail.Invocation, err error) {
	r.logOutcome(cfg, logRecord{from: inv.Sender, rcpts: inv.Recipients, err: err})
}
