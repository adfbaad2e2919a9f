package cmd

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// parseOptions runs argv through the real app, argument arrangement
// included, with the send and exec actions replaced by ones that only
// capture the options they would run with.
func parseOptions(t *testing.T, argv ...string) (sendOptions, *execOptions, error) {
	t.Helper()
	env, _, _ := helpTestEnv(t, nil)
	r := &runner{env: env}
	app := r.newApp()
	var send sendOptions
	var exec *execOptions
	app.Action = func(c *cli.Context) error { send = readSendOptions(c); return nil }
	findCommand(app.Commands, "exec").Action = func(c *cli.Context) error {
		o := r.readExecOptions(c)
		exec = &o
		return nil
	}
	args, tail, hasTail := arrange(app, append([]string{"mailout"}, argv...))
	r.execArgs, r.hasExec = tail, hasTail
	defer registerHelp(app)()
	err := app.RunContext(context.Background(), args)
	return send, exec, err
}

func TestSendOptionsFromArgv(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want func(o *sendOptions)
	}{
		{"flags after recipients are flags", []string{"ops@example.com", "-s", "disk full"},
			func(o *sendOptions) {
				o.args = []string{"ops@example.com"}
				o.subject, o.subjectSet = "disk full", true
			}},
		{"repeated --to and a comma list kept whole for the address parser", []string{"--to", "a@example.com", "--to", "b@example.com", "-c", "c@example.com, d@example.com"},
			func(o *sendOptions) {
				o.to = []string{"a@example.com", "b@example.com"}
				o.cc = []string{"c@example.com, d@example.com"}
			}},
		{"a comma in a file name is not a separator", []string{"-a", "my,file.txt", "--attach", "b.pdf", "x@example.com"},
			func(o *sendOptions) { o.attach = []string{"my,file.txt", "b.pdf"}; o.args = []string{"x@example.com"} }},
		{"an empty --body is still a body", []string{"--body", "", "x@example.com"},
			func(o *sendOptions) { o.bodySet = true; o.args = []string{"x@example.com"} }},
		{"-- ends flags", []string{"-s", "hi", "--", "-odd@example.com"},
			func(o *sendOptions) { o.subject, o.subjectSet = "hi", true; o.args = []string{"-odd@example.com"} }},
		{"global and delivery flags", []string{"-P", "work", "--config", "/etc/m.toml", "-v", "--json", "--mx", "--queue-on-failure", "x@example.com"},
			func(o *sendOptions) {
				o.del = deliveryOptions{config: "/etc/m.toml", profile: "work", mx: true, queueOnFailure: true, verbose: true, json: true}
				o.args = []string{"x@example.com"}
			}},
		{"ad-hoc server", []string{"--server", "smtp.example.com:2525", "--tls", "tls", "--user", "me", "x@example.com"},
			func(o *sendOptions) {
				o.del.server, o.del.tls, o.del.user = "smtp.example.com:2525", "tls", "me"
				o.args = []string{"x@example.com"}
			}},
		{"template data and dry run", []string{"-T", "a.tpl", "--var", "k=v", "--var", "n=1,2", "--data", "d.json", "--dry-run", "-E"},
			func(o *sendOptions) {
				o.template, o.vars, o.data = "a.tpl", []string{"k=v", "n=1,2"}, []string{"d.json"}
				o.dryRun, o.skipEmpty = true, true
			}},
		{"headers, reply-to and from", []string{"-r", "Me <me@example.com>", "--reply-to", "r@example.com", "-H", "X-A: 1", "-H", "X-B: 2", "x@example.com"},
			func(o *sendOptions) {
				o.from, o.replyTo, o.headers = "Me <me@example.com>", []string{"r@example.com"}, []string{"X-A: 1", "X-B: 2"}
				o.args = []string{"x@example.com"}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := parseOptions(t, tc.argv...)
			if err != nil {
				t.Fatal(err)
			}
			var want sendOptions
			tc.want(&want)
			if !reflect.DeepEqual(normalizeSend(got), normalizeSend(want)) {
				t.Errorf("argv %q\n got %+v\nwant %+v", tc.argv, normalizeSend(got), normalizeSend(want))
			}
		})
	}
}

func TestExecOptionsFromArgv(t *testing.T) {
	_, got, err := parseOptions(t, "exec", "--when", "stderr", "--timeout", "5m", "ops@example.com", "-s", "nightly", "--", "backup.sh", "--full", "-s")
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("exec did not run")
	}
	want := execOptions{when: "stderr", timeout: 5 * time.Minute, command: []string{"backup.sh", "--full", "-s"}, hasCommand: true}
	want.send.args, want.send.subject, want.send.subjectSet = []string{"ops@example.com"}, "nightly", true
	got.send = normalizeSend(got.send)
	want.send = normalizeSend(want.send)
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("\n got %+v\nwant %+v", *got, want)
	}

	_, got, err = parseOptions(t, "exec", "--body", "x", "--", "true")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.bodyFlags, []string{"body"}) {
		t.Errorf("bodyFlags = %q, want [body]", got.bodyFlags)
	}
	if _, err := got.validate(); exitCode(err) != exitUsage {
		t.Errorf("exec --body: validate = %v, want a usage error", err)
	}

	_, got, err = parseOptions(t, "exec", "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.hasCommand {
		t.Error("exec without -- has a command")
	}
}

// normalizeSend makes nil and empty slices compare equal.
func normalizeSend(o sendOptions) sendOptions {
	for _, p := range []*[]string{&o.to, &o.cc, &o.bcc, &o.replyTo, &o.headers, &o.attach, &o.inline, &o.vars, &o.data, &o.args} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return o
}
