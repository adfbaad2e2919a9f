package sendmail

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"mailout/message"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Invocation
	}{
		{
			name: "debian cron",
			args: []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"},
			want: Invocation{FullName: "CronDaemon", IgnoreDots: true, BodyType: "8BITMIME", Recipients: []string{"root"}},
		},
		{
			name: "cronie",
			args: []string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root"},
			want: Invocation{FullName: "CronDaemon", IgnoreDots: true, Headers: true, Sender: "root"},
		},
		{
			name: "php mail",
			args: []string{"-t", "-i"},
			want: Invocation{Headers: true, IgnoreDots: true},
		},
		{
			name: "php mail with sendmail_path -f",
			args: []string{"-t", "-i", "-f", "web@example.com"},
			want: Invocation{Headers: true, IgnoreDots: true, Sender: "web@example.com"},
		},
		{
			name: "git send-email",
			args: []string{"-i", "-f", "dev@example.com", "a@example.org", "b@example.org"},
			want: Invocation{IgnoreDots: true, Sender: "dev@example.com", Recipients: []string{"a@example.org", "b@example.org"}},
		},
		{
			name: "s-nail",
			args: []string{"-i", "-F", "Jane Doe", "-f", "jane@example.com", "--", "a@example.org"},
			want: Invocation{IgnoreDots: true, FullName: "Jane Doe", Sender: "jane@example.com", Recipients: []string{"a@example.org"}},
		},
		{
			name: "mutt",
			args: []string{"-oem", "-oi", "-B8BITMIME", "-f", "me@example.com", "--", "a@example.org"},
			want: Invocation{IgnoreDots: true, BodyType: "8BITMIME", Sender: "me@example.com", Recipients: []string{"a@example.org"}},
		},
		{
			name: "ignored options keep their arguments",
			args: []string{"-X", "/tmp/log", "-h", "17", "-O", "k=v", "-L", "tag", "a@example.org"},
			want: Invocation{Recipients: []string{"a@example.org"}},
		},
		{
			name: "ignored options with attached arguments",
			args: []string{"-X/tmp/log", "-h17", "-ODeliveryMode=b", "-Ltag", "-G", "-U", "-m", "-n", "a@example.org"},
			want: Invocation{Recipients: []string{"a@example.org"}},
		},
		{
			name: "other -o options are one word",
			args: []string{"-odi", "-oem", "-or0s", "-oQ/var/spool", "-oi", "a@example.org"},
			want: Invocation{IgnoreDots: true, Recipients: []string{"a@example.org"}},
		},
		{
			name: "attached sender and full name",
			args: []string{"-fme@example.com", "-FMe Myself", "a@example.org"},
			want: Invocation{Sender: "me@example.com", FullName: "Me Myself", Recipients: []string{"a@example.org"}},
		},
		{
			name: "-r is -f",
			args: []string{"-r", "me@example.com", "a@example.org"},
			want: Invocation{Sender: "me@example.com", Recipients: []string{"a@example.org"}},
		},
		{
			name: "null sender",
			args: []string{"-f", "<>", "a@example.org"},
			want: Invocation{Sender: "<>", Recipients: []string{"a@example.org"}},
		},
		{
			name: "clustered booleans",
			args: []string{"-ti"},
			want: Invocation{Headers: true, IgnoreDots: true},
		},
		{
			name: "cluster ending in an option with argument",
			args: []string{"-itf", "me@example.com"},
			want: Invocation{Headers: true, IgnoreDots: true, Sender: "me@example.com"},
		},
		{
			name: "cluster with attached argument",
			args: []string{"-itfme@example.com", "a@example.org"},
			want: Invocation{Headers: true, IgnoreDots: true, Sender: "me@example.com", Recipients: []string{"a@example.org"}},
		},
		{
			name: "config, verbose and dsn",
			args: []string{"-C", "/etc/mailout/other.toml", "-v", "-N", "failure,delay", "-R", "hdrs", "-V", "env-1", "a@example.org"},
			want: Invocation{Config: "/etc/mailout/other.toml", Verbose: true, DSNNotify: "failure,delay", DSNRet: "hdrs", EnvID: "env-1", Recipients: []string{"a@example.org"}},
		},
		{
			name: "-bm",
			args: []string{"-bm", "a@example.org"},
			want: Invocation{Mode: "m", Recipients: []string{"a@example.org"}},
		},
		{
			name: "-b m as two words",
			args: []string{"-b", "m", "a@example.org"},
			want: Invocation{Mode: "m", Recipients: []string{"a@example.org"}},
		},
		{
			name: "-bp lists the queue",
			args: []string{"-bp"},
			want: Invocation{Mode: "p"},
		},
		{
			name: "-q flushes and takes no next word",
			args: []string{"-q", "-v"},
			want: Invocation{Mode: "q", Verbose: true},
		},
		{
			name: "-q with interval",
			args: []string{"-q1h"},
			want: Invocation{Mode: "q"},
		},
		{
			name: "-qR site",
			args: []string{"-qRexample.com"},
			want: Invocation{Mode: "q"},
		},
		{
			name: "comma-joined recipients are split and trimmed",
			args: []string{"a@example.org, b@example.org,,c@example.org ,", "d@example.org"},
			want: Invocation{Recipients: []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org"}},
		},
		{
			name: "commas inside quotes and angle brackets do not split",
			args: []string{`"Doe, John" <john@example.org>, (Smith, J) jane@example.org`},
			want: Invocation{Recipients: []string{`"Doe, John" <john@example.org>`, `(Smith, J) jane@example.org`}},
		},
		{
			name: "after -- a recipient may start with a dash",
			args: []string{"-i", "--", "-odd@example.org", "-v"},
			want: Invocation{IgnoreDots: true, Recipients: []string{"-odd@example.org", "-v"}},
		},
		{
			name: "unknown options are ignored with a warning",
			args: []string{"-Z", "-tY", "--long", "a@example.org"},
			want: Invocation{Headers: true, Recipients: []string{"a@example.org"}, Warnings: []string{
				"ignored unknown option -Z", "ignored unknown option -Y", "ignored unknown option --long",
			}},
		},
		{
			name: "unsupported options with arguments warn and keep the argument",
			args: []string{"-d0.1", "-p", "smtp", "-ex", "a@example.org"},
			want: Invocation{Recipients: []string{"a@example.org"}, Warnings: []string{
				"ignored unsupported option -d 0.1", "ignored unsupported option -p smtp", "ignored unsupported option -e x",
			}},
		},
		{
			name: "bare -o warns",
			args: []string{"-o", "a@example.org"},
			want: Invocation{Recipients: []string{"a@example.org"}, Warnings: []string{"ignored option -o without a value"}},
		},
		{
			name: "an empty word ends the options",
			args: []string{"-i", "", "a@example.org"},
			want: Invocation{IgnoreDots: true, Recipients: []string{"a@example.org"}},
		},
		{
			name: "no arguments",
			args: nil,
			want: Invocation{},
		},
		{
			name: "last mode wins",
			args: []string{"-bp", "-bm"},
			want: Invocation{Mode: "m"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.args)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.args, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.args, got, tt.want)
			}
		})
	}
}

func TestParseUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"recipients with -bs", []string{"-bs", "a@example.org"}, "sendmail -bs takes no recipients"},
		{"verify", []string{"-bv", "root"}, "sendmail mode -bv (verify addresses) is not supported"},
		{"newaliases", []string{"-bi"}, "sendmail mode -bi (initialize the alias database) is not supported"},
		{"address test", []string{"-bt"}, "sendmail mode -bt (address test mode) is not supported"},
		{"daemon", []string{"-bd", "-q30m"}, "sendmail mode -bd (daemon mode) is not supported"},
		{"unknown mode", []string{"-bz"}, "sendmail mode -bz is not supported"},
		{"-I", []string{"-I"}, "sendmail mode -I (initialize the alias database) is not supported"},
		{"missing -f argument", []string{"-i", "-f"}, "option -f needs an argument"},
		{"missing -F argument", []string{"-F"}, "option -F needs an argument"},
		{"missing -C argument", []string{"-C"}, "option -C needs an argument"},
		{"missing -X argument", []string{"-X"}, "option -X needs an argument"},
		{"missing -b argument", []string{"-b"}, "option -b needs an argument"},
		{"empty -b argument", []string{"-b", ""}, "option -b needs an argument"},
		{"option after a recipient", []string{"-i", "a@example.org", "-v"}, `"-v" after the first recipient`},
		{"dash recipient without --", []string{"-"}, `"-" after the first recipient`},
		{"dash piece of a comma list", []string{"a@example.org,-oQ/tmp"}, `"-oQ/tmp" after the first recipient`},
		{"queue list with recipients", []string{"-bp", "a@example.org"}, "sendmail -bp takes no recipients"},
		{"queue flush with recipients", []string{"-q", "a@example.org"}, "sendmail -q takes no recipients"},
		{"-N never with another", []string{"-N", "never,success", "a@example.org"}, `bad -N value "never,success": never cannot be combined with success, failure or delay`},
		{"-N unknown keyword", []string{"-Nfailure,bounce", "a@example.org"}, `bad -N value "failure,bounce": unknown keyword "bounce"`},
		{"-N empty keyword", []string{"-N", "failure,,delay", "a@example.org"}, `bad -N value "failure,,delay": an empty keyword`},
		{"-N empty", []string{"-N", "", "a@example.org"}, `bad -N value "": an empty keyword`},
		{"-R unknown", []string{"-R", "body", "a@example.org"}, `bad -R value "body": want full or hdrs`},
		{"-V too long", []string{"-V", strings.Repeat("x", 101), "a@example.org"}, "bad -V value: an envelope id has 1 to 100 characters, not 101"},
		{"-V empty", []string{"-V", "", "a@example.org"}, "bad -V value: an envelope id has 1 to 100 characters, not 0"},
		{"-V not ASCII", []string{"-V", "café", "a@example.org"}, `bad -V value "café": an envelope id is printable US-ASCII`},
		{"-V control character", []string{"-V", "a\tb", "a@example.org"}, `bad -V value "a\tb": an envelope id is printable US-ASCII`},
		{"-B unknown", []string{"-BBINARYMIME", "a@example.org"}, `bad -B value "BINARYMIME": want 7bit or 8bitmime`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.args)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v; want a *UsageError", tt.args, got, err)
			}
			if !strings.HasPrefix(ue.Msg, tt.want) {
				t.Errorf("Parse(%q) error %q, want it to start with %q", tt.args, ue.Msg, tt.want)
			}
		})
	}
}

func TestInvocationDSN(t *testing.T) {
	tests := []struct {
		args []string
		want message.DSN
	}{
		{nil, message.DSN{}},
		{[]string{"-N", "never"}, message.DSN{Notify: "NEVER"}},
		{[]string{"-N", "Never"}, message.DSN{Notify: "NEVER"}},
		{[]string{"-N", "delay, failure,success"}, message.DSN{Notify: "SUCCESS,FAILURE,DELAY"}},
		{[]string{"-Nfailure,failure"}, message.DSN{Notify: "FAILURE"}},
		{[]string{"-R", "hdrs"}, message.DSN{Ret: "HDRS"}},
		{[]string{"-RFull"}, message.DSN{Ret: "FULL"}},
		{[]string{"-V", "<id 1+2=3>"}, message.DSN{EnvID: "<id 1+2=3>"}},
		{[]string{"-N", "failure,delay", "-R", "hdrs", "-V", "env-1", "-B", "7bit"}, message.DSN{Notify: "FAILURE,DELAY", Ret: "HDRS", EnvID: "env-1"}},
	}
	for _, tt := range tests {
		inv, err := Parse(append(tt.args, "a@example.org"))
		if err != nil {
			t.Fatalf("Parse(%q) error: %v", tt.args, err)
		}
		if got := inv.DSN(); got != tt.want {
			t.Errorf("Parse(%q).DSN() = %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"-FCronDaemon\n-i\n-B8BITMIME\n-oem\nroot",
		"-t\n-i\n-f\nweb@example.com",
		"-i\n-F\nJane\n-f\nj@x\n--\na@x",
		"-X\n/tmp/log\n-h\n17\n-O\nk=v\n-L\ntag\na@x",
		"-itfme@x\na,b,,c",
		"-q1h\n-bp",
		"--\n-a\n-b",
		"a@x\n-v",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\n")
		inv, err := Parse(args)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) error %v is not a *UsageError", args, err)
			}
			return
		}
		for _, r := range inv.Recipients {
			if r == "" || r != strings.TrimSpace(r) {
				t.Errorf("Parse(%q): recipient %q is empty or untrimmed", args, r)
			}
			if strings.HasPrefix(r, "-") && !slices.Contains(args, "--") {
				t.Errorf("Parse(%q): recipient %q starts with a dash without --", args, r)
			}
		}
	})
}
