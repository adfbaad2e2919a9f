package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"

	"mailout/delivery"
	"mailout/message"
	"mailout/oauth"
	"mailout/profiles"
)

// outgoing is a composed message with its envelope and where it goes.
type outgoing struct {
	msg       message.Message
	env       message.Envelope
	messageID string
	profile   *profiles.Profile
	fromStdin bool
}

// chooseProfile applies SPEC.md's profile choice; --server, --mx and
// --dry-run work without any configuration.
func (r *runner) chooseProfile(cfg *profiles.Config, del deliveryOptions, sender string, dryRun bool) (*profiles.Profile, error) {
	if del.server != "" {
		return nil, nil
	}
	if cfg == nil || len(cfg.Profiles) == 0 {
		if del.mx || dryRun {
			return nil, nil
		}
		if cfg != nil && cfg.Path != "" {
			return nil, hinted(withCode(exitConfig, fmt.Errorf("%s defines no profile", cfg.Path)), "add a [profiles.NAME] table, or use --server HOST")
		}
		return nil, hinted(withCode(exitConfig, errors.New("no configuration file found")),
			"create ~/.config/mailout/config.toml with a [profiles.NAME] table, or use --server HOST, --mx or --dry-run")
	}
	p, err := cfg.Choose(del.profile, sender)
	if err != nil && (dryRun || del.mx) && del.profile == "" {
		return nil, nil
	}
	return p, err
}

// defaultFrom is the profile's from, else its username when that is an
// address, else LOGIN@FQDN from the passwd entry (never $USER, which cron
// leaves unset).
func (r *runner) defaultFrom(p *profiles.Profile) (*mail.Address, error) {
	if p != nil && p.From != "" {
		return message.ParseAddress(p.From)
	}
	if p != nil && strings.Contains(p.Username, "@") {
		if a, err := message.ParseAddress(p.Username); err == nil {
			return a, nil
		}
	}
	login, _ := r.env.LoginName()
	return message.ParseAddress(message.LoginAddress(login, r.env.Hostname()))
}

// compose turns a draft into a message and an envelope.
func (r *runner) compose(d *draft, p *profiles.Profile) (*outgoing, error) {
	from := d.from
	if from == nil {
		var err error
		if from, err = r.defaultFrom(p); err != nil {
			return nil, err
		}
	}
	var rcpts []string
	for _, list := range [][]*mail.Address{d.to, d.cc, d.bcc} {
		for _, a := range list {
			rcpts = append(rcpts, a.Address)
		}
	}
	rcpts = message.Dedupe(rcpts)
	if len(rcpts) == 0 {
		return nil, usageErrorf("no recipients: name at least one address")
	}
	now := r.env.Now()
	id, err := message.NewMessageID(r.env.Rand, now, message.Domain(from.Address))
	if err != nil {
		return nil, err
	}
	m, err := message.New(message.Spec{
		From: from, To: d.to, Cc: d.cc, ReplyTo: d.replyTo, Subject: d.subject,
		Date: now, MessageID: id, Headers: d.headers, Text: d.text, HTML: d.html, Parts: d.parts,
	})
	if err != nil {
		return nil, err
	}
	return &outgoing{msg: m, env: message.Envelope{From: from.Address, To: rcpts}, messageID: id, profile: p, fromStdin: d.fromStdin}, nil
}

func (r *runner) dispatch(ctx context.Context, cfg *profiles.Config, d *draft, del deliveryOptions, dryRun bool, out *jsonOutput) error {
	sender := ""
	if d.from != nil {
		sender = d.from.Address
	}
	p, err := r.chooseProfile(cfg, del, sender, dryRun)
	if err != nil {
		return err
	}
	og, err := r.compose(d, p)
	if err != nil {
		return err
	}
	out.messageID = og.messageID
	if p != nil {
		out.profile = p.Name
	}
	if dryRun {
		return r.printDry(og)
	}
	return r.deliverOutgoing(ctx, cfg, og, del, out)
}

func (r *runner) printDry(og *outgoing) error {
	if _, err := og.msg.WriteTo(r.env.Stdout); err != nil {
		return withCode(exitIOErr, fmt.Errorf("write message: %w", err))
	}
	fmt.Fprintf(r.env.Stderr, "MAIL FROM:<%s>\n", og.env.From)
	for _, rc := range og.env.To {
		fmt.Fprintf(r.env.Stderr, "RCPT TO:<%s>\n", rc)
	}
	return nil
}

// deliverOutgoing hands the message to its transport and deals with the
// outcome: the spool for --queue-on-failure, dead.letter for piped bodies,
// the log line.
func (r *runner) deliverOutgoing(ctx context.Context, cfg *profiles.Config, og *outgoing, del deliveryOptions, out *jsonOutput) (err error) {
	defer func() {
		rec := logRecord{from: og.env.From, rcpts: og.env.To, messageID: og.messageID, result: out.result,
			queueID: out.queueID, transport: out.transport, err: err}
		if og.profile != nil {
			rec.profile = og.profile.Name
		}
		r.logOutcome(cfg, rec)
	}()
	o, err := r.deliveryOptions(og.profile, del)
	if err != nil {
		return err
	}
	tr, err := delivery.New(o)
	if err != nil {
		return err
	}
	out.transport = string(o.Transport)
	res, err := tr.Deliver(ctx, og.env, og.msg)
	out.result = res
	if err == nil {
		r.drain(cfg)
		return nil
	}
	err = tokenRefusedHint(og.profile, err)
	if del.queueForLogin {
		// Recipients refused only for a new login are deferred, so
		// sendmail mode spools them: cron mail is never lost to an
		// expired token.
		res.DeferIf(oauth.NeedsLogin)
	}
	if del.queueOnFailure && res != nil {
		if pending := res.Pending(); len(pending) > 0 {
			id, qerr := r.queueMessage(cfg, og, pending, del, err)
			if qerr == nil {
				return r.queued(cfg, res, id, pending, del, out)
			}
			// Not queued: a piped body still goes to dead.letter below.
			err = fmt.Errorf("%w; and queueing failed: %v", err, qerr)
		}
	}
	if og.fromStdin {
		if path, derr := r.saveDeadLetter(og); derr == nil {
			return fmt.Errorf("%w; message saved to %s", err, path)
		} else {
			return fmt.Errorf("%w; could not save the message: %v", err, derr)
		}
	}
	return err
}

// queueOnFailure spools the temporarily failed recipients; the exit status
// then reflects only the permanent failures, if any.
func (r *runner) queueOnFailure(cfg *profiles.Config, og *outgoing, res *delivery.Result, pending []string, del deliveryOptions, out *jsonOutput, err error) error {
	id, qerr := r.queueMessage(cfg, og, pending, del, err)
	if qerr != nil {
		return fmt.Errorf("%w; and queueing failed: %v", err, qerr)
	}
	return r.queued(cfg, res, id, pending, del, out)
}

// queued records the temporarily failed recipients as spooled under id;
// the exit status then reflects only the permanent failures, if any.
func (r *runner) queued(cfg *profiles.Config, res *delivery.Result, id string, pending []string, del deliveryOptions, out *jsonOutput) error {
	out.queueID = id
	var permanent []error
	for i, rr := range res.Recipients {
		if rr.Status == delivery.Deferred {
			res.Recipients[i].Status = delivery.Queued
		} else if rr.Err != nil {
			permanent = append(permanent, rr.Err)
		}
	}
	if res.Accepted() > 0 {
		r.drain(cfg)
	}
	if w := delivery.Worst(permanent...); w != nil {
		return w
	}
	if del.verbose {
		fmt.Fprintf(r.env.Stderr, "mailout: queued as %s for %s\n", id, strings.Join(pending, ", "))
	}
	return nil
}

// stateDir is $XDG_STATE_HOME/mailout, else ~/.local/state/mailout.
func (r *runner) stateDir() string { return r.xdgDir("XDG_STATE_HOME", ".local/state") }

// xdgDir is mailout's folder under the XDG base directory named by the
// variable xdgVar, else under ~/fallback.
func (r *runner) xdgDir(xdgVar, fallback string) string {
	if d := r.env.Getenv(xdgVar); d != "" {
		return filepath.Join(d, "mailout")
	}
	home := r.env.Getenv("HOME")
	if home == "" {
		home = "/"
	}
	return filepath.Join(home, fallback, "mailout")
}

// saveDeadLetter appends the message to dead.letter (mbox), so a piped
// body that could not be sent is never lost.
func (r *runner) saveDeadLetter(og *outgoing) (string, error) {
	dir := r.stateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "dead.letter")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	if err := message.WriteMbox(f, og.env.From, r.env.Now(), og.msg); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
