package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"mailout/delivery"
	"mailout/internal/text"
	"mailout/oauth"
	"mailout/profiles"
	"mailout/spool"
)

func (r *runner) newQueueCommand() *cli.Command {
	return &cli.Command{
		Name:  "queue",
		Usage: "list, show, delete and flush spooled messages",
		Description: `Messages wait here after a temporary failure (--queue-on-failure,
   or sendmail mode with queue_dir set). Every successful send starts a
   detached "queue flush --due" when entries are due; hosts that rarely
   send can run it from a timer.

Examples:
   mailout queue list
   mailout queue flush
   mailout queue flush --due     # for cron or a systemd timer`,
		Action: unknownSubcommand,
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list queued messages", Action: queueAction(false, r.queueList)},
			{Name: "show", Usage: "show a message's envelope and headers", ArgsUsage: "ID", Action: queueAction(true, r.queueShow)},
			{Name: "delete", Usage: "delete a queued message", ArgsUsage: "ID", Action: queueAction(true, r.queueDelete)},
			{Name: "flush", Usage: "deliver queued messages now", Action: queueAction(false, r.queueFlush), Flags: []cli.Flag{
				&cli.BoolFlag{Name: "due", Usage: "only the entries whose back-off has passed"},
			}},
		},
	}
}

// queueDir is queue_dir from the config, else $XDG_STATE_HOME/mailout/queue.
func (r *runner) queueDir(cfg *profiles.Config) string {
	if cfg != nil && cfg.QueueDir != "" {
		return cfg.QueueDir
	}
	return filepath.Join(r.stateDir(), "queue")
}

func (r *runner) openSpool(cfg *profiles.Config) (*spool.Spool, error) {
	dir := r.queueDir(cfg)
	r.spoolMu.Lock()
	defer r.spoolMu.Unlock()
	if sp := r.spools[dir]; sp != nil {
		return sp, nil
	}
	sp, err := spool.Open(dir, r.env.UID, r.env.Now)
	if err != nil {
		return nil, withCode(exitIOErr, fmt.Errorf("open queue: %w", err))
	}
	if r.spools == nil {
		r.spools = map[string]*spool.Spool{}
	}
	r.spools[dir] = sp
	return sp, nil
}

// queueOptions is what the queue subcommands' flags and arguments say.
type queueOptions struct {
	config string // --config
	json   bool
	due    bool   // flush --due
	id     string // show and delete
}

// queueAction reads a queue subcommand's options and runs it; needID says
// whether it takes one queue ID.
func queueAction(needID bool, run func(context.Context, queueOptions) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		o := queueOptions{config: globalString(c, "config"), json: globalBool(c, "json"), due: c.Bool("due")}
		switch {
		case needID && c.NArg() != 1:
			return usageErrorf("queue %s needs one queue ID (see 'mailout queue list')", c.Command.Name)
		case needID:
			o.id = c.Args().First()
		case c.NArg() > 0:
			// "queue flush ID" must not flush every entry.
			return usageErrorf("queue %s takes no arguments (got %q)", c.Command.Name, c.Args().First())
		}
		return run(c.Context, o)
	}
}

func (r *runner) spoolFor(o queueOptions) (*profiles.Config, *spool.Spool, error) {
	cfg, err := r.loadConfig(o.config)
	if err != nil {
		return nil, nil, err
	}
	sp, err := r.openSpool(cfg)
	return cfg, sp, err
}

// queueMessage spools the recipients still pending after a temporary
// failure, with the route the message took, so a flush takes it again.
// Only unauthenticated --server relays can be queued: the spool never
// stores a password.
func (r *runner) queueMessage(cfg *profiles.Config, og *outgoing, pending []string, del deliveryOptions, lastErr error) (string, error) {
	sp, err := r.openSpool(cfg)
	if err != nil {
		return "", err
	}
	e := spool.Entry{Sender: og.env.From, Recipients: pending, DSN: og.env.DSN, Route: routeFor(og.profile, del), Attempts: 1, LastError: text.OneLine(lastErr.Error())}
	e.HonorRetryAfter(lastErr, r.env.Now())
	id, err := sp.Put(e, og.msg)
	if err != nil {
		return "", withCode(exitIOErr, err)
	}
	return id, nil
}

// entryTransport rebuilds the transport a spooled message was sent with.
func (r *runner) entryTransport(cfg *profiles.Config, e spool.Entry) (delivery.Transport, error) {
	var p *profiles.Profile
	if e.Route.Profile != "" {
		if cfg == nil {
			return nil, withCode(exitConfig, fmt.Errorf("profile %q: no configuration file", e.Route.Profile))
		}
		var err error
		if p, err = cfg.Choose(e.Route.Profile, ""); err != nil {
			return nil, err
		}
	}
	o, err := r.routeOptions(p, e.Route, false)
	if err != nil {
		return nil, err
	}
	return delivery.New(o)
}

func (r *runner) queueFlush(ctx context.Context, o queueOptions) error {
	cfg, sp, err := r.spoolFor(o)
	if err != nil {
		return err
	}
	unlock, err := sp.TryLockFlush()
	if errors.Is(err, spool.ErrLocked) {
		if o.due {
			return nil
		}
		return withCode(exitTempFail, errors.New("another queue flush is running; try again when it is done"))
	}
	if err != nil {
		return withCode(exitIOErr, err)
	}
	defer unlock()
	var maxAge time.Duration
	if cfg != nil {
		maxAge = cfg.MaxQueueAge
	}
	// Each route's transport is built once per flush; mail refused only
	// for a new login stays queued.
	deliver := spool.DeliverVia(func(e spool.Entry) (delivery.Transport, error) { return r.entryTransport(cfg, e) }, oauth.NeedsLogin)
	rep := sp.Flush(ctx, spool.FlushOptions{
		Due: o.due, MaxAge: maxAge, KeepExpired: o.due,
		Bounce: func(ctx context.Context, e spool.Entry, reason string) error { return r.bounce(ctx, cfg, e, reason) },
	}, deliver)
	for _, err := range rep.Errors {
		fmt.Fprintf(r.env.Stderr, "mailout: %s\n", text.OneLine(err.Error()))
	}
	var worst []error
	for _, res := range rep.Results {
		for rc, err := range res.Outcome.Permanent {
			fmt.Fprintf(r.env.Stderr, "mailout: queue entry %s: %s: %s\n", res.Entry.ID, rc, text.OneLine(errText(err)))
			worst = append(worst, err)
		}
	}
	if rep.Delivered+rep.Deferred+rep.Failed+rep.Expired > 0 && !o.due {
		fmt.Fprintf(r.env.Stderr, "mailout: queue flush: %d delivered, %d deferred, %d failed, %d expired\n", rep.Delivered, rep.Deferred, rep.Failed, rep.Expired)
	}
	if w := delivery.Worst(worst...); w != nil {
		return silentError{code: exitCode(w)}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return "failed"
	}
	return err.Error()
}

// bounce sends the bounce of an expired entry (spool.BounceMessage) the
// way the entry was to go; it is never itself queued.
func (r *runner) bounce(ctx context.Context, cfg *profiles.Config, e spool.Entry, reason string) error {
	tr, err := r.entryTransport(cfg, e)
	if err != nil {
		return err
	}
	env, m, err := spool.BounceMessage(e, reason, r.env.Hostname(), r.env.Now(), r.env.Rand)
	if err != nil {
		return err
	}
	_, err = tr.Deliver(ctx, env, m)
	return err
}

func (r *runner) queueList(_ context.Context, o queueOptions) error {
	_, sp, err := r.spoolFor(o)
	if err != nil {
		return err
	}
	entries, errs := sp.List()
	for _, err := range errs {
		fmt.Fprintf(r.env.Stderr, "mailout: %s\n", text.OneLine(err.Error()))
	}
	if o.json {
		type jsonEntry struct {
			ID          string    `json:"id"`
			Sender      string    `json:"sender"`
			Recipients  []string  `json:"recipients"`
			Profile     string    `json:"profile,omitempty"`
			Created     time.Time `json:"created"`
			NextAttempt time.Time `json:"next_attempt"`
			Attempts    int       `json:"attempts"`
			LastError   string    `json:"last_error,omitempty"`
			Size        int64     `json:"size"`
		}
		list := []jsonEntry{}
		for _, e := range entries {
			list = append(list, jsonEntry{e.ID, e.Sender, e.Recipients, e.Route.Profile, e.Created, e.NextAttempt, e.Attempts, e.LastError, e.Size})
		}
		return writeJSON(r.env.Stdout, list)
	}
	if len(entries) == 0 {
		fmt.Fprintln(r.env.Stdout, "Mail queue is empty")
		return nil
	}
	tw := tabwriter.NewWriter(r.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tSIZE\tSENDER\tRECIPIENTS\tATTEMPTS\tLAST ERROR")
	now := r.env.Now()
	for _, e := range entries {
		sender := e.Sender
		if sender == "" {
			sender = "<>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\n", e.ID, age(now.Sub(e.Created)), e.Size, sender, strings.Join(e.Recipients, ","), e.Attempts, e.LastError)
	}
	return tw.Flush()
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func (r *runner) queueShow(_ context.Context, o queueOptions) error {
	_, sp, err := r.spoolFor(o)
	if err != nil {
		return err
	}
	e, rc, err := sp.Open(o.id)
	if err != nil {
		return queueErr(err)
	}
	defer rc.Close()
	w := r.env.Stdout
	fmt.Fprintf(w, "ID: %s\nSender: <%s>\nRecipients: %s\nProfile: %s\nCreated: %s\nAttempts: %d\nNext attempt: %s\nLast error: %s\nSize: %d\n\n",
		e.ID, e.Sender, strings.Join(e.Recipients, ", "), e.Route.Profile, e.Created.Format(time.RFC3339), e.Attempts, e.NextAttempt.Format(time.RFC3339), e.LastError, e.Size)
	br := bufio.NewReader(rc)
	for {
		line, err := br.ReadString('\n')
		if strings.TrimRight(line, "\r\n") == "" {
			return nil
		}
		io.WriteString(w, strings.TrimRight(line, "\r\n")+"\n")
		if err != nil {
			return nil
		}
	}
}

func queueErr(err error) error {
	if errors.Is(err, spool.ErrNotFound) {
		return withCode(exitUsage, fmt.Errorf("%w (see 'mailout queue list')", err))
	}
	return withCode(exitIOErr, err)
}

func (r *runner) queueDelete(_ context.Context, o queueOptions) error {
	_, sp, err := r.spoolFor(o)
	if err != nil {
		return err
	}
	return queueErr(sp.Delete(o.id))
}

// drain starts a detached "queue flush --due" when due entries wait, so a
// host that sends now and then drains its own queue without a daemon.
func (r *runner) drain(cfg *profiles.Config) {
	if r.env.Executable == nil {
		return
	}
	// Nothing was ever queued: do not create the queue folder (spool.Open
	// would) on every send.
	if _, err := os.Stat(filepath.Join(r.queueDir(cfg), strconv.Itoa(r.env.UID))); err != nil {
		return
	}
	sp, err := spool.Open(r.queueDir(cfg), r.env.UID, r.env.Now)
	if err != nil {
		return
	}
	if due, err := sp.HasDue(); err != nil || !due {
		return
	}
	exe, err := r.env.Executable()
	if err != nil {
		return
	}
	args := []string{"queue", "flush", "--due"}
	if cfg != nil && cfg.Path != "" {
		args = append(args, "--config", cfg.Path)
	}
	// argv[0] "mailout": never "sendmail" or "mailq", whatever this run
	// was called as.
	cmd := &exec.Cmd{Path: exe, Args: append([]string{"mailout"}, args...)}
	cmd.Dir = "/"
	cmd.SysProcAttr = detached()
	if devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
		defer devnull.Close()
	}
	if cmd.Start() == nil {
		cmd.Process.Release()
	}
}
