package cmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"mailout/profiles"
)

// newManCommand is `mailout man`. The page is rendered from the same
// definitions as --help; only what no flag carries (configuration,
// files, environment, exit codes) is written here.
func (r *runner) newManCommand() *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print the manual page (roff, section 1) on stdout",
		Description: `Examples:
   mailout man | man -l -
   mailout man > /usr/local/share/man/man1/mailout.1`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return hinted(usageErrorf("man takes no arguments, got %q", c.Args().First()), "run 'mailout man | man -l -'")
			}
			if err := writeManPage(r.env.Stdout, r.newApp()); err != nil {
				return withCode(exitIOErr, fmt.Errorf("write man page: %w", err))
			}
			return nil
		},
	}
}

// manWriter collects roff output; the first write error sticks.
type manWriter struct {
	w   io.Writer
	err error
}

// line writes one line of roff source as it is.
func (m *manWriter) line(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format+"\n", args...)
	}
}

// text writes plain text as a line of roff, escaped.
func (m *manWriter) text(s string) { m.line("%s", roffLine(s)) }

// para starts a paragraph with s.
func (m *manWriter) para(s string) {
	m.line(".PP")
	m.text(s)
}

// item writes a tagged paragraph: tag in bold, then the explanation.
func (m *manWriter) item(tag, s string) {
	m.line(".TP")
	m.line(`\fB%s\fR`, roffEscape(tag))
	m.text(s)
}

// example writes lines in a literal, indented block.
func (m *manWriter) example(lines []string) {
	m.line(".PP")
	m.line(".RS 4")
	m.line(".nf")
	for _, l := range lines {
		m.text(l)
	}
	m.line(".fi")
	m.line(".RE")
}

// roffEscape makes s safe inside a roff line: backslashes, hyphens (which
// must stay ASCII minus signs so options can be searched and pasted) and
// any non-ASCII character, which groff reads in Latin-1 otherwise.
func roffEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\\':
			b.WriteString(`\e`)
		case c == '-':
			b.WriteString(`\-`)
		case c > 126:
			fmt.Fprintf(&b, `\[u%04X]`, c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// roffLine escapes s as a text line: a leading dot or quote would be read
// as a request.
func roffLine(s string) string {
	s = roffEscape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// writeManPage renders the manual of app.
func writeManPage(w io.Writer, app *cli.App) error {
	m := &manWriter{w: w}
	root := appDoc(app)
	m.line(`.TH MAILOUT 1 "" "mailout %s" "User Commands"`, roffEscape(versionNumber(app.Version)))
	// Left-aligned and unhyphenated, so flags and paths stay whole.
	m.line(".ad l")
	m.line(".nh")
	m.line(".SH NAME")
	m.text("mailout - " + root.summary)

	m.line(".SH SYNOPSIS")
	m.line(".nf")
	for _, s := range root.synopsis {
		m.text(s)
	}
	var walkSyn func(parent string, cmds []*cli.Command)
	walkSyn = func(parent string, cmds []*cli.Command) {
		for _, c := range visibleCommands(cmds) {
			m.text(commandDocFor(parent, c, nil).synopsis[0])
		}
	}
	walkSyn(app.Name, app.Commands)
	m.text("mailout sendmail [sendmail flags] [--] RECIPIENT...")
	m.text("mailout --version")
	m.line(".fi")

	m.line(".SH DESCRIPTION")
	m.text("mailout sends mail from scripts, cron and the command line: through a relay named by a profile " +
		"in its configuration file or by --server, or directly to the recipients' MX hosts. " +
		"Without a command it runs send, mailx style. " +
		"Flags may come before or after recipients; -- ends the flags.")
	m.para("It is quiet on success unless --verbose or --json is given. Errors are one line on standard error " +
		"starting with \"mailout: \", saying what failed and what to do.")

	m.line(".SH GLOBAL FLAGS")
	m.text("Every command accepts these.")
	for _, g := range root.groups {
		if g.name == catGlobal {
			writeManFlags(m, g.flags)
		}
	}

	m.line(".SH COMMANDS")
	var walk func(parent string, cmds []*cli.Command)
	walk = func(parent string, cmds []*cli.Command) {
		for _, c := range visibleCommands(cmds) {
			d := commandDocFor(parent, c, nil)
			writeManCommand(m, d)
			walk(d.path, c.Subcommands)
		}
	}
	walk(app.Name, app.Commands)
	writeManSendmail(m)

	writeManConfig(m)
	writeManFiles(m)
	writeManEnvironment(m)
	writeManExitStatus(m)

	m.line(".SH EXAMPLES")
	for _, e := range root.examples {
		m.example([]string{e})
	}
	m.para("Shell completion, installed once:")
	m.example(completionInstall)

	m.line(".SH SEE ALSO")
	m.line(`\fBmail\fR(1), \fBsendmail\fR(8), \fBmsmtp\fR(1), \fBcrontab\fR(5), \fBsysexits.h\fR(3head)`)
	return m.err
}

// sentence capitalises s and ends it with a period.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// versionNumber is the first word of the version string: the .TH line
// has no room for the commit.
func versionNumber(v string) string {
	if f := strings.Fields(v); len(f) > 0 {
		return f[0]
	}
	return "devel"
}

// writeManCommand writes one command's subsection; the global flags are
// documented once, above, and a subcommand's examples are its parent's.
func writeManCommand(m *manWriter, d commandDoc) {
	m.line(`.SS "%s"`, roffEscape(d.synopsis[0]))
	m.text(sentence(d.summary))
	if len(d.text) > 0 {
		m.line(".PP")
		for _, l := range d.text {
			if l == "" {
				m.line(".PP")
				continue
			}
			m.text(l)
		}
	}
	for _, g := range d.groups {
		if g.name == catGlobal {
			continue
		}
		m.line(".PP")
		m.line(`\fI%s:\fR`, roffEscape(g.title()))
		writeManFlags(m, g.flags)
	}
	if len(d.examples) > 0 {
		m.line(".PP")
		m.line(`\fIExamples:\fR`)
		m.example(d.examples)
	}
}

func writeManFlags(m *manWriter, flags []cli.Flag) {
	m.line(".RS 4")
	for _, f := range flags {
		if f.Names()[0] == "help" {
			continue
		}
		m.line(".TP")
		var names []string
		for _, n := range strings.Split(flagSignature(f), ", ") {
			name, val, _ := strings.Cut(n, " ")
			s := `\fB` + roffEscape(name) + `\fR`
			if val != "" {
				s += ` \fI` + roffEscape(val) + `\fR`
			}
			names = append(names, s)
		}
		m.line("%s", strings.Join(names, ", "))
		m.text(flagUsage(f))
	}
	m.line(".RE")
}

// sendmailFlags is sendmail mode's argv, parsed by hand, not by urfave/cli.
var sendmailFlags = [][2]string{
	{"-t", "also take recipients from the To, Cc and Bcc headers"},
	{"-i, -oi", "a line with a lone dot does not end the message"},
	{"-f ADDR, -fADDR", "envelope sender; a local one becomes the profile's from"},
	{"-r ADDR", "the same as -f"},
	{"-F NAME, -FNAME", "the sender's full name, for an added From"},
	{"-C FILE", "the configuration file"},
	{"-bm", "read a message from standard input (the default)"},
	{"-bs", "speak SMTP on standard input and output (Symfony, Laravel): each message is relayed like a piped one and the reply to DATA is the relay's; exit 75 if input ends inside a message"},
	{"-bp", "list the queue, as mailout queue list"},
	{"-q", "flush the queue, as mailout queue flush"},
	{"-v", "show the SMTP conversation"},
	{"-N DSN", "delivery status notifications: never, or success,failure,delay"},
	{"-R RET", "how much of the message a bounce returns: full or hdrs"},
	{"-V ENVID", "the envelope id for delivery status notifications"},
	{"-B TYPE", "the body type: 7BIT or 8BITMIME"},
	{"--", "end of flags"},
}

func writeManSendmail(m *manWriter) {
	m.line(`.SS "mailout sendmail [sendmail flags] [\-\-] RECIPIENT..."`)
	m.text("Also when mailout is invoked as sendmail (a symlink), and as mailq for mailout queue list. " +
		"Reads a complete message from standard input and relays it, adding Date, Message-ID and From when " +
		"missing and removing Bcc and Resent-Bcc. Recipients are the arguments, plus the To, Cc and Bcc " +
		"headers with -t. A temporary failure is queued (exit 0) when queue_dir is set, else exit 75.")
	m.line(".RS 4")
	for _, f := range sendmailFlags {
		m.item(f[0], f[1])
	}
	m.line(".RE")
	m.para("Ignored: other -oX flags, and -X FILE, -L TAG, -h N, -O OPT=VAL, -G, -U, -m, -n with their arguments. " +
		"-bv, -bi and -bt are usage errors (64). Other unknown flags are ignored with a warning in the log.")
}

func writeManConfig(m *manWriter) {
	m.line(".SH CONFIGURATION")
	m.text("The first found of --config (sendmail: -C), $MAILOUT_CONFIG, $XDG_CONFIG_HOME/mailout/config.toml " +
		"(~/.config/mailout/config.toml) and /etc/mailout/config.toml is read; it is TOML. No file is fine for " +
		"--server, --mx and --dry-run. Unknown keys, wrong types and bad values are errors naming the file, line " +
		"and key (78); a file, or a password_command, that others can write is refused (78).")
	m.para("The profile is -P (or $MAILOUT_PROFILE), else the one whose from equals the sender (-r, sendmail -f), " +
		"else default_profile, else the only profile.")
	m.para("Top-level keys:")
	m.line(".RS 4")
	for _, k := range profiles.Schema {
		if !k.Profile {
			m.item(k.Name, k.Describe())
		}
	}
	m.line(".RE")
	m.para("Profile keys, in [defaults] and [profiles.NAME]; a key the profile's transport does not use is an error (78):")
	m.line(".RS 4")
	for _, k := range profiles.Schema {
		if k.Profile {
			m.item(k.Name, k.Describe())
		}
	}
	m.line(".RE")
	m.para("Secrets never appear in the configuration file, logs, --verbose, --json or profile show.")
}

func writeManFiles(m *manWriter) {
	m.line(".SH FILES")
	for _, f := range [][2]string{
		{"~/.config/mailout/config.toml", "the user's configuration ($XDG_CONFIG_HOME/mailout/config.toml)"},
		{"/etc/mailout/config.toml", "the system configuration"},
		{"~/.local/state/mailout/dead.letter", "messages read from standard input that could not be sent nor queued, appended in mbox format ($XDG_STATE_HOME/mailout/dead.letter)"},
		{"~/.cache/mailout/mta-sts/", "MTA-STS policies of recipient domains, one JSON file per domain, kept for their max_age ($XDG_CACHE_HOME/mailout/mta-sts; QUEUE_DIR/mta-sts-UID with a queue_dir)"},
		{"~/.local/state/mailout/queue/", "the spool when queue_dir is not set; under queue_dir, one folder per user id"},
		{"~/.local/state/mailout/batch/", "batch journals: which rows were sent"},
		{"/etc/aliases", "read when aliases_file names it"},
	} {
		m.item(f[0], f[1])
	}
}

// envVars are the environment variables mailout reads.
var envVars = [][2]string{
	{"MAILOUT_CONFIG", "the configuration file, unless --config is given"},
	{"MAILOUT_PROFILE", "the profile, unless -P is given"},
	{"MAILOUT_PASSWORD", "the password for --server with --user; never passed to exec's command nor to templates"},
	{"MAILTO", "exec's recipients when none are given"},
	{"XDG_CONFIG_HOME", "where the user's configuration lives (default ~/.config)"},
	{"XDG_STATE_HOME", "where dead.letter, the queue and batch journals live (default ~/.local/state)"},
	{"XDG_CACHE_HOME", "where MTA-STS policies are cached, in mailout/mta-sts (default ~/.cache)"},
	{"HTTPS_PROXY", "proxy for fetching MTA-STS policies (also https_proxy; NO_PROXY excludes hosts)"},
	{"NO_COLOR", "mailout prints no colour in any case; it is honoured should colour ever be added"},
}

func writeManEnvironment(m *manWriter) {
	m.line(".SH ENVIRONMENT")
	for _, e := range envVars {
		m.item(e[0], e[1])
	}
}

// exitStatuses explains every code of the exit table.
var exitStatuses = []struct {
	code int
	text string
}{
	{exitOK, "sent, queued, or skipped by -E"},
	{exitUsage, "usage: bad flags, no recipients, unknown command or bare recipient, batch without --yes and no terminal"},
	{exitDataErr, "data: invalid address, CR/LF or NUL in a header, template or CSV error"},
	{exitNoInput, "no input: a body, attachment, template, CSV or data file missing or unreadable"},
	{exitNoUser, "a recipient rejected permanently (5xx to RCPT); the others may have received it"},
	{exitNoHost, "host unknown: no such domain, no MX/A/AAAA, null MX"},
	{exitUnavailable, "unavailable: permanent server refusal, TLS required but not offered, TLS verification failed, AUTH required but not offered"},
	{exitSoftware, "internal error"},
	{exitIOErr, "I/O error (spool, output)"},
	{exitTempFail, "temporary failure (4xx, timeout, refused connection) and not queued: a re-run can succeed"},
	{exitNoPerm, "authentication failed"},
	{exitConfig, "configuration error, or no usable secret"},
}

// exitOrder spells the mixed-outcome order from the table the code uses.
func exitOrder() string {
	var s []string
	for _, c := range exitPriority {
		s = append(s, strconv.Itoa(c))
	}
	return strings.Join(append(s, strconv.Itoa(exitOK)), ", ")
}

func writeManExitStatus(m *manWriter) {
	m.line(".SH EXIT STATUS")
	m.text("The codes of sysexits.h:")
	for _, e := range exitStatuses {
		m.item(strconv.Itoa(e.code), e.text)
	}
	m.item("other", "exec passes its command's status through: 128+N when killed by signal N, 124 on --timeout, 126 not executable, 127 not found")
	m.para("Mixed outcomes (several recipients, domains or rows) exit with the first that applies in this order: " +
		exitOrder() + ". Permanent failures come before temporary ones, so 75 always means that retrying can fix everything that failed.")
}
