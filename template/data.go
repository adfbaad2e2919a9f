package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// MergeData merges layers of template data into a new map; a later layer
// wins over an earlier one. Where two layers both hold a table
// (map[string]any) under the same key, the tables are merged the same way;
// any other value replaces the earlier one whole. The inputs are not
// changed.
//
// The order for mailout's flags, lowest first, is: the --data files (in
// the order given), then the CSV row (batch), then the --var values:
//
//	MergeData(dataFile1, dataFile2, csvRow, vars)
func MergeData(layers ...map[string]any) map[string]any {
	out := make(map[string]any)
	for _, l := range layers {
		mergeInto(out, l)
	}
	return out
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				m := make(map[string]any, len(dv)+len(sv))
				mergeInto(m, dv)
				mergeInto(m, sv)
				dst[k] = m
				continue
			}
		}
		dst[k] = v
	}
}

// LoadDataFile decodes a --data file: JSON (.json) or TOML (.toml), chosen
// by path's extension; path is also used in errors. The top level must be
// an object (a table). JSON numbers become int64 when they are whole and
// fit, else float64, so 1000000 prints as 1000000; a JSON null becomes "".
// Every error is a *DataError, with the line and column when the decoder
// gives them.
func LoadDataFile(path string, src []byte) (map[string]any, error) {
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return loadJSON(path, src)
	case ".toml":
		m := make(map[string]any)
		if _, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&m); err != nil {
			e := &DataError{File: path, Msg: err.Error(), Err: err}
			var pe toml.ParseError
			if errors.As(err, &pe) {
				e.Line, e.Col, e.Msg = pe.Position.Line, pe.Position.Col, pe.Message
			}
			return nil, e
		}
		return m, nil
	}
	return nil, &DataError{File: path, Msg: "unknown data file type: want .json or .toml"}
}

func loadJSON(path string, src []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		off := dec.InputOffset()
		if rest := bytes.TrimLeft(src[off:], " \t\r\n"); len(rest) > 0 {
			line, col := lineCol(src, int64(len(src)-len(rest)))
			return nil, &DataError{File: path, Line: line, Col: col, Msg: "data after the top-level object"}
		}
	}
	if err != nil {
		e := &DataError{File: path, Msg: "invalid JSON: " + err.Error(), Err: err}
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			e.Line, e.Col = lineCol(src, se.Offset-1)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			e.Msg = "invalid JSON: unexpected end of file"
			e.Line, e.Col = lineCol(src, int64(len(src)))
		}
		return nil, e
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &DataError{File: path, Line: 1, Msg: fmt.Sprintf("top level is %s: want an object", jsonKind(v))}
	}
	return normalizeJSON(m).(map[string]any), nil
}

// normalizeJSON turns json.Numbers into int64 or float64, and nulls into "".
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case nil:
		return ""
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeJSON(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeJSON(e)
		}
	}
	return v
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// lineCol gives the 1-based line and column of byte offset off in src.
func lineCol(src []byte, off int64) (int, int) {
	off = max(0, min(off, int64(len(src))))
	before := src[:off]
	line := 1 + bytes.Count(before, []byte("\n"))
	return line, int(off) - bytes.LastIndexByte(before, '\n')
}
