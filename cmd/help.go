package cmd

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// Flag categories, in the order --help and the man page show them. A
// composing command (one that builds a message) groups its flags by what
// they touch; other commands only set their delivery and global flags
// apart.
const (
	catMessage  = "Message"
	catBody     = "Body and attachment"
	catTemplate = "Template"
	catBatch    = "Batch"
	catCommand  = "Command"
	catOther    = ""
	catDelivery = "Delivery"
	catGlobal   = "Global"
)

var categoryOrder = []string{catMessage, catBody, catTemplate, catBatch, catCommand, catOther, catDelivery, catGlobal}

// flagCategories files every flag SPEC.md names under its category; a
// flag missing here lands in the plain "Flags" group.
var flagCategories = map[string]string{
	"subject": catMessage, "from": catMessage, "to": catMessage, "cc": catMessage,
	"bcc": catMessage, "reply-to": catMessage, "header": catMessage,

	"body": catBody, "body-file": catBody, "html": catBody, "attach": catBody,
	"inline": catBody, "skip-empty": catBody,

	"template": catTemplate, "var": catTemplate, "data": catTemplate,

	"csv": catBatch, "limit": catBatch, "rate": catBatch, "parallel": catBatch,
	"key": catBatch, "journal": catBatch, "no-journal": catBatch, "report": catBatch,
	"max-errors": catBatch, "unsubscribe": catBatch, "attach-root": catBatch, "yes": catBatch,

	"when": catCommand, "timeout": catCommand,

	"server": catDelivery, "tls": catDelivery, "user": catDelivery, "mx": catDelivery,
	"queue-on-failure": catDelivery, "dry-run": catDelivery,

	"config": catGlobal, "profile": catGlobal, "verbose": catGlobal, "json": catGlobal,
	"help": catGlobal, "version": catGlobal,
}

// rootExamples are the examples of `mailout --help` and of the man page:
// one per way people use mailout.
var rootExamples = []string{
	`backup.sh 2>&1 | mailout -E -s "backup report" ops@example.com   # cron: mail only when there is output`,
	`mailout -s "invoice" -a invoice.pdf --body "Attached." billing@example.com`,
	`mailout -s "report" --html report.html --body-file report.txt team@example.com`,
	`mailout -T welcome.tpl --var name=Ana ana@example.com`,
	`mailout batch --csv customers.csv --template invoice.tpl --dry-run | less`,
	`mailout exec ops@example.com -- /usr/local/bin/backup.sh --full`,
	`ln -s "$(command -v mailout)" /usr/sbin/sendmail   # cron and other programs mail through mailout`,
}

// rootText says what the command list cannot: sendmail mode is parsed
// before urfave/cli sees argv.
var rootText = []string{
	"Without a command, mailout sends (see 'mailout send --help'). Flags may come",
	"before or after recipients. As sendmail (a symlink, or 'mailout sendmail') it",
	"relays a message from stdin with sendmail's flags; as mailq it lists the queue.",
}

// extraExamples serve commands whose definition carries none; a
// subcommand without examples shows its parent's.
var extraExamples = map[string][]string{
	"mailout profile": {
		"mailout profile list",
		"mailout profile show work",
		"mailout profile test work",
		"mailout profile set-password work",
	},
}

// flagGroup is one titled block of flags.
type flagGroup struct {
	name  string
	flags []cli.Flag
}

// title is the group's heading in --help.
func (g flagGroup) title() string {
	switch g.name {
	case catOther:
		return "Flags"
	case catGlobal:
		return "Global flags"
	}
	return g.name + " flags"
}

// commandDoc is what --help and the man page say about one command. Both
// are rendered from it, and it is built from the live *cli.Command, so
// the two never drift from each other or from the flags really parsed.
type commandDoc struct {
	path     string // "mailout queue flush"
	summary  string
	synopsis []string
	text     []string // the description, without its examples
	commands []*cli.Command
	groups   []flagGroup
	examples []string
}

// appDoc describes mailout itself, the command that sends when no command
// is named.
func appDoc(app *cli.App) commandDoc {
	d := commandDoc{
		path:     app.Name,
		summary:  app.Usage,
		synopsis: lines(app.UsageText),
		commands: visibleCommands(app.Commands),
		examples: rootExamples,
	}
	d.text, _ = splitExamples(app.Description)
	if len(d.text) == 0 {
		d.text = rootText
	}
	d.groups = groupFlags(app.Flags, true)
	for i, g := range d.groups {
		if g.name == catGlobal {
			d.groups[i].flags = append(g.flags, &cli.BoolFlag{Name: "version", Usage: "print the version, the commit and the Go version"})
		}
	}
	return d
}

// commandDocFor describes c, found at path (its parent's path plus its
// name); inherited are the parent's examples.
func commandDocFor(parent string, c *cli.Command, inherited []string) commandDoc {
	path := parent + " " + c.Name
	d := commandDoc{path: path, summary: c.Usage, commands: visibleCommands(c.Subcommands)}
	syn := path
	if len(d.commands) > 0 && c.ArgsUsage == "" {
		syn += " COMMAND"
	}
	if len(visibleFlags(c.Flags)) > 0 {
		syn += " [flags]"
	}
	if c.ArgsUsage != "" {
		syn += " " + c.ArgsUsage
	}
	d.synopsis = lines(c.UsageText)
	if len(d.synopsis) == 0 {
		d.synopsis = []string{syn}
	}
	d.text, d.examples = splitExamples(c.Description)
	if len(d.examples) == 0 {
		d.examples = extraExamples[path]
	}
	if len(d.examples) == 0 {
		d.examples = inherited
	}
	d.groups = groupFlags(c.Flags, hasFlag(c.Flags, "subject") || hasFlag(c.Flags, "csv"))
	return d
}

// helpApps maps each command of a running app to that app, so the help
// printer, which urfave/cli only offers as a package variable, can find the
// command's place in the tree without being reassigned for every app (a
// data race when tests run apps side by side). registerHelp adds an app's
// commands and returns the function that removes them again.
var helpApps sync.Map // *cli.Command -> *cli.App

func init() {
	// urfave/cli spells --version -v by default; -v is --verbose here.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, commit and Go version"}
	cli.HelpPrinter = printHelp
}

// registerHelp makes --help of app's commands print the help rendered from
// their definitions: flags grouped by category, examples last.
func registerHelp(app *cli.App) (unregister func()) {
	var walk func(cmds []*cli.Command, f func(*cli.Command))
	walk = func(cmds []*cli.Command, f func(*cli.Command)) {
		for _, c := range cmds {
			f(c)
			walk(c.Subcommands, f)
		}
	}
	walk(app.Commands, func(c *cli.Command) { helpApps.Store(c, app) })
	return func() { walk(app.Commands, func(c *cli.Command) { helpApps.Delete(c) }) }
}

// printHelp renders help only when it is shown, so a plain send pays
// nothing for it at start-up.
func printHelp(w io.Writer, templ string, data any) {
	switch v := data.(type) {
	case *cli.App:
		io.WriteString(w, appDoc(v).render())
		return
	case *cli.Command:
		if app, ok := helpApps.Load(v); ok {
			a := app.(*cli.App)
			if d, ok := findCommandDoc(a.Name, a.Commands, nil, v); ok {
				io.WriteString(w, d.render())
				return
			}
		}
	}
	cli.HelpPrinterCustom(w, templ, data, nil)
}

// findCommandDoc finds c in the command tree and builds its document,
// with its full path and the examples it inherits from its parents.
func findCommandDoc(parent string, cmds []*cli.Command, inherited []string, c *cli.Command) (commandDoc, bool) {
	for _, cmd := range cmds {
		d := commandDocFor(parent, cmd, inherited)
		if cmd == c {
			return d, true
		}
		if found, ok := findCommandDoc(d.path, cmd.Subcommands, d.examples, c); ok {
			return found, true
		}
	}
	return commandDoc{}, false
}

// splitExamples cuts a description at its "Examples:" line.
func splitExamples(desc string) (text, examples []string) {
	inExamples := false
	for _, l := range lines(desc) {
		switch {
		case l == "Examples:":
			inExamples = true
		case inExamples && l != "":
			examples = append(examples, l)
		case !inExamples:
			text = append(text, l)
		}
	}
	for len(text) > 0 && text[len(text)-1] == "" {
		text = text[:len(text)-1]
	}
	return text, examples
}

// lines splits s into trimmed lines, dropping the indentation urfave/cli
// descriptions carry.
func lines(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	out := strings.Split(s, "\n")
	for i, l := range out {
		out[i] = strings.TrimSpace(l)
	}
	return out
}

func visibleCommands(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

func isVisible(f cli.Flag) bool {
	v, ok := f.(cli.VisibleFlag)
	return !ok || v.IsVisible()
}

// visibleFlags drops hidden flags and the help and version flags, which
// urfave/cli adds while running and groupFlags adds back itself.
func visibleFlags(flags []cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, f := range flags {
		if name := f.Names()[0]; isVisible(f) && name != "help" && name != "version" {
			out = append(out, f)
		}
	}
	return out
}

func hasFlag(flags []cli.Flag, name string) bool {
	return slices.ContainsFunc(flags, func(f cli.Flag) bool { return f.Names()[0] == name })
}

// groupFlags sorts the visible flags into categories, keeping their order
// within each. Only composing commands (send, exec, batch) get the
// message categories.
func groupFlags(flags []cli.Flag, composing bool) []flagGroup {
	byCat := map[string][]cli.Flag{}
	for _, f := range visibleFlags(flags) {
		byCat[flagCategory(f.Names()[0], composing)] = append(byCat[flagCategory(f.Names()[0], composing)], f)
	}
	byCat[catGlobal] = append(byCat[catGlobal], helpFlag())
	var out []flagGroup
	for _, c := range categoryOrder {
		if len(byCat[c]) > 0 {
			out = append(out, flagGroup{name: c, flags: byCat[c]})
		}
	}
	return out
}

func flagCategory(name string, composing bool) string {
	c := flagCategories[name]
	if !composing && c != catDelivery && c != catGlobal {
		return catOther
	}
	return c
}

// helpFlag is how --help itself is listed.
func helpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show this help"}
}

// flagSignature spells a flag as its help shows it: "-s, --subject TEXT".
func flagSignature(f cli.Flag) string {
	var short, long []string
	for _, n := range f.Names() {
		if len(n) == 1 {
			short = append(short, "-"+n)
		} else {
			long = append(long, "--"+n)
		}
	}
	s := strings.Join(append(short, long...), ", ")
	if p := flagPlaceholder(f); p != "" {
		s += " " + p
	}
	return s
}

// flagPlaceholder is the value's name, taken from the `quoted` word of the
// usage as urfave/cli does; "" for a flag without a value.
func flagPlaceholder(f cli.Flag) string {
	dg, ok := f.(cli.DocGenerationFlag)
	if !ok || !dg.TakesValue() {
		return ""
	}
	u := dg.GetUsage()
	if i := strings.IndexByte(u, '`'); i >= 0 {
		if j := strings.IndexByte(u[i+1:], '`'); j >= 0 {
			return u[i+1 : i+1+j]
		}
	}
	return "VALUE"
}

// flagUsage is the flag's explanation without the placeholder quotes,
// naming its default when the usage does not and the environment
// variables it reads.
func flagUsage(f cli.Flag) string {
	dg, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	u := strings.ReplaceAll(dg.GetUsage(), "`", "")
	if v := dg.GetValue(); dg.TakesValue() && v != "" && v != "0" && v != "0s" && !strings.Contains(u, "default") {
		u += " (default: " + v + ")"
	}
	if env := dg.GetEnvVars(); len(env) > 0 {
		u += " [$" + strings.Join(env, ", $") + "]"
	}
	return u
}

// Layout of --help: two columns within helpWidth; a flag whose signature
// is wider than maxFlagColumn has its explanation on the next line.
const (
	helpWidth     = 80
	maxFlagColumn = 30
)

// render is the --help text.
func (d commandDoc) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s - %s\n\nUsage:\n", d.path, d.summary)
	for _, s := range d.synopsis {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	if len(d.text) > 0 {
		b.WriteString("\n")
		for _, l := range d.text {
			if l == "" {
				b.WriteString("\n")
				continue
			}
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	if len(d.commands) > 0 {
		b.WriteString("\nCommands:\n")
		width := 0
		for _, c := range d.commands {
			width = max(width, len(c.Name))
		}
		for _, c := range d.commands {
			writeColumns(&b, c.Name, c.Usage, width)
		}
	}
	for _, g := range d.groups {
		fmt.Fprintf(&b, "\n%s:\n", g.title())
		width := 0
		for _, f := range g.flags {
			if w := len(flagSignature(f)); w <= maxFlagColumn {
				width = max(width, w)
			}
		}
		for _, f := range g.flags {
			writeColumns(&b, flagSignature(f), flagUsage(f), width)
		}
	}
	if len(d.examples) > 0 {
		b.WriteString("\nExamples:\n")
		for _, e := range d.examples {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	if d.path == "mailout" {
		b.WriteString("\nRun 'mailout COMMAND --help' for a command's flags and 'mailout man | man -l -'\nfor the manual: configuration, files, environment and exit codes.\n")
	}
	return b.String()
}

// writeColumns writes "  left  right", wrapping right within helpWidth.
func writeColumns(b *strings.Builder, left, right string, width int) {
	indent := 2 + width + 2
	wrapped := wrapWords(right, helpWidth-indent)
	if len(left) > width {
		fmt.Fprintf(b, "  %s\n", left)
	} else if len(wrapped) > 0 {
		fmt.Fprintf(b, "  %-*s  %s\n", width, left, wrapped[0])
		wrapped = wrapped[1:]
	} else {
		fmt.Fprintf(b, "  %s\n", left)
	}
	for _, l := range wrapped {
		fmt.Fprintf(b, "%*s%s\n", indent, "", l)
	}
}

// wrapWords breaks s into lines of at most width bytes where it can.
func wrapWords(s string, width int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) > width:
			out = append(out, line)
			line = w
		default:
			line += " " + w
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
