package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"mailout/job"
	"mailout/message"
	"mailout/profiles"
)

// execBodyFlags are send flags that make no sense for exec, whose body is
// the command's output: hidden from its help and refused with 64.
var execBodyFlags = []string{"body", "body-file", "html", "inline", "template", "var", "data", "skip-empty"}

// newExecCommand is `mailout exec`.
func (r *runner) newExecCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "when", Usage: "mail on `RULE`: failure (default; non-zero exit or a signal), stderr (also anything on stderr), output (also anything printed) or always"},
		&cli.DurationFlag{Name: "timeout", Usage: "stop COMMAND after `DURATION` (SIGTERM, SIGKILL 10s later) and exit 124"},
	}
	for _, f := range sendFlags() {
		hideFlag(f, slices.Contains(execBodyFlags, f.Names()[0]))
		flags = append(flags, f)
	}
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command and mail its output when it fails",
		ArgsUsage: "[RECIPIENT...] -- COMMAND [ARG...]",
		Description: `Runs COMMAND with stdin passed through, keeps its stdout and stderr
interleaved (the first and last 512 KiB), and mails them per --when.
Recipients: the arguments, else $MAILTO, else the profile's from.
mailout exits with COMMAND's status (128+N for signal N, 124 on --timeout,
127 not found, 126 not executable); when the mail cannot be sent, the
output goes to stderr instead.

Examples:
   mailout exec ops@example.com -- /usr/local/bin/backup.sh --full
   mailout exec --when stderr --timeout 2h -- rsync -a /srv/ backup:/srv/
   MAILTO=ops@example.com mailout exec -P cron -s "nightly import" -- ./import.sh`,
		Flags:  flags,
		Action: r.execAction,
	}
}

// hideFlag sets the Hidden field of the flag kinds send uses.
func hideFlag(f cli.Flag, hidden bool) {
	switch f := f.(type) {
	case *cli.StringFlag:
		f.Hidden = hidden
	case *cli.StringSliceFlag:
		f.Hidden = hidden
	case *cli.BoolFlag:
		f.Hidden = hidden
	}
}

// execOptions is everything exec's flags and arguments say.
type execOptions struct {
	send       sendOptions
	when       string
	timeout    time.Duration
	bodyFlags  []string // send flags given that exec refuses
	command    []string // what follows --
	hasCommand bool     // whether -- was given at all
}

func (r *runner) readExecOptions(c *cli.Context) execOptions {
	o := execOptions{send: readSendOptions(c), when: c.String("when"), timeout: c.Duration("timeout"),
		command: r.execArgs, hasCommand: r.hasExec}
	for _, name := range execBodyFlags {
		if c.IsSet(name) {
			o.bodyFlags = append(o.bodyFlags, name)
		}
	}
	return o
}

func (r *runner) execAction(c *cli.Context) error {
	o := r.readExecOptions(c)
	out := &jsonOutput{enabled: o.send.del.json, w: r.env.Stdout}
	code, err, mailErr := r.exec(c.Context, o, out)
	if err != nil {
		r.finishExecJSON(out, err, code)
		return err
	}
	r.finishExecJSON(out, mailErr, code)
	if code != exitOK {
		return silentError{code: code}
	}
	return nil
}

// exec validates everything, runs the job, and mails the result when the
// --when rule asks. It returns the exit status; err is what stopped it
// before the job ran, mailErr why the mail could not be sent (already
// reported on stderr with the output), after which the status is the job's.
func (r *runner) exec(ctx context.Context, o execOptions, out *jsonOutput) (code int, err, mailErr error) {
	when, err := o.validate()
	if err != nil {
		return exitCode(err), err, nil
	}
	cfg, err := r.loadConfig(o.send.del.config)
	if err != nil {
		return exitCode(err), err, nil
	}
	d, err := r.execDraft(cfg, o.send)
	if err != nil {
		return exitCode(err), err, nil
	}
	defer d.close()

	ctx = context.WithoutCancel(ctx)
	// On a terminal the command shares our process group, the terminal's
	// foreground, so it may read the terminal; Ctrl-C then reaches it
	// directly and is not forwarded a second time.
	interactive := r.env.StdinTTY
	sigs := make(chan os.Signal, 4)
	if interactive {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	} else {
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	}
	defer signal.Stop(sigs)
	res := job.Run(ctx, job.Options{
		Foreground: interactive,
		Args:       o.command,
		Stdin:      r.env.Stdin,
		Env:        job.FilterEnv(r.env.Environ(), secretVars(cfg)...),
		Timeout:    o.timeout,
		Merge:      when != job.WhenStderr,
		Signals:    sigs,
		Now:        r.env.Now,
	})

	mailIt, err := job.ShouldMail(when, res)
	if err != nil {
		return exitSoftware, err, nil
	}
	if !mailIt {
		out.status = "skipped"
		return res.ExitCode, nil, nil
	}
	if d.subject == "" {
		d.subject = res.Subject(shortHost(r.env.Hostname()))
	}
	d.text = message.Bytes(res.Body())

	// A signal from now on aborts a send that hangs, rather than nothing.
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	drainSignals(sigs)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-sendCtx.Done():
		}
	}()
	if mailErr = r.dispatch(sendCtx, cfg, d, o.send.del, o.send.dryRun, out); mailErr != nil {
		r.reportUnsent(res, mailErr)
	}
	return res.ExitCode, nil, mailErr
}

// validate checks the flags and the command before anything runs, and
// returns the --when rule.
func (o *execOptions) validate() (string, error) {
	if o.send.skipEmpty {
		return "", usageErrorf("-E does not apply to exec: use --when to choose when to mail")
	}
	if len(o.bodyFlags) > 0 {
		return "", usageErrorf("--%s does not apply to exec: the body is the command's output", o.bodyFlags[0])
	}
	if err := o.send.validate(); err != nil {
		return "", err
	}
	when, err := job.ParseWhen(o.when)
	if err != nil {
		return "", usageErrorf("%w", err)
	}
	if o.timeout < 0 {
		return "", usageErrorf("--timeout %s: must not be negative", o.timeout)
	}
	if !o.hasCommand || len(o.command) == 0 || o.command[0] == "" {
		return "", &codeError{code: exitUsage, err: errors.New("no command to run: put it after --"),
			hint: "mailout exec [flags] [RECIPIENT...] -- COMMAND [ARG...]"}
	}
	return when, nil
}

// execDraft builds the message's envelope and headers from the flags and
// checks the profile, so a usage or configuration error stops mailout
// before the job runs. The subject and body come after it.
func (r *runner) execDraft(cfg *profiles.Config, o sendOptions) (*draft, error) {
	d, err := r.newDraft(cfg, o)
	if err != nil {
		return nil, err
	}
	if o.del.server != "" {
		if _, err := r.serverOptions(routeFor(nil, o.del)); err != nil {
			return nil, err
		}
	}
	sender := ""
	if d.from != nil {
		sender = d.from.Address
	}
	p, err := r.chooseProfile(cfg, o.del, sender, o.dryRun)
	if err != nil {
		return nil, err
	}
	if len(d.to)+len(d.cc)+len(d.bcc) == 0 {
		if d.to, err = r.defaultRecipients(cfg, p); err != nil {
			return nil, err
		}
	}
	if !hasHeader(d.headers, "Auto-Submitted") {
		d.headers = append(d.headers, message.Field{Name: "Auto-Submitted", Value: "auto-generated"})
	}
	return d, nil
}

// defaultRecipients is $MAILTO (a comma list, as cron reads it), else the
// profile's from.
func (r *runner) defaultRecipients(cfg *profiles.Config, p *profiles.Profile) ([]*mail.Address, error) {
	if v := strings.TrimSpace(r.env.Getenv("MAILTO")); v != "" {
		list, err := resolveRecipients(cfg, []string{v}, fromData)
		if err != nil {
			return nil, fmt.Errorf("$MAILTO: %w", err)
		}
		return list, nil
	}
	if p != nil && p.From != "" {
		a, err := message.ParseAddress(p.From)
		if err != nil {
			return nil, withCode(exitConfig, fmt.Errorf("profile %q: from: %w", p.Name, err))
		}
		return []*mail.Address{a}, nil
	}
	return nil, &codeError{code: exitUsage, err: errors.New("no recipients: name an address, set $MAILTO, or use a profile with a from address"),
		hint: "mailout exec ops@example.com -- COMMAND"}
}

// reportUnsent puts the output on stderr, with the error, so that cron's
// own mail (or a log) still gets it.
func (r *runner) reportUnsent(res *job.Result, err error) {
	r.report(fmt.Errorf("could not mail the output of %s (%s): %w", res.Args[0], res.Status(), err))
	if len(res.Output) == 0 {
		return
	}
	r.env.Stderr.Write(res.Output)
	if res.Output[len(res.Output)-1] != '\n' {
		fmt.Fprintln(r.env.Stderr)
	}
}

// finishExecJSON prints the --json object of exec: its exit_code is what
// mailout exits with, the job's status once the job has run.
func (r *runner) finishExecJSON(out *jsonOutput, err error, code int) {
	if !out.enabled {
		return
	}
	obj := out.object(err)
	obj.ExitCode = code
	jsonLine(out.w, obj)
}

// secretVars names the variables the job must not see.
func secretVars(cfg *profiles.Config) []string {
	names := []string{"MAILOUT_PASSWORD"}
	if cfg != nil {
		for _, p := range cfg.Profiles {
			for _, v := range []string{p.PasswordEnv, p.OAuthClientSecretEnv} {
				if v != "" {
					names = append(names, v)
				}
			}
		}
	}
	return names
}

// shortHost is the host name up to the first dot, as cron's subjects use.
func shortHost(h string) string {
	name, _, _ := strings.Cut(h, ".")
	return name
}

func hasHeader(fields []message.Field, name string) bool {
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// drainSignals empties ch of signals the job has already had.
func drainSignals(ch <-chan os.Signal) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
