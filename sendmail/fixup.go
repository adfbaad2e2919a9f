package sendmail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"mailout/message"
)

// DefaultMaxHeaderBytes is the header size limit when
// [FixupOptions.MaxHeaderBytes] is zero.
const DefaultMaxHeaderBytes = 1 << 20

// FixupOptions says how [Fixup] changes a message. Everything that depends
// on the system or the profile comes in here.
type FixupOptions struct {
	// IgnoreDots (-i, -oi): a line holding a single "." does not end the
	// message. Without it such a line ends the message and the rest of the
	// input is not read.
	IgnoreDots bool
	// Now is the Date added when the message has none. Zero means
	// time.Now().
	Now time.Time
	// MessageID is the whole Message-ID value ("<...@domain>") added when
	// the message has none; "" adds none.
	MessageID string
	// From is the From value added when the message has none, already
	// formatted ("Name <a@b>", see [FormatFrom]); "" adds none.
	From string
	// IsLocal reports whether an address belongs to this machine. Nil
	// means IsLocalAddr(addr, nil); see [IsLocalAddr].
	IsLocal func(addr string) bool
	// Qualify expands a local name (the local part of a local address)
	// through the aliases or local_domain into one or more addresses. It
	// is used for local addresses in To and Cc and, with
	// CollectRecipients, in Bcc and the Resent- headers. Nil leaves local
	// addresses as they are. Its errors are returned wrapped.
	Qualify func(local string) ([]string, error)
	// RewriteFrom is the profile's from_rewrite: "local" (or "") rewrites
	// a From whose address is local, "always" rewrites every From,
	// "never" none.
	RewriteFrom string
	// ProfileFrom ("addr" or "Name <addr>") replaces a From address that
	// RewriteFrom selects. The original display name is kept
	// ("root (Cron Daemon)" becomes "Cron Daemon <cron@example.com>");
	// ProfileFrom's own name is used only when the original has none.
	// "" rewrites nothing.
	ProfileFrom string
	// CollectRecipients (-t) returns the addresses of the To, Cc and Bcc
	// headers in FixupResult.Recipients or, when the message has any
	// Resent- header, those of Resent-To, Resent-Cc and Resent-Bcc
	// instead, as Postfix does. Local names are qualified.
	CollectRecipients bool
	// MaxHeaderBytes limits the header block; a larger one is a
	// *DataError. Zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// FixupResult describes the message [Fixup] wrote.
type FixupResult struct {
	// Recipients are the header recipients (with CollectRecipients) as
	// bare addresses, in header order, without duplicates.
	Recipients []string
	// MessageID is the message's Message-ID value, its own or the one
	// added; "" when it has none.
	MessageID string
	// HeaderFrom is the address of the From header after the fix-ups,
	// "" when the message has none.
	HeaderFrom string
	// Warnings describe changes worth a line in the log, such as
	// "removed 3 NUL bytes from the body".
	Warnings []string
	// Size is the number of bytes written.
	Size int64
}

// DataError is a message that cannot be sent as it is: a NUL byte or a
// bare CR in a header line, a header block over the size limit, an invalid
// address in a header that must be read. It is message's DataError, so
// callers map every such error to exit 65 (EX_DATAERR) in one place.
type DataError = message.DataError

func dataErrorf(format string, args ...any) *DataError {
	return &DataError{Msg: fmt.Sprintf(format, args...)}
}

// Fixup copies the message from src to dst with the sendmail fix-ups (see
// the package documentation) and CRLF line endings. The header block is
// read into memory; the body is streamed. Without o.IgnoreDots, reading
// stops at a line holding a single ".".
//
// Headers that are not changed are written byte for byte as they came
// (only their line endings become CRLF, and a line over 998 octets is
// broken). Added headers follow the existing ones. A message whose first
// line is not a header field has no header block: all of it is body, and
// the added headers come first.
func Fixup(dst io.Writer, src io.Reader, o FixupOptions) (FixupResult, error) {
	f, err := newFixer(dst, src, o)
	if err != nil {
		return FixupResult{}, err
	}
	return f.run()
}

type fixer struct {
	o       FixupOptions
	sc      *scanner
	cw      *countWriter
	bw      *bufio.Writer
	out     folder
	res     FixupResult
	isLocal func(string) bool
	rewrite string           // "local", "always" or "never"
	profile *message.Mailbox // parsed ProfileFrom, nil if none
	nuls    int64
	mboxes  int // mbox "From " lines removed
}

func newFixer(dst io.Writer, src io.Reader, o FixupOptions) (*fixer, error) {
	f := &fixer{o: o, sc: newScanner(src), cw: &countWriter{w: dst}, isLocal: o.IsLocal}
	f.bw = bufio.NewWriterSize(f.cw, 64<<10)
	f.out.w = f.bw
	switch o.RewriteFrom {
	case "", "local":
		f.rewrite = "local"
	case "always", "never":
		f.rewrite = o.RewriteFrom
	default:
		return nil, fmt.Errorf("unknown from_rewrite %q (want local, always or never)", o.RewriteFrom)
	}
	if f.isLocal == nil {
		f.isLocal = func(a string) bool { return IsLocalAddr(a, nil) }
	}
	if f.o.Now.IsZero() {
		f.o.Now = time.Now()
	}
	if f.o.MaxHeaderBytes <= 0 {
		f.o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if strings.ContainsAny(o.From, "\r\n") {
		return nil, dataErrorf("From %q contains a line break", o.From)
	}
	if strings.ContainsAny(o.MessageID, "\r\n") {
		return nil, dataErrorf("Message-ID %q contains a line break", o.MessageID)
	}
	if o.ProfileFrom != "" {
		items, err := message.ParseAddressItems(o.ProfileFrom)
		if err != nil || len(items) != 1 || items[0].Group || strings.ContainsAny(o.ProfileFrom, "\r\n") {
			return nil, fmt.Errorf("invalid profile from %q", o.ProfileFrom)
		}
		f.profile = &items[0].Members[0]
	}
	return f, nil
}

func (f *fixer) run() (FixupResult, error) {
	fields, first, ended, err := f.readHeader()
	if err != nil {
		return FixupResult{}, err
	}
	if err := f.writeHeader(fields); err != nil {
		return FixupResult{}, err
	}
	if !ended {
		atStart := true
		if first != nil {
			f.writeBody(first.seg)
			if atStart = first.term != termNone; atStart {
				f.out.endLine()
			}
		}
		if err := f.copyBody(atStart); err != nil {
			return FixupResult{}, err
		}
	}
	if err := f.bw.Flush(); err != nil {
		return FixupResult{}, fmt.Errorf("write message: %w", err)
	}
	if f.mboxes > 0 {
		f.warnf("removed the mbox \"From \" line at the start of the message")
	}
	if f.nuls > 0 {
		f.warnf("removed %d NUL %s from the body", f.nuls, plural(f.nuls, "byte", "bytes"))
	}
	if f.out.folds > 0 {
		f.warnf("broke %d %s longer than %d octets", f.out.folds, plural(int64(f.out.folds), "line", "lines"), lineLimit)
	}
	f.res.Size = f.cw.n
	return f.res, nil
}

// pending is the first line of a message without a header block, already
// read while looking for one.
type pending struct {
	seg  []byte
	term terminator
}

// field is one header field as it came: its lines without line endings.
type field struct {
	name  string // as written
	key   string // lower case
	lines [][]byte
	line  int // line number of its first line
}

// value returns the unfolded field body, after the colon.
func (fl *field) value() string {
	v := string(bytes.Join(fl.lines, nil))
	return v[strings.IndexByte(v, ':')+1:]
}

// readHeader reads the header block up to the blank line. It returns the
// fields; the first line when the message has no header block; and ended
// when the input ended (EOF or a "." line) before any body.
func (f *fixer) readHeader() (fields []*field, first *pending, ended bool, err error) {
	size, lineNo, top := 0, 0, true
	for {
		seg, term, err := f.sc.next()
		if errors.Is(err, io.EOF) {
			return fields, nil, true, nil
		}
		if err != nil {
			return nil, nil, false, fmt.Errorf("read message: %w", err)
		}
		lineNo++
		if term != termNone && !f.o.IgnoreDots && len(seg) == 1 && seg[0] == '.' {
			return fields, nil, true, nil
		}
		if top && isMboxFrom(seg) {
			// Postfix's sendmail drops mbox "From " lines at the start.
			f.mboxes++
			if err := f.skipLine(term); err != nil {
				return nil, nil, false, err
			}
			continue
		}
		top = false
		if len(fields) == 0 && !isFieldStart(seg) {
			return nil, &pending{seg: bytes.Clone(seg), term: term}, false, nil
		}
		if len(seg) == 0 && term != termNone {
			if term == termCR {
				return nil, nil, false, dataErrorf("header line %d: bare CR", lineNo)
			}
			return fields, nil, false, nil
		}
		var fl *field
		switch {
		case isContinuation(seg):
			fl = fields[len(fields)-1]
		case isFieldStart(seg):
			name := fieldName(seg)
			fl = &field{name: name, key: strings.ToLower(name), line: lineNo}
			fields = append(fields, fl)
		default:
			// As Postfix does: a line that is not a header field ends the
			// header block and starts the body (`printf 'Subject: x\nhi'`).
			return fields, &pending{seg: bytes.Clone(seg), term: term}, false, nil
		}
		line := bytes.Clone(seg)
		for term == termNone {
			seg, term, err = f.sc.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, nil, false, fmt.Errorf("read message: %w", err)
			}
			if size+len(line)+len(seg) > f.o.MaxHeaderBytes {
				return nil, nil, false, f.tooLarge()
			}
			line = append(line, seg...)
		}
		if size += len(line) + 2; size > f.o.MaxHeaderBytes {
			return nil, nil, false, f.tooLarge()
		}
		if term == termCR {
			return nil, nil, false, dataErrorf("header line %d: bare CR", lineNo)
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return nil, nil, false, dataErrorf("header line %d: NUL byte", lineNo)
		}
		fl.lines = append(fl.lines, line)
	}
}

func (f *fixer) tooLarge() error {
	return dataErrorf("message header larger than %d bytes", f.o.MaxHeaderBytes)
}

// skipLine reads the rest of a line whose first segment ended with term.
func (f *fixer) skipLine(term terminator) error {
	for term == termNone {
		var err error
		if _, term, err = f.sc.next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read message: %w", err)
		}
	}
	return nil
}

// writeHeader writes the header block with its fix-ups and the blank line
// after it. Every check runs before the first byte is written, so a
// *DataError leaves dst untouched.
func (f *fixer) writeHeader(fields []*field) error {
	var hasDate, hasMsgID, hasFrom, hasResent bool
	for _, fl := range fields {
		switch fl.key {
		case "date":
			hasDate = true
		case "message-id":
			hasMsgID = true
			f.res.MessageID = strings.TrimSpace(fl.value())
		case "from":
			hasFrom = true
		}
		hasResent = hasResent || strings.HasPrefix(fl.key, "resent-")
	}
	collect := func(resent bool) bool { return f.o.CollectRecipients && resent == hasResent }
	var rcpts []string
	var out [][]byte
	for _, fl := range fields {
		lines := fl.lines
		switch fl.key {
		case "bcc", "resent-bcc":
			lines = nil // always removed
			if collect(fl.key == "resent-bcc") {
				_, addrs, err := f.qualifyField(fl)
				if err != nil {
					return err
				}
				rcpts = append(rcpts, addrs...)
			}
		case "to", "cc":
			changed, addrs, err := f.qualifyField(fl)
			if err != nil {
				return err
			}
			if collect(false) {
				rcpts = append(rcpts, addrs...)
			}
			if changed != nil {
				lines = changed
			}
		case "resent-to", "resent-cc":
			if collect(true) {
				_, addrs, err := f.qualifyField(fl)
				if err != nil {
					return err
				}
				rcpts = append(rcpts, addrs...)
			}
		case "from":
			changed, addr, err := f.rewriteFrom(fl)
			if err != nil {
				return err
			}
			if f.res.HeaderFrom == "" {
				f.res.HeaderFrom = addr
			}
			if changed != nil {
				lines = changed
			}
		}
		out = append(out, lines...)
	}
	if !hasDate {
		out = append(out, []byte("Date: "+f.o.Now.Format(time.RFC1123Z)))
	}
	if !hasMsgID && f.o.MessageID != "" {
		f.res.MessageID = f.o.MessageID
		out = append(out, []byte("Message-ID: "+f.o.MessageID))
	}
	if !hasFrom && f.o.From != "" {
		items, err := message.ParseAddressItems(f.o.From)
		if err != nil || len(items) != 1 || items[0].Group {
			return dataErrorf("invalid From %q", f.o.From)
		}
		f.res.HeaderFrom = items[0].Members[0].Addr
		out = append(out, []byte("From: "+f.o.From))
	}
	for _, l := range out {
		f.out.line(l)
	}
	f.out.endLine()
	if f.o.CollectRecipients {
		f.res.Recipients = message.Dedupe(rcpts)
	}
	return nil
}

// qualifyField qualifies the local addresses of an address header. It
// returns the new lines, or nil when nothing changed (an empty, non-nil
// slice when no address is left), and the field's addresses, qualified.
func (f *fixer) qualifyField(fl *field) ([][]byte, []string, error) {
	items, err := message.ParseAddressItems(fl.value())
	if err != nil {
		return nil, nil, dataErrorf("header line %d (%s): %v", fl.line, fl.name, err)
	}
	var out, addrs []string
	changed := false
	for _, it := range items {
		var members []string
		itemChanged := false
		for _, m := range it.Members {
			rendered, xs, err := f.qualify(m)
			if err != nil {
				return nil, nil, fmt.Errorf("header line %d (%s): %w", fl.line, fl.name, err)
			}
			addrs = append(addrs, xs...)
			if rendered != nil {
				itemChanged = true
				members = append(members, rendered...)
			} else {
				members = append(members, m.Raw)
			}
		}
		switch {
		case !itemChanged:
			out = append(out, it.Raw)
		case it.Group && len(members) == 0:
			out = append(out, it.GroupName+":;")
		case it.Group:
			out = append(out, it.GroupName+": "+strings.Join(members, ", ")+";")
		default:
			out = append(out, members...)
		}
		changed = changed || itemChanged
	}
	if !changed {
		return nil, addrs, nil
	}
	if len(out) == 0 {
		return [][]byte{}, addrs, nil
	}
	return renderField(fl.name, out), addrs, nil
}

// qualify expands a local mailbox through Qualify. It returns the new
// text for the mailbox (nil when it stays as it is) and its addresses.
func (f *fixer) qualify(m message.Mailbox) ([]string, []string, error) {
	if f.o.Qualify == nil || !f.isLocal(m.Addr) {
		return nil, []string{m.Addr}, nil
	}
	xs, err := f.o.Qualify(message.LocalPart(m.Addr))
	if err != nil {
		return nil, nil, err
	}
	for _, x := range xs {
		if strings.ContainsAny(x, "\r\n") || message.CheckAddrSpec(x) != nil {
			return nil, nil, dataErrorf("%q expands to the invalid address %q", message.LocalPart(m.Addr), x)
		}
	}
	if len(xs) == 1 {
		return []string{renderMailbox(m.RenderName(), xs[0])}, xs, nil
	}
	return append([]string{}, xs...), xs, nil
}

// rewriteFrom applies from_rewrite to a From field. It returns the new
// lines (nil when unchanged) and the first address after the rewrite.
func (f *fixer) rewriteFrom(fl *field) ([][]byte, string, error) {
	items, err := message.ParseAddressItems(fl.value())
	if err != nil {
		return nil, "", dataErrorf("header line %d (%s): %v", fl.line, fl.name, err)
	}
	var mbs []message.Mailbox
	for _, it := range items {
		mbs = append(mbs, it.Members...)
	}
	if len(mbs) == 0 {
		return nil, "", dataErrorf("header line %d (%s): no address", fl.line, fl.name)
	}
	if f.rewrite == "never" || f.profile == nil {
		return nil, mbs[0].Addr, nil
	}
	var out []string
	var first string
	seen := map[string]bool{}
	changed := false
	for _, m := range mbs {
		text, addr := m.Raw, m.Addr
		if !strings.EqualFold(m.Addr, f.profile.Addr) && (f.rewrite == "always" || f.isLocal(m.Addr)) {
			name := m.RenderName()
			if name == "" {
				name = f.profile.RenderName()
			}
			text, addr = renderMailbox(name, f.profile.Addr), f.profile.Addr
			changed = true
		}
		if first == "" {
			first = addr
		}
		if key := strings.ToLower(addr); !seen[key] {
			seen[key] = true
			out = append(out, text)
		}
	}
	if !changed {
		return nil, first, nil
	}
	return renderField(fl.name, out), first, nil
}

// renderField writes "Name: item, item" folded before an item that would
// take the line past 78 characters.
func renderField(name string, items []string) [][]byte {
	var lines [][]byte
	cur := name + ":"
	for k, it := range items {
		if k < len(items)-1 {
			it += ","
		}
		if k > 0 && len(cur)+1+len(it) > 78 {
			lines = append(lines, []byte(cur))
			cur = " " + it
		} else {
			cur += " " + it
		}
	}
	return append(lines, []byte(cur))
}

// copyBody streams the body. atStart tells whether the next segment starts
// a line.
func (f *fixer) copyBody(atStart bool) error {
	for {
		if f.cw.err != nil {
			return fmt.Errorf("write message: %w", f.cw.err)
		}
		seg, term, err := f.sc.next()
		if errors.Is(err, io.EOF) {
			if !atStart {
				f.out.endLine()
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read message: %w", err)
		}
		if atStart && term != termNone && !f.o.IgnoreDots && len(seg) == 1 && seg[0] == '.' {
			return nil
		}
		f.writeBody(seg)
		if atStart = term != termNone; atStart {
			f.out.endLine()
		}
	}
}

// writeBody writes a segment of a body line without its NUL bytes.
func (f *fixer) writeBody(seg []byte) {
	for {
		i := bytes.IndexByte(seg, 0)
		if i < 0 {
			f.out.write(seg)
			return
		}
		f.out.write(seg[:i])
		f.nuls++
		seg = seg[i+1:]
	}
}

func (f *fixer) warnf(format string, args ...any) {
	f.res.Warnings = append(f.res.Warnings, fmt.Sprintf(format, args...))
}

// isFieldStart reports whether a line starts a header field: a name of
// printable ASCII other than ":", optional blanks, and a colon.
func isFieldStart(line []byte) bool {
	i := 0
	for i < len(line) && line[i] > ' ' && line[i] < 0x7f && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

// fieldName returns the name of a line for which isFieldStart is true.
func fieldName(line []byte) string {
	i := bytes.IndexByte(line, ':')
	return string(bytes.TrimRight(line[:i], " \t"))
}

func isContinuation(line []byte) bool {
	return len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
}

// isMboxFrom reports whether a line is an mbox separator ("From " or, as
// Postfix also drops it, ">From ").
func isMboxFrom(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From "))
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
