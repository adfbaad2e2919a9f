package batch

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"mailout/internal/flock"
)

// Row outcomes, as written to the journal and the report.
const (
	StatusSent    = "sent"    // accepted by the server
	StatusQueued  = "queued"  // handed to the spool, which delivers it later
	StatusFailed  = "failed"  // not sent; a re-run tries again
	StatusSkipped = "skipped" // not tried: already sent per the journal (never journaled)
)

// ErrJournalInUse is returned by [OpenJournal] when another process holds the
// journal open.
var ErrJournalInUse = errors.New("batch: journal is in use by another mailout batch run")

// Journal is the append-only record of row outcomes that lets a re-run skip
// every key already sent. Each outcome is one JSON line,
//
//	{"time":"2025-01-02T03:04:05Z","status":"sent","row":7,"key":"bob@example.com"}
//
// On open, only the keys recorded as sent or queued are kept, as 16-byte
// hashes. A Journal is safe for concurrent use, and holds an exclusive lock on
// its file while open, so two runs over the same journal cannot both mail a
// row.
//
// One writer goroutine makes the lines durable: it writes every line appended
// since its last commit in one write and one fdatasync (fsync where there is
// none), so a commit costs the same for one line as for a hundred. [Journal.Append]
// hands a line to it and returns at once, waiting only while the window of
// lines not yet durable is full (see [Journal.SetWindow]); [Journal.Record]
// waits for its own line.
type Journal struct {
	path string
	f    *os.File
	now  func() time.Time

	mu       sync.Mutex
	cond     sync.Cond // signalled when a commit ends
	wake     chan struct{}
	stopped  chan struct{} // closed when the writer returns
	done     hashSet       // keys sent or queued
	claimed  map[keyHash]struct{}
	buf      []byte // lines appended, not yet handed to the writer
	appended uint64 // lines appended
	synced   uint64 // lines known durable
	window   int
	buffered int    // lines in buf
	urgent   int    // callers waiting for a commit
	stamp    string // the time of the last line, formatted once a second
	stampSec int64
	err      error // sticky: after a failed write or fsync nothing can be trusted
	closed   bool
}

// DefaultWindow is the number of lines a [Journal] lets [Journal.Append] run
// ahead of the last commit until [Journal.SetWindow] says otherwise.
const DefaultWindow = 16

// journalLine is the JSON shape of one journal line; the field order is the
// order written.
type journalLine struct {
	Time   string `json:"time"`
	Status string `json:"status"`
	Row    int    `json:"row"`
	Key    string `json:"key"`
}

// OpenJournal opens or creates the journal at path, creating missing folders
// with mode 0700 and the file with mode 0600, and loads the keys it records
// as sent or queued. now stamps the lines it writes; nil means time.Now.
//
// A last line cut short (the process was killed while writing it) is dropped,
// or kept when it is complete but for its line break. Any other line that is
// not a journal line is an error naming it: dropping it could mail its row
// again.
func OpenJournal(path string, now func() time.Time) (*Journal, error) {
	if now == nil {
		now = time.Now
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		syncDir(dir) // make the new file's name durable too
	}
	// A file system that cannot lock is no error: the lock only guards
	// against two runs at once.
	if err := flock.TryLock(f); errors.Is(err, flock.ErrLocked) {
		f.Close()
		return nil, fmt.Errorf("journal %s: %w", path, ErrJournalInUse)
	}
	j := &Journal{path: path, f: f, now: now, claimed: make(map[keyHash]struct{}),
		window: DefaultWindow, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	j.cond.L = &j.mu
	if err := j.load(); err != nil {
		f.Close()
		return nil, err
	}
	go j.writer()
	return j, nil
}

// load reads every line, keeps the done keys and mends a torn last line.
func (j *Journal) load() error {
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	br := bufio.NewReaderSize(j.f, 64<<10)
	var (
		done []keyHash
		off  int64 // end of the last complete line
		n    int   // line number
	)
	if fi, err := j.f.Stat(); err == nil {
		done = make([]keyHash, 0, fi.Size()/96) // about one key a line, to spare regrowing
	}
	for {
		line, err := readLine(br)
		if err != nil && err != io.EOF {
			return fmt.Errorf("journal %s: %w", j.path, err)
		}
		if len(line) == 0 {
			break
		}
		n++
		torn := line[len(line)-1] != '\n' // only possible at EOF
		if !torn && len(bytes.TrimSpace(line)) == 0 {
			off += int64(len(line))
			continue
		}
		status, key, perr := parseJournalLine(bytes.TrimSuffix(line, []byte("\n")))
		if torn {
			if perr != nil {
				// The write of this line never finished, so its Record never
				// returned: drop the fragment, or the next line would be glued to it.
				if err := j.f.Truncate(off); err != nil {
					return fmt.Errorf("journal %s: drop torn last line: %w", j.path, err)
				}
			} else if _, err := j.f.Write([]byte("\n")); err != nil {
				return fmt.Errorf("journal %s: mend torn last line: %w", j.path, err)
			}
			if err := j.f.Sync(); err != nil {
				return fmt.Errorf("journal %s: %w", j.path, err)
			}
		} else if perr != nil {
			return fmt.Errorf("journal %s: line %d: %v (repair or delete that line; without a \"sent\" line its row is mailed again)", j.path, n, perr)
		}
		if perr == nil && (status == StatusSent || status == StatusQueued) {
			done = append(done, hashKeyBytes(key))
		}
		off += int64(len(line))
		if err == io.EOF {
			break
		}
	}
	j.done.load(done)
	return nil
}

// appendJournalLine appends l to b as one JSON line, as encoding/json
// writes it with '<' and '>' unescaped so that addresses stay readable. A
// key that needs no escaping, the usual one, is copied as it is: a line per
// row costs no reflection.
func appendJournalLine(b []byte, l journalLine) []byte {
	if !plainJSON(l.Time) || !plainJSON(l.Status) || !plainJSON(l.Key) {
		buf := bytes.NewBuffer(b)
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		enc.Encode(l) // cannot fail: strings and an int
		return buf.Bytes()
	}
	b = append(b, `{"time":"`...)
	b = append(b, l.Time...)
	b = append(b, `","status":"`...)
	b = append(b, l.Status...)
	b = append(b, `","row":`...)
	b = strconv.AppendInt(b, int64(l.Row), 10)
	b = append(b, `,"key":"`...)
	b = append(b, l.Key...)
	return append(b, "\"}\n"...)
}

// plainJSON reports whether s is valid UTF-8 that a JSON string holds as it
// is: no quote, backslash, control character or U+2028/U+2029 (which
// encoding/json escapes).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\':
			return false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
				return false
			}
			i += size - 1
		}
	}
	return true
}

// readLine returns the next line with its '\n', of any length; the slice is
// valid until the next call.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	long := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
	}
	return long, err
}

// parseJournalLine returns the status and key of a journal line. Lines as
// Record writes them take a fast path; anything else goes through
// encoding/json, so a line edited by hand still reads.
func parseJournalLine(b []byte) (status string, key []byte, err error) {
	status, key, ok := parseJournalLineFast(b)
	if !ok {
		var l journalLine
		if err := json.Unmarshal(b, &l); err != nil {
			return "", nil, errors.New("not a journal line")
		}
		status, key = l.Status, []byte(l.Key)
	}
	switch status {
	case StatusSent, StatusQueued, StatusFailed:
	default:
		return "", nil, fmt.Errorf("unknown status %q", status)
	}
	if len(key) == 0 {
		return "", nil, errors.New("no key")
	}
	return status, key, nil
}

// parseJournalLineFast reads {"time":"T","status":"S","row":N,"key":"K"} where
// T, S and K need no JSON unescaping. It is what makes opening a journal of a
// million lines take a fraction of a second instead of seconds.
func parseJournalLineFast(b []byte) (status string, key []byte, ok bool) {
	// str reads prefix, then a string up to '"' that needs no unescaping.
	str := func(prefix string) []byte {
		rest, found := bytes.CutPrefix(b, []byte(prefix))
		end := bytes.IndexByte(rest, '"')
		if !found || end < 0 {
			ok = false
			return nil
		}
		for _, c := range rest[:end] {
			if c == '\\' || c < 0x20 {
				ok = false
				return nil
			}
		}
		b = rest[end+1:]
		return rest[:end]
	}
	ok = true
	str(`{"time":"`)
	st := str(`,"status":"`)
	rest, found := bytes.CutPrefix(b, []byte(`,"row":`))
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		digits++
	}
	if !found || digits == 0 {
		return "", nil, false
	}
	b = rest[digits:]
	key = str(`,"key":"`)
	if !ok || string(b) != "}" || !utf8.Valid(key) {
		return "", nil, false
	}
	switch string(st) {
	case StatusSent:
		return StatusSent, key, true
	case StatusQueued:
		return StatusQueued, key, true
	case StatusFailed:
		return StatusFailed, key, true
	}
	return "", nil, false // let encoding/json name it
}

// Sent reports whether key is recorded as sent or queued, by this run or an
// earlier one.
func (j *Journal) Sent(key string) bool {
	h := hashKey(key)
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.done.has(h)
}

// Claim reports whether key is neither recorded as sent or queued nor already
// claimed in this run, and claims it. Feeding only claimed rows to the workers
// means that a key repeated in the CSV is mailed once, however many workers
// run. A claim lasts until the journal is closed; it is not written.
func (j *Journal) Claim(key string) bool {
	h := hashKey(key)
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.claimed[h]; ok || j.done.has(h) {
		return false
	}
	j.claimed[h] = struct{}{}
	return true
}

// SetWindow sets how many appended lines may wait for their commit before
// [Journal.Append] waits: the most a crash can lose of what was appended. n
// less than 1 means 1.
func (j *Journal) SetWindow(n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.window = max(n, 1)
	j.cond.Broadcast()
}

// Append hands the outcome of row (1-based) for key to the writer and returns
// without waiting for it to be durable, unless the window is full: then it
// waits for the next commit. Status is [StatusSent], [StatusQueued] or
// [StatusFailed]. A key appended as sent or queued counts as sent at once.
// After a failed write or fsync, every later call returns that error.
func (j *Journal) Append(key, status string, row int) error {
	_, err := j.append(key, status, row)
	return err
}

// Record is [Journal.Append] that returns once the line is durable.
func (j *Journal) Record(key, status string, row int) error {
	n, err := j.append(key, status, row)
	if err != nil {
		return err
	}
	return j.waitSynced(n)
}

// Sync returns once every line appended so far is durable.
func (j *Journal) Sync() error {
	j.mu.Lock()
	n := j.appended
	j.mu.Unlock()
	return j.waitSynced(n)
}

// append queues the line and returns its number.
func (j *Journal) append(key, status string, row int) (uint64, error) {
	switch status {
	case StatusSent, StatusQueued, StatusFailed:
	default:
		return 0, fmt.Errorf("journal: cannot record status %q", status)
	}
	if key == "" {
		return 0, errors.New("journal: empty key")
	}
	if !utf8.ValidString(key) {
		return 0, errors.New("journal: key is not valid UTF-8")
	}
	h := hashKey(key)
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.err == nil && !j.closed && j.appended-j.synced >= uint64(j.window) {
		j.waitCommit()
	}
	if j.closed {
		return 0, fmt.Errorf("journal %s: closed", j.path)
	}
	if j.err != nil {
		return 0, j.err
	}
	if now := j.now().Unix(); now != j.stampSec || j.stamp == "" {
		j.stampSec, j.stamp = now, time.Unix(now, 0).UTC().Format(time.RFC3339)
	}
	j.buf = appendJournalLine(j.buf, journalLine{Time: j.stamp, Status: status, Row: row, Key: key})
	j.appended++
	j.buffered++
	if status != StatusFailed {
		j.done.add(h)
		delete(j.claimed, h)
	}
	if j.buffered == 1 || j.buffered >= j.half() {
		j.kick()
	}
	return j.appended, nil
}

// half is the number of lines that make the writer commit at once.
func (j *Journal) half() int { return (j.window + 1) / 2 }

// kick wakes the writer.
func (j *Journal) kick() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// waitCommit waits, holding j.mu, for the next commit, which it asks for
// at once.
func (j *Journal) waitCommit() {
	j.urgent++
	j.kick()
	j.cond.Wait()
	j.urgent--
}

// waitSynced waits until line n is durable or the journal failed.
func (j *Journal) waitSynced(n uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.synced < n && j.err == nil {
		j.waitCommit()
	}
	return j.err
}

// commitDelay is how long the writer lets lines gather before it commits
// fewer than half the window: a commit costs about as much for one line as
// for fifty, and on a busy machine its CPU time is what the sends miss.
const commitDelay = time.Millisecond

// writer commits the appended lines until Close: each round takes all that
// piled up during the last one and the commit delay, so commits grow with
// the load instead of queueing. It commits at once when half the window is
// waiting, when someone waits for a commit, and at Close.
func (j *Journal) writer() {
	defer close(j.stopped)
	var spare []byte
	delay := time.NewTimer(commitDelay)
	delay.Stop()
	for {
		j.mu.Lock()
		for len(j.buf) == 0 && !j.closed {
			j.mu.Unlock()
			<-j.wake
			j.mu.Lock()
		}
		if len(j.buf) == 0 { // closed, and everything committed
			j.mu.Unlock()
			return
		}
		if j.gather() {
			delay.Reset(commitDelay)
			for expired := false; !expired && j.gather(); {
				j.mu.Unlock()
				select {
				case <-j.wake:
				case <-delay.C:
					expired = true
				}
				j.mu.Lock()
			}
			delay.Stop()
		}
		lines, target := j.buf, j.appended
		j.buf, j.buffered = spare[:0], 0
		j.mu.Unlock()

		_, err := j.f.Write(lines)
		if err == nil {
			err = datasync(j.f)
		}
		spare = lines

		j.mu.Lock()
		if err != nil {
			j.err = fmt.Errorf("journal %s: %w", j.path, err)
		} else {
			j.synced = target
		}
		j.cond.Broadcast()
		failed := j.err != nil
		j.mu.Unlock()
		if failed {
			return
		}
	}
}

// gather reports whether the writer may wait for more lines before it
// commits. j.mu is held.
func (j *Journal) gather() bool {
	return !j.closed && j.urgent == 0 && j.buffered < j.half()
}

// Close commits what was appended, then releases the journal's lock and
// file. It returns the error of a failed commit, if any.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.cond.Broadcast()
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-j.stopped
	j.mu.Lock()
	err := j.err
	j.mu.Unlock()
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("journal %s: %w", j.path, cerr)
	}
	return err
}

// DefaultJournalPath returns the journal of a CSV file mailed with a template:
// stateDir/mailout/batch/BASE-HASH.journal, where BASE is the CSV file's name
// without extension and HASH a short hash of the absolute CSV and template
// paths (symbolic links resolved where possible). So re-running the same
// command finds the same journal, and the same CSV with another template
// starts a new one. stateDir is $XDG_STATE_HOME, or ~/.local/state.
func DefaultJournalPath(stateDir, csvPath, templatePath string) string {
	h := sha256.New()
	h.Write([]byte(canonicalPath(csvPath)))
	h.Write([]byte{0})
	h.Write([]byte(canonicalPath(templatePath)))
	sum := hex.EncodeToString(h.Sum(nil))[:12]

	base := filepath.Base(csvPath)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	base = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, base)
	if strings.Trim(base, "._-") == "" {
		base = "csv"
	}
	return filepath.Join(stateDir, "mailout", "batch", base+"-"+sum+".journal")
}

func canonicalPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	return p
}

// syncDir fsyncs a folder so that a file just created in it survives a crash.
// Best effort: some systems and file systems cannot fsync a folder.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
