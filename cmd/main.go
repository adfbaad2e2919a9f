// Package cmd is mailout's command layer: flags, argv[0] dispatch, the
// injected Env, the exit-code table and output formats. Commands are thin:
// they parse, call the domain packages and map errors to exit codes.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"mailout/internal/text"
	"mailout/profiles"
	"mailout/spool"
)

// Version is set at build time with -ldflags "-X mailout/cmd.Version=...".
var Version = ""

// runner is the state of one invocation: the Env and what was loaded
// lazily from it.
type runner struct {
	env      *Env
	execArgs []string // exec's COMMAND part, cut off before flag parsing
	hasExec  bool
	wantJSON bool // --json on the command line, for errors before any action runs
	cfg      *profiles.Config
	cfgErr   error
	cfgDone  bool

	// spools are the queues opened so far, by folder: a batch's workers
	// queue through one Spool, whose Puts then share their fsyncs.
	spoolMu sync.Mutex
	spools  map[string]*spool.Spool
}

// Main runs mailout with argv and returns the exit status.
func Main(args []string, env *Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r := &runner{env: env}
	if len(args) == 0 {
		args = []string{"mailout"}
	}
	var err error
	switch prog := filepath.Base(args[0]); {
	case prog == "sendmail" || strings.HasPrefix(prog, "sendmail."):
		err = r.runSendmail(ctx, args[1:])
	case len(args) > 1 && args[1] == "sendmail":
		err = r.runSendmail(ctx, args[2:])
	case prog == "mailq":
		err = r.runApp(ctx, []string{"mailout", "queue", "list"})
	default:
		err = r.runApp(ctx, args)
	}
	return r.report(err)
}

// report prints the one error line (and a hint) and returns the code.
func (r *runner) report(err error) int {
	if err == nil {
		return exitOK
	}
	var s silentError
	if errors.As(err, &s) {
		return s.code
	}
	fmt.Fprintf(r.env.Stderr, "mailout: %s\n", text.OneLine(err.Error()))
	var ce *codeError
	if errors.As(err, &ce) && ce.hint != "" {
		fmt.Fprintf(r.env.Stderr, "mailout: hint: %s\n", ce.hint)
	}
	return exitCode(err)
}

// silentError carries an exit status whose message was already printed.
type silentError struct{ code int }

func (s silentError) Error() string { return fmt.Sprintf("exit %d", s.code) }

func (r *runner) runApp(ctx context.Context, args []string) error {
	app := r.newApp()
	args, tail, hasTail := arrange(app, args)
	r.execArgs, r.hasExec = tail, hasTail
	if i := indexOf(args, "--"); i >= 0 {
		r.wantJSON = indexOf(args[:i], "--json") >= 0
	} else {
		r.wantJSON = indexOf(args, "--json") >= 0
	}
	defer registerHelp(app)()
	return app.RunContext(ctx, args)
}

func (r *runner) newApp() *cli.App {
	app := &cli.App{
		Name:                      "mailout",
		Usage:                     "send mail from scripts, cron and the command line",
		UsageText:                 "mailout [flags] RECIPIENT...\nmailout COMMAND [flags] [args]",
		Version:                   versionString(),
		Reader:                    r.env.Stdin,
		Writer:                    r.env.Stdout,
		ErrWriter:                 r.env.Stderr,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true,
		Suggest:                   true,
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError:              r.onUsageError,
		Flags:                     append(globalFlags(), sendFlags()...),
		Action:                    r.sendAction,
		Commands:                  r.commands(),
	}
	for _, c := range app.Commands {
		r.prepare(c)
	}
	return app
}

// prepare gives every command the global flags and one-line usage errors.
func (r *runner) prepare(c *cli.Command) {
	c.Flags = append(c.Flags, globalFlags()...)
	c.OnUsageError = r.onUsageError
	for _, s := range c.Subcommands {
		r.prepare(s)
	}
}

// onUsageError turns a flag-parsing error into one line and a hint, and,
// when --json was asked for, the failed JSON object SPEC.md promises even
// before a message exists.
func (r *runner) onUsageError(c *cli.Context, err error, _ bool) error {
	var uerr error
	// Go's flag package has no typed error for an unknown flag, only this
	// wording (unchanged since Go 1); the usage scripts pin the result.
	if msg, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
		uerr = &codeError{code: exitUsage, err: fmt.Errorf("unknown flag %s", msg), hint: "see '" + commandPath(c) + " --help'"}
	} else {
		uerr = &codeError{code: exitUsage, err: err, hint: "see '" + commandPath(c) + " --help'"}
	}
	if r.wantJSON {
		(&jsonOutput{enabled: true, w: r.env.Stdout}).finish(uerr)
	}
	return uerr
}

// commandPath is "mailout queue list" for the command c runs.
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != ctx.App.Name {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	return strings.Join(append([]string{"mailout"}, names...), " ")
}

// unknownSubcommand is the Action of a command that only has subcommands.
func unknownSubcommand(c *cli.Context) error {
	if c.NArg() == 0 {
		return &codeError{code: exitUsage, err: fmt.Errorf("%s needs a subcommand", commandPath(c)), hint: "see '" + commandPath(c) + " --help'"}
	}
	return &codeError{code: exitUsage, err: fmt.Errorf("unknown command %q for %s", c.Args().First(), commandPath(c)), hint: "see '" + commandPath(c) + " --help'"}
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "config `FILE` (default: $MAILOUT_CONFIG, ~/.config/mailout/config.toml, /etc/mailout/config.toml)"},
		&cli.StringFlag{Name: "profile", Aliases: []string{"P"}, EnvVars: []string{"MAILOUT_PROFILE"}, Usage: "profile `NAME` to send with"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the SMTP conversation on stderr (secrets redacted)"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object per message on stdout"},
	}
}

func (r *runner) commands() []*cli.Command {
	return []*cli.Command{
		r.newSendCommand(),
		r.newExecCommand(),
		r.newBatchCommand(),
		r.newProfileCommand(),
		r.newQueueCommand(),
		r.newCompletionCommand(),
		r.newManCommand(),
	}
}

// loadConfig loads the configuration file once per run: explicit is the
// --config value ("" for $MAILOUT_CONFIG and the default paths).
func (r *runner) loadConfig(explicit string) (*profiles.Config, error) {
	if !r.cfgDone {
		r.cfgDone = true
		path, err := profiles.Locate(explicit, r.env.Getenv)
		if err == nil {
			r.cfg, err = profiles.Load(path)
		}
		r.cfgErr = err
	}
	return r.cfg, r.cfgErr
}

func versionString() string {
	return buildVersion()
}
