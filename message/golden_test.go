package message

import (
	"bytes"
	"flag"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGolden pins complete compositions byte for byte, so any change to the
// wire format (header folding, encodings, boundaries, part order) shows up
// as a diff to review rather than slipping through structural checks.
// After an intended change: go test ./message -run TestGolden -update.
func TestGolden(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pdf := write("invoice.pdf", append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0x00, 0xff, 0x10, 0x80}, 40)...))
	png := write("logo.png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1, 2, 3}, 30)...))
	csv := write("Übersicht März.csv", []byte("name,total\nAna,42\n"))

	addr := func(s string) *mail.Address {
		a, err := ParseAddress(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	list := func(s string) []*mail.Address {
		l, err := ParseList(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	base := func() Spec {
		return Spec{
			From:      addr("Ops <ops@example.com>"),
			To:        list("dev@example.org"),
			Subject:   "nightly report",
			Date:      time.Date(2026, 12, 3, 7, 30, 0, 0, time.FixedZone("", 3600)),
			MessageID: "<golden.1@example.com>",
		}
	}
	cases := map[string]func() Spec{
		"text": func() Spec {
			s := base()
			s.Text = Bytes("backup finished\nall 3 volumes ok\n")
			return s
		},
		"text-8bit-names": func() Spec {
			s := base()
			s.From = addr("Jörg Müller <joerg@example.com>")
			s.To = list(`"Doe, Jane" <jane@bücher.example>, 山田 <yamada@example.jp>`)
			s.Cc = list("Zoë <zoe@example.net>")
			s.ReplyTo = list("Support <support@example.com>")
			s.Subject = "Grüße – 日本語 and a rather long subject line that must be folded somewhere sensible"
			s.Headers = []Field{{Name: "X-Job", Value: "Sicherung täglich"}, {Name: "Auto-Submitted", Value: "auto-generated"}}
			s.Text = Bytes("Grüße aus Köln.\n" + strings.Repeat("a long line ", 100) + "\n")
			return s
		},
		"alternative": func() Spec {
			s := base()
			s.Text = Bytes("Hello Ana,\nyour order ships today.\n")
			s.HTML = Bytes("<p>Hello <b>Ana</b>,</p>\n<p>your order ships today.</p>\n")
			return s
		},
		"attachments": func() Spec {
			s := base()
			s.Text = Bytes("Two files attached.\n")
			s.Parts = []Part{{Path: pdf}, {Path: csv}}
			return s
		},
		"inline-and-attachment": func() Spec {
			s := base()
			s.Text = Bytes("See the logo.\n")
			s.HTML = Bytes(`<p><img src="cid:logo.png"> See the logo.</p>` + "\n")
			s.Parts = []Part{{Path: png, Inline: true}, {Path: pdf, Name: "Rechnung Nr. 7.pdf"}}
			return s
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := New(mk())
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, m)
			file := filepath.Join("testdata", "golden", name+".eml")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; first difference at byte %d\n got: %q\nwant: %q",
					file, firstDiff(got, want), excerpt(got, firstDiff(got, want)), excerpt(want, firstDiff(got, want)))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func excerpt(b []byte, at int) []byte {
	lo, hi := max(0, at-40), min(len(b), at+40)
	return b[lo:hi]
}
