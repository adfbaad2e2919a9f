package sendmail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// testNow formats as "Fri, 14 Mar 2025 09:26:53 +0100".
var testNow = time.Date(2025, 3, 14, 9, 26, 53, 0, time.FixedZone("", 3600))

const testDate = "Date: Fri, 14 Mar 2025 09:26:53 +0100"

var testAliases = map[string][]string{
	"root":   {"ops@example.com"},
	"admins": {"a1@example.com", "a2@example.com"},
}

// testQualify expands aliases, else appends local_domain example.com.
func testQualify(local string) ([]string, error) {
	if local == "broken" {
		return nil, errTestAlias
	}
	if xs, ok := testAliases[strings.ToLower(local)]; ok {
		return xs, nil
	}
	return []string{local + "@example.com"}, nil
}

var errTestAlias = errors.New("aliases: loop")

func testIsLocal(a string) bool {
	return IsLocalAddr(a, []string{"host", "host.example.com"})
}

// baseOptions is a cron-like system: profile from cron@example.com.
func baseOptions() FixupOptions {
	return FixupOptions{
		Now:         testNow,
		MessageID:   "<20250314.1@host.example.com>",
		From:        "root@host.example.com",
		IsLocal:     testIsLocal,
		Qualify:     testQualify,
		ProfileFrom: "cron@example.com",
	}
}

// crlf turns the "\n" of a readable expectation into "\r\n".
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// readers wraps the input in readers that return it in different chunk
// sizes, so that every golden case also tests the scanner's boundaries.
var readers = map[string]func(io.Reader) io.Reader{
	"whole":    func(r io.Reader) io.Reader { return r },
	"one byte": iotest.OneByteReader,
	"half":     iotest.HalfReader,
}

func TestFixupGolden(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		opts      func(*FixupOptions)
		want      string // "\n" stands for "\r\n"
		wantRes   FixupResult
		rawWanted bool // want is byte-exact as written, no crlf()
	}{
		{
			name: "debian cron message",
			in: "From: root (Cron Daemon)\n" +
				"To: root\n" +
				"Subject: Cron <root@host> /usr/local/bin/backup\n" +
				"MIME-Version: 1.0\n" +
				"Content-Type: text/plain; charset=UTF-8\n" +
				"Content-Transfer-Encoding: 8bit\n" +
				"X-Cron-Env: <SHELL=/bin/sh>\n" +
				"X-Cron-Env: <HOME=/root>\n" +
				"X-Cron-Env: <LOGNAME=root>\n" +
				"\n" +
				"backup: 3 files copied\n",
			opts: func(o *FixupOptions) { o.IgnoreDots = true },
			want: "From: Cron Daemon <cron@example.com>\n" +
				"To: ops@example.com\n" +
				"Subject: Cron <root@host> /usr/local/bin/backup\n" +
				"MIME-Version: 1.0\n" +
				"Content-Type: text/plain; charset=UTF-8\n" +
				"Content-Transfer-Encoding: 8bit\n" +
				"X-Cron-Env: <SHELL=/bin/sh>\n" +
				"X-Cron-Env: <HOME=/root>\n" +
				"X-Cron-Env: <LOGNAME=root>\n" +
				testDate + "\n" +
				"Message-ID: <20250314.1@host.example.com>\n" +
				"\n" +
				"backup: 3 files copied\n",
			wantRes: FixupResult{HeaderFrom: "cron@example.com"},
		},
		{
			name: "cronie message with a named local From",
			in: "From: \"Root User\" <root@host>\n" +
				"To: root@host.example.com\n" +
				"Subject: Cron <root@host> run-parts /etc/cron.hourly\n" +
				"\n" +
				"done\n",
			want: "From: \"Root User\" <cron@example.com>\n" +
				"To: ops@example.com\n" +
				"Subject: Cron <root@host> run-parts /etc/cron.hourly\n" +
				testDate + "\n" +
				"Message-ID: <20250314.1@host.example.com>\n" +
				"\n" +
				"done\n",
			wantRes: FixupResult{HeaderFrom: "cron@example.com"},
		},
		{
			name: "php mail with bcc and -t",
			in: "To: bob@example.org\n" +
				"Subject: Your order\n" +
				"From: Shop <shop@example.com>\n" +
				"Bcc: archive@example.com,\n" +
				" audit\n" +
				"MIME-Version: 1.0\n" +
				"Content-type: text/plain; charset=utf-8\n" +
				"\n" +
				"Thank you.\n",
			opts: func(o *FixupOptions) { o.IgnoreDots, o.CollectRecipients = true, true },
			want: "To: bob@example.org\n" +
				"Subject: Your order\n" +
				"From: Shop <shop@example.com>\n" +
				"MIME-Version: 1.0\n" +
				"Content-type: text/plain; charset=utf-8\n" +
				testDate + "\n" +
				"Message-ID: <20250314.1@host.example.com>\n" +
				"\n" +
				"Thank you.\n",
			wantRes: FixupResult{
				HeaderFrom: "shop@example.com",
				Recipients: []string{"bob@example.org", "archive@example.com", "audit@example.com"},
			},
		},
		{
			name: "lone dot ends the message without -i",
			in:   "Subject: dots\n\nline 1\n.\nline 2\n",
			want: "Subject: dots\n" + testDate + "\nMessage-ID: <20250314.1@host.example.com>\nFrom: root@host.example.com\n\nline 1\n",
			wantRes: FixupResult{
				HeaderFrom: "root@host.example.com",
			},
		},
		{
			name:    "lone dot with CRLF ends the message",
			in:      "Subject: dots\r\n\r\nline 1\r\n.\r\nline 2\r\n",
			want:    "Subject: dots\n" + testDate + "\nMessage-ID: <20250314.1@host.example.com>\nFrom: root@host.example.com\n\nline 1\n",
			wantRes: FixupResult{HeaderFrom: "root@host.example.com"},
		},
		{
			name:    "lone dot is kept with -i",
			in:      "Subject: dots\n\nline 1\n.\nline 2\n",
			opts:    func(o *FixupOptions) { o.IgnoreDots = true },
			want:    "Subject: dots\n" + testDate + "\nMessage-ID: <20250314.1@host.example.com>\nFrom: root@host.example.com\n\nline 1\n.\nline 2\n",
			wantRes: FixupResult{HeaderFrom: "root@host.example.com"},
		},
		{
			name:    "dot lines that are not alone stay as they are",
			in:      "Subject: dots\n\n..hidden\n. \n.x\n...\n",
			want:    "Subject: dots\n" + testDate + "\nMessage-ID: <20250314.1@host.example.com>\nFrom: root@host.example.com\n\n..hidden\n. \n.x\n...\n",
			wantRes: FixupResult{HeaderFrom: "root@host.example.com"},
		},
		{
			name:    "dot line in the header ends the message",
			in:      "Subject: short\n.\nBody: never read\n",
			want:    "Subject: short\n" + testDate + "\nMessage-ID: <20250314.1@host.example.com>\nFrom: root@host.example.com\n\n",
			wantRes: FixupResult{HeaderFrom: "root@host.example.com"},
		},
		{
			name: "8-bit body passes untouched",
			in:   "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\nContent-Type: text/plain; charset=utf-8\n\nGrüße aus Köln — ✓ 日本語\nlatin-1 caf\xe9\n\xff\xfe\n",
			opts: func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want: "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\nContent-Type: text/plain; charset=utf-8\n" + testDate +
				"\n\nGrüße aus Köln — ✓ 日本語\nlatin-1 caf\xe9\n\xff\xfe\n",
		},
		{
			name:    "bare LF, bare CR and a missing last newline",
			in:      "Subject: endings\n\nunix\nmac\rold\r\rdos\r\nlast",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    "Subject: endings\n" + testDate + "\n\nunix\nmac\nold\n\ndos\nlast\n",
			wantRes: FixupResult{},
		},
		{
			name:    "input ending in a bare CR",
			in:      "Subject: endings\n\nlast\r",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    "Subject: endings\n" + testDate + "\n\nlast\n",
			wantRes: FixupResult{},
		},
		{
			name: "3000-octet line is broken like postfix",
			in:   "Subject: long\n\n" + strings.Repeat("x", 3000) + "\nshort\n",
			opts: func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want: "Subject: long\n" + testDate + "\n\n" +
				strings.Repeat("x", 998) + "\n " + strings.Repeat("x", 997) + "\n " + strings.Repeat("x", 997) + "\n " + strings.Repeat("x", 8) + "\n" +
				"short\n",
			wantRes: FixupResult{Warnings: []string{"broke 1 line longer than 998 octets"}},
		},
		{
			name:    "998-octet line is left alone",
			in:      "Subject: long\n\n" + strings.Repeat("y", 998) + "\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    "Subject: long\n" + testDate + "\n\n" + strings.Repeat("y", 998) + "\n",
			wantRes: FixupResult{},
		},
		{
			name:    "long line is not broken inside a UTF-8 character",
			in:      "Subject: long\n\n" + strings.Repeat("a", 997) + "é" + "b\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    "Subject: long\n" + testDate + "\n\n" + strings.Repeat("a", 997) + "\n é" + "b\n",
			wantRes: FixupResult{Warnings: []string{"broke 1 line longer than 998 octets"}},
		},
		{
			name:    "long header line is broken like postfix",
			in:      "X-Long: " + strings.Repeat("h", 1200) + "\n\nbody\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    "X-Long: " + strings.Repeat("h", 990) + "\n " + strings.Repeat("h", 210) + "\n" + testDate + "\n\nbody\n",
			wantRes: FixupResult{Warnings: []string{"broke 1 line longer than 998 octets"}},
		},
		{
			name:    "NUL bytes are removed from the body",
			in:      "Subject: nul\n\na\x00b\x00\x00c\n\x00\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    "Subject: nul\n" + testDate + "\n\nabc\n\n",
			wantRes: FixupResult{Warnings: []string{"removed 4 NUL bytes from the body"}},
		},
		{
			name: "missing Date, Message-ID and From are added",
			in:   "Subject: hello\nTo: someone@example.org\n\nbody\n",
			opts: func(o *FixupOptions) { o.From = "Jane Doe <jane@example.com>" },
			want: "Subject: hello\nTo: someone@example.org\n" + testDate +
				"\nMessage-ID: <20250314.1@host.example.com>\nFrom: Jane Doe <jane@example.com>\n\nbody\n",
			wantRes: FixupResult{HeaderFrom: "jane@example.com"},
		},
		{
			name:    "present Date, Message-ID and From are kept byte for byte",
			in:      "from:   Someone  <someone@example.org>\nDATE: yesterday\nMessage-Id:<x@y>\n\nbody\n",
			want:    "from:   Someone  <someone@example.org>\nDATE: yesterday\nMessage-Id:<x@y>\n\nbody\n",
			wantRes: FixupResult{HeaderFrom: "someone@example.org"},
		},
		{
			name: "folded To with local names",
			in: "To: root,\n" +
				"\t\"Doe, Jane\" <jane@example.org>,\n" +
				"\tAdmins <admins>, bob@host.example.com (Bob B.)\n" +
				"Cc: team: carol, dave@example.org;, undisclosed-recipients:;\n" +
				"Subject: folded\n" +
				"\n" +
				"body\n",
			opts: func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want: "To: ops@example.com, \"Doe, Jane\" <jane@example.org>, a1@example.com,\n" +
				" a2@example.com, \"Bob B.\" <bob@example.com>\n" +
				"Cc: team: carol@example.com, dave@example.org;, undisclosed-recipients:;\n" +
				"Subject: folded\n" +
				testDate + "\n" +
				"\n" +
				"body\n",
		},
		{
			name: "To and Cc without local names stay byte for byte",
			in:   "To:  a@example.org ,\n  \"B\" <b@example.org>\ncc: (nobody)  c@example.org\n\nbody\n",
			opts: func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want: "To:  a@example.org ,\n  \"B\" <b@example.org>\ncc: (nobody)  c@example.org\n" + testDate + "\n\nbody\n",
		},
		{
			name: "Bcc and Resent-Bcc are removed without -t",
			in: "Resent-From: fwd@example.com\n" +
				"Resent-To: new@example.org\n" +
				"Resent-Bcc: secret@example.org,\n" +
				"   hidden@example.org\n" +
				"From: a@example.org\n" +
				"To: b@example.org\n" +
				"BCC: c@example.org\n" +
				"Subject: fwd\n" +
				"\n" +
				"body\n",
			opts: func(o *FixupOptions) { o.MessageID = "" },
			want: "Resent-From: fwd@example.com\n" +
				"Resent-To: new@example.org\n" +
				"From: a@example.org\n" +
				"To: b@example.org\n" +
				"Subject: fwd\n" +
				testDate + "\n" +
				"\n" +
				"body\n",
			wantRes: FixupResult{HeaderFrom: "a@example.org"},
		},
		{
			name: "-t with Resent- headers takes only the Resent- recipients",
			in: "Resent-From: fwd@example.com\n" +
				"Resent-To: new@example.org, root\n" +
				"Resent-Cc: copy@example.org\n" +
				"Resent-Bcc: secret@example.org\n" +
				"From: a@example.org\n" +
				"To: b@example.org\n" +
				"Bcc: c@example.org\n" +
				"\n" +
				"body\n",
			opts: func(o *FixupOptions) { o.MessageID, o.CollectRecipients = "", true },
			want: "Resent-From: fwd@example.com\n" +
				"Resent-To: new@example.org, root\n" +
				"Resent-Cc: copy@example.org\n" +
				"From: a@example.org\n" +
				"To: b@example.org\n" +
				testDate + "\n" +
				"\n" +
				"body\n",
			wantRes: FixupResult{
				HeaderFrom: "a@example.org",
				Recipients: []string{"new@example.org", "ops@example.com", "copy@example.org", "secret@example.org"},
			},
		},
		{
			name: "-t collects To, Cc and Bcc, qualified and without duplicates",
			in: "To: Alice <alice@example.org>, root\n" +
				"Cc: team: carol, alice@example.org;\n" +
				"Bcc: admins, \"quoted local\"@example.org\n" +
				"Subject: t\n" +
				"\n" +
				"body\n",
			opts: func(o *FixupOptions) { o.MessageID, o.From, o.CollectRecipients = "", "", true },
			want: "To: Alice <alice@example.org>, ops@example.com\n" +
				"Cc: team: carol@example.com, alice@example.org;\n" +
				"Subject: t\n" +
				testDate + "\n" +
				"\n" +
				"body\n",
			wantRes: FixupResult{Recipients: []string{
				"alice@example.org", "ops@example.com", "carol@example.com",
				"a1@example.com", "a2@example.com", `"quoted local"@example.org`,
			}},
		},
		{
			name:    "message without a header block",
			in:      "Hello,\nthis is only a body.\n",
			want:    testDate + "\nMessage-ID: <20250314.1@host.example.com>\nFrom: root@host.example.com\n\nHello,\nthis is only a body.\n",
			wantRes: FixupResult{HeaderFrom: "root@host.example.com"},
		},
		{
			name:    "message starting with a blank line",
			in:      "\nbody after a blank line\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    testDate + "\n\n\nbody after a blank line\n",
			wantRes: FixupResult{},
		},
		{
			name:    "empty input",
			in:      "",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    testDate + "\n\n",
			wantRes: FixupResult{},
		},
		{
			name:    "header without body and without a final newline",
			in:      "Subject: only a header",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    "Subject: only a header\n" + testDate + "\n\n",
			wantRes: FixupResult{},
		},
		{
			name:    "mbox From line at the start is removed",
			in:      "From root@host Fri Mar 14 09:26:53 2025\nSubject: mbox\n\nFrom here on, body\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.From = "", "" },
			want:    "Subject: mbox\n" + testDate + "\n\nFrom here on, body\n",
			wantRes: FixupResult{Warnings: []string{`removed the mbox "From " line at the start of the message`}},
		},
		{
			name:    "from_rewrite never keeps a local From",
			in:      "From: root (Cron Daemon)\n\nx\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.RewriteFrom = "", "never" },
			want:    "From: root (Cron Daemon)\n" + testDate + "\n\nx\n",
			wantRes: FixupResult{HeaderFrom: "root"},
		},
		{
			name:    "from_rewrite local keeps a remote From",
			in:      "From: Jane <jane@example.org>\n\nx\n",
			opts:    func(o *FixupOptions) { o.MessageID = "" },
			want:    "From: Jane <jane@example.org>\n" + testDate + "\n\nx\n",
			wantRes: FixupResult{HeaderFrom: "jane@example.org"},
		},
		{
			name:    "from_rewrite always rewrites a remote From",
			in:      "From: Jane <jane@example.org>\n\nx\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.RewriteFrom = "", "always" },
			want:    "From: Jane <cron@example.com>\n" + testDate + "\n\nx\n",
			wantRes: FixupResult{HeaderFrom: "cron@example.com"},
		},
		{
			name:    "profile name is used when the local From has none",
			in:      "From: root\n\nx\n",
			opts:    func(o *FixupOptions) { o.MessageID, o.ProfileFrom = "", "Cron at host <cron@example.com>" },
			want:    "From: Cron at host <cron@example.com>\n" + testDate + "\n\nx\n",
			wantRes: FixupResult{HeaderFrom: "cron@example.com"},
		},
		{
			name:      "CRLF input is written back unchanged",
			in:        "From: a@example.org\r\nTo: b@example.org\r\nDate: x\r\nMessage-ID: <y@z>\r\n\r\nline\r\n\r\n",
			rawWanted: true,
			want:      "From: a@example.org\r\nTo: b@example.org\r\nDate: x\r\nMessage-ID: <y@z>\r\n\r\nline\r\n\r\n",
			wantRes:   FixupResult{HeaderFrom: "a@example.org"},
		},
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				o := baseOptions()
				if tt.opts != nil {
					tt.opts(&o)
				}
				var out bytes.Buffer
				res, err := Fixup(&out, wrap(strings.NewReader(tt.in)), o)
				if err != nil {
					t.Fatalf("Fixup error: %v", err)
				}
				want := tt.want
				if !tt.rawWanted {
					want = crlf(want)
				}
				if got := out.String(); got != want {
					t.Errorf("Fixup output mismatch\n got %q\nwant %q", got, want)
				}
				tt.wantRes.Size = int64(len(want))
				res.MessageID = "" // checked by TestFixupMessageID
				if !reflect.DeepEqual(res, tt.wantRes) {
					t.Errorf("Fixup result\n got %#v\nwant %#v", res, tt.wantRes)
				}
			})
		}
	}
}

func TestFixupDataErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts func(*FixupOptions)
		want string
	}{
		{"NUL in a header", "Subject: a\x00b\n\nbody\n", nil, "header line 1: NUL byte"},
		{"NUL in a continuation line", "Subject: a\n b\x00\n\nbody\n", nil, "header line 2: NUL byte"},
		{"bare CR in a header", "Subject: a\rX-Injected: b\n\nbody\n", nil, "header line 1: bare CR"},
		{"bare CR as the blank line", "Subject: a\n\rbody\n", nil, "header line 2: bare CR"},
		{"header too large", "Subject: " + strings.Repeat("a", 200) + "\n\nbody\n", func(o *FixupOptions) { o.MaxHeaderBytes = 100 }, "message header larger than 100 bytes"},
		{"many header lines too large", strings.Repeat("X-A: b\n", 20) + "\nbody\n", func(o *FixupOptions) { o.MaxHeaderBytes = 100 }, "message header larger than 100 bytes"},
		{"invalid To address", "To: John Smith\n\nbody\n", nil, `header line 1 (To): invalid address "John Smith"`},
		{"unbalanced To", "To: \"a@example.org\n\nbody\n", nil, "header line 1 (To): unbalanced"},
		{"invalid Cc with local name", "Cc: root, <a b@c>\n\nbody\n", nil, `header line 1 (Cc): invalid address`},
		{"invalid Bcc with -t", "Bcc: <<x>>\n\nbody\n", func(o *FixupOptions) { o.CollectRecipients = true }, "header line 1 (Bcc): unbalanced"},
		{"empty From", "From: \n\nbody\n", nil, "header line 1 (From): no address"},
		{"From option with a line break", "Subject: x\n\nbody\n", func(o *FixupOptions) { o.From = "x@example.com\nBcc: evil@example.org" }, "From \"x@example.com\\nBcc: evil@example.org\" contains a line break"},
		{"invalid From option", "Subject: x\n\nbody\n", func(o *FixupOptions) { o.From = "Doe, John <j@example.com>" }, `invalid From "Doe, John <j@example.com>"`},
		{"alias to an invalid address", "To: bad\n\nbody\n", func(o *FixupOptions) {
			o.Qualify = func(string) ([]string, error) { return []string{"not an address"}, nil }
		}, `header line 1 (To): "bad" expands to the invalid address "not an address"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			var out bytes.Buffer
			_, err := Fixup(&out, strings.NewReader(tt.in), o)
			var de *DataError
			if !errors.As(err, &de) {
				t.Fatalf("Fixup error = %v, want a *DataError", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Fixup error %q, want it to start with %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("Fixup wrote %q before failing", out.String())
			}
		})
	}
}

func TestFixupOtherErrors(t *testing.T) {
	t.Run("qualify error is wrapped", func(t *testing.T) {
		_, err := Fixup(io.Discard, strings.NewReader("To: broken\n\nbody\n"), baseOptions())
		if !errors.Is(err, errTestAlias) {
			t.Fatalf("Fixup error = %v, want it to wrap %v", err, errTestAlias)
		}
		if want := "header line 1 (To): aliases: loop"; err.Error() != want {
			t.Errorf("Fixup error %q, want %q", err, want)
		}
	})
	t.Run("unknown from_rewrite", func(t *testing.T) {
		o := baseOptions()
		o.RewriteFrom = "sometimes"
		_, err := Fixup(io.Discard, strings.NewReader("x\n"), o)
		if err == nil || !strings.Contains(err.Error(), `unknown from_rewrite "sometimes"`) {
			t.Fatalf("Fixup error = %v, want unknown from_rewrite", err)
		}
	})
	t.Run("invalid profile from", func(t *testing.T) {
		o := baseOptions()
		o.ProfileFrom = "a@example.com, b@example.com"
		_, err := Fixup(io.Discard, strings.NewReader("x\n"), o)
		if err == nil || !strings.Contains(err.Error(), "invalid profile from") {
			t.Fatalf("Fixup error = %v, want invalid profile from", err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		r := io.MultiReader(strings.NewReader("Subject: x\n\nbody"), iotest.ErrReader(boom))
		_, err := Fixup(io.Discard, r, baseOptions())
		if !errors.Is(err, boom) {
			t.Fatalf("Fixup error = %v, want %v", err, boom)
		}
	})
	t.Run("write error", func(t *testing.T) {
		boom := errors.New("disk full")
		body := strings.Repeat("line\n", 100000)
		_, err := Fixup(errWriter{boom}, strings.NewReader("Subject: x\n\n"+body), baseOptions())
		if !errors.Is(err, boom) {
			t.Fatalf("Fixup error = %v, want %v", err, boom)
		}
	})
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// postfixBreak is Postfix's smtp_text_out() loop for one record of type
// REC_TYPE_NORM with smtp_line_length_limit = 998, without dot-stuffing.
func postfixBreak(line string) string {
	const limit = 998
	var b strings.Builder
	spaceLeft := limit
	for data := line; ; {
		if len(data) >= spaceLeft {
			b.WriteString(data[:spaceLeft] + "\r\n")
			data = data[spaceLeft:]
			spaceLeft = limit
			if len(data) > 0 {
				b.WriteByte(' ')
				spaceLeft--
			}
			if len(data) == 0 {
				break
			}
		} else {
			b.WriteString(data + "\r\n")
			break
		}
	}
	return b.String()
}

func TestFixupBreaksLinesLikePostfix(t *testing.T) {
	for _, n := range []int{0, 1, 997, 998, 999, 1994, 1995, 1996, 2992, 2993, 3000, 70000, 200001} {
		line := strings.Repeat("0123456789", n/10+1)[:n]
		o := FixupOptions{Now: testNow}
		var out bytes.Buffer
		if _, err := Fixup(&out, strings.NewReader("\n"+line+"\n"), o); err != nil {
			t.Fatalf("Fixup error: %v", err)
		}
		body := out.String()[strings.Index(out.String(), "\r\n\r\n")+4:]
		body = body[2:] // the blank line that started the input
		if want := postfixBreak(line); body != want {
			t.Errorf("line of %d octets: got %d bytes, want %d (postfix)", n, len(body), len(want))
		}
	}
}

func TestFixupLongUTF8Line(t *testing.T) {
	line := strings.Repeat("é✓x", 40000) // 240000 bytes, characters of 2, 3 and 1 bytes
	var out bytes.Buffer
	if _, err := Fixup(&out, iotest.HalfReader(strings.NewReader("Subject: u\n\n"+line+"\n")), FixupOptions{Now: testNow}); err != nil {
		t.Fatalf("Fixup error: %v", err)
	}
	body := out.String()[strings.Index(out.String(), "\r\n\r\n")+4:]
	for i, l := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if len(l) > 998 {
			t.Fatalf("output line %d has %d octets", i, len(l))
		}
		if !utf8.ValidString(l) {
			t.Fatalf("output line %d is not valid UTF-8: a character was split", i)
		}
	}
	if got := strings.ReplaceAll(strings.TrimSuffix(body, "\r\n"), "\r\n ", ""); got != line {
		t.Errorf("unbreaking the output does not give the input back")
	}
}

func TestFixupCRAtBufferBoundary(t *testing.T) {
	// Put a bare CR, a CRLF and an LF on and around the end of the first
	// read buffer, and at the end of a buffer that a long line fills
	// completely after the header has been consumed.
	const prefix = "Subject: b\n\n"
	full := readBufSize + len(prefix) - 1
	for _, at := range []int{readBufSize - 2, readBufSize - 1, readBufSize, readBufSize + 1, full - 1, full, full + 1} {
		for _, sep := range []string{"\r", "\r\n", "\n"} {
			filler := strings.Repeat("z", at-len(prefix))
			in := prefix + filler + sep + "next\n"
			var out bytes.Buffer
			if _, err := Fixup(&out, strings.NewReader(in), FixupOptions{Now: testNow}); err != nil {
				t.Fatalf("Fixup error: %v", err)
			}
			body := out.String()[strings.Index(out.String(), "\r\n\r\n")+4:]
			want := postfixBreak(filler) + "next\r\n"
			if body != want {
				t.Errorf("line break %q at offset %d: body ends %q, want %q", sep, at, tail(body), tail(want))
			}
		}
	}
}

func tail(s string) string {
	if len(s) > 20 {
		return s[len(s)-20:]
	}
	return s
}

// lineSource produces a body of n bytes in lines of 100 bytes without
// holding it in memory, and samples the heap as it goes.
type lineSource struct {
	left    int64
	line    []byte
	pos     int
	sampled int64
	maxHeap uint64
}

func (s *lineSource) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && s.left > 0 {
		c := copy(p[n:], s.line[s.pos:])
		if int64(c) > s.left {
			c = int(s.left)
		}
		n += c
		s.left -= int64(c)
		s.pos = (s.pos + c) % len(s.line)
	}
	if s.sampled += int64(n); s.sampled >= 16<<20 {
		s.sampled = 0
		if h := heapInuse(); h > s.maxHeap {
			s.maxHeap = h
		}
	}
	return n, nil
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func TestFixupMemoryIsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MB")
	}
	const size = 200 << 20
	line := []byte(strings.Repeat("memory check: a body line of one hundred bytes, streamed and never held.", 2)[:98] + "\r\n")
	src := &lineSource{left: size, line: line}
	header := strings.NewReader("Subject: big\nTo: root\n\n")
	runtime.GC()
	before := heapInuse()
	res, err := Fixup(io.Discard, io.MultiReader(header, src), baseOptions())
	if err != nil {
		t.Fatalf("Fixup error: %v", err)
	}
	if res.Size < size {
		t.Fatalf("Fixup wrote %d bytes, want more than %d", res.Size, size)
	}
	if after := heapInuse(); after > src.maxHeap {
		src.maxHeap = after
	}
	delta := int64(src.maxHeap) - int64(before)
	t.Logf("heap in use: %d KiB before, at most %d KiB while streaming %d MiB (delta %d KiB)",
		before>>10, src.maxHeap>>10, size>>20, delta>>10)
	if delta >= 32<<20 {
		t.Errorf("heap grew by %d MiB while streaming a %d MiB body, want < 32 MiB", delta>>20, size>>20)
	}
}

func FuzzFixup(f *testing.F) {
	for _, seed := range []string{
		"From: root (Cron Daemon)\nTo: root\nSubject: x\n\nbody\n",
		"To: a@example.org\nBcc: b@example.org,\n c\n\n.\n..\nx",
		"Resent-Bcc: x\nbcc:y\n\n\x00\r\r\n",
		"Subject: a\r\n\r\n" + strings.Repeat("é", 600) + "\r\n",
		"no header\nBcc: in the body\n",
		"From x\nBcc: z\n\n",
		"",
	} {
		f.Add(seed, false, false)
	}
	f.Fuzz(func(t *testing.T, in string, ignoreDots, collect bool) {
		o := baseOptions()
		o.IgnoreDots, o.CollectRecipients = ignoreDots, collect
		var out bytes.Buffer
		if _, err := Fixup(&out, strings.NewReader(in), o); err != nil {
			return
		}
		got := out.String()
		if !strings.HasSuffix(got, "\r\n") {
			t.Fatalf("output does not end in CRLF: %q", got)
		}
		lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")
		inHeader := true
		for i, l := range lines {
			if strings.ContainsAny(l, "\r\n") {
				t.Fatalf("output line %d has a bare CR or LF: %q", i, l)
			}
			if len(l) > 998 {
				t.Fatalf("output line %d has %d octets", i, len(l))
			}
			if l == "" {
				inHeader = false
			}
			if lower := strings.ToLower(l); inHeader && (strings.HasPrefix(lower, "bcc:") || strings.HasPrefix(lower, "resent-bcc:") ||
				strings.HasPrefix(lower, "bcc ") || strings.HasPrefix(lower, "bcc\t")) {
				t.Fatalf("output header has a Bcc line: %q", l)
			}
		}
		if inHeader {
			t.Fatalf("output has no blank line after the header: %q", got)
		}
	})
}

func ExampleFixup() {
	in := "From: root (Cron Daemon)\nTo: root\nBcc: auditor\nSubject: Cron <root@host> backup\n\nbackup done\n"
	var out bytes.Buffer
	res, err := Fixup(&out, strings.NewReader(in), FixupOptions{
		Now:         time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
		MessageID:   "<1.2@host.example.com>",
		IsLocal:     func(a string) bool { return IsLocalAddr(a, []string{"host.example.com"}) },
		Qualify:     func(local string) ([]string, error) { return []string{local + "@example.com"}, nil },
		ProfileFrom: "cron@example.com",
	})
	if err != nil {
		panic(err)
	}
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n"))
	fmt.Println(res.HeaderFrom)
	// Output:
	// From: Cron Daemon <cron@example.com>
	// To: root@example.com
	// Subject: Cron <root@host> backup
	// Date: Fri, 14 Mar 2025 09:26:53 +0000
	// Message-ID: <1.2@host.example.com>
	//
	// backup done
	// cron@example.com
}

// TestFixupNonHeaderLineStartsBody follows Postfix: a line that is not a
// header field ends the header block, so `printf 'Subject: x\nhi'` works.
func TestFixupNonHeaderLineStartsBody(t *testing.T) {
	var b strings.Builder
	_, err := Fixup(&b, strings.NewReader("Subject: a\nthis is the body\nmore\n"), FixupOptions{IgnoreDots: true, MessageID: "<id@x>", From: "a@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "Subject: a\r\n") || !strings.HasSuffix(out, "\r\n\r\nthis is the body\r\nmore\r\n") {
		t.Errorf("Fixup output = %q", out)
	}
}

// TestFixupMessageID checks that the result names the message's own
// Message-ID, or the one added when it had none.
func TestFixupMessageID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Message-ID: <own@example.org>\nSubject: a\n\nbody\n", "<own@example.org>"},
		{"Subject: a\n\nbody\n", "<added@example.com>"},
	} {
		res, err := Fixup(io.Discard, strings.NewReader(tt.in), FixupOptions{IgnoreDots: true, MessageID: "<added@example.com>", From: "a@example.org"})
		if err != nil || res.MessageID != tt.want {
			t.Errorf("Fixup(%q).MessageID = %q, %v; want %q", tt.in, res.MessageID, err, tt.want)
		}
	}
}
