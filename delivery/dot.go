package delivery

import "bufio"

// dotWriter is net/textproto's DotWriter, byte for byte, but copying runs
// of bytes instead of one WriteByte call per byte: the message content of
// every row of a batch goes through it. It stuffs a leading dot, turns a
// bare LF into CRLF, and Close ends the data with ".\r\n" and flushes.
type dotWriter struct {
	w     *bufio.Writer
	state int
}

// The states of a dotWriter, as textproto names them.
const (
	dotBegin     = iota // at the start of the data
	dotBeginLine        // at the start of a line
	dotData             // within a line
	dotCR               // just after a CR
)

func newDotWriter(w *bufio.Writer) *dotWriter { return &dotWriter{w: w} }

func (d *dotWriter) Write(b []byte) (int, error) {
	run := 0 // b[run:i] is still to be copied
	for i, c := range b {
		switch d.state {
		case dotBegin, dotBeginLine:
			d.state = dotData
			if c == '.' {
				d.w.Write(b[run:i])
				d.w.WriteByte('.')
				run = i
			}
			fallthrough
		case dotData:
			switch c {
			case '\r':
				d.state = dotCR
			case '\n':
				d.w.Write(b[run:i])
				d.w.WriteByte('\r')
				run = i
				d.state = dotBeginLine
			}
		case dotCR:
			d.state = dotData
			if c == '\n' {
				d.state = dotBeginLine
			}
		}
	}
	// A bufio.Writer's error sticks, so this reports any of the above.
	if _, err := d.w.Write(b[run:]); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close ends the data: a line break unless at the start of a line, then
// ".\r\n"; and flushes.
func (d *dotWriter) Close() error {
	d.end()
	return d.w.Flush()
}

// end writes the end of data into the buffer, without flushing it.
func (d *dotWriter) end() {
	switch d.state {
	default:
		d.w.WriteByte('\r')
		fallthrough
	case dotCR:
		d.w.WriteByte('\n')
		fallthrough
	case dotBeginLine:
		d.w.WriteString(".\r\n")
	}
}
