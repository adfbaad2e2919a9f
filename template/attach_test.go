package template

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// attachTree makes, under a temporary folder:
//
//	outside/secret.txt
//	tpl/invoice.tpl (not written: Parse takes the bytes)
//	tpl/invoices/1.pdf
//	tpl/out -> ../outside          (folder link leaving the root)
//	tpl/secret.pdf -> ../outside/secret.txt
//	tpl/inner -> invoices          (folder link staying inside)
//	tpl/dangling -> ../outside/none
func attachTree(t *testing.T) (base, tpl string) {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tpl = filepath.Join(base, "tpl")
	for _, d := range []string{"outside", "tpl/invoices"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"outside/secret.txt", "tpl/invoices/1.pdf"} {
		if err := os.WriteFile(filepath.Join(base, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"tpl/out":        "../outside",
		"tpl/secret.pdf": "../outside/secret.txt",
		"tpl/inner":      "invoices",
		"tpl/dangling":   "../outside/none",
	} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	return base, tpl
}

func TestAttach(t *testing.T) {
	base, tpl := attachTree(t)
	file := filepath.Join(tpl, "invoice.tpl")
	tests := []struct {
		name    string
		attach  []string // the values of the Attach: lines
		root    string   // Options.AttachRoot
		want    []string // relative to base
		wantErr string
	}{
		{name: "relative to the template", attach: []string{"invoices/{{ .order }}.pdf"}, want: []string{"tpl/invoices/1.pdf"}},
		{name: "missing file is resolved anyway", attach: []string{"invoices/2.pdf", "new/dir/3.pdf"},
			want: []string{"tpl/invoices/2.pdf", "tpl/new/dir/3.pdf"}},
		{name: "repeated, in order", attach: []string{"b.pdf", "a.pdf"}, want: []string{"tpl/b.pdf", "tpl/a.pdf"}},
		{name: "cleaned", attach: []string{"./invoices/../invoices//1.pdf"}, want: []string{"tpl/invoices/1.pdf"}},
		{name: "absolute inside", attach: []string{filepath.Join(tpl, "invoices", "1.pdf")}, want: []string{"tpl/invoices/1.pdf"}},
		{name: "link staying inside keeps its name", attach: []string{"inner/1.pdf"}, want: []string{"tpl/inner/1.pdf"}},
		{name: "empty value is skipped", attach: []string{"{{ index . \"none\" }}", "invoices/1.pdf"}, want: []string{"tpl/invoices/1.pdf"}},
		{name: "wider root", attach: []string{"../outside/secret.txt"}, root: base, want: []string{"outside/secret.txt"}},
		{name: "/etc/passwd", attach: []string{"/etc/passwd"}, wantErr: `invoice.tpl:1: attachment "/etc/passwd" is outside the attach root ` + tpl},
		{name: "dot dot", attach: []string{"../x"}, wantErr: `invoice.tpl:1: attachment "../x" is outside the attach root`},
		{name: "dot dot through data", attach: []string{"invoices/{{ .evil }}"}, wantErr: `attachment "invoices/../../outside/secret.txt" is outside the attach root`},
		{name: "the root itself", attach: []string{"."}, wantErr: `attachment "." is outside the attach root`},
		{name: "second Attach line", attach: []string{"invoices/1.pdf", "/etc/passwd"}, wantErr: `invoice.tpl:2: attachment "/etc/passwd"`},
		{name: "file link escaping", attach: []string{"secret.pdf"}, wantErr: `attachment "secret.pdf" leads outside the attach root ` + tpl + ` through a symbolic link (to ` + filepath.Join(base, "outside", "secret.txt") + `)`},
		{name: "folder link escaping", attach: []string{"out/secret.txt"}, wantErr: `attachment "out/secret.txt" leads outside the attach root`},
		{name: "folder link escaping to a missing file", attach: []string{"out/none.txt"}, wantErr: `attachment "out/none.txt" leads outside the attach root`},
		{name: "dangling link", attach: []string{"dangling"}, wantErr: `attachment "dangling": cannot resolve`},
		{name: "narrower root", attach: []string{"secret.pdf"}, root: filepath.Join(tpl, "invoices"), wantErr: `is outside the attach root`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src strings.Builder
			for _, a := range tt.attach {
				src.WriteString("Attach: " + a + "\n")
			}
			src.WriteString("Subject: x\n\nbody\n")
			tp, err := Parse(file, []byte(src.String()))
			if err != nil {
				t.Fatal(err)
			}
			r, err := tp.Render(Data{Values: map[string]any{"order": "1", "evil": "../../outside/secret.txt"}}, Options{AttachRoot: tt.root})
			if tt.wantErr != "" {
				var te *Error
				if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Render(%q) error = %v, want *Error containing %q", tt.attach, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render(%q) error = %v", tt.attach, err)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, filepath.Join(base, w))
			}
			if !reflect.DeepEqual(r.Attach, want) {
				t.Errorf("Render(%q).Attach = %q, want %q", tt.attach, r.Attach, want)
			}
			for _, h := range r.Headers {
				if strings.EqualFold(h.Name, "Attach") {
					t.Errorf("Headers hold %v, want Attach kept out", h)
				}
			}
		})
	}
}

// TestAttachRootThroughLink checks that a root reached through a symbolic
// link (as /tmp is on some systems) still holds its files.
func TestAttachRootThroughLink(t *testing.T) {
	base, tpl := attachTree(t)
	link := filepath.Join(base, "via")
	if err := os.Symlink(tpl, link); err != nil {
		t.Skip(err)
	}
	tp, err := Parse(filepath.Join(link, "invoice.tpl"), []byte("Attach: invoices/1.pdf\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := tp.Render(Data{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(link, "invoices", "1.pdf"); len(r.Attach) != 1 || r.Attach[0] != want {
		t.Errorf("Attach = %q, want [%q]", r.Attach, want)
	}
}

// TestAttachRelativeTemplate checks that a template named by a relative
// path resolves its attachments from the working directory.
func TestAttachRelativeTemplate(t *testing.T) {
	_, tpl := attachTree(t)
	t.Chdir(tpl)
	tp, err := Parse("invoice.tpl", []byte("Attach: invoices/1.pdf\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := tp.Render(Data{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(tpl, "invoices", "1.pdf"); len(r.Attach) != 1 || r.Attach[0] != want {
		t.Errorf("Attach = %q, want [%q]", r.Attach, want)
	}
}
