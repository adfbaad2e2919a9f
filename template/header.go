package template

import (
	"fmt"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// headerField is one header of the template's header block, unfolded: its
// value is template source whose segments map back to the file.
type headerField struct {
	name string
	line int // file line of the name
	val  piece
}

// block is the template file split into header fields and body.
type block struct {
	headers  []headerField
	body     string
	bodyLine int // file line where the body starts
}

// splitBlock splits src (LF line ends) into the header fields and the body.
// The header block ends at the first blank line (empty or only spaces and
// tabs); a file without one is all headers. A line starting with a space or
// a tab continues the header before it (RFC 5322 folding: the line break is
// removed, the whitespace kept).
func splitBlock(file, src string) (*block, *Error) {
	b := &block{}
	off := 0
	for line := 1; ; line++ {
		end := strings.IndexByte(src[off:], '\n')
		last := end < 0
		if last {
			end = len(src) - off
		}
		text := src[off : off+end]
		if strings.Trim(text, " \t") == "" {
			if !last {
				b.body = src[off+end+1:]
			}
			b.bodyLine = line + 1
			return b, nil
		}
		if err := b.addLine(file, line, text); err != nil {
			return nil, err
		}
		if last {
			b.bodyLine = line + 1
			return b, nil
		}
		off += end + 1
	}
}

// addLine adds one non-blank line of the header block: a new header field,
// or the continuation of the one before.
func (b *block) addLine(file string, line int, text string) *Error {
	if text[0] == ' ' || text[0] == '\t' {
		if len(b.headers) == 0 {
			return &Error{File: file, Line: line, Col: 1, Msg: "continuation line before the first header"}
		}
		h := &b.headers[len(b.headers)-1]
		h.val.segs = append(h.val.segs, segment{off: len(h.val.src), line: line, col: 0})
		h.val.src += text
		return nil
	}
	colon := strings.IndexByte(text, ':')
	if colon < 0 {
		return &Error{File: file, Line: line, Col: 1, Msg: fmt.Sprintf(
			"%s is not a header: want \"Name: value\", and a blank line between the headers and the body",
			quoteShort(text))}
	}
	name := text[:colon]
	if name == "" {
		return &Error{File: file, Line: line, Col: 1, Msg: "header without a name"}
	}
	if i := badNameByte(name); i >= 0 {
		return &Error{File: file, Line: line, Col: i + 1, Msg: fmt.Sprintf(
			"header name %s: character %q not allowed", quoteShort(name), firstRune(name[i:]))}
	}
	v := colon + 1
	for v < len(text) && (text[v] == ' ' || text[v] == '\t') {
		v++
	}
	b.headers = append(b.headers, headerField{name: name, line: line, val: piece{
		src: text[v:], segs: []segment{{off: 0, line: line, col: v}},
	}})
	return nil
}

// firstRune returns the first character of s.
func firstRune(s string) rune {
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// badNameByte returns the index of the first byte of name that a header
// field name may not hold (RFC 5322: printable ASCII 33-126 but ':'), or -1.
func badNameByte(name string) int {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return i
		}
	}
	return -1
}

// structural reports whether a header describes the MIME structure, which
// mailout writes itself: MIME-Version and every Content-* but Content-Type.
func structural(name string) bool {
	n := strings.ToLower(name)
	return n == "mime-version" || strings.HasPrefix(n, "content-") && n != "content-type"
}

// single lists the fields that RFC 5322 section 3.6 allows at most once.
var single = []string{"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"Message-ID", "In-Reply-To", "References", "Subject"}

func isSingle(name string) bool {
	for _, s := range single {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// kindOf reads a Content-Type header value.
func kindOf(value string) (Kind, error) {
	mt, params, err := mime.ParseMediaType(value)
	if err != nil {
		return 0, fmt.Errorf("Content-Type %s: want text/plain, text/html or text/markdown", quoteShort(value))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return 0, fmt.Errorf("Content-Type charset %s: templates are UTF-8", quoteShort(cs))
	}
	switch mt {
	case "text/plain":
		return Plain, nil
	case "text/html":
		return HTML, nil
	case "text/markdown", "text/x-markdown":
		return Markdown, nil
	}
	return 0, fmt.Errorf("Content-Type %s: want text/plain, text/html or text/markdown", quoteShort(mt))
}

// quoteShort quotes s, cut to 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		cut := 40
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}
