package batch

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// readAll reads every row, collecting row errors; it stops at io.EOF or at
// the first other error, which it returns.
func readAll(t *testing.T, input string) (header []string, rows []Row, rowErrs []*RowError, err error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(input))
	if err != nil {
		return nil, nil, nil, err
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			return r.Header(), rows, rowErrs, nil
		}
		var re *RowError
		if errors.As(err, &re) {
			rowErrs = append(rowErrs, re)
			continue
		}
		if err != nil {
			return r.Header(), rows, rowErrs, err
		}
		rows = append(rows, row)
	}
}

func TestReaderRows(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		wantHeader []string
		wantRows   []Row
	}{
		{
			name:       "plain",
			input:      "name,email\nAnn,ann@example.com\nBob,bob@example.com\n",
			wantHeader: []string{"name", "email"},
			wantRows: []Row{
				{Num: 1, Line: 2, Fields: map[string]string{"name": "Ann", "email": "ann@example.com"}, Values: []string{"Ann", "ann@example.com"}},
				{Num: 2, Line: 3, Fields: map[string]string{"name": "Bob", "email": "bob@example.com"}, Values: []string{"Bob", "bob@example.com"}},
			},
		},
		{
			name:       "quoted commas and quotes, no final newline",
			input:      "name,note\n\"Doe, Jane\",\"she said \"\"hi\"\"\"",
			wantHeader: []string{"name", "note"},
			wantRows: []Row{
				{Num: 1, Line: 2, Fields: map[string]string{"name": "Doe, Jane", "note": `she said "hi"`}, Values: []string{"Doe, Jane", `she said "hi"`}},
			},
		},
		{
			name:       "embedded newlines keep line numbers right",
			input:      "name,address\nAnn,\"1 Main St\nSpringfield\n12345\"\nBob,\"2 Side St\r\nShelbyville\"\nCy,3 Elm\n",
			wantHeader: []string{"name", "address"},
			wantRows: []Row{
				{Num: 1, Line: 2, Fields: map[string]string{"name": "Ann", "address": "1 Main St\nSpringfield\n12345"}, Values: []string{"Ann", "1 Main St\nSpringfield\n12345"}},
				{Num: 2, Line: 5, Fields: map[string]string{"name": "Bob", "address": "2 Side St\nShelbyville"}, Values: []string{"Bob", "2 Side St\nShelbyville"}},
				{Num: 3, Line: 7, Fields: map[string]string{"name": "Cy", "address": "3 Elm"}, Values: []string{"Cy", "3 Elm"}},
			},
		},
		{
			name:       "BOM, CRLF, UTF-8 names, trimmed header",
			input:      "\ufeff Prénom , e-mail ,名前\r\nZoë,zoe@example.com,山田\r\n",
			wantHeader: []string{"Prénom", "e-mail", "名前"},
			wantRows: []Row{
				{Num: 1, Line: 2, Fields: map[string]string{"Prénom": "Zoë", "e-mail": "zoe@example.com", "名前": "山田"}, Values: []string{"Zoë", "zoe@example.com", "山田"}},
			},
		},
		{
			name:       "values are not trimmed, empty cells kept",
			input:      "a,b,c\n x ,,\"\"\n",
			wantHeader: []string{"a", "b", "c"},
			wantRows: []Row{
				{Num: 1, Line: 2, Fields: map[string]string{"a": " x ", "b": "", "c": ""}, Values: []string{" x ", "", ""}},
			},
		},
		{
			name:       "blank lines are skipped",
			input:      "a\n\n1\n\n\n2\n\n",
			wantHeader: []string{"a"},
			wantRows: []Row{
				{Num: 1, Line: 3, Fields: map[string]string{"a": "1"}, Values: []string{"1"}},
				{Num: 2, Line: 6, Fields: map[string]string{"a": "2"}, Values: []string{"2"}},
			},
		},
		{
			name:       "header only",
			input:      "name,email\n",
			wantHeader: []string{"name", "email"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, rows, rowErrs, err := readAll(t, tt.input)
			if err != nil || rowErrs != nil {
				t.Fatalf("read: err %v, row errors %v", err, rowErrs)
			}
			if !reflect.DeepEqual(header, tt.wantHeader) {
				t.Errorf("Header() = %q, want %q", header, tt.wantHeader)
			}
			if !reflect.DeepEqual(rows, tt.wantRows) {
				t.Errorf("rows =\n%+v\nwant\n%+v", rows, tt.wantRows)
			}
		})
	}
}

func TestReaderBadRowContinues(t *testing.T) {
	input := "name,email\n" +
		"Ann,ann@example.com\n" + // row 1, line 2
		"Bob\n" + // row 2, line 3: too few
		"\"Cy\nCyrus\",cy@example.com,extra\n" + // row 3, lines 4-5: too many
		"Dee,dee@example.com\n" // row 4, line 6
	_, rows, rowErrs, err := readAll(t, input)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Num != 1 || rows[1].Num != 4 || rows[1].Line != 6 {
		t.Errorf("good rows = %+v, want rows 1 and 4 (line 6)", rows)
	}
	want := []string{
		"line 3: row 2: has 1 fields, the header has 2",
		"line 4: row 3: has 3 fields, the header has 2",
	}
	if len(rowErrs) != len(want) {
		t.Fatalf("row errors = %v, want %q", rowErrs, want)
	}
	for i, re := range rowErrs {
		if re.Error() != want[i] {
			t.Errorf("row error %d = %q, want %q", i, re.Error(), want[i])
		}
	}
}

func TestReaderBadRowKeepsValues(t *testing.T) {
	r, err := NewReader(strings.NewReader("a,b\n1\n"))
	if err != nil {
		t.Fatal(err)
	}
	row, err := r.Next()
	var re *RowError
	if !errors.As(err, &re) || re.Row != 1 || re.Line != 2 {
		t.Fatalf("Next() error = %v, want a RowError for row 1 at line 2", err)
	}
	if row.Num != 1 || row.Line != 2 || !reflect.DeepEqual(row.Values, []string{"1"}) || row.Fields != nil {
		t.Errorf("Next() row = %+v, want Num 1, Line 2, Values [1], no Fields", row)
	}
}

func TestReaderInvalidUTF8(t *testing.T) {
	// row 1 spans lines 2-4; the bad byte is on line 3. Row 2 is fine.
	input := "name,note\nAnn,\"ok\nbad \xe9 here\nok\"\nBob,fine\n"
	_, rows, rowErrs, err := readAll(t, input)
	if err != nil {
		t.Fatal(err)
	}
	if len(rowErrs) != 1 || rowErrs[0].Row != 1 || rowErrs[0].Line != 3 || !strings.Contains(rowErrs[0].Msg, "column 2: invalid UTF-8") {
		t.Errorf("row errors = %v, want one for row 1, line 3, column 2", rowErrs)
	}
	if len(rows) != 1 || rows[0].Num != 2 {
		t.Errorf("rows = %+v, want row 2 only", rows)
	}
}

func TestReaderFormatErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string // full Error() of the *FormatError
	}{
		{"empty file", "", "empty file: no header row"},
		{"only BOM", "\ufeff", "empty file: no header row"},
		{"empty header name", "name,,email\n", "line 1: header: column 2 has no name"},
		{"blank header name", "name, \t,email\n", "line 1: header: column 2 has no name"},
		{"duplicate header", "email,name, email\n", `line 1: header: column 3 "email" repeats column 1`},
		{"header after blank lines", "\n\na,a\n", `line 3: header: column 2 "a" repeats column 1`},
		{"invalid UTF-8 header", "name,\xff\n", "line 1: header: column 2: invalid UTF-8 (byte 0xff); save the file as UTF-8"},
		{"UTF-16 LE", "\xff\xfen\x00a\x00", "line 1: the file is UTF-16; save it as UTF-8"},
		{"UTF-16 BE", "\xfe\xff\x00n\x00a", "line 1: the file is UTF-16; save it as UTF-8"},
		{"bare quote in header", "na\"me\n", `line 1, column 3: a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"" c")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tt.input))
			var fe *FormatError
			if !errors.As(err, &fe) || err.Error() != tt.wantErr {
				t.Errorf("NewReader(%q) error = %v, want FormatError %q", tt.input, err, tt.wantErr)
			}
		})
	}
}

func TestReaderSyntaxErrorStops(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"bare quote", "a,b\n1,2\n3,x\"y\n5,6\n",
			`line 3, column 4: a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"" c")`},
		{"unclosed quote", "a,b\n1,2\n3,\"open\n5,6\n",
			`line 4, column 5: a quoted field is not closed, or a quote inside it is not doubled ("") (record starting at line 3)`},
		{"text after closing quote", "a,b\n1,2\n1,\"x\"y\n",
			`line 3, column 5: a quoted field is not closed, or a quote inside it is not doubled ("")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Next(); err != nil {
				t.Fatalf("row 1: %v", err)
			}
			_, err = r.Next()
			var fe *FormatError
			if !errors.As(err, &fe) || err.Error() != tt.wantErr {
				t.Fatalf("Next() error = %v, want FormatError %q", err, tt.wantErr)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("Next() after a FormatError = %v, want the same error again", again)
			}
		})
	}
}

func TestReaderRecordTooLarge(t *testing.T) {
	// An unclosed quote in a big file must not read it all into memory.
	big := "a,b\n1,2\n3,\"" + strings.Repeat("x,y\n", 2*MaxRecordBytes/4) + "\n"
	r, err := NewReader(strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = r.Next()
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Line != 2 || !strings.Contains(fe.Msg, "larger than") {
		t.Errorf("Next() error = %v, want a FormatError at line 2 about the size", err)
	}

	// A large but well-formed record just under the limit is fine.
	ok := "a\n\"" + strings.Repeat("z", MaxRecordBytes-100) + "\"\nb\n"
	_, rows, _, err := readAll(t, ok)
	if err != nil || len(rows) != 2 {
		t.Errorf("large record: %d rows, error %v; want 2 rows", len(rows), err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r, err := NewReader(io.MultiReader(strings.NewReader("a\n1\n"), errReader{boom}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Errorf("Next() error = %v, want %v", err, boom)
	}
	if _, err := NewReader(errReader{boom}); !errors.Is(err, boom) {
		t.Errorf("NewReader() error = %v, want %v", err, boom)
	}
}

func TestRowKey(t *testing.T) {
	read := func(input string) []Row {
		_, rows, rowErrs, err := readAll(t, input)
		if err != nil || rowErrs != nil {
			t.Fatalf("read %q: %v %v", input, err, rowErrs)
		}
		return rows
	}
	key := func(row Row, col string) string {
		k, err := RowKey(row, col)
		if err != nil {
			t.Fatalf("RowKey(%v, %q): %v", row, col, err)
		}
		return k
	}

	a := read("name,email\nAnn,ann@example.com\nBob,bob@example.com\n")
	resorted := read("email,name\nbob@example.com,Bob\nann@example.com,Ann\n")

	t.Run("whole row is a stable hex sha256", func(t *testing.T) {
		k := key(a[0], "")
		if len(k) != 64 || strings.Trim(k, "0123456789abcdef") != "" {
			t.Errorf("RowKey = %q, want 64 hex digits", k)
		}
		if k != key(a[0], "") {
			t.Error("RowKey is not stable")
		}
		if k == key(a[1], "") {
			t.Error("two different rows share a key")
		}
	})
	t.Run("whole row ignores row and column order", func(t *testing.T) {
		if key(a[0], "") != key(resorted[1], "") || key(a[1], "") != key(resorted[0], "") {
			t.Error("re-sorting rows or columns changed the keys")
		}
	})
	t.Run("whole row is unambiguous", func(t *testing.T) {
		x := read("a,b\n\"x,y\",z\n")[0]
		y := read("a,b\nx,\"y,z\"\n")[0]
		z := read("a,b\nxy,z\n")[0]
		w := read("a,b\nx,yz\n")[0]
		if key(x, "") == key(y, "") || key(z, "") == key(w, "") {
			t.Error("different rows share a key")
		}
		p := read("ab,c\n1,2\n")[0]
		q := read("a,bc\n1,2\n")[0]
		if key(p, "") == key(q, "") {
			t.Error("rows under different headers share a key")
		}
	})
	t.Run("column", func(t *testing.T) {
		if got := key(a[1], "email"); got != "bob@example.com" {
			t.Errorf("RowKey(email) = %q, want bob@example.com", got)
		}
		spaced := read("email\n  bob@example.com \n")[0]
		if got := key(spaced, "email"); got != "bob@example.com" {
			t.Errorf("RowKey(email) = %q, want it trimmed", got)
		}
	})
	t.Run("missing column", func(t *testing.T) {
		_, err := RowKey(a[0], "id")
		if err == nil || err.Error() != `key column "id" is not in the CSV header` {
			t.Errorf("RowKey(id) error = %v", err)
		}
	})
	t.Run("empty value", func(t *testing.T) {
		row := read("name,email\nAnn,\nBob, \n")
		for _, r := range row {
			_, err := RowKey(r, "email")
			var re *RowError
			if !errors.As(err, &re) || re.Row != r.Num || re.Error() != fmt.Sprintf(`line %d: row %d: key column "email" is empty`, r.Line, r.Num) {
				t.Errorf("RowKey(row %d) error = %v", r.Num, err)
			}
		}
	})
	t.Run("hand-built row", func(t *testing.T) {
		r1 := Row{Values: []string{"a", "b"}}
		r2 := Row{Values: []string{"ab"}}
		if key(r1, "") == key(r2, "") {
			t.Error("hand-built rows share a key")
		}
	})
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"a,b\n1,2\n",
		"\ufeffname,email\r\n\"x\ny\",z\r\n",
		"a,b\n1\n2,3,4\n\"5\",\"6\"\"\"\n",
		"a\n\"unclosed\n",
		"a,\"b\nc\"\n\xff,x\n",
		"\xff\xfe",
		"",
		"a,a\n",
		"a\n\n\n1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		names := map[string]bool{}
		for _, h := range r.Header() {
			if h == "" || names[h] || !utf8.ValidString(h) {
				t.Fatalf("bad header %q", r.Header())
			}
			names[h] = true
		}
		lastNum, lastLine := 0, 0
		for i := 0; i < 1e5; i++ {
			row, err := r.Next()
			if err == io.EOF {
				return
			}
			var re *RowError
			if err != nil && !errors.As(err, &re) {
				return // FormatError or read error: the stream ends
			}
			if row.Num != lastNum+1 || row.Line <= lastLine {
				t.Fatalf("row %d at line %d after row %d at line %d", row.Num, row.Line, lastNum, lastLine)
			}
			lastNum, lastLine = row.Num, row.Line
			if err != nil {
				continue
			}
			if len(row.Values) != len(r.Header()) || len(row.Fields) != len(r.Header()) {
				t.Fatalf("row %d has %d values, %d fields, header %d", row.Num, len(row.Values), len(row.Fields), len(r.Header()))
			}
			for _, v := range row.Values {
				if !utf8.ValidString(v) {
					t.Fatalf("row %d: invalid UTF-8 value %q", row.Num, v)
				}
			}
			if _, err := RowKey(row, ""); err != nil {
				t.Fatal(err)
			}
		}
		t.Fatal("Next never returned io.EOF")
	})
}
