package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"mailout/batch"
	"mailout/delivery"
	"mailout/internal/text"
	"mailout/message"
	"mailout/profiles"
	"mailout/template"
)

// newBatchCommand is `mailout batch`.
func (r *runner) newBatchCommand() *cli.Command {
	return &cli.Command{
		Name:      "batch",
		Usage:     "mail a template to every row of a CSV file, resumably",
		ArgsUsage: "--csv FILE --template FILE",
		Description: `Renders the template once per CSV row (the header row names the fields:
{{ .email }}) and sends each message. A journal records every row sent, so
a re-run, even after a crash or with the CSV re-sorted or appended to,
skips the rows already sent. Without --yes it shows the first message and
the count and asks; without a terminal it refuses (64). A row that fails is
reported with its number and the batch goes on, up to --max-errors; an
authentication or configuration failure stops it at once.

If mailout is killed, at most 17 × --parallel rows may be sent again by the
re-run: the messages in flight (two per connection when the relay pipelines)
and the journal lines still waiting for their fsync, whose rows a server had
accepted.

Examples:
   mailout batch --csv customers.csv -T invoice.tpl --dry-run | less
   mailout batch --csv customers.csv -T invoice.tpl --key email --yes
   mailout batch --csv list.csv -T news.md --rate 100/m --parallel 4 --unsubscribe mailto:leave@example.com --yes
   mailout batch --csv list.csv -T news.md --limit 50 --report sent.jsonl --yes`,
		Flags:  batchFlags(),
		Action: r.batchAction,
	}
}

func batchFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "csv", Usage: "the rows: a CSV `FILE` (UTF-8, a header row naming the fields)"},
		&cli.StringFlag{Name: "template", Aliases: []string{"T"}, Usage: "message template `FILE`, rendered once per row"},
		&cli.StringSliceFlag{Name: "var", Usage: "template data `KEY=VALUE` for every row (wins over the CSV), repeatable"},
		&cli.StringSliceFlag{Name: "data", Usage: "template data for every row from a JSON or TOML `FILE` (the CSV wins over it)"},
		&cli.BoolFlag{Name: "dry-run", Usage: "render every row to stdout as an mboxrd stream; send nothing, write no journal"},
		&cli.BoolFlag{Name: "yes", Usage: "send without showing the first message and asking"},
		&cli.IntFlag{Name: "limit", Usage: "send only the next `N` rows not yet sent"},
		&cli.StringFlag{Name: "rate", Usage: "send at most `N/s`, N/m or N/h messages, evenly spaced"},
		&cli.IntFlag{Name: "parallel", Value: 1, Usage: "send over `N` connections at once"},
		&cli.StringFlag{Name: "key", Usage: "journal key `COLUMN` (default: a hash of the whole row)"},
		&cli.StringFlag{Name: "journal", Usage: "journal `FILE` (default: one per CSV and template under $XDG_STATE_HOME/mailout/batch)"},
		&cli.BoolFlag{Name: "no-journal", Usage: "keep no journal: a re-run sends every row again"},
		&cli.StringFlag{Name: "report", Usage: "write one JSON line per row to `FILE`"},
		&cli.IntFlag{Name: "max-errors", Value: batch.DefaultMaxErrors, Usage: "stop after `N` failed rows (0: never)"},
		&cli.StringFlag{Name: "unsubscribe", Usage: "add List-Unsubscribe with `URL` or mailto:ADDR (one-click for https)"},
		&cli.StringFlag{Name: "attach-root", Usage: "every attachment must lie under `DIR` (default: the template's folder)"},
	}, deliveryFlags()...)
}

// batchOptions is everything the batch flags say.
type batchOptions struct {
	csv, template string
	vars, data    []string
	dryRun, yes   bool
	limit         int
	rate          string
	parallel      int
	key           string
	journal       string
	noJournal     bool
	report        string
	maxErrors     int
	unsubscribe   string
	attachRoot    string
	args          []string // positional arguments, which batch refuses
	del           deliveryOptions
}

func readBatchOptions(c *cli.Context) batchOptions {
	return batchOptions{
		csv: c.String("csv"), template: c.String("template"), vars: c.StringSlice("var"), data: c.StringSlice("data"),
		dryRun: c.Bool("dry-run"), yes: c.Bool("yes"), limit: c.Int("limit"), rate: c.String("rate"),
		parallel: c.Int("parallel"), key: c.String("key"), journal: c.String("journal"), noJournal: c.Bool("no-journal"),
		report: c.String("report"), maxErrors: c.Int("max-errors"), unsubscribe: c.String("unsubscribe"),
		attachRoot: c.String("attach-root"), args: c.Args().Slice(), del: readDeliveryOptions(c),
	}
}

// validate checks the flags before any file is touched. interactive is
// whether there is a terminal to ask on.
func (o *batchOptions) validate(interactive bool) error {
	switch {
	case len(o.args) > 0:
		return usageErrorf("batch takes no arguments (got %q): recipients come from the template and the CSV", o.args[0])
	case o.csv == "":
		return usageErrorf("batch needs --csv FILE")
	case o.template == "":
		return usageErrorf("batch needs --template FILE")
	case o.parallel < 1:
		return usageErrorf("--parallel %d: want 1 or more", o.parallel)
	case o.limit < 0:
		return usageErrorf("--limit %d: want 0 or more", o.limit)
	case o.maxErrors < 0:
		return usageErrorf("--max-errors %d: want 0 (never stop) or more", o.maxErrors)
	case o.journal != "" && o.noJournal:
		return usageErrorf("--journal and --no-journal cannot be combined")
	case o.dryRun && o.del.json:
		return usageErrorf("--dry-run and --json cannot be combined: --dry-run prints the messages themselves")
	case o.dryRun && o.report != "":
		return usageErrorf("--dry-run sends nothing to report; its errors go to stderr")
	}
	if o.rate != "" {
		if _, err := batch.ParseRate(o.rate); err != nil {
			return usageErrorf("--rate: %v", err)
		}
	}
	if _, err := unsubscribeHeaders(o.unsubscribe); err != nil {
		return err
	}
	if err := o.del.validate(); err != nil {
		return err
	}
	if !o.dryRun && !o.yes && !interactive {
		return &codeError{code: exitUsage, err: errors.New("batch sends mail to every row; pass --yes (or --dry-run to preview)"),
			hint: "without a terminal mailout cannot show the first message and ask"}
	}
	return nil
}

// unsubscribeHeaders is message.UnsubscribeFields of --unsubscribe, a
// usage error when the value will not do.
func unsubscribeHeaders(v string) ([]message.Field, error) {
	fields, err := message.UnsubscribeFields(v)
	if err != nil {
		return nil, usageErrorf("--unsubscribe %w", err)
	}
	return fields, nil
}

func (r *runner) batchAction(c *cli.Context) error {
	return r.batch(c.Context, readBatchOptions(c))
}

func (r *runner) batch(ctx context.Context, o batchOptions) error {
	var b *batchRun
	err := func() error {
		if err := o.validate(r.env.StdinTTY && r.env.StderrTTY); err != nil {
			return err
		}
		cfg, err := r.loadConfig(o.del.config)
		if err != nil {
			return err
		}
		if b, err = r.newBatchRun(cfg, o); err != nil {
			return err
		}
		defer b.close()
		return b.run(ctx)
	}()
	// --json prints one object per row; a run that failed before its first
	// row still prints one, the way send does.
	if err != nil && o.del.json && (b == nil || b.tally.Lines == 0) {
		(&jsonOutput{enabled: true, w: r.env.Stdout}).finish(err)
	}
	return err
}

// batchRun is one run of `mailout batch`: what every row's message shares,
// and what the terminal shows. batch.Send does the rest.
type batchRun struct {
	r        *runner
	o        batchOptions
	cfg      *profiles.Config
	tpl      *template.Template
	tplEnv   map[string]string
	base     map[string]any // --data, below the row
	vars     map[string]any // --var, above the row
	unsub    []message.Field
	profile  *profiles.Profile
	start    time.Time
	journal  *batch.Journal
	stdoutMu sync.Mutex // --dry-run messages

	transportName string
	pools         []delivery.Pool

	// Touched only by batch.Send's Deps.Row, on its goroutine.
	bar   *progressbar.ProgressBar
	tally batch.Tally
	worst int // the worst exit status of a row
}

func (r *runner) newBatchRun(cfg *profiles.Config, o batchOptions) (*batchRun, error) {
	b := &batchRun{r: r, o: o, cfg: cfg, start: r.env.Now()}
	var err error
	if b.tpl, err = loadTemplate(o.template); err != nil {
		return nil, err
	}
	// The --data files are read once, not once per row; the row goes
	// between them and the --var values (SPEC.md's precedence).
	if b.base, err = templateData(o.data, nil, nil); err != nil {
		return nil, err
	}
	if b.vars, err = templateData(nil, o.vars, nil); err != nil {
		return nil, err
	}
	b.tplEnv = r.templateEnv(cfg)
	if b.unsub, err = unsubscribeHeaders(o.unsubscribe); err != nil {
		return nil, err
	}
	if err := batch.CheckCSV(o.csv, o.key); err != nil {
		return nil, batchError(err)
	}
	sender, err := b.firstSender()
	if err != nil {
		return nil, err
	}
	if b.profile, err = r.chooseProfile(cfg, o.del, sender, o.dryRun); err != nil {
		return nil, err
	}
	if !o.dryRun && !o.noJournal {
		path := o.journal
		if path == "" {
			path = batch.DefaultJournalPath(filepath.Dir(r.stateDir()), o.csv, o.template)
		}
		j, err := batch.OpenJournal(path, b.r.env.Now)
		if errors.Is(err, batch.ErrJournalInUse) {
			return nil, hinted(withCode(exitTempFail, err), "another mailout batch is sending this CSV; wait for it to finish")
		}
		if err != nil {
			return nil, withCode(exitIOErr, err)
		}
		b.journal = j
	}
	return b, nil
}

// batchError gives the errors of package batch their exit codes: a CSV
// format error 65, a --key the header lacks 64, failed reads and writes 74.
func batchError(err error) error {
	var (
		ce *batch.CSVError
		fe *batch.FormatError
		ke *batch.KeyColumnError
		oe *batch.OutputError
	)
	switch {
	case errors.As(err, &ce) && errors.As(err, &fe):
		return &message.DataError{Msg: ce.Error()}
	case errors.As(err, &ke):
		return usageErrorf("%v", ke)
	case errors.As(err, &ce), errors.As(err, &oe):
		return withCode(exitIOErr, err)
	}
	return err
}

// firstSender is the From of the first row that renders, which chooses
// the profile when the configuration has several (SPEC.md's profile
// choice); "" when no choice depends on it.
func (b *batchRun) firstSender() (string, error) {
	if b.o.del.server != "" || b.o.del.profile != "" || b.cfg == nil || len(b.cfg.Profiles) < 2 {
		return "", nil
	}
	sender := ""
	err := batch.EachRow(b.o.csv, func(row batch.Row) bool {
		d, err := b.draft(row)
		if err != nil {
			return true
		}
		if d.from != nil {
			sender = d.from.Address
		}
		return false
	})
	return sender, batchError(err)
}

// draft renders the template for one row.
func (b *batchRun) draft(row batch.Row) (*draft, error) {
	fields := make(map[string]any, len(row.Fields))
	for k, v := range row.Fields {
		fields[k] = v
	}
	values := fields
	if len(b.base) > 0 || len(b.vars) > 0 {
		values = template.MergeData(b.base, fields, b.vars)
	}
	rd, err := b.tpl.Render(template.Data{Values: values, Env: b.tplEnv},
		template.Options{Now: b.r.env.Now(), AttachRoot: b.o.attachRoot})
	if err != nil {
		return nil, err
	}
	// The --unsubscribe headers go in first, so that they win over a
	// template's own List-Unsubscribe.
	d := &draft{cfg: b.cfg, headers: append([]message.Field(nil), b.unsub...)}
	if err := d.applyRendered(rd, false, false); err != nil {
		return nil, err
	}
	if len(d.to)+len(d.cc)+len(d.bcc) == 0 {
		return nil, &message.DataError{Msg: "no recipient: the template's To, Cc and Bcc render empty"}
	}
	return d, nil
}

// compose renders and composes the message of one row: batch.Send's
// Deps.Compose.
func (b *batchRun) compose(row batch.Row) (*batch.Mail, error) {
	d, err := b.draft(row)
	if err != nil {
		return nil, err
	}
	og, err := b.r.compose(d, b.profile)
	if err != nil {
		return nil, err
	}
	return &batch.Mail{Envelope: og.env, Message: og.msg, ID: og.messageID}, nil
}

// outgoing is a row's message as the spool and the log take it.
func (b *batchRun) outgoing(m *batch.Mail) *outgoing {
	return &outgoing{msg: m.Message, env: m.Envelope, messageID: m.ID, profile: b.profile}
}

// queue spools what failed temporarily: batch.Send's Deps.Queue.
func (b *batchRun) queue(m *batch.Mail, res *delivery.Result, pending []string, err error) (string, error) {
	var out jsonOutput
	err = b.r.queueOnFailure(b.cfg, b.outgoing(m), res, pending, b.o.del, &out, err)
	return out.queueID, err
}

// fatal says whether err dooms every later row too: authentication and
// configuration failures, which must stop at once (no account lockout).
func fatal(err error) bool {
	switch exitCode(err) {
	case exitNoPerm, exitConfig:
		return true
	}
	return false
}

// mboxTransport is --dry-run's transport: it writes each message to
// stdout as mboxrd instead of sending it.
type mboxTransport struct{ b *batchRun }

func (t mboxTransport) Deliver(_ context.Context, env message.Envelope, msg message.Message) (*delivery.Result, error) {
	b := t.b
	b.stdoutMu.Lock()
	err := message.WriteMbox(b.r.env.Stdout, env.From, b.r.env.Now(), msg)
	b.stdoutMu.Unlock()
	var ie *message.InputError
	if err != nil && !errors.As(err, &ie) {
		err = withCode(exitIOErr, fmt.Errorf("write stdout: %w", err))
	}
	return &delivery.Result{}, err
}

// line is a row's report and --json line: the Output object and "row".
func (b *batchRun) line(res batch.RowResult) any {
	out := jsonOutput{row: res.Row, status: res.Status, result: res.Result, queueID: res.QueueID}
	if res.Mail != nil {
		out.messageID = res.Mail.ID
	}
	if res.Status != batch.StatusSkipped && !res.Bad {
		out.transport = b.transportName
		if b.profile != nil {
			out.profile = b.profile.Name
		}
	}
	return out.object(rowError(res))
}

// rowError is why a row failed; a row that could not be read or keyed is
// bad data (65).
func rowError(res batch.RowResult) error {
	if res.Bad && res.Err != nil {
		return &message.DataError{Msg: res.Err.Error()}
	}
	return res.Err
}

// row reports one row: its error on stderr, the log, the progress bar.
func (b *batchRun) row(res batch.RowResult, t batch.Tally) {
	b.tally = t
	if res.Status == batch.StatusFailed {
		err := rowError(res)
		b.worst = worstCode(b.worst, exitCode(err))
		msg := text.OneLine(err.Error())
		if !strings.Contains(msg, fmt.Sprintf("row %d:", res.Row)) {
			msg = fmt.Sprintf("line %d: row %d: %s", res.Line, res.Row, msg)
		}
		b.clearBar()
		fmt.Fprintf(b.r.env.Stderr, "mailout: %s: %s\n", b.o.csv, msg)
	}
	if res.Status == batch.StatusSkipped || res.Bad {
		return
	}
	if res.Mail != nil && !b.o.dryRun {
		profile := ""
		if b.profile != nil {
			profile = b.profile.Name
		}
		b.r.logOutcome(b.cfg, logRecord{profile: profile, transport: b.transportName, from: res.Mail.Envelope.From,
			rcpts: res.Mail.Envelope.To, messageID: res.Mail.ID, queueID: res.QueueID, result: res.Result, err: res.Err})
	}
	if b.bar != nil {
		b.bar.Describe(b.progressText())
		b.bar.Add(1)
	}
}

func (b *batchRun) progressText() string {
	return fmt.Sprintf("sent %d, failed %d", b.tally.Sent+b.tally.Queued, b.tally.Failed)
}

func (b *batchRun) clearBar() {
	if b.bar != nil {
		b.bar.Clear()
	}
}

// confirm shows the first message and the count on the terminal and asks,
// then draws the progress bar: batch.Send's Deps.Start. It reports whether
// to go on.
func (b *batchRun) confirm(n int, first *batch.Row) (bool, error) {
	if !b.o.yes && n > 0 {
		ok, err := b.ask(n, first)
		if !ok || err != nil {
			return ok, err
		}
	}
	b.bar = progressbar.NewOptions(n,
		progressbar.OptionSetWriter(b.r.env.Stderr),
		progressbar.OptionSetDescription(b.progressText()),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return true, nil
}

func (b *batchRun) ask(n int, first *batch.Row) (bool, error) {
	stderr := b.r.env.Stderr
	if first != nil {
		fmt.Fprintf(stderr, "mailout: the message of row %d:\n\n", first.Num)
		m, err := b.compose(*first)
		if err != nil {
			fmt.Fprintf(stderr, "mailout: %s: line %d: row %d: %s\n", b.o.csv, first.Line, first.Num, text.OneLine(err.Error()))
		} else if err := message.WriteMbox(stderr, m.Envelope.From, b.r.env.Now(), m.Message); err != nil {
			return false, withCode(exitIOErr, fmt.Errorf("show the first message: %w", err))
		}
	}
	fmt.Fprintf(stderr, "mailout: send %d %s%s? [y/N] ", n, plural(n, "message", "messages"), b.transportLabel())
	answer, err := bufio.NewReader(b.r.env.Stdin).ReadString('\n')
	if err != nil && answer == "" {
		fmt.Fprintln(stderr)
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func (b *batchRun) transportLabel() string {
	switch {
	case b.o.del.server != "":
		return " via " + b.o.del.server
	case b.o.del.mx:
		return " directly to the recipients' MX hosts"
	case b.profile != nil:
		return " with profile " + b.profile.Name
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// run sends (or, with --dry-run, prints) every row.
func (b *batchRun) run(ctx context.Context) error {
	o := b.o
	so := batch.SendOptions{CSV: o.csv, Key: o.key, Journal: b.journal, Limit: o.limit, MaxErrors: o.maxErrors,
		Parallel: o.parallel, Report: o.report, Sleep: b.r.env.Sleep}
	d := batch.Deps{Compose: b.compose, Fatal: fatal, Line: b.line, Row: b.row}
	if o.del.json {
		so.JSON = b.r.env.Stdout
	}
	if o.dryRun {
		// One worker, so that the mbox stream keeps the CSV's order; a
		// message that cannot be written to stdout stops the run.
		so.Parallel, so.Attempts = 1, 1
		d.Pools = []delivery.Transport{mboxTransport{b}}
		d.Fatal = func(err error) bool { return fatal(err) || exitCode(err) == exitIOErr }
	} else {
		// A terminal gets the question (unless --yes) and a progress bar:
		// both need the count, which takes a first pass over the CSV.
		so.Count, d.Start = b.r.env.StderrTTY, b.confirm
		if o.rate != "" {
			rate, _ := batch.ParseRate(o.rate) // checked in validate
			so.Limiter = batch.NewLimiter(rate, b.r.env.Now, b.r.env.Sleep)
		}
		do, err := b.r.deliveryOptions(b.profile, o.del)
		if err != nil {
			return err
		}
		b.transportName = string(do.Transport)
		if b.pools, err = delivery.NewPools(do, o.parallel); err != nil {
			if b.profile != nil {
				err = fmt.Errorf("profile %q: %w", b.profile.Name, err)
			}
			return withCode(exitConfig, err)
		}
		for _, p := range b.pools {
			d.Pools = append(d.Pools, p)
		}
		if o.del.queueOnFailure {
			d.Queue = b.queue
		}
	}
	tally, err := batch.Send(ctx, so, d)
	b.tally = tally
	if errors.Is(err, batch.ErrAborted) {
		fmt.Fprintln(b.r.env.Stderr, "mailout: batch: aborted, nothing sent")
		return nil
	}
	if b.bar != nil {
		b.bar.Finish()
	}
	b.closePools()
	if tally.Sent+tally.Queued > 0 && !o.dryRun {
		b.r.drain(b.cfg)
	}
	b.summary()
	return b.result(err)
}

// result is the run's error: why it stopped early, else the worst row's
// exit status (SPEC.md's mixed-outcome order), already reported per row.
func (b *batchRun) result(err error) error {
	switch {
	case errors.Is(err, batch.ErrTooManyFailures):
		return &codeError{code: b.worst,
			err:  fmt.Errorf("batch stopped after %d failed rows (--max-errors %d)", b.tally.Failed, b.o.maxErrors),
			hint: "fix the rows reported above and run the same command again: the rows already sent are skipped"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return hinted(withCode(exitTempFail, errors.New("batch interrupted")),
			"run the same command again to send the rest: the rows already sent are skipped")
	case err != nil:
		err = batchError(err)
		code := worstCode(b.worst, exitCode(err))
		if fatal(err) {
			return &codeError{code: code, err: fmt.Errorf("batch stopped: %w", err)}
		}
		return &codeError{code: code, err: err}
	case b.worst != exitOK:
		return silentError{code: b.worst}
	}
	return nil
}

// summary prints the one line every run ends with.
func (b *batchRun) summary() {
	t := b.tally
	elapsed := b.r.env.Now().Sub(b.start).Round(100 * time.Millisecond)
	if b.o.dryRun {
		fmt.Fprintf(b.r.env.Stderr, "mailout: batch: %d rendered, %d failed in %s (dry run: nothing sent)\n", t.Sent, t.Failed, elapsed)
		return
	}
	fmt.Fprintf(b.r.env.Stderr, "mailout: batch: %d sent, %d failed, %d skipped (already sent), %d queued in %s\n",
		t.Sent, t.Failed, t.Skipped, t.Queued, elapsed)
}

func (b *batchRun) closePools() {
	for _, p := range b.pools {
		p.Close()
	}
	b.pools = nil
}

// close releases the pools and the journal, committing what it has.
func (b *batchRun) close() {
	b.closePools()
	if b.journal != nil {
		b.journal.Close()
	}
}
