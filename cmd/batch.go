package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"mailout/batch"
	"mailout/delivery"
	"mailout/message"
	"mailout/profiles"
	"mailout/template"
)

// Retries of a row whose delivery failed temporarily: a few, spaced out,
// so that a relay's brief hiccup does not fail rows, while a relay that
// stays down still fails them in seconds.
const (
	batchAttempts    = 3
	batchBackoffBase = time.Second
	batchBackoffMax  = 30 * time.Second
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

If mailout is killed, the messages in flight at that moment (at most
--parallel) may be sent again by the re-run: the ones a server accepted
before their journal line was written.

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
	del           deliveryOptions
}

func readBatchOptions(c *cli.Context) batchOptions {
	return batchOptions{
		csv: c.String("csv"), template: c.String("template"), vars: c.StringSlice("var"), data: c.StringSlice("data"),
		dryRun: c.Bool("dry-run"), yes: c.Bool("yes"), limit: c.Int("limit"), rate: c.String("rate"),
		parallel: c.Int("parallel"), key: c.String("key"), journal: c.String("journal"), noJournal: c.Bool("no-journal"),
		report: c.String("report"), maxErrors: c.Int("max-errors"), unsubscribe: c.String("unsubscribe"),
		attachRoot: c.String("attach-root"), del: readDeliveryOptions(c),
	}
}

// validate checks the flags before any file is touched. interactive is
// whether there is a terminal to ask on.
func (o *batchOptions) validate(interactive bool, args []string) error {
	switch {
	case len(args) > 0:
		return usageErrorf("batch takes no arguments (got %q): recipients come from the template and the CSV", args[0])
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

// unsubscribeHeaders returns the List-Unsubscribe header (RFC 2369) for
// --unsubscribe, plus List-Unsubscribe-Post (RFC 8058, one-click) for an
// https URL: what large mailbox providers require of bulk senders.
func unsubscribeHeaders(v string) ([]message.Field, error) {
	if v == "" {
		return nil, nil
	}
	bad := func(why string) error {
		return usageErrorf("--unsubscribe %q: %s", v, why)
	}
	if strings.ContainsAny(v, " \t\r\n<>\"") {
		return nil, bad("want an https URL or mailto:ADDR without blanks, quotes or <>")
	}
	u, err := url.Parse(v)
	if err != nil {
		return nil, bad("not a URL")
	}
	post := false
	switch strings.ToLower(u.Scheme) {
	case "https":
		post = true
		fallthrough
	case "http":
		if u.Host == "" {
			return nil, bad("the URL has no host")
		}
	case "mailto":
		addr, _, _ := strings.Cut(u.Opaque, "?")
		if addr, err = url.PathUnescape(addr); err != nil || !strings.Contains(addr, "@") {
			return nil, bad("want mailto:ADDR with a full address")
		}
		if _, err := message.ParseAddress(addr); err != nil {
			return nil, bad("want mailto:ADDR with a full address")
		}
	default:
		return nil, bad("want an https URL or mailto:ADDR")
	}
	fields := []message.Field{{Name: "List-Unsubscribe", Value: "<" + v + ">"}}
	if post {
		fields = append(fields, message.Field{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"})
	}
	return fields, nil
}

func (r *runner) batchAction(c *cli.Context) error {
	o := readBatchOptions(c)
	var b *batchRun
	err := func() error {
		if err := o.validate(r.env.StdinTTY && r.env.StderrTTY, c.Args().Slice()); err != nil {
			return err
		}
		cfg, err := r.config(c)
		if err != nil {
			return err
		}
		if b, err = r.newBatchRun(cfg, o); err != nil {
			return err
		}
		defer b.close()
		return b.run(c.Context)
	}()
	// --json prints one object per row; a run that failed before its first
	// row still prints one, the way send does.
	if err != nil && o.del.json && (b == nil || !b.emitted) {
		(&jsonOutput{enabled: true, w: r.env.Stdout}).finish(err)
	}
	return err
}

// batchRun is one run of `mailout batch`: what every row shares, and the
// tallies. Fields below "run state" are touched only by the goroutine that
// calls batch.Run (its jobs iterator and done callback), except where noted.
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
	report   *os.File
	reportW  *bufio.Writer
	csvName  string
	stdoutMu sync.Mutex // --dry-run messages

	// Delivery: one transport per worker, keeping its connections open
	// (an SMTP session, or an MX pool with one connection per domain).
	transportName string
	workers       []delivery.Transport
	sessions      []*sessionTransport
	pools         []*delivery.MXPool

	// rows carries a row's details from its worker to done.
	rowsMu sync.Mutex
	rows   map[int]*rowRecord

	// run state
	bar                                  *progressbar.ProgressBar
	sent, failed, queued, skipped, shown int
	attempted                            int
	codes                                []int
	readErr                              error // the CSV could not be read further
	outErr                               error // --json or --report could not be written
	stopBadRows                          bool  // bad rows alone reached --max-errors
	anySent                              bool
	emitted                              bool // a row's line went to --json or --report
}

// rowRecord is what became of one row, for the report, --json and the log.
type rowRecord struct {
	out  jsonOutput
	og   *outgoing
	err  error
	line int
}

func (r *runner) newBatchRun(cfg *profiles.Config, o batchOptions) (*batchRun, error) {
	b := &batchRun{r: r, o: o, cfg: cfg, start: r.env.Now(), rows: map[int]*rowRecord{}, csvName: o.csv}
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
	// Read the header now: a missing or malformed CSV, or a --key column
	// it lacks, stops the run before anything is asked or sent.
	rows, closeCSV, err := b.openCSV()
	if err != nil {
		return nil, err
	}
	closeCSV()
	if o.key != "" && !slices.Contains(rows.Header(), o.key) {
		return nil, usageErrorf("--key %q: the CSV header has no such column (it has %s)", o.key, strings.Join(rows.Header(), ", "))
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
		j, err := batch.OpenJournal(path)
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

// openCSV opens the CSV file and reads its header.
func (b *batchRun) openCSV() (*batch.Reader, func(), error) {
	f, err := os.Open(b.o.csv)
	if err != nil {
		return nil, nil, &message.InputError{Path: b.o.csv, Err: err}
	}
	rows, err := batch.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, b.csvError(err)
	}
	return rows, func() { f.Close() }, nil
}

// csvError gives a CSV format error its file name and exit code 65; read
// errors are 74.
func (b *batchRun) csvError(err error) error {
	var fe *batch.FormatError
	if errors.As(err, &fe) {
		return &message.DataError{Msg: fmt.Sprintf("%s: %v", b.csvName, err)}
	}
	return withCode(exitIOErr, fmt.Errorf("read %s: %w", b.csvName, err))
}

// firstSender is the From of the first row that renders, which chooses
// the profile when the configuration has several (SPEC.md's profile
// choice); "" when no choice depends on it.
func (b *batchRun) firstSender() (string, error) {
	if b.o.del.server != "" || b.o.del.profile != "" || b.cfg == nil || len(b.cfg.Profiles) < 2 {
		return "", nil
	}
	rows, closeCSV, err := b.openCSV()
	if err != nil {
		return "", err
	}
	defer closeCSV()
	for {
		row, err := rows.Next()
		var rowErr *batch.RowError
		switch {
		case err == io.EOF:
			return "", nil
		case errors.As(err, &rowErr):
			continue
		case err != nil:
			return "", b.csvError(err)
		}
		d, err := b.draft(row)
		if err == nil && d.from != nil {
			return d.from.Address, nil
		}
		if err == nil {
			return "", nil
		}
	}
}

// draft renders the template for one row.
func (b *batchRun) draft(row batch.Row) (*draft, error) {
	fields := make(map[string]any, len(row.Fields))
	for k, v := range row.Fields {
		fields[k] = v
	}
	values := template.MergeData(b.base, fields, b.vars)
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

// compose renders and composes the message of one row.
func (b *batchRun) compose(row batch.Row) (*outgoing, error) {
	d, err := b.draft(row)
	if err != nil {
		return nil, err
	}
	return b.r.compose(d, b.profile)
}

// setupTransport prepares delivery: for a relay, one session per worker,
// opened at its first message and kept across messages; for direct MX, one
// transport for all.
func (b *batchRun) setupTransport(parallel int) error {
	o, err := b.r.deliveryOptions(b.profile, b.o.del)
	if err != nil {
		return err
	}
	b.transportName = string(o.Transport)
	if o.Transport == delivery.TransportMX {
		// One pool per worker: each keeps a connection per domain open,
		// so a list with many recipients at one provider reuses it.
		mx := delivery.NewMX(o.MXConfig())
		for range parallel {
			pool := mx.Pool()
			b.pools = append(b.pools, pool)
			b.workers = append(b.workers, o.Sign(pool))
		}
		return nil
	}
	ro := o.RelayConfig()
	ro.Auth.Secret = onceSecret(ro.Auth.Secret)
	relay := delivery.NewRelay(ro)
	gate := &openGate{}
	for range parallel {
		s := &sessionTransport{relay: relay, gate: gate}
		b.sessions = append(b.sessions, s)
		b.workers = append(b.workers, o.Sign(s))
	}
	return nil
}

// onceSecret asks for a secret at most once per run, however many
// connections the workers open: one prompt, one password_command run.
func onceSecret(f func(context.Context) (string, error)) func(context.Context) (string, error) {
	if f == nil {
		return nil
	}
	var (
		once   sync.Once
		secret string
		err    error
	)
	return func(ctx context.Context) (string, error) {
		once.Do(func() { secret, err = f(ctx) })
		return secret, err
	}
}

// sessionTransport is one worker's SMTP connection: opened at the first
// message, reset (RSET) before each further one, replaced when it broke
// or when the reset shows the server dropped it. Only its worker uses it.
type sessionTransport struct {
	relay    *delivery.Relay
	gate     *openGate
	s        *delivery.Session
	lastUsed time.Time
}

// idleCheck is how long a kept session may sit unused before the next
// message first checks it with RSET: servers close idle connections, but
// a busy batch should not pay a round trip per message for that.
const idleCheck = 2 * time.Second

// openGate lets the workers' first connections wait for one to come up,
// so that wrong credentials cost one failed AUTH, not one per worker: a
// server counting failures may lock the account.
type openGate struct {
	mu  sync.Mutex
	ok  bool  // a connection came up: the credentials work
	err error // fatal: no connection can come up
}

// open opens a session through the gate.
func (t *sessionTransport) open(ctx context.Context) (*delivery.Session, error) {
	g := t.gate
	g.mu.Lock()
	if g.ok {
		g.mu.Unlock()
		return t.relay.Open(ctx)
	}
	defer g.mu.Unlock()
	if g.err != nil {
		return nil, g.err
	}
	s, err := t.relay.Open(ctx)
	switch {
	case err == nil:
		g.ok = true
	case fatal(err):
		g.err = err
	}
	return s, err
}

func (t *sessionTransport) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*delivery.Result, error) {
	reused := t.s != nil
	if reused && time.Since(t.lastUsed) > idleCheck {
		if err := t.s.Reset(); err != nil {
			t.close()
			reused = false
		}
	}
	if t.s == nil {
		s, err := t.open(ctx)
		if err != nil {
			return failedResult("smtp", env.To, err), err
		}
		t.s = s
	}
	res, err := t.s.Deliver(ctx, env, msg)
	if t.s.Broken() {
		t.close()
		if reused && droppedBeforeMail(err) {
			// The kept connection was gone before anything was sent:
			// send on a fresh one.
			return t.Deliver(ctx, env, msg)
		}
	}
	t.lastUsed = time.Now()
	return res, err
}

// droppedBeforeMail reports a connection that failed at MAIL without an
// SMTP reply: nothing of the message was sent.
func droppedBeforeMail(err error) bool {
	var de *delivery.Error
	return errors.As(err, &de) && de.Op == "mail" && de.Code == 0
}

func (t *sessionTransport) close() {
	if t.s != nil {
		t.s.Close()
		t.s = nil
	}
}

var _ delivery.Transport = (*sessionTransport)(nil)

// failedResult marks every recipient with err, which happened before any
// of them was tried (the connection could not be opened).
func failedResult(transport string, rcpts []string, err error) *delivery.Result {
	st := delivery.Refused
	if delivery.IsTemporary(err) {
		st = delivery.Deferred
	}
	reply, host := "", ""
	var de *delivery.Error
	if errors.As(err, &de) {
		host = de.Host
		if de.Code != 0 {
			reply = fmt.Sprintf("%d %s", de.Code, de.Reply)
		}
	}
	res := &delivery.Result{Transport: transport}
	for _, a := range rcpts {
		res.Recipients = append(res.Recipients, delivery.RecipientResult{Address: a, Status: st, Host: host, Reply: reply, Err: err})
	}
	return res
}

// retryable says whether a failed delivery may be tried again at once. A
// connection lost during DATA is not: the server may have accepted the
// message just before, and a retry could mail it twice; the row fails
// and a re-run sends it.
func retryable(err error) bool {
	if !delivery.IsTemporary(err) {
		return false
	}
	var de *delivery.Error
	return !(errors.As(err, &de) && de.Op == "data" && de.Code == 0)
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

// transportFor is worker w's transport.
func (b *batchRun) transportFor(w int) delivery.Transport {
	return b.workers[w]
}

// deliver sends og, retrying temporary failures with back-off; a retry
// goes only to the recipients still pending. It returns the result for
// every recipient, in envelope order.
func (b *batchRun) deliver(ctx context.Context, w int, og *outgoing) (*delivery.Result, error) {
	tr := b.transportFor(w)
	final := map[string]delivery.RecipientResult{}
	rcpts := og.env.To
	err := batch.Retry(ctx, batchAttempts, batch.Backoff(batchBackoffBase, batchBackoffMax), nil, func() error {
		env := og.env
		env.To = rcpts
		res, err := tr.Deliver(ctx, env, og.msg)
		if res != nil {
			for _, rr := range res.Recipients {
				final[rr.Address] = rr
			}
			if pending := res.Pending(); len(pending) > 0 {
				rcpts = pending
			}
		}
		return err
	}, retryable)
	res := &delivery.Result{Transport: b.transportName}
	for _, a := range og.env.To {
		if rr, ok := final[a]; ok {
			res.Recipients = append(res.Recipients, rr)
		}
	}
	return res, err
}

// work renders, composes and sends one row, on a worker goroutine.
func (b *batchRun) work(ctx context.Context, w int, j batch.Job) batch.Outcome {
	rec := &rowRecord{line: j.Row.Line, out: jsonOutput{row: j.Row.Num, transport: b.transportName}}
	if b.profile != nil {
		rec.out.profile = b.profile.Name
	}
	defer func() {
		b.rowsMu.Lock()
		b.rows[j.Row.Num] = rec
		b.rowsMu.Unlock()
	}()
	og, err := b.compose(j.Row)
	if err != nil {
		rec.err = err
		return batch.Outcome{Status: batch.StatusFailed, Err: err, Fatal: fatal(err)}
	}
	rec.og = og
	rec.out.messageID = og.messageID
	if b.o.dryRun {
		b.stdoutMu.Lock()
		err := message.WriteMbox(b.r.env.Stdout, og.env.From, b.r.env.Now(), og.msg)
		b.stdoutMu.Unlock()
		if err != nil {
			var ie *message.InputError
			if !errors.As(err, &ie) {
				err = withCode(exitIOErr, fmt.Errorf("write stdout: %w", err))
			}
			rec.err = err
			return batch.Outcome{Status: batch.StatusFailed, Err: err, Fatal: exitCode(err) == exitIOErr}
		}
		return batch.Outcome{Status: batch.StatusSent}
	}
	res, err := b.deliver(ctx, w, og)
	rec.out.result = res
	if err != nil && b.o.del.queueOnFailure {
		if pending := res.Pending(); len(pending) > 0 {
			err = b.r.queueOnFailure(b.cfg, og, res, pending, b.o.del, &rec.out, err)
		}
	}
	rec.err = err
	switch {
	case err == nil && rec.out.queueID != "":
		return batch.Outcome{Status: batch.StatusQueued}
	case err == nil:
		return batch.Outcome{Status: batch.StatusSent}
	}
	return batch.Outcome{Status: batch.StatusFailed, Err: err, Fatal: fatal(err)}
}

// jobs feeds the rows to batch.Run: bad rows are reported and skipped,
// rows the journal has are reported as skipped, and --limit and
// --max-errors end the feed.
func (b *batchRun) jobs(rows *batch.Reader) func(yield func(batch.Job) bool) {
	return func(yield func(batch.Job) bool) {
		for {
			if b.o.limit > 0 && b.attempted >= b.o.limit {
				return
			}
			row, err := rows.Next()
			var rowErr *batch.RowError
			switch {
			case err == io.EOF:
				return
			case errors.As(err, &rowErr):
				if b.badRow(row, &message.DataError{Msg: err.Error()}) {
					return
				}
				continue
			case err != nil:
				b.readErr = b.csvError(err)
				return
			}
			key := ""
			if b.journal != nil {
				if key, err = batch.RowKey(row, b.o.key); err != nil {
					if b.badRow(row, &message.DataError{Msg: err.Error()}) {
						return
					}
					continue
				}
				if !b.journal.Claim(key) {
					b.skipped++
					b.emit(row.Num, &rowRecord{line: row.Line, out: jsonOutput{row: row.Num, status: batch.StatusSkipped}})
					continue
				}
			}
			b.attempted++
			if !yield(batch.Job{Row: row, Key: key}) {
				return
			}
		}
	}
}

// badRow reports a row that cannot even be rendered (wrong number of
// fields, no key) and says whether --max-errors is reached.
func (b *batchRun) badRow(row batch.Row, err error) bool {
	rec := &rowRecord{line: row.Line, err: err, out: jsonOutput{row: row.Num}}
	b.countFailure(rec)
	b.emit(row.Num, rec)
	if b.tooMany() {
		b.stopBadRows = true
		return true
	}
	return false
}

func (b *batchRun) countFailure(rec *rowRecord) {
	b.failed++
	b.codes = append(b.codes, exitCode(rec.err))
	msg := oneLine(rec.err.Error())
	if !strings.Contains(msg, fmt.Sprintf("row %d:", rec.out.row)) {
		msg = fmt.Sprintf("line %d: row %d: %s", rec.line, rec.out.row, msg)
	}
	b.clearBar()
	fmt.Fprintf(b.r.env.Stderr, "mailout: %s: %s\n", b.csvName, msg)
}

func (b *batchRun) tooMany() bool {
	return b.o.maxErrors > 0 && b.failed >= b.o.maxErrors
}

// done takes one row's outcome, on batch.Run's goroutine: the journal
// first (the row counts as done only once its line is durable), then the
// report, --json, the log and the tallies.
func (b *batchRun) done(o batch.Outcome) error {
	b.rowsMu.Lock()
	rec := b.rows[o.Row]
	delete(b.rows, o.Row)
	b.rowsMu.Unlock()
	if rec == nil { // the work panicked before its record was kept
		rec = &rowRecord{out: jsonOutput{row: o.Row}, err: o.Err}
	}
	if rec.err == nil && o.Err != nil {
		rec.err = o.Err
	}
	var journalErr error
	if b.journal != nil && o.Key != "" && o.Status != batch.StatusSkipped {
		if err := b.journal.Record(o.Key, o.Status, o.Row); err != nil {
			journalErr = withCode(exitIOErr, err)
		}
	}
	rec.out.status = o.Status
	switch o.Status {
	case batch.StatusSent:
		if b.o.dryRun {
			b.shown++
		} else {
			b.sent++
			b.anySent = true
		}
	case batch.StatusQueued:
		b.queued++
		b.anySent = true
	case batch.StatusFailed:
		b.countFailure(rec)
	}
	b.emit(o.Row, rec)
	if rec.og != nil && !b.o.dryRun {
		lr := logRecord{profile: rec.out.profile, transport: rec.out.transport, from: rec.og.env.From, rcpts: rec.og.env.To,
			messageID: rec.og.messageID, queueID: rec.out.queueID, result: rec.out.result, err: rec.err}
		b.r.logOutcome(b.cfg, lr)
	}
	if b.bar != nil {
		b.bar.Describe(b.progressText())
		b.bar.Add(1)
	}
	if journalErr != nil {
		return journalErr
	}
	if o.Status == batch.StatusFailed && b.tooMany() {
		return fmt.Errorf("%w: stopped after %d", batch.ErrTooManyFailures, b.failed)
	}
	return nil
}

// emit writes a row's line to --json and --report.
func (b *batchRun) emit(row int, rec *rowRecord) {
	if !b.o.del.json && b.reportW == nil {
		return
	}
	b.emitted = true
	rec.out.row = row
	if rec.out.status == "" && rec.err != nil {
		rec.out.status = batch.StatusFailed
	}
	obj := rec.out.object(rec.err)
	if b.o.del.json {
		if err := jsonLine(b.r.env.Stdout, obj); err != nil && b.outErr == nil {
			b.outErr = withCode(exitIOErr, fmt.Errorf("write stdout: %w", err))
		}
	}
	if b.reportW != nil {
		err := jsonLine(b.reportW, obj)
		if err == nil {
			err = b.reportW.Flush()
		}
		if err != nil && b.outErr == nil {
			b.outErr = withCode(exitIOErr, fmt.Errorf("report %s: %w", b.o.report, err))
		}
	}
}

// jsonLine writes v as one line of JSON, '<' and '>' left readable.
func jsonLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (b *batchRun) progressText() string {
	return fmt.Sprintf("sent %d, failed %d", b.sent+b.queued, b.failed)
}

func (b *batchRun) clearBar() {
	if b.bar != nil {
		b.bar.Clear()
	}
}

// countPending counts the rows a run would send (for the question and the
// progress bar): the valid rows the journal does not have, up to --limit.
func (b *batchRun) countPending() (int, error) {
	rows, closeCSV, err := b.openCSV()
	if err != nil {
		return 0, err
	}
	defer closeCSV()
	n := 0
	seen := map[string]bool{}
	for b.o.limit == 0 || n < b.o.limit {
		row, err := rows.Next()
		var rowErr *batch.RowError
		switch {
		case err == io.EOF:
			return n, nil
		case errors.As(err, &rowErr):
			continue
		case err != nil:
			return 0, b.csvError(err)
		}
		if b.journal != nil {
			key, err := batch.RowKey(row, b.o.key)
			if err != nil || b.journal.Sent(key) || seen[key] {
				continue
			}
			if b.o.key != "" { // whole-row hashes are 64 bytes a row: only dedupe key columns
				seen[key] = true
			}
		}
		n++
	}
	return n, nil
}

// firstPending returns the first row a run would send.
func (b *batchRun) firstPending() (batch.Row, bool, error) {
	rows, closeCSV, err := b.openCSV()
	if err != nil {
		return batch.Row{}, false, err
	}
	defer closeCSV()
	for {
		row, err := rows.Next()
		var rowErr *batch.RowError
		switch {
		case err == io.EOF:
			return batch.Row{}, false, nil
		case errors.As(err, &rowErr):
			continue
		case err != nil:
			return batch.Row{}, false, b.csvError(err)
		}
		if b.journal != nil {
			key, err := batch.RowKey(row, b.o.key)
			if err != nil || b.journal.Sent(key) {
				continue
			}
		}
		return row, true, nil
	}
}

// confirm shows the first message and the count on the terminal and asks.
// It reports whether to go on.
func (b *batchRun) confirm(n int) (bool, error) {
	stderr := b.r.env.Stderr
	row, ok, err := b.firstPending()
	if err != nil {
		return false, err
	}
	if ok {
		fmt.Fprintf(stderr, "mailout: the message of row %d:\n\n", row.Num)
		og, err := b.compose(row)
		if err != nil {
			fmt.Fprintf(stderr, "mailout: %s: line %d: row %d: %s\n", b.csvName, row.Line, row.Num, oneLine(err.Error()))
		} else if err := message.WriteMbox(stderr, og.env.From, b.r.env.Now(), og.msg); err != nil {
			return false, withCode(exitIOErr, fmt.Errorf("show the first message: %w", err))
		}
	}
	via := b.transportLabel()
	fmt.Fprintf(stderr, "mailout: send %d %s%s? [y/N] ", n, plural(n, "message", "messages"), via)
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
	parallel := o.parallel
	if o.dryRun {
		parallel = 1 // the mbox stream keeps the CSV's order
	}
	// A terminal gets the question (unless --yes) and a progress bar: both
	// need the count, which takes a first pass over the CSV.
	total := -1
	if !o.dryRun && b.r.env.StderrTTY {
		n, err := b.countPending()
		if err != nil {
			return err
		}
		total = n
		if !o.yes && n > 0 {
			ok, err := b.confirm(n)
			if err != nil {
				return err
			}
			if !ok {
				fmt.Fprintln(b.r.env.Stderr, "mailout: batch: aborted, nothing sent")
				return nil
			}
		}
	}
	if !o.dryRun {
		if err := b.setupTransport(parallel); err != nil {
			return err
		}
	}
	if o.report != "" {
		f, err := os.OpenFile(o.report, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return withCode(exitIOErr, fmt.Errorf("report: %w", err))
		}
		b.report, b.reportW = f, bufio.NewWriter(f)
	}
	var lim *batch.Limiter
	if o.rate != "" && !o.dryRun {
		rate, _ := batch.ParseRate(o.rate) // checked in validate
		lim = batch.NewLimiter(rate, nil, nil)
	}
	if b.r.env.StderrTTY && !o.dryRun {
		b.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(b.r.env.Stderr),
			progressbar.OptionSetDescription(b.progressText()),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("msg"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}

	rows, closeCSV, err := b.openCSV()
	if err != nil {
		return err
	}
	defer closeCSV()
	runErr := batch.Run(ctx, b.jobs(rows), batch.Options{Parallel: parallel, Limiter: lim, MaxErrors: -1}, b.work, b.done)
	if b.bar != nil {
		b.bar.Finish()
	}
	b.closeSessions()
	if b.anySent {
		b.r.drain(b.cfg)
	}
	b.summary()
	return b.result(runErr)
}

// result is the run's error: why it stopped early, else the worst row's
// exit status (SPEC.md's mixed-outcome order), already reported per row.
func (b *batchRun) result(runErr error) error {
	codes := b.codes
	switch {
	case runErr != nil && errors.Is(runErr, batch.ErrTooManyFailures), runErr == nil && b.stopBadRows:
		return &codeError{code: worstCode(codes...),
			err:  fmt.Errorf("batch stopped after %d failed rows (--max-errors %d)", b.failed, b.o.maxErrors),
			hint: "fix the rows reported above and run the same command again: the rows already sent are skipped"}
	case runErr != nil && (errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded)):
		return hinted(withCode(exitTempFail, errors.New("batch interrupted")),
			"run the same command again to send the rest: the rows already sent are skipped")
	case runErr != nil:
		code := worstCode(append(codes, exitCode(runErr))...)
		if fatal(runErr) {
			return &codeError{code: code, err: fmt.Errorf("batch stopped: %w", runErr)}
		}
		return &codeError{code: code, err: runErr}
	case b.readErr != nil:
		return &codeError{code: worstCode(append(codes, exitCode(b.readErr))...), err: b.readErr}
	case b.outErr != nil:
		return &codeError{code: worstCode(append(codes, exitIOErr)...), err: b.outErr}
	}
	if code := worstCode(codes...); code != exitOK {
		return silentError{code: code}
	}
	return nil
}

// summary prints the one line every run ends with.
func (b *batchRun) summary() {
	elapsed := b.r.env.Now().Sub(b.start).Round(100 * time.Millisecond)
	if b.o.dryRun {
		fmt.Fprintf(b.r.env.Stderr, "mailout: batch: %d rendered, %d failed in %s (dry run: nothing sent)\n", b.shown, b.failed, elapsed)
		return
	}
	fmt.Fprintf(b.r.env.Stderr, "mailout: batch: %d sent, %d failed, %d skipped (already sent), %d queued in %s\n",
		b.sent, b.failed, b.skipped, b.queued, elapsed)
}

func (b *batchRun) closeSessions() {
	for _, s := range b.sessions {
		s.close()
	}
	for _, p := range b.pools {
		p.Close()
	}
}

// close releases the journal and the report; both are durable already
// (journal lines are fsynced as they are written).
func (b *batchRun) close() {
	b.closeSessions()
	if b.journal != nil {
		b.journal.Close()
	}
	if b.report != nil {
		b.reportW.Flush()
		b.report.Close()
	}
}
