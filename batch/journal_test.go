package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func openJournal(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatalf("OpenJournal: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func record(t *testing.T, j *Journal, key, status string, row int) {
	t.Helper()
	if err := j.Record(key, status, row); err != nil {
		t.Fatalf("Record(%q, %q, %d): %v", key, status, row, err)
	}
}

func TestJournalRecordReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "mailout", "batch", "list.journal")
	j := openJournal(t, path)
	record(t, j, "ann@example.com", StatusSent, 1)
	record(t, j, "bob@example.com", StatusFailed, 2)
	record(t, j, "cy@example.com", StatusQueued, 3)
	record(t, j, "dee@example.com", StatusFailed, 4)
	record(t, j, "dee@example.com", StatusSent, 4)
	check := func(j *Journal) {
		t.Helper()
		for key, want := range map[string]bool{
			"ann@example.com": true, "bob@example.com": false, "cy@example.com": true,
			"dee@example.com": true, "eve@example.com": false,
		} {
			if got := j.Sent(key); got != want {
				t.Errorf("Sent(%q) = %v, want %v", key, got, want)
			}
		}
	}
	check(j)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Record("x", StatusSent, 9); err == nil {
		t.Error("Record after Close succeeded")
	}
	if err := j.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	check(openJournal(t, path))

	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("mode of %s = %v, want %v", p, got, want)
			}
		}
	}
}

func TestJournalLineFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openJournal(t, path)
	j.now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)) }
	record(t, j, "Ann <ann@example.com>\n\"x\"", StatusSent, 7)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2025-01-02T02:04:05Z","status":"sent","row":7,"key":"Ann <ann@example.com>\n\"x\""}` + "\n"
	if string(b) != want {
		t.Errorf("journal = %q, want %q", b, want)
	}
}

func TestJournalRecordRejects(t *testing.T) {
	j := openJournal(t, filepath.Join(t.TempDir(), "j"))
	for _, tt := range []struct{ key, status string }{
		{"k", StatusSkipped}, {"k", ""}, {"k", "SENT"}, {"", StatusSent},
	} {
		if err := j.Record(tt.key, tt.status, 1); err == nil {
			t.Errorf("Record(%q, %q) succeeded", tt.key, tt.status)
		}
	}
}

func TestJournalClaim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openJournal(t, path)
	record(t, j, "old", StatusSent, 1)
	if j.Claim("old") {
		t.Error("Claim of a sent key succeeded")
	}
	if !j.Claim("new") || j.Claim("new") {
		t.Error("Claim(new) twice: want true, then false")
	}
	record(t, j, "new", StatusFailed, 2)
	if j.Claim("new") || j.Sent("new") {
		t.Error("a failed key is claimable again in the same run, or counts as sent")
	}
	if !j.Claim("later") {
		t.Fatal("Claim(later) = false")
	}
	record(t, j, "later", StatusSent, 3)
	if !j.Sent("later") || j.Claim("later") {
		t.Error("a claimed key recorded as sent is not Sent, or claimable")
	}
	j.Close()
	j = openJournal(t, path)
	if !j.Claim("new") {
		t.Error("a failed key is not claimable in the next run")
	}
}

func TestJournalTornLastLine(t *testing.T) {
	tests := []struct {
		name     string
		tail     string
		wantSent bool // is key "tail" sent after reopening
	}{
		{"fragment", `{"time":"2025-01-02T03:04:05Z","status":"se`, false},
		{"complete but for the newline", `{"time":"2025-01-02T03:04:05Z","status":"sent","row":3,"key":"tail"}`, true},
		{"zero bytes", "\x00\x00\x00\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			j := openJournal(t, path)
			record(t, j, "a", StatusSent, 1)
			record(t, j, "b", StatusFailed, 2)
			j.Close()
			appendFile(t, path, tt.tail)

			j = openJournal(t, path)
			if !j.Sent("a") || j.Sent("b") || j.Sent("tail") != tt.wantSent {
				t.Errorf("after reopen: Sent(a, b, tail) = %v %v %v, want true false %v", j.Sent("a"), j.Sent("b"), j.Sent("tail"), tt.wantSent)
			}
			record(t, j, "c", StatusSent, 4)
			j.Close()

			j = openJournal(t, path)
			if !j.Sent("a") || !j.Sent("c") || j.Sent("tail") != tt.wantSent {
				t.Errorf("after a record and second reopen: Sent(a, c, tail) = %v %v %v", j.Sent("a"), j.Sent("c"), j.Sent("tail"))
			}
		})
	}
}

func TestJournalCorruptLine(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"garbage", "{\"time\":\"t\",\"status\":\"sent\",\"row\":1,\"key\":\"a\"}\nnot json\n{\"status\":\"sent\",\"key\":\"b\"}\n", "line 2: not a journal line"},
		{"unknown status", "{\"status\":\"bounced\",\"row\":1,\"key\":\"a\"}\n", `line 1: unknown status "bounced"`},
		{"no key", "{\"status\":\"sent\",\"row\":1}\n", "line 1: no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenJournal(path, nil)
			if err == nil || !strings.Contains(err.Error(), path+": "+tt.wantErr) {
				t.Errorf("OpenJournal error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestJournalBlankLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	content := "\n{\"status\":\"sent\",\"row\":1,\"key\":\"a\"}\n  \n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if j := openJournal(t, path); !j.Sent("a") {
		t.Error("Sent(a) = false")
	}
}

func TestJournalLocked(t *testing.T) {
	switch runtime.GOOS {
	case "darwin", "dragonfly", "freebsd", "illumos", "linux", "netbsd", "openbsd":
	default:
		t.Skip("no flock(2) here")
	}
	path := filepath.Join(t.TempDir(), "j")
	j := openJournal(t, path)
	_, err := OpenJournal(path, nil)
	if !errors.Is(err, ErrJournalInUse) {
		t.Fatalf("second OpenJournal error = %v, want ErrJournalInUse", err)
	}
	j.Close()
	openJournal(t, path)
}

func TestJournalConcurrentRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openJournal(t, path)
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("w%d-%d", w, i)
				if err := j.Record(key, StatusSent, i); err != nil {
					t.Error(err)
					return
				}
				if !j.Sent(key) {
					t.Errorf("Sent(%q) = false right after Record", key)
				}
			}
		})
	}
	wg.Wait()
	j.Close()
	j = openJournal(t, path)
	for w := range writers {
		for i := range each {
			if key := fmt.Sprintf("w%d-%d", w, i); !j.Sent(key) {
				t.Errorf("after reopen Sent(%q) = false", key)
			}
		}
	}
	if n := countLines(t, path); n != writers*each {
		t.Errorf("journal has %d lines, want %d", n, writers*each)
	}
}

// TestJournalKillChild is the child of TestJournalSIGKILL: it records keys in
// a loop and says so on stdout after each Record returns, until killed.
func TestJournalKillChild(t *testing.T) {
	path := os.Getenv("MAILOUT_BATCH_TEST_JOURNAL")
	if path == "" {
		t.Skip("only run as the child of TestJournalSIGKILL")
	}
	j, err := OpenJournal(path, nil)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	prefix := os.Getenv("MAILOUT_BATCH_TEST_PREFIX")
	write := j.Record
	if w, _ := strconv.Atoi(os.Getenv("MAILOUT_BATCH_TEST_WINDOW")); w > 0 {
		j.SetWindow(w)
		write = j.Append
	}
	pad := strings.Repeat("x", 3000) // long lines give a kill more chances to land mid-write
	for i := 0; ; i++ {
		key := fmt.Sprintf("%s-%d-%s", prefix, i, pad)
		status := StatusSent
		if i%5 == 4 {
			status = StatusFailed
		}
		if err := write(key, status, i); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("recorded %s %s\n", status, key) // unbuffered: one write each
	}
}

// A journal killed at a random point has every line whose Record returned.
func TestJournalSIGKILL(t *testing.T) {
	journalSIGKILL(t, 0)
}

// A journal killed at a random point lacks at most a window's worth of the
// lines whose Append returned.
func TestJournalSIGKILLAppend(t *testing.T) {
	journalSIGKILL(t, 4)
}

// journalSIGKILL kills children that record keys (with Append and the given
// window, or with Record when it is 0) and checks what a reopen finds.
func journalSIGKILL(t *testing.T, window int) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "j")
	sent := map[string]bool{} // every key the children reported as recorded
	for round := range 3 {
		prefix := fmt.Sprintf("round%d", round)
		cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MAILOUT_BATCH_TEST_JOURNAL="+path, "MAILOUT_BATCH_TEST_PREFIX="+prefix,
			fmt.Sprintf("MAILOUT_BATCH_TEST_WINDOW=%d", window))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 20 + rand.IntN(200)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			status, key, ok := strings.Cut(strings.TrimPrefix(line, "recorded "), " ")
			if !ok || !strings.HasPrefix(line, "recorded ") {
				t.Fatalf("child said %q", line)
			}
			sent[key] = status == StatusSent
			if n++; n == killAfter {
				cmd.Process.Kill() // SIGKILL; the lines already in the pipe are still read
			}
		}
		cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child stopped after %d records, before it was killed", round, n)
		}

		j, err := OpenJournal(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		missing := 0
		for key, want := range sent {
			if j.Sent(key) != want {
				missing++
				sent[key] = false // lost with the kill: the next round's reopen agrees
			}
		}
		if missing > window {
			t.Errorf("round %d: %d of %d reported keys have the wrong state after reopening, want at most %d", round, missing, len(sent), window)
		}
		j.Close()
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		var l journalLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
	}
	return n
}

func TestDefaultJournalPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, f := range []string{"customers.csv", "a.tpl", "b.tpl"} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(dir, "state")
	p := DefaultJournalPath(state, "customers.csv", "a.tpl")
	if got, want := filepath.Dir(p), filepath.Join(state, "mailout", "batch"); got != want {
		t.Errorf("folder = %q, want %q", got, want)
	}
	base := filepath.Base(p)
	if !strings.HasPrefix(base, "customers-") || !strings.HasSuffix(base, ".journal") || len(base) != len("customers-")+12+len(".journal") {
		t.Errorf("name = %q, want customers-HASH12.journal", base)
	}
	if q := DefaultJournalPath(state, filepath.Join(dir, "customers.csv"), "./a.tpl"); q != p {
		t.Errorf("absolute and relative paths give %q and %q", p, q)
	}
	if q := DefaultJournalPath(state, "customers.csv", "b.tpl"); q == p {
		t.Error("another template gives the same journal")
	}
	if runtime.GOOS != "windows" {
		if err := os.Symlink("customers.csv", "link.csv"); err != nil {
			t.Fatal(err)
		}
		if q := DefaultJournalPath(state, "link.csv", "a.tpl"); filepath.Base(q) != filepath.Base(strings.Replace(p, "customers-", "link-", 1)) {
			t.Errorf("a symlink to the CSV gives %q, want the same hash as %q", q, p)
		}
	}
	for in, wantPrefix := range map[string]string{
		"my list (2).csv": "my_list__2_-",
		"-":               "csv-",
		".csv":            "csv-",
		"Ünïcode.csv":     "_n_code-",
	} {
		if got := filepath.Base(DefaultJournalPath(state, in, "a.tpl")); !strings.HasPrefix(got, wantPrefix) {
			t.Errorf("DefaultJournalPath(%q) = %q, want prefix %q", in, got, wantPrefix)
		}
	}
}

func TestHashSet(t *testing.T) {
	var s hashSet
	ref := map[keyHash]bool{}
	var initial []keyHash
	for i := range 3000 {
		h := hashKey(fmt.Sprint("initial", i%2500)) // with repeats
		initial = append(initial, h)
		ref[h] = true
	}
	s.load(initial)
	for i := range 20000 {
		h := hashKey(fmt.Sprint("added", i%15000))
		s.add(h)
		ref[h] = true
		if i%4999 == 0 {
			for h := range ref {
				if !s.has(h) {
					t.Fatalf("after %d adds: lost a key", i)
				}
			}
		}
	}
	if s.len() != len(ref) {
		t.Errorf("len = %d, want %d", s.len(), len(ref))
	}
	for i := range 1000 {
		if s.has(hashKey(fmt.Sprint("absent", i))) {
			t.Fatal("has an absent key")
		}
	}
}

func TestHashSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a million keys")
	}
	const n = 1_000_000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	rnd := rand.New(rand.NewPCG(1, 2)) // hashes are uniform: random ones will do, and faster
	var s hashSet
	loaded := make([]keyHash, 0)
	for range n / 2 {
		loaded = append(loaded, keyHash{rnd.Uint64(), rnd.Uint64()})
	}
	s.load(loaded)
	for range n / 2 {
		s.add(keyHash{rnd.Uint64(), rnd.Uint64()})
	}
	grown := heap() - before
	runtime.KeepAlive(&s)
	t.Logf("%d keys: %.1f MB, %.1f bytes a key", s.len(), float64(grown)/1e6, float64(grown)/n)
	if s.len() != n || grown > 24<<20 {
		t.Errorf("%d keys take %d bytes, want at most 24 MiB", s.len(), grown)
	}
}

// FuzzJournalLine checks that the fast path of parseJournalLine reads what
// encoding/json reads, and that every key Record can write reads back.
func FuzzJournalLine(f *testing.F) {
	f.Add([]byte(`{"time":"2025-01-02T03:04:05Z","status":"sent","row":7,"key":"a@b"}`), "Ann <ann@example.com>")
	f.Add([]byte(`{"time":"x","status":"failed","row":0,"key":"\u00e9"}`), "\u2028\"\\\t")
	f.Add([]byte(`{"time":"x\","status":"sent","row":1,"key":"k"}`), "é")
	f.Fuzz(func(t *testing.T, line []byte, key string) {
		if st, k, ok := parseJournalLineFast(line); ok {
			var l journalLine
			if err := json.Unmarshal(line, &l); err != nil || l.Status != st || l.Key != string(k) {
				t.Fatalf("fast path read %q as %q %q; encoding/json: %q %q %v", line, st, k, l.Status, l.Key, err)
			}
		}
		if key == "" || !utf8.ValidString(key) {
			return
		}
		l := journalLine{Time: "2025-01-02T03:04:05Z", Status: StatusSent, Row: 3, Key: key}
		b := appendJournalLine(nil, l)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(l)
		if !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("line %q, encoding/json writes %q", b, want.Bytes())
		}
		st, k, err := parseJournalLine(bytes.TrimSuffix(b, []byte("\n")))
		if err != nil || st != StatusSent || string(k) != key {
			t.Fatalf("line %q read back as %q %q %v, want key %q", b, st, k, err, key)
		}
	})
}

// Lines appended without waiting are committed by Sync and by Close.
func TestJournalAppendCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openJournal(t, path)
	j.SetWindow(3)
	for i := range 100 {
		if err := j.Append(fmt.Sprintf("k%d", i), StatusSent, i+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := countLines(t, path); n != 100 {
		t.Errorf("after Sync the journal has %d lines, want 100", n)
	}
	for i := range 50 {
		if err := j.Append(fmt.Sprintf("m%d", i), StatusFailed, i+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countLines(t, path); n != 150 {
		t.Errorf("after Close the journal has %d lines, want 150", n)
	}
	if err := j.Append("late", StatusSent, 1); err == nil {
		t.Error("Append after Close succeeded")
	}
}
