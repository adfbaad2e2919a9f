package batch

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxRecordBytes bounds the size of one CSV record, so that a stray quote
// that never closes cannot pull the rest of a large file into memory.
const MaxRecordBytes = 1 << 20

// Row is one data row of a CSV file.
type Row struct {
	// Num is the 1-based number of the data row; the header row is not counted.
	Num int
	// Line is the 1-based line of the file where the record starts (a quoted
	// field may span several lines).
	Line int
	// Fields maps each header name to the row's value in that column.
	Fields map[string]string
	// Values are the row's values in column order.
	Values []string
}

// RowError reports a data row that cannot be used, such as one with the wrong
// number of fields. It does not stop the [Reader]: the next call to
// [Reader.Next] reads the following row.
type RowError struct {
	Row  int    // 1-based data row number
	Line int    // file line where the record starts, or of the offending byte
	Msg  string // what is wrong, lowercase, no file name
}

func (e *RowError) Error() string {
	return fmt.Sprintf("line %d: row %d: %s", e.Line, e.Row, e.Msg)
}

// FormatError reports CSV input that cannot be read any further: a malformed
// header, a quoting error, an oversized record, a UTF-16 file. The [Reader]
// returns it again on every later call.
type FormatError struct {
	Line   int // 1-based file line, 0 when not tied to a line
	Column int // 1-based byte column, 0 when not known
	Msg    string
}

func (e *FormatError) Error() string {
	switch {
	case e.Line == 0:
		return e.Msg
	case e.Column == 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Reader streams the data rows of a CSV file. It keeps only the header and the
// current record.
type Reader struct {
	cr       *csv.Reader
	src      *countingReader
	header   []string
	num      int
	lastLine int   // where the last record read started
	err      error // sticky: a FormatError or a read error
}

// NewReader reads the header row of an RFC 4180 CSV file from r: UTF-8, with or
// without a byte order mark; fields may be quoted and then hold commas, quotes
// ("") and line breaks. Header names are trimmed of surrounding white space;
// an empty or repeated name is a [*FormatError] naming the column. Empty
// lines between records are skipped.
func NewReader(r io.Reader) (*Reader, error) {
	src := &countingReader{r: r, max: MaxRecordBytes}
	br := bufio.NewReader(src)
	if err := skipBOM(br); err != nil {
		return nil, err
	}
	cr := csv.NewReader(br) // reuses br: it is a *bufio.Reader of the default size
	cr.FieldsPerRecord = -1 // checked here, so that a bad row does not stop the reader
	rd := &Reader{cr: cr, src: src}

	rec, err := rd.read()
	if err == io.EOF {
		return nil, &FormatError{Msg: "empty file: no header row"}
	}
	if err != nil {
		return nil, err
	}
	line := rd.lastLine
	if err := checkUTF8(cr, rec); err != nil {
		return nil, &FormatError{Line: err.line, Msg: "header: " + err.msg}
	}
	seen := make(map[string]int, len(rec))
	for i, name := range rec {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, &FormatError{Line: line, Msg: fmt.Sprintf("header: column %d has no name", i+1)}
		}
		if j, dup := seen[name]; dup {
			return nil, &FormatError{Line: line, Msg: fmt.Sprintf("header: column %d %q repeats column %d", i+1, name, j+1)}
		}
		seen[name] = i
		rec[i] = name
	}
	rd.header = rec
	return rd, nil
}

// Header returns the field names, in column order. The caller must not
// modify the slice.
func (r *Reader) Header() []string { return r.header }

// Next returns the next data row, or io.EOF after the last one.
//
// A row with the wrong number of fields or with invalid UTF-8 is returned with
// a [*RowError] (the Row then has Num, Line and Values but no Fields); reading
// goes on with the next call. A [*FormatError] or a read error ends the
// stream: every later call returns it again.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	rec, err := r.read()
	if err != nil {
		r.err = err
		return Row{}, err
	}
	r.num++
	line := r.lastLine
	row := Row{Num: r.num, Line: line, Values: rec}
	if bad := checkUTF8(r.cr, rec); bad != nil {
		return row, &RowError{Row: r.num, Line: bad.line, Msg: bad.msg}
	}
	if len(rec) != len(r.header) {
		return row, &RowError{Row: r.num, Line: line,
			Msg: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(r.header))}
	}
	row.Fields = make(map[string]string, len(rec))
	for i, name := range r.header {
		row.Fields[name] = rec[i]
	}
	return row, nil
}

// read returns the next record, turning parse errors into FormatErrors.
func (r *Reader) read() ([]string, error) {
	r.src.n = 0
	rec, err := r.cr.Read()
	if err == nil {
		r.lastLine, _ = r.cr.FieldPos(0)
		return rec, nil
	}
	if err == io.EOF {
		return nil, err
	}
	var pe *csv.ParseError
	switch {
	case errors.Is(err, errRecordTooLarge):
		if r.lastLine == 0 {
			return nil, &FormatError{Line: 1, Msg: fmt.Sprintf(
				"the header is larger than %d MiB (a quote that never closes?)", MaxRecordBytes>>20)}
		}
		return nil, &FormatError{Line: r.lastLine, Msg: fmt.Sprintf(
			"the record after the one on this line is larger than %d MiB (a quote that never closes?)", MaxRecordBytes>>20)}
	case errors.As(err, &pe):
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrQuote) {
			msg = `a quoted field is not closed, or a quote inside it is not doubled ("")`
		} else if errors.Is(pe.Err, csv.ErrBareQuote) {
			msg = `a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"" c")`
		}
		if pe.StartLine != pe.Line {
			msg += fmt.Sprintf(" (record starting at line %d)", pe.StartLine)
		}
		return nil, &FormatError{Line: pe.Line, Column: pe.Column, Msg: msg}
	}
	return nil, err
}

// utf8Error locates invalid UTF-8 in a record.
type utf8Error struct {
	line int
	msg  string
}

func checkUTF8(cr *csv.Reader, rec []string) *utf8Error {
	for i, v := range rec {
		if utf8.ValidString(v) {
			continue
		}
		line, _ := cr.FieldPos(i)
		for j := 0; j < len(v); {
			c, size := utf8.DecodeRuneInString(v[j:])
			if c == utf8.RuneError && size == 1 {
				line += strings.Count(v[:j], "\n")
				return &utf8Error{line: line, msg: fmt.Sprintf(
					"column %d: invalid UTF-8 (byte 0x%02x); save the file as UTF-8", i+1, v[j])}
			}
			j += size
		}
	}
	return nil
}

// skipBOM drops a UTF-8 byte order mark and refuses UTF-16 input, which would
// otherwise surface as a confusing "invalid UTF-8" in the header.
func skipBOM(br *bufio.Reader) error {
	b, err := br.Peek(3)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	switch {
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		_, err := br.Discard(3)
		return err
	case bytes.HasPrefix(b, []byte("\xff\xfe")), bytes.HasPrefix(b, []byte("\xfe\xff")):
		return &FormatError{Line: 1, Msg: "the file is UTF-16; save it as UTF-8"}
	}
	return nil
}

var errRecordTooLarge = errors.New("record too large")

// countingReader fails once more than max bytes were read since n was last
// reset, which Reader does before each record. Reads are buffered ahead, so
// the bound is approximate (within one buffer), which is all it needs to be.
type countingReader struct {
	r   io.Reader
	n   int
	max int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, errRecordTooLarge
	}
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// RowKey returns the journal key of row.
//
// With keyColumn "" it is the hex SHA-256 of the whole row: every header name
// and value, length-prefixed and in name order, so the key does not change
// when rows are re-sorted or columns reordered. Otherwise it is the row's value
// in keyColumn with surrounding white space trimmed; a column the header lacks
// or an empty value is an error.
func RowKey(row Row, keyColumn string) (string, error) {
	if keyColumn == "" {
		h := sha256.New()
		var n [binary.MaxVarintLen64]byte
		put := func(s string) {
			h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
			h.Write([]byte(s))
		}
		if row.Fields == nil { // a row built by hand, or one with a RowError
			h.Write([]byte{0})
			for _, v := range row.Values {
				put(v)
			}
		} else {
			h.Write([]byte{1})
			names := make([]string, 0, len(row.Fields))
			for name := range row.Fields {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				put(name)
				put(row.Fields[name])
			}
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	v, ok := row.Fields[keyColumn]
	if !ok {
		return "", fmt.Errorf("key column %q is not in the CSV header", keyColumn)
	}
	if v = strings.TrimSpace(v); v == "" {
		return "", &RowError{Row: row.Num, Line: row.Line, Msg: fmt.Sprintf("key column %q is empty", keyColumn)}
	}
	return v, nil
}
