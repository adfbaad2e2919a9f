package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"unicode"

	"github.com/urfave/cli/v2"

	"mailout/message"
	"mailout/profiles"
)

func sendFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "subject", Aliases: []string{"s"}, Usage: "subject `TEXT` (any Unicode)"},
		&cli.StringFlag{Name: "from", Aliases: []string{"r"}, Usage: "From `ADDR` (default: the profile's from, else LOGIN@FQDN)"},
		&cli.StringSliceFlag{Name: "to", Usage: "To `ADDR`, repeatable, comma lists allowed; RECIPIENT arguments are To as well"},
		&cli.StringSliceFlag{Name: "cc", Aliases: []string{"c"}, Usage: "Cc `ADDR`, repeatable"},
		&cli.StringSliceFlag{Name: "bcc", Aliases: []string{"b"}, Usage: "Bcc `ADDR` (envelope only), repeatable"},
		&cli.StringSliceFlag{Name: "reply-to", Usage: "Reply-To `ADDR`"},
		&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "extra header `\"Name: value\"`, repeatable"},
		&cli.StringFlag{Name: "body", Usage: "body `TEXT` (default: stdin when it is not a terminal)"},
		&cli.StringFlag{Name: "body-file", Usage: "read the body from `FILE`"},
		&cli.StringFlag{Name: "html", Usage: "HTML part from `FILE` (- = stdin); with a text body: multipart/alternative"},
		&cli.StringSliceFlag{Name: "attach", Aliases: []string{"a"}, Usage: "attach `FILE`, repeatable"},
		&cli.StringSliceFlag{Name: "inline", Usage: "inline part `FILE`, referenced from HTML as cid:BASENAME"},
		&cli.StringFlag{Name: "template", Aliases: []string{"T"}, Usage: "message template `FILE`"},
		&cli.StringSliceFlag{Name: "var", Usage: "template data `KEY=VALUE`, repeatable"},
		&cli.StringSliceFlag{Name: "data", Usage: "template data from a JSON or TOML `FILE`"},
		&cli.BoolFlag{Name: "skip-empty", Aliases: []string{"E"}, Usage: "send nothing (exit 0) when the body is empty or blank"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the message on stdout and the envelope on stderr; connect to nothing"},
	}, deliveryFlags()...)
}

func deliveryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "server", Usage: "ad-hoc relay `HOST[:PORT]`, ignoring profiles; password from $MAILOUT_PASSWORD or the terminal"},
		&cli.StringFlag{Name: "tls", Usage: "with --server: `MODE` starttls (default), tls, opportunistic or none"},
		&cli.StringFlag{Name: "user", Usage: "with --server: AUTH user `NAME`"},
		&cli.BoolFlag{Name: "mx", Usage: "deliver directly to the recipients' MX hosts"},
		&cli.BoolFlag{Name: "queue-on-failure", Usage: "on a temporary failure, spool the message instead of exiting 75"},
	}
}

func (r *runner) newSendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "send one message (the default command)",
		ArgsUsage: "[RECIPIENT...] [-- RECIPIENT...]",
		Description: `Examples:
   backup.sh 2>&1 | mailout -s "backup report" ops@example.com
   mailout -s "invoice" -a invoice.pdf --body "Attached." billing@example.com
   mailout -s "report" --html report.html --body-file report.txt team@example.com
   mailout -T welcome.tpl --var name=Ana ana@example.com`,
		Flags:  sendFlags(),
		Action: r.sendAction,
	}
}

// sendOptions is everything the send flags say.
type sendOptions struct {
	subject    string
	subjectSet bool
	from       string
	to, cc     []string
	bcc        []string
	replyTo    []string
	headers    []string
	body       string
	bodySet    bool
	bodyFile   string
	html       string
	attach     []string
	inline     []string
	template   string
	vars       []string
	data       []string
	skipEmpty  bool
	dryRun     bool
	args       []string
	del        deliveryOptions
}

// deliveryOptions are the flags that choose how a message leaves.
type deliveryOptions struct {
	config         string // --config, else $MAILOUT_CONFIG and the default paths
	profile        string
	server         string
	tls            string
	user           string
	mx             bool
	queueOnFailure bool
	queueForLogin  bool // sendmail: spool what fails for want of an OAuth login
	verbose        bool
	json           bool
}

func readDeliveryOptions(c *cli.Context) deliveryOptions {
	return deliveryOptions{
		config: globalString(c, "config"), profile: globalString(c, "profile"), server: c.String("server"), tls: c.String("tls"), user: c.String("user"),
		mx: c.Bool("mx"), queueOnFailure: c.Bool("queue-on-failure"), verbose: globalBool(c, "verbose"), json: globalBool(c, "json"),
	}
}

func readSendOptions(c *cli.Context) sendOptions {
	return sendOptions{
		subject: c.String("subject"), subjectSet: c.IsSet("subject"),
		from: c.String("from"), to: c.StringSlice("to"), cc: c.StringSlice("cc"), bcc: c.StringSlice("bcc"),
		replyTo: c.StringSlice("reply-to"), headers: c.StringSlice("header"),
		body: c.String("body"), bodySet: c.IsSet("body"), bodyFile: c.String("body-file"),
		html: c.String("html"), attach: c.StringSlice("attach"), inline: c.StringSlice("inline"),
		template: c.String("template"), vars: c.StringSlice("var"), data: c.StringSlice("data"),
		skipEmpty: c.Bool("skip-empty"), dryRun: c.Bool("dry-run"),
		args: c.Args().Slice(), del: readDeliveryOptions(c),
	}
}

func (r *runner) sendAction(c *cli.Context) error {
	o := readSendOptions(c)
	out := &jsonOutput{enabled: o.del.json, w: r.env.Stdout}
	err := r.send(c.Context, o, out)
	out.finish(err)
	return err
}

func (o *sendOptions) validate() error {
	if o.dryRun && o.del.json {
		return usageErrorf("--dry-run and --json cannot be combined: --dry-run prints the message itself")
	}
	if o.bodySet && o.bodyFile != "" {
		return usageErrorf("--body and --body-file cannot be combined")
	}
	if err := o.del.validate(); err != nil {
		return err
	}
	return nil
}

func (d *deliveryOptions) validate() error {
	if d.server != "" && d.mx {
		return usageErrorf("--server and --mx cannot be combined")
	}
	if d.server == "" && (d.tls != "" || d.user != "") {
		return usageErrorf("--tls and --user go with --server")
	}
	switch d.tls {
	case "", "starttls", "tls", "opportunistic", "none":
	default:
		return usageErrorf("--tls %q: want starttls, tls, opportunistic or none", d.tls)
	}
	if d.queueOnFailure && d.server != "" && d.user != "" {
		return usageErrorf("--queue-on-failure cannot be used with an authenticated --server: the spool cannot keep its password; use a profile")
	}
	return nil
}

func (r *runner) send(ctx context.Context, o sendOptions, out *jsonOutput) error {
	if err := o.validate(); err != nil {
		return err
	}
	cfg, err := r.loadConfig(o.del.config)
	if err != nil {
		return err
	}
	d, err := r.newDraft(cfg, o)
	if err != nil {
		return err
	}
	defer d.close()
	if len(d.to)+len(d.cc)+len(d.bcc) == 0 && o.template == "" {
		// Say so before reading a body from stdin that may never end.
		return usageErrorf("no recipients: name at least one address")
	}
	if err := d.fill(ctx, r, o); err != nil {
		return err
	}
	if d.skip {
		out.status = "skipped"
		return nil
	}
	return r.dispatch(ctx, cfg, d, o.del, o.dryRun, out)
}

// draft collects a message's pieces from flags, headers and templates
// before it is composed.
type draft struct {
	cfg         *profiles.Config
	to, cc, bcc []*mail.Address
	replyTo     []*mail.Address
	from        *mail.Address
	subject     string
	headers     []message.Field
	text, html  message.Source
	parts       []message.Part
	fromStdin   bool
	skip        bool
	closers     []func() error
}

func (d *draft) close() {
	for _, c := range d.closers {
		c()
	}
}

func (r *runner) newDraft(cfg *profiles.Config, o sendOptions) (*draft, error) {
	d := &draft{cfg: cfg, subject: o.subject}
	if o.from != "" {
		a, err := message.ParseAddress(o.from)
		if err != nil {
			return nil, err
		}
		d.from = a
	}
	var err error
	add := func(dst *[]*mail.Address, items []string, src recipientSource) {
		if err != nil {
			return
		}
		var list []*mail.Address
		list, err = resolveRecipients(cfg, items, src)
		*dst = append(*dst, list...)
	}
	add(&d.to, o.args, fromArgs)
	add(&d.to, o.to, fromFlags)
	add(&d.cc, o.cc, fromFlags)
	add(&d.bcc, o.bcc, fromFlags)
	add(&d.replyTo, o.replyTo, fromFlags)
	if err != nil {
		return nil, err
	}
	for _, h := range o.headers {
		if err := d.addHeaderFlag(h, o.subjectSet); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// addHeaderFlag handles -H: address headers act like their flags, the
// MIME structure is mailout's own.
func (d *draft) addHeaderFlag(h string, subjectSet bool) error {
	name, value, ok := strings.Cut(h, ":")
	name = strings.TrimSpace(name)
	value = strings.TrimSpace(value)
	if !ok || !message.ValidHeaderName(name) {
		return usageErrorf("-H %q: want \"Name: value\"", h)
	}
	if message.IsStructural(name) {
		return usageErrorf("-H %s: MIME headers are set by mailout from the message structure; use --html, --attach or a template", name)
	}
	if err := message.CheckHeaderValue(name, value); err != nil {
		return err
	}
	dst := d.addressField(name)
	switch strings.ToLower(name) {
	case "to", "cc", "bcc", "reply-to":
	case "from":
		a, err := message.ParseAddress(value)
		if err != nil {
			return err
		}
		d.from = a
		return nil
	case "subject":
		if !subjectSet {
			d.subject = value
		}
		return nil
	default:
		d.headers = append(d.headers, message.Field{Name: name, Value: value})
		return nil
	}
	list, err := resolveRecipients(d.cfg, []string{value}, fromFlags)
	if err != nil {
		return err
	}
	*dst = append(*dst, list...)
	return nil
}

// addressField is the draft's list for an address header, or nil.
func (d *draft) addressField(name string) *[]*mail.Address {
	switch strings.ToLower(name) {
	case "to":
		return &d.to
	case "cc":
		return &d.cc
	case "bcc":
		return &d.bcc
	case "reply-to":
		return &d.replyTo
	}
	return nil
}

// recipientSource says where recipient values came from, which decides
// what a bare name that resolves to nothing is.
type recipientSource int

const (
	fromArgs  recipientSource = iota // RECIPIENT arguments: maybe a typo'd command (64)
	fromFlags                        // --to, -c, -b, --reply-to, -H: never a command (65)
	fromData                         // templates and CSV rows (65)
)

// resolveRecipients turns argument, flag or data values into addresses:
// comma lists split, bare names through the aliases or local_domain. A bare
// word that is neither is a usage error as an argument (so `mailout qeue
// list` never mails "qeue") and a data error anywhere else.
func resolveRecipients(cfg *profiles.Config, items []string, src recipientSource) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, item := range items {
		if src == fromData {
			if a, ok := singleMailbox(item); ok {
				out = append(out, a)
				continue
			}
		}
		list, err := message.ParseAddressList(item)
		if err != nil {
			if !strings.ContainsAny(item, "@<") {
				return nil, unresolved(strings.TrimSpace(item), src)
			}
			return nil, &message.DataError{Msg: fmt.Sprintf("invalid address %q: %v", item, err)}
		}
		for _, m := range list {
			if strings.Contains(m.Addr, "@") {
				a, err := message.ParseAddress(m.Raw)
				if err != nil {
					return nil, err
				}
				out = append(out, a)
				continue
			}
			addrs, ok := cfg.Expand(m.Addr)
			if !ok {
				return nil, unresolved(m.Addr, src)
			}
			for _, x := range addrs {
				a, err := message.ParseAddress(x)
				if err != nil {
					return nil, err
				}
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// unresolved is the error for a bare name no alias or local_domain
// resolves.
func unresolved(name string, src recipientSource) error {
	switch src {
	case fromArgs:
		return &codeError{code: exitUsage, err: fmt.Errorf("unknown command or recipient %q", name),
			hint: "give a full address, define an alias or local_domain in the config, or see 'mailout --help'"}
	case fromFlags:
		return &message.DataError{Msg: fmt.Sprintf("invalid address %q (no alias or local_domain for it)", name)}
	}
	return &message.DataError{Msg: fmt.Sprintf("recipient %q has no domain and matches no alias", name)}
}

// singleMailbox reads `Doe, Jane <jane@example.com>`, what a template
// line `To: {{ .name }} <{{ .email }}>` renders for a CSV name holding a
// comma, as the one mailbox it obviously is rather than an address list.
func singleMailbox(s string) (*mail.Address, bool) {
	s = strings.TrimSpace(s)
	lt := strings.IndexByte(s, '<')
	if lt <= 0 || !strings.HasSuffix(s, ">") || strings.Count(s, "<") != 1 || strings.Count(s, "@") != 1 ||
		strings.ContainsAny(s[:lt], "\"@") {
		return nil, false
	}
	a, err := message.ParseAddress(s[lt+1 : len(s)-1])
	if err != nil {
		return nil, false
	}
	a.Name = strings.TrimSpace(s[:lt])
	return a, true
}

// fill reads the body and parts named by flags.
func (d *draft) fill(ctx context.Context, r *runner, o sendOptions) error {
	stdinUsed := false
	switch {
	case o.bodySet:
		d.text = message.Bytes(o.body)
	case o.bodyFile != "":
		d.text = message.File(o.bodyFile)
		if err := checkReadable(o.bodyFile); err != nil {
			return err
		}
	case o.html == "-":
	case !r.env.StdinTTY && o.template == "":
		sp, err := message.Spool(r.env.Stdin, "", 0)
		if err != nil {
			return withCode(exitIOErr, err)
		}
		d.closers = append(d.closers, sp.Close)
		d.text, d.fromStdin, stdinUsed = sp, true, true
	}
	if o.html != "" {
		if o.html == "-" {
			if stdinUsed {
				return usageErrorf("stdin cannot be both the body and the --html part")
			}
			sp, err := message.Spool(r.env.Stdin, "", 0)
			if err != nil {
				return withCode(exitIOErr, err)
			}
			d.closers = append(d.closers, sp.Close)
			d.html, d.fromStdin = sp, true
		} else {
			if err := checkReadable(o.html); err != nil {
				return err
			}
			d.html = message.File(o.html)
		}
	}
	for _, a := range o.attach {
		d.parts = append(d.parts, message.Part{Path: a})
	}
	for _, a := range o.inline {
		d.parts = append(d.parts, message.Part{Path: a, Inline: true})
	}
	if o.template != "" {
		if err := r.applyTemplate(d, o); err != nil {
			return err
		}
	}
	if d.text == nil && d.html == nil && len(d.parts) == 0 {
		return usageErrorf("no message body: pipe one in, or use --body, --body-file, --html or --attach")
	}
	if o.skipEmpty {
		blank, err := isBlank(d.text)
		if err != nil {
			return err
		}
		if blank && d.html == nil && len(d.parts) == 0 {
			d.skip = true
		}
	}
	return nil
}

func checkReadable(path string) error {
	rc, err := message.File(path).Open()
	if err != nil {
		return &message.InputError{Path: path, Err: err}
	}
	return rc.Close()
}

// isBlank reports whether a body holds only white space, reading no more
// than it must.
func isBlank(src message.Source) (bool, error) {
	if src == nil {
		return true, nil
	}
	rc, err := src.Open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	for {
		ch, _, err := br.ReadRune()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !unicode.IsSpace(ch) {
			return false, nil
		}
	}
}
