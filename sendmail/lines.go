package sendmail

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineLimit is the longest line, without its CRLF, that goes out unbroken:
// RFC 5322 section 2.1.1 and Postfix's smtp_line_length_limit default.
const lineLimit = 998

// readBufSize is the input buffer, and so the longest segment of a line
// the scanner hands out at once.
const readBufSize = 64 << 10

// terminator says how a segment of a line ended.
type terminator int

const (
	termNone terminator = iota // the line goes on in the next segment
	termLF                     // "\n"
	termCRLF                   // "\r\n"
	termCR                     // a bare "\r"
	termEOF                    // end of input without a line break
)

// scanner splits input into lines ended by LF, CRLF or a bare CR, and hands
// out each line in segments of at most readBufSize bytes, so that a line of
// any length costs no more memory than the buffer.
type scanner struct {
	r       *bufio.Reader
	skip    int    // bytes of the previous segment (and its terminator) to discard
	scratch []byte // a line copied out of the buffer, see next
}

func newScanner(r io.Reader) *scanner {
	return &scanner{r: bufio.NewReaderSize(r, readBufSize)}
}

// next returns the next segment of the current line and how it ended. The
// segment is valid until the next call. At the end of input it returns
// io.EOF; a read error is returned as it is.
func (s *scanner) next() ([]byte, terminator, error) {
	if s.skip > 0 {
		if _, err := s.r.Discard(s.skip); err != nil {
			return nil, termNone, err
		}
		s.skip = 0
	}
	from := 0 // bytes already searched for a line break
	for {
		n := s.r.Buffered()
		if n == 0 {
			if _, err := s.r.Peek(1); err != nil {
				return nil, termNone, err
			}
			continue
		}
		b, _ := s.r.Peek(n)
		if i := bytes.IndexAny(b[from:], "\r\n"); i >= 0 {
			i += from
			switch {
			case b[i] == '\n':
				s.skip = i + 1
				return b[:i], termLF, nil
			case i+1 < n:
				if b[i+1] == '\n' {
					s.skip = i + 2
					return b[:i], termCRLF, nil
				}
				s.skip = i + 1
				return b[:i], termCR, nil
			case n < readBufSize:
				// A CR is the last byte buffered: read on to see whether
				// an LF follows.
				if more, _ := s.r.Peek(n + 1); len(more) > n {
					from = i
					continue
				}
				b, _ = s.r.Peek(n) // Peek may have moved the buffer
				s.skip = i + 1
				return b[:i], termCR, nil
			default:
				// The buffer is full and ends in CR: the byte after the CR
				// can only be read after the line is consumed, so keep a
				// copy of the line.
				s.scratch = append(s.scratch[:0], b[:i]...)
				if _, err := s.r.Discard(i + 1); err != nil {
					return nil, termNone, err
				}
				term := termCR
				if next, _ := s.r.Peek(1); len(next) == 1 && next[0] == '\n' {
					s.skip = 1
					term = termCRLF
				}
				return s.scratch, term, nil
			}
		}
		from = n
		if n < readBufSize {
			more, err := s.r.Peek(n + 1)
			if len(more) > n {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, termNone, err
			}
			b, _ = s.r.Peek(n)
			s.skip = n
			return b, termEOF, nil
		}
		// A full buffer without a line break: hand it out, but never end a
		// segment inside a UTF-8 sequence, so that folding can keep
		// characters whole.
		k := utf8TrimIncomplete(b)
		s.skip = k
		return b[:k], termNone, nil
	}
}

// utf8TrimIncomplete returns len(b) less the bytes of an incomplete UTF-8
// sequence at its end.
func utf8TrimIncomplete(b []byte) int {
	for j := len(b) - 1; j >= 0 && j >= len(b)-3; j-- {
		c := b[j]
		if c < 0x80 {
			break
		}
		if c >= 0xC0 {
			if j > 0 && j+utf8SeqLen(c) > len(b) {
				return j
			}
			break
		}
	}
	return len(b)
}

// utf8SeqLen is the length of the UTF-8 sequence that lead byte c starts.
func utf8SeqLen(c byte) int {
	switch {
	case c >= 0xF0:
		return 4
	case c >= 0xE0:
		return 3
	case c >= 0xC0:
		return 2
	}
	return 1
}

// utf8Cut returns where to break p at or before n so that a UTF-8
// character is not split: n itself, unless p[n] continues a sequence that
// starts at most 3 bytes earlier.
func utf8Cut(p []byte, n int) int {
	if p[n]&0xC0 != 0x80 {
		return n
	}
	for j := n - 1; j >= 0 && j >= n-3; j-- {
		c := p[j]
		if c < 0x80 {
			break
		}
		if c >= 0xC0 {
			if j+utf8SeqLen(c) > n {
				return j
			}
			break
		}
	}
	return n
}

// folder writes lines with CRLF endings and breaks every line longer than
// lineLimit octets the way Postfix's SMTP client does
// (smtp_line_length_limit): after lineLimit octets it inserts CRLF and a
// SPACE, and goes on; a line of exactly lineLimit octets is left alone.
// Unlike Postfix it breaks before a UTF-8 character rather than inside it.
type folder struct {
	w      *bufio.Writer
	col    int  // octets on the current output line
	broken bool // the current line has been broken at least once
	folds  int  // lines broken so far
}

// write adds p to the current line.
func (f *folder) write(p []byte) {
	for len(p) > 0 {
		if f.col >= lineLimit {
			f.fold()
		}
		room := lineLimit - f.col
		if len(p) <= room {
			f.w.Write(p)
			f.col += len(p)
			return
		}
		cut := utf8Cut(p, room)
		f.w.Write(p[:cut])
		p = p[cut:]
		f.fold()
	}
}

func (f *folder) fold() {
	f.w.WriteString("\r\n ")
	f.col = 1
	if !f.broken {
		f.broken = true
		f.folds++
	}
}

// endLine ends the current line with CRLF.
func (f *folder) endLine() {
	f.w.WriteString("\r\n")
	f.col = 0
	f.broken = false
}

// line writes a whole line.
func (f *folder) line(p []byte) {
	f.write(p)
	f.endLine()
}

// countWriter counts the bytes written through it and keeps the first
// write error, so that a long copy can stop early.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
