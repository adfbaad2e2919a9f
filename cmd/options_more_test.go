package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"mailout/internal/smtptest"
)

// capturedOptions is what the batch, queue and profile actions would have
// run with.
type capturedOptions struct {
	batch    *batchOptions
	queue    *queueOptions
	queueCmd string // the queue subcommand that ran
	profile  *profileOptions
}

// captureOptions is parseOptions for batch, queue and profile: the real
// app and argument arrangement, with each action replaced by one that only
// captures its options. Queue and profile keep their real option readers
// (queueAction, profileAction), so their argument checks still run.
func captureOptions(t *testing.T, argv ...string) (capturedOptions, error) {
	t.Helper()
	env, _, _ := helpTestEnv(t, nil)
	r := &runner{env: env}
	app := r.newApp()
	var got capturedOptions
	findCommand(app.Commands, "batch").Action = func(c *cli.Context) error {
		o := readBatchOptions(c)
		got.batch = &o
		return nil
	}
	for _, sub := range findCommand(app.Commands, "queue").Subcommands {
		name := sub.Name
		// show and delete take one ID, and say so in their usage line.
		sub.Action = queueAction(sub.ArgsUsage == "ID", func(_ context.Context, o queueOptions) error {
			got.queue, got.queueCmd = &o, name
			return nil
		})
	}
	for _, sub := range findCommand(app.Commands, "profile").Subcommands {
		sub.Action = profileAction(func(_ context.Context, o profileOptions) error {
			got.profile = &o
			return nil
		})
	}
	args, tail, hasTail := arrange(app, append([]string{"mailout"}, argv...))
	r.execArgs, r.hasExec = tail, hasTail
	defer registerHelp(app)()
	err := app.RunContext(context.Background(), args)
	return got, err
}

// defaultBatch is batchOptions with SPEC.md's defaults: one connection,
// stop after 10 failed rows.
func defaultBatch() batchOptions { return batchOptions{parallel: 1, maxErrors: 10} }

func normalizeBatch(o batchOptions) batchOptions {
	for _, p := range []*[]string{&o.vars, &o.data, &o.args} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return o
}

func TestBatchOptionsFromArgv(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want func(o *batchOptions)
	}{
		{"defaults", []string{"batch"}, func(o *batchOptions) {}},
		{"csv and template", []string{"batch", "--csv", "list.csv", "--template", "news.tpl"},
			func(o *batchOptions) { o.csv, o.template = "list.csv", "news.tpl" }},
		{"-T is --template, = form", []string{"batch", "--csv=list.csv", "-T", "news.tpl"},
			func(o *batchOptions) { o.csv, o.template = "list.csv", "news.tpl" }},
		{"-T= form", []string{"batch", "-T=a.tpl", "--csv", "b.csv"},
			func(o *batchOptions) { o.csv, o.template = "b.csv", "a.tpl" }},
		{"repeated --var and --data, commas kept", []string{"batch", "--var", "k=v", "--var", "list=a,b", "--data", "d.json", "--data", "e.toml"},
			func(o *batchOptions) { o.vars, o.data = []string{"k=v", "list=a,b"}, []string{"d.json", "e.toml"} }},
		{"dry run", []string{"batch", "--dry-run"}, func(o *batchOptions) { o.dryRun = true }},
		{"yes", []string{"batch", "--yes"}, func(o *batchOptions) { o.yes = true }},
		{"limit, rate, parallel", []string{"batch", "--limit", "50", "--rate", "100/m", "--parallel", "4"},
			func(o *batchOptions) { o.limit, o.rate, o.parallel = 50, "100/m", 4 }},
		{"key and journal", []string{"batch", "--key", "email", "--journal", "/tmp/j"},
			func(o *batchOptions) { o.key, o.journal = "email", "/tmp/j" }},
		{"no journal", []string{"batch", "--no-journal"}, func(o *batchOptions) { o.noJournal = true }},
		{"report and max errors", []string{"batch", "--report", "sent.jsonl", "--max-errors", "0"},
			func(o *batchOptions) { o.report, o.maxErrors = "sent.jsonl", 0 }},
		{"unsubscribe and attach root", []string{"batch", "--unsubscribe", "mailto:leave@example.com", "--attach-root", "/srv/files"},
			func(o *batchOptions) { o.unsubscribe, o.attachRoot = "mailto:leave@example.com", "/srv/files" }},
		{"delivery flags", []string{"batch", "--server", "smtp.example.com:2525", "--tls", "tls", "--user", "me", "--mx", "--queue-on-failure"},
			func(o *batchOptions) {
				o.del.server, o.del.tls, o.del.user, o.del.mx, o.del.queueOnFailure = "smtp.example.com:2525", "tls", "me", true, true
			}},
		{"global flags after the command", []string{"batch", "-P", "news", "--config", "/etc/m.toml", "-v", "--json"},
			func(o *batchOptions) {
				o.del.profile, o.del.config, o.del.verbose, o.del.json = "news", "/etc/m.toml", true, true
			}},
		{"global flags before the command", []string{"--profile", "news", "--verbose", "--json", "--config", "c.toml", "batch", "--yes"},
			func(o *batchOptions) {
				o.yes = true
				o.del.profile, o.del.config, o.del.verbose, o.del.json = "news", "c.toml", true, true
			}},
		{"flags after a stray argument are still flags", []string{"batch", "extra", "--csv", "a.csv", "-T", "b.tpl"},
			func(o *batchOptions) { o.args, o.csv, o.template = []string{"extra"}, "a.csv", "b.tpl" }},
		{"-- ends the flags", []string{"batch", "--yes", "--", "--csv"},
			func(o *batchOptions) { o.yes, o.args = true, []string{"--csv"} }},
		{"the spec's synopsis", []string{"batch", "--csv", "list.csv", "-T", "news.md", "--rate", "100/m", "--parallel", "4", "--unsubscribe", "https://example.com/u", "--yes"},
			func(o *batchOptions) {
				o.csv, o.template, o.rate, o.parallel, o.unsubscribe, o.yes = "list.csv", "news.md", "100/m", 4, "https://example.com/u", true
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := captureOptions(t, tc.argv...)
			if err != nil {
				t.Fatal(err)
			}
			if got.batch == nil {
				t.Fatalf("argv %q did not run batch", tc.argv)
			}
			want := defaultBatch()
			tc.want(&want)
			if g, w := normalizeBatch(*got.batch), normalizeBatch(want); !reflect.DeepEqual(g, w) {
				t.Errorf("argv %q\n got %+v\nwant %+v", tc.argv, g, w)
			}
		})
	}
}

// TestBatchOptionsFromEnv: -P's environment variable is MAILOUT_PROFILE,
// and the flag wins over it.
func TestBatchOptionsFromEnv(t *testing.T) {
	t.Setenv("MAILOUT_PROFILE", "fromenv")
	for argv, want := range map[string]string{"batch": "fromenv", "batch -P flag": "flag"} {
		got, err := captureOptions(t, strings.Fields(argv)...)
		if err != nil {
			t.Fatal(err)
		}
		if got.batch.del.profile != want {
			t.Errorf("argv %q: profile %q, want %q", argv, got.batch.del.profile, want)
		}
	}
}

func TestQueueOptionsFromArgv(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		cmd  string
		want queueOptions
	}{
		{"list", []string{"queue", "list"}, "list", queueOptions{}},
		{"list --json", []string{"queue", "list", "--json"}, "list", queueOptions{json: true}},
		{"global flags before queue", []string{"--json", "--config", "c.toml", "queue", "list"}, "list", queueOptions{json: true, config: "c.toml"}},
		{"global flags between queue and its subcommand", []string{"queue", "--config", "c.toml", "--json", "flush"}, "flush", queueOptions{json: true, config: "c.toml"}},
		{"flush tries everything", []string{"queue", "flush"}, "flush", queueOptions{}},
		{"flush --due", []string{"queue", "flush", "--due"}, "flush", queueOptions{due: true}},
		{"flush --due=true", []string{"queue", "flush", "--due=true", "-v"}, "flush", queueOptions{due: true}},
		{"flush --due=false", []string{"queue", "flush", "--due=false"}, "flush", queueOptions{}},
		{"show ID", []string{"queue", "show", "1a2b"}, "show", queueOptions{id: "1a2b"}},
		{"flags after the ID", []string{"queue", "show", "1a2b", "--json", "--config", "c.toml"}, "show", queueOptions{id: "1a2b", json: true, config: "c.toml"}},
		{"delete ID", []string{"queue", "delete", "1a2b"}, "delete", queueOptions{id: "1a2b"}},
		{"-- before an ID that starts with a dash", []string{"queue", "delete", "--", "-x"}, "delete", queueOptions{id: "-x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := captureOptions(t, tc.argv...)
			if err != nil {
				t.Fatal(err)
			}
			if got.queue == nil {
				t.Fatalf("argv %q did not run a queue command", tc.argv)
			}
			if got.queueCmd != tc.cmd || *got.queue != tc.want {
				t.Errorf("argv %q\n got %s %+v\nwant %s %+v", tc.argv, got.queueCmd, *got.queue, tc.cmd, tc.want)
			}
		})
	}
}

// TestMailqIsQueueList: argv[0] "mailq" runs queue list, as SPEC.md says.
func TestMailqIsQueueList(t *testing.T) {
	for _, argv0 := range []string{"mailq", "/usr/bin/mailq"} {
		env, out, errb := testEnv(t, "")
		if code := Main([]string{argv0}, env); code != 0 {
			t.Fatalf("%s: exit %d; stderr %q", argv0, code, errb)
		}
		if got := out.String(); got != "Mail queue is empty\n" {
			t.Errorf("%s: stdout %q, want the empty queue list", argv0, got)
		}
	}
}

func TestProfileOptionsFromArgv(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		p    string // the -P value, which the delivery options keep as given
		want profileOptions
	}{
		{"list", []string{"profile", "list"}, "", profileOptions{command: "list"}},
		{"list --json", []string{"profile", "list", "--json"}, "", profileOptions{command: "list", json: true}},
		{"list with -P keeps it as the name", []string{"profile", "list", "-P", "work"}, "work", profileOptions{command: "list", name: "work"}},
		{"show NAME", []string{"profile", "show", "work"}, "", profileOptions{command: "show", name: "work"}},
		{"show -P NAME", []string{"profile", "show", "-P", "work"}, "work", profileOptions{command: "show", name: "work"}},
		{"show --profile before the command", []string{"--profile", "work", "profile", "show"}, "work", profileOptions{command: "show", name: "work"}},
		{"NAME and an agreeing -P", []string{"profile", "show", "work", "-P", "work"}, "work", profileOptions{command: "show", name: "work"}},
		{"flags after NAME", []string{"profile", "show", "work", "--json", "--config", "c.toml", "-v"}, "",
			profileOptions{command: "show", name: "work", json: true, config: "c.toml", verbose: true}},
		{"global flags between profile and its subcommand", []string{"profile", "--config", "c.toml", "show", "work"}, "",
			profileOptions{command: "show", name: "work", config: "c.toml"}},
		{"test without NAME", []string{"profile", "test"}, "", profileOptions{command: "test"}},
		{"test NAME --to", []string{"profile", "test", "direct", "--to", "example.org"}, "", profileOptions{command: "test", name: "direct", to: "example.org"}},
		{"test with delivery flags", []string{"profile", "test", "--server", "smtp.example.com:465", "--tls", "tls", "--user", "me", "--mx", "-v", "--json"}, "",
			profileOptions{command: "test", verbose: true, json: true,
				del: deliveryOptions{server: "smtp.example.com:465", tls: "tls", user: "me", mx: true}}},
		{"test -P and --config", []string{"profile", "test", "-P", "work", "--config", "c.toml"}, "work",
			profileOptions{command: "test", name: "work", config: "c.toml"}},
		{"set-password", []string{"profile", "set-password", "work"}, "", profileOptions{command: "set-password", name: "work"}},
		{"delete-password", []string{"profile", "delete-password", "work"}, "", profileOptions{command: "delete-password", name: "work"}},
		{"login", []string{"profile", "login", "m365"}, "", profileOptions{command: "login", name: "m365"}},
		{"login --device", []string{"profile", "login", "m365", "--device"}, "", profileOptions{command: "login", name: "m365", device: true}},
		{"login --browser before NAME", []string{"profile", "login", "--browser", "gmail"}, "", profileOptions{command: "login", name: "gmail", browser: true}},
		{"logout", []string{"profile", "logout", "m365"}, "", profileOptions{command: "logout", name: "m365"}},
		{"send's --to does not leak into show", []string{"--to", "x@example.com", "profile", "show", "work"}, "", profileOptions{command: "show", name: "work"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := captureOptions(t, tc.argv...)
			if err != nil {
				t.Fatal(err)
			}
			if got.profile == nil {
				t.Fatalf("argv %q did not run a profile command", tc.argv)
			}
			want := tc.want
			want.del.config, want.del.profile, want.del.verbose, want.del.json = want.config, tc.p, want.verbose, want.json
			if !reflect.DeepEqual(*got.profile, want) {
				t.Errorf("argv %q\n got %+v\nwant %+v", tc.argv, *got.profile, want)
			}
		})
	}
}

// TestOptionUsageErrors runs the real mailout (nothing replaced) on argv
// that must be refused before anything is read or sent: exit 64 and the
// one error line, at most followed by a hint.
func TestOptionUsageErrors(t *testing.T) {
	const (
		batchHint   = "mailout: hint: see 'mailout batch --help'"
		queueHint   = "mailout: hint: see 'mailout queue --help'"
		flushHint   = "mailout: hint: see 'mailout queue flush --help'"
		testHint    = "mailout: hint: see 'mailout profile test --help'"
		loginHint   = "mailout: hint: see 'mailout profile login --help'"
		profileWant = "want list, show, test, set-password, delete-password, login or logout"
	)
	tests := []struct {
		name string
		argv []string
		want string // the error line
		hint string // the hint line, "" for none
	}{
		// batch
		{"batch unknown flag", []string{"batch", "--bogus"}, "mailout: unknown flag -bogus", batchHint},
		{"batch bad number", []string{"batch", "--parallel", "x"}, `mailout: invalid value "x" for flag -parallel: parse error`, batchHint},
		{"batch bad --limit", []string{"batch", "--limit", "1.5"}, `mailout: invalid value "1.5" for flag -limit: parse error`, batchHint},
		{"batch bad --max-errors", []string{"batch", "--max-errors", "ten"}, `mailout: invalid value "ten" for flag -max-errors: parse error`, batchHint},
		{"batch missing argument", []string{"batch", "--csv", "a.csv", "--limit"}, "mailout: flag needs an argument: -limit", batchHint},
		{"batch send-only flag", []string{"batch", "-s", "subject"}, "mailout: unknown flag -s", batchHint},
		{"batch bad boolean", []string{"batch", "--yes=maybe"}, `mailout: invalid boolean value "maybe" for -yes: parse error`, batchHint},
		{"batch without --csv", []string{"batch", "-T", "t.tpl"}, "mailout: batch needs --csv FILE", ""},
		{"batch without --template", []string{"batch", "--csv", "a.csv"}, "mailout: batch needs --template FILE", ""},
		{"batch positional", []string{"batch", "ops@example.com", "--csv", "a.csv", "-T", "t.tpl"},
			`mailout: batch takes no arguments (got "ops@example.com"): recipients come from the template and the CSV`, ""},
		{"batch --parallel 0", []string{"batch", "--csv", "a.csv", "-T", "t.tpl", "--parallel", "0"}, "mailout: --parallel 0: want 1 or more", ""},
		{"batch negative --limit", []string{"batch", "--csv", "a.csv", "-T", "t.tpl", "--limit", "-1"}, "mailout: --limit -1: want 0 or more", ""},
		{"batch negative --max-errors", []string{"batch", "--csv", "a.csv", "-T", "t.tpl", "--max-errors", "-1"}, "mailout: --max-errors -1: want 0 (never stop) or more", ""},
		{"batch journal and no journal", []string{"batch", "--csv", "a.csv", "-T", "t.tpl", "--journal", "j", "--no-journal"}, "mailout: --journal and --no-journal cannot be combined", ""},
		{"batch bad rate", []string{"batch", "--csv", "a.csv", "-T", "t.tpl", "--rate", "5/x"}, `mailout: --rate: invalid rate "5/x": want N/s, N/m or N/h, such as 10/s`, ""},
		{"batch bad unsubscribe", []string{"batch", "--csv", "a.csv", "-T", "t.tpl", "--unsubscribe", "ftp://x"}, `mailout: --unsubscribe "ftp://x": want an https URL or mailto:ADDR`, ""},
		{"batch dry run with json", []string{"batch", "--csv", "a.csv", "-T", "t.tpl", "--dry-run", "--json"},
			"mailout: --dry-run and --json cannot be combined: --dry-run prints the messages themselves", ""},
		{"batch without --yes and no terminal", []string{"batch", "--csv", "a.csv", "-T", "t.tpl"},
			"mailout: batch sends mail to every row; pass --yes (or --dry-run to preview)", "mailout: hint: without a terminal mailout cannot show the first message and ask"},

		// queue
		{"queue without subcommand", []string{"queue"}, "mailout: mailout queue needs a subcommand", queueHint},
		{"queue unknown subcommand", []string{"queue", "frob"}, `mailout: unknown command "frob" for mailout queue`, queueHint},
		{"queue flush unknown flag", []string{"queue", "flush", "--bogus"}, "mailout: unknown flag -bogus", flushHint},
		{"queue flush bad boolean", []string{"queue", "flush", "--due=x"}, `mailout: invalid boolean value "x" for -due: parse error`, flushHint},
		{"queue list --due", []string{"queue", "list", "--due"}, "mailout: unknown flag -due", "mailout: hint: see 'mailout queue list --help'"},
		{"queue show without ID", []string{"queue", "show"}, "mailout: queue show needs one queue ID (see 'mailout queue list')", ""},
		{"queue delete with two IDs", []string{"queue", "delete", "a", "b"}, "mailout: queue delete needs one queue ID (see 'mailout queue list')", ""},
		{"queue list with an argument", []string{"queue", "list", "1a2b"}, `mailout: queue list takes no arguments (got "1a2b")`, ""},
		{"queue flush with an ID", []string{"queue", "flush", "1a2b"}, `mailout: queue flush takes no arguments (got "1a2b")`, ""},

		// profile
		{"profile without subcommand", []string{"profile"}, "mailout: profile: missing command: " + profileWant, ""},
		{"profile unknown subcommand", []string{"profile", "frob"}, `mailout: profile: unknown command "frob": ` + profileWant, ""},
		{"profile list with NAME", []string{"profile", "list", "work"}, "mailout: profile list takes no arguments", ""},
		{"profile show two names", []string{"profile", "show", "a", "b"}, "mailout: profile show: one profile NAME, got 2 arguments", ""},
		{"profile NAME and -P disagree", []string{"profile", "show", "-P", "a", "b"}, `mailout: profile show: NAME "b" and -P "a" disagree`, ""},
		{"profile show without NAME", []string{"profile", "show"}, "mailout: profile show: missing profile NAME", ""},
		{"profile login without NAME", []string{"profile", "login", "--device"}, "mailout: profile login: missing profile NAME", ""},
		{"profile login unknown flag", []string{"profile", "login", "m365", "--code"}, "mailout: unknown flag -code", loginHint},
		{"profile test unknown flag", []string{"profile", "test", "--bogus"}, "mailout: unknown flag -bogus", testHint},
		{"profile test never queues", []string{"profile", "test", "--queue-on-failure"}, "mailout: unknown flag -queue-on-failure", testHint},
		{"profile test missing argument", []string{"profile", "test", "--to"}, "mailout: flag needs an argument: -to", testHint},
		{"profile show delivery flag", []string{"profile", "show", "work", "--server", "x"}, "mailout: unknown flag -server", "mailout: hint: see 'mailout profile show --help'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, out, errb := testEnv(t, "")
			argv := append([]string{"mailout"}, tc.argv...)
			if code := Main(argv, env); code != exitUsage {
				t.Fatalf("Main(%q) = %d, want %d; stderr %q", argv, code, exitUsage, errb)
			}
			want := tc.want + "\n"
			if tc.hint != "" {
				want += tc.hint + "\n"
			}
			if errb.String() != want {
				t.Errorf("Main(%q) stderr\n got %q\nwant %q", argv, errb, want)
			}
			if out.Len() != 0 && !slices.Contains(tc.argv, "--json") {
				t.Errorf("Main(%q) stdout %q, want nothing", argv, out)
			}
		})
	}
}

// sendmailEnv is a test Env whose default config file has one relay
// profile on srv, an alias for root and local_domain example.com.
func sendmailEnv(t *testing.T, srv *smtptest.Server, stdin string) (*Env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	env, out, errb := testEnv(t, stdin)
	dir := filepath.Join(env.Getenv("XDG_CONFIG_HOME"), "mailout")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeRelayConfig(t, filepath.Join(dir, "config.toml"), srv, "Relay <relay@example.com>")
	return env, out, errb
}

func writeRelayConfig(t *testing.T, path string, srv *smtptest.Server, from string) {
	t.Helper()
	cfg := fmt.Sprintf("local_domain = \"example.com\"\n\n[aliases]\nroot = \"ops@example.com\"\n\n"+
		"[profiles.relay]\nhost = %q\nport = %d\ntls = \"none\"\nfrom = %q\n", srv.Host(), srv.Port(), from)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSendmailArgv runs sendmail mode on argv and checks what reached the
// relay: the envelope and the parts of the message the flags change.
func TestSendmailArgv(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	const msg = "From: App <app@example.org>\nTo: to@example.org\nCc: cc@example.org\nBcc: hidden@example.org\nSubject: hi\n\nline one\n.\nafter the dot\n"
	const noFrom = "To: to@example.org\nSubject: hi\n\nbody\n"
	other := filepath.Join(t.TempDir(), "other.toml")
	writeRelayConfig(t, other, srv, "other@example.com")
	tests := []struct {
		name   string
		argv   []string // argv[0] included
		stdin  string
		from   string   // envelope sender
		to     []string // envelope recipients
		has    []string // in the message as received
		hasNot []string
		stderr string // in stderr; "" for an empty stderr
	}{
		{"recipients as arguments, envelope sender from the profile", []string{"sendmail", "a@example.net"}, msg,
			"relay@example.com", []string{"a@example.net"}, []string{"From: App <app@example.org>\r\n", "line one"}, []string{"after the dot", "hidden@"}, ""},
		{"argv[0] a path", []string{"/usr/sbin/sendmail", "a@example.net"}, msg, "relay@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"argv[0] sendmail.NAME", []string{"sendmail.mailout", "a@example.net"}, msg, "relay@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"mailout sendmail", []string{"mailout", "sendmail", "a@example.net"}, msg, "relay@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"-i keeps a lone dot", []string{"sendmail", "-i", "a@example.net"}, msg, "relay@example.com", []string{"a@example.net"},
			[]string{"\r\n.\r\nafter the dot\r\n"}, nil, ""},
		{"-oi is -i", []string{"sendmail", "-oi", "a@example.net"}, msg, "relay@example.com", []string{"a@example.net"}, []string{"after the dot"}, nil, ""},
		{"-t takes To, Cc and Bcc and removes Bcc", []string{"sendmail", "-t"}, msg, "relay@example.com",
			[]string{"to@example.org", "cc@example.org", "hidden@example.org"}, []string{"To: to@example.org\r\n", "Cc: cc@example.org\r\n"}, []string{"hidden@"}, ""},
		{"-t plus arguments", []string{"sendmail", "-t", "extra@example.net"}, msg, "relay@example.com",
			[]string{"extra@example.net", "to@example.org", "cc@example.org", "hidden@example.org"}, nil, nil, ""},
		{"-f ADDR", []string{"sendmail", "-f", "sender@example.org", "a@example.net"}, msg, "sender@example.org", []string{"a@example.net"}, nil, nil, ""},
		{"-fADDR", []string{"sendmail", "-fsender@example.org", "a@example.net"}, msg, "sender@example.org", []string{"a@example.net"}, nil, nil, ""},
		{"-r ADDR is -f", []string{"sendmail", "-r", "sender@example.org", "a@example.net"}, msg, "sender@example.org", []string{"a@example.net"}, nil, nil, ""},
		{"-F NAME names the added From", []string{"sendmail", "-F", "Jane Doe", "-f", "jane@example.org", "a@example.net"}, noFrom,
			"jane@example.org", []string{"a@example.net"}, []string{"From: Jane Doe <jane@example.org>\r\n", "Date: ", "Message-ID: <"}, nil, ""},
		{"-FNAME attached", []string{"sendmail", "-FJane", "-fjane@example.org", "a@example.net"}, noFrom,
			"jane@example.org", []string{"a@example.net"}, []string{"From: Jane <jane@example.org>\r\n"}, nil, ""},
		// The added From is the profile's bare address: its display name
		// is not used (the sendmail package's ProfileFrom is bare).
		{"a missing From comes from the profile", []string{"sendmail", "a@example.net"}, noFrom,
			"relay@example.com", []string{"a@example.net"}, []string{"From: relay@example.com\r\n"}, nil, ""},
		{"combined -tif ADDR", []string{"sendmail", "-tif", "sender@example.org"}, msg, "sender@example.org",
			[]string{"to@example.org", "cc@example.org", "hidden@example.org"}, []string{"after the dot"}, nil, ""},
		{"combined -itfADDR", []string{"sendmail", "-itfsender@example.org", "extra@example.net"}, msg, "sender@example.org",
			[]string{"extra@example.net", "to@example.org", "cc@example.org", "hidden@example.org"}, []string{"after the dot"}, nil, ""},
		{"-bm is the default mode", []string{"sendmail", "-bm", "a@example.net"}, msg, "relay@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"-- ends the options", []string{"sendmail", "-i", "--", "a@example.net", "b@example.net"}, msg, "relay@example.com", []string{"a@example.net", "b@example.net"}, nil, nil, ""},
		{"-v shows the transcript", []string{"sendmail", "-v", "a@example.net"}, msg, "relay@example.com", []string{"a@example.net"}, nil, nil, "MAIL FROM:<relay@example.com>"},
		{"-C names the config file", []string{"sendmail", "-C", other, "a@example.net"}, msg, "other@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"DSN and body type flags are accepted", []string{"sendmail", "-N", "failure,delay", "-R", "hdrs", "-V", "env-1", "-B", "8BITMIME", "a@example.net"}, msg,
			"relay@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"ignored flags keep their arguments", []string{"sendmail", "-oem", "-odi", "-X", "/tmp/x.log", "-L", "tag", "-h", "17", "-O", "DeliveryMode=b", "-G", "-U", "-m", "-n", "a@example.net"}, msg,
			"relay@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"ignored flags with attached arguments", []string{"sendmail", "-X/tmp/x.log", "-Ltag", "-h17", "-ODeliveryMode=b", "a@example.net"}, msg,
			"relay@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"unknown flags are ignored", []string{"sendmail", "-Z", "--long", "a@example.net"}, msg, "relay@example.com", []string{"a@example.net"}, nil, nil, ""},
		{"comma-joined arguments are split", []string{"sendmail", "a@example.net, b@example.net", "c@example.net"}, msg,
			"relay@example.com", []string{"a@example.net", "b@example.net", "c@example.net"}, nil, nil, ""},
		{"bare names through aliases and local_domain", []string{"sendmail", "root", "alice"}, msg,
			"relay@example.com", []string{"ops@example.com", "alice@example.com"}, nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			env, out, errb := sendmailEnv(t, srv, tc.stdin)
			if code := Main(tc.argv, env); code != 0 {
				t.Fatalf("Main(%q) = %d; stderr %q", tc.argv, code, errb)
			}
			if tc.stderr == "" && errb.Len() != 0 || !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("Main(%q) stderr %q, want %q", tc.argv, errb, tc.stderr)
			}
			if out.Len() != 0 {
				t.Errorf("Main(%q) stdout %q, want nothing", tc.argv, out)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("Main(%q): relay got %d messages, want 1", tc.argv, len(msgs))
			}
			m := msgs[0]
			if m.From != tc.from || !slices.Equal(m.To, tc.to) {
				t.Errorf("Main(%q) envelope\n got from %q to %q\nwant from %q to %q", tc.argv, m.From, m.To, tc.from, tc.to)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(m.Data), s) {
					t.Errorf("Main(%q): message lacks %q:\n%s", tc.argv, s, m.Data)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(string(m.Data), s) {
					t.Errorf("Main(%q): message has %q:\n%s", tc.argv, s, m.Data)
				}
			}
		})
	}
}

// TestSendmailModes: -bp lists the queue, -q flushes it, -bs speaks SMTP
// on stdin and stdout.
func TestSendmailModes(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	for _, argv := range [][]string{{"sendmail", "-bp"}, {"mailout", "sendmail", "-bp"}, {"sendmail", "-q"}, {"sendmail", "-q1h"}} {
		env, out, errb := sendmailEnv(t, srv, "")
		if code := Main(argv, env); code != 0 {
			t.Fatalf("Main(%q) = %d; stderr %q", argv, code, errb)
		}
		want := ""
		if argv[len(argv)-1] == "-bp" {
			want = "Mail queue is empty\n"
		}
		if out.String() != want || errb.Len() != 0 {
			t.Errorf("Main(%q): stdout %q stderr %q, want stdout %q", argv, out, errb, want)
		}
	}

	srv.Reset()
	session := "EHLO client.example.org\r\nMAIL FROM:<app@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n" +
		"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n"
	env, out, errb := sendmailEnv(t, srv, session)
	if code := Main([]string{"sendmail", "-bs", "-i"}, env); code != 0 {
		t.Fatalf("sendmail -bs = %d; stderr %q", code, errb)
	}
	if !strings.HasPrefix(out.String(), "220 ") || !strings.Contains(out.String(), "\r\n221 ") {
		t.Errorf("sendmail -bs stdout %q, want a 220 greeting and a 221 goodbye", out)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].From != "app@example.org" || !slices.Equal(msgs[0].To, []string{"b@example.net"}) {
		t.Errorf("sendmail -bs relayed %+v, want one message from app@example.org to b@example.net", msgs)
	}
}

// TestSendmailUsageErrors: what sendmail mode refuses is 64 with one
// error line, and nothing is sent.
func TestSendmailUsageErrors(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	const msg = "Subject: hi\n\nbody\n"
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"-f without its argument", []string{"sendmail", "-i", "-f"}, "option -f needs an argument"},
		{"-F without its argument", []string{"sendmail", "-F"}, "option -F needs an argument"},
		{"-C without its argument", []string{"mailout", "sendmail", "-C"}, "option -C needs an argument"},
		{"-N without its argument", []string{"sendmail", "-N"}, "option -N needs an argument"},
		{"-O without its argument", []string{"sendmail", "-O"}, "option -O needs an argument"},
		{"-bv", []string{"sendmail", "-bv", "root"}, "sendmail mode -bv (verify addresses) is not supported"},
		{"-bi", []string{"sendmail", "-bi"}, "sendmail mode -bi (initialize the alias database) is not supported"},
		{"-bt", []string{"sendmail", "-bt"}, "sendmail mode -bt (address test mode) is not supported"},
		{"-I", []string{"sendmail", "-I"}, "sendmail mode -I (initialize the alias database) is not supported"},
		{"an option after a recipient", []string{"sendmail", "a@example.net", "-v"},
			`"-v" after the first recipient: put options before recipients, or "--" before a recipient that starts with "-"`},
		{"-bp with recipients", []string{"sendmail", "-bp", "a@example.net"}, "sendmail -bp takes no recipients"},
		{"-q with recipients", []string{"sendmail", "-q", "a@example.net"}, "sendmail -q takes no recipients"},
		{"-bs with recipients", []string{"sendmail", "-bs", "a@example.net"}, "sendmail -bs takes no recipients"},
		{"no recipients", []string{"sendmail", "-i"}, "no recipients: name them as arguments or use -t"},
		{"-t and a message without recipients", []string{"sendmail", "-t"}, "no recipients: name them as arguments or use -t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			env, out, errb := sendmailEnv(t, srv, msg)
			if code := Main(tc.argv, env); code != exitUsage {
				t.Fatalf("Main(%q) = %d, want %d; stderr %q", tc.argv, code, exitUsage, errb)
			}
			if want := "mailout: " + tc.want + "\n"; errb.String() != want {
				t.Errorf("Main(%q) stderr\n got %q\nwant %q", tc.argv, errb, want)
			}
			if out.Len() != 0 {
				t.Errorf("Main(%q) stdout %q, want nothing", tc.argv, out)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("Main(%q): relay got %d messages, want 0", tc.argv, n)
			}
		})
	}
}
