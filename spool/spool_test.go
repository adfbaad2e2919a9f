//go:build unix && !aix && (!solaris || illumos)

package spool

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)

// clock is a settable clock for the spool.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openSpool(t *testing.T, dir string, c *clock) *Spool {
	t.Helper()
	s, err := Open(dir, os.Getuid(), c.Now)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	return s
}

func newSpool(t *testing.T, c *clock) *Spool {
	t.Helper()
	return openSpool(t, filepath.Join(t.TempDir(), "queue"), c)
}

func put(t *testing.T, s *Spool, e Entry, body string) string {
	t.Helper()
	id, err := s.Put(e, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Put = %v", err)
	}
	return id
}

func list(t *testing.T, s *Spool) []Entry {
	t.Helper()
	entries, errs := s.List()
	if len(errs) > 0 {
		t.Fatalf("List errors = %v", errs)
	}
	return entries
}

func ids(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func readBody(t *testing.T, s *Spool, id string) (Entry, string) {
	t.Helper()
	e, rc, err := s.Open(id)
	if err != nil {
		t.Fatalf("Open(%s) = %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return e, string(b)
}

func TestPutListOpenDelete(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)

	e1 := Entry{Sender: "me@example.com", Recipients: []string{"a@example.org", "b@example.org"},
		Route: Route{Transport: "mx", Profile: "work"}, Attempts: 1, LastError: "451 4.3.0 try later"}
	id1 := put(t, s, e1, "Subject: one\r\n\r\nbody one\r\n")
	c.Add(time.Second)
	id2 := put(t, s, Entry{Sender: "", Recipients: []string{"c@example.org"}}, "Subject: two\r\n\r\n")

	got := list(t, s)
	if want := []string{id1, id2}; !slices.Equal(ids(got), want) {
		t.Fatalf("List ids = %v, want %v", ids(got), want)
	}
	g := got[0]
	if g.Sender != e1.Sender || !slices.Equal(g.Recipients, e1.Recipients) || g.Route != e1.Route ||
		g.Attempts != 1 || g.LastError != e1.LastError {
		t.Errorf("List()[0] = %+v, want the envelope of %+v", g, e1)
	}
	if !g.Created.Equal(t0) || !g.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Errorf("Created, NextAttempt = %v, %v, want %v, %v", g.Created, g.NextAttempt, t0, t0.Add(time.Minute))
	}
	if g.Size != int64(len("Subject: one\r\n\r\nbody one\r\n")) {
		t.Errorf("Size = %d", g.Size)
	}
	if g2 := got[1]; g2.Sender != "" || g2.Attempts != 0 || !g2.NextAttempt.Equal(g2.Created) {
		t.Errorf("List()[1] = %+v, want null sender, due at once", g2)
	}

	e, body := readBody(t, s, id1)
	if body != "Subject: one\r\n\r\nbody one\r\n" || e.ID != id1 || !slices.Equal(e.Recipients, e1.Recipients) {
		t.Errorf("Open(%s) = %+v, %q", id1, e, body)
	}

	if err := s.Delete(id1); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if got := ids(list(t, s)); !slices.Equal(got, []string{id2}) {
		t.Errorf("after Delete, List ids = %v, want [%s]", got, id2)
	}
	for _, id := range []string{id1, "20250102T150405-000000000000", "../../etc/passwd", "x"} {
		if err := s.Delete(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
		if _, _, err := s.Open(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.Put(Entry{Sender: "me@example.com"}, strings.NewReader("x")); err == nil {
		t.Error("Put without recipients succeeded")
	}
}

func TestIDsSortableAndUnique(t *testing.T) {
	seen := map[string]bool{}
	var list []string
	for i := range 2000 {
		id := newID(t0.Add(time.Duration(i/10) * time.Second))
		if !validID(id) {
			t.Fatalf("validID(%q) = false", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		list = append(list, id)
	}
	for i := 10; i < len(list); i++ {
		if list[i-10] >= list[i] {
			t.Fatalf("ids out of order: %s >= %s", list[i-10], list[i])
		}
	}
	for _, bad := range []string{"", "x", "20250102T150405", "20250102T150405-0123456789AB", "20250102T150405-0123456789a",
		"2025010xT150405-0123456789ab", "../20250102T150405-0123456789ab", "20250102T150405-0123456789ag"} {
		if validID(bad) {
			t.Errorf("validID(%q) = true", bad)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{-1, 0}, {0, 0}, {1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute},
		{8, 128 * time.Minute}, {9, 4 * time.Hour}, {10, 4 * time.Hour}, {64, 4 * time.Hour}, {1 << 30, 4 * time.Hour},
	}
	for _, tt := range tests {
		if got := Backoff(tt.attempts); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & (fs.ModePerm | fs.ModeSticky)
}

func TestPermissionsWhateverTheUmask(t *testing.T) {
	for _, umask := range []int{0o000, 0o277} {
		t.Run(strconv.FormatInt(int64(umask), 8), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "queue")
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			c := newClock(t0)
			s := openSpool(t, root, c)
			if _, err := os.Lstat(s.Dir()); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open created the user folder (%v); want it created by the first Put", err)
			}
			id := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"a@example.org"}}, "x")
			unlock, err := s.TryLockFlush()
			if err != nil {
				t.Fatal(err)
			}
			unlock()
			c.Add(200 * time.Hour)
			s.Flush(t.Context(), FlushOptions{MaxAge: time.Hour, KeepExpired: true}, nil)

			want := map[string]fs.FileMode{
				root:                               0o755,
				s.Dir():                            0o700,
				filepath.Join(s.Dir(), expiredDir): 0o700,
				filepath.Join(s.Dir(), expiredDir, id+".json"): 0o600,
				filepath.Join(s.Dir(), flushLock):              0o600,
			}
			for path, m := range want {
				if got := mode(t, path); got != m {
					t.Errorf("mode of %s = %04o, want %04o", path, got, m)
				}
			}
			id = put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"a@example.org"}}, "x")
			for _, ext := range []string{msgExt, envExt} {
				if got := mode(t, s.path(id, ext)); got != 0o600 {
					t.Errorf("mode of %s = %04o, want 0600", s.path(id, ext), got)
				}
			}
		})
	}
}

func TestOpenRefusesUnsafeFolders(t *testing.T) {
	uid := os.Getuid()
	t.Run("user folder open to the group", func(t *testing.T) {
		root := t.TempDir()
		if err := os.Mkdir(filepath.Join(root, strconv.Itoa(uid)), 0o750); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(root, strconv.Itoa(uid)), 0o750)
		if _, err := Open(root, uid, nil); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Open = %v, want ErrUnsafe", err)
		}
	})
	t.Run("user folder is a symlink", func(t *testing.T) {
		root := t.TempDir()
		other := t.TempDir()
		os.Chmod(other, 0o700)
		if err := os.Symlink(other, filepath.Join(root, strconv.Itoa(uid))); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(root, uid, nil); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Open = %v, want ErrUnsafe", err)
		}
	})
	t.Run("user folder is a file", func(t *testing.T) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, strconv.Itoa(uid)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(root, uid, nil); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Open = %v, want ErrUnsafe", err)
		}
	})
	t.Run("user folder of another uid", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, strconv.Itoa(uid))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// As root, give the folder away; otherwise ask for another uid's spool in a folder we own.
		asUID := uid + 1
		if uid == 0 {
			if err := os.Chown(dir, 12345, -1); err != nil {
				t.Fatal(err)
			}
			asUID = uid
		} else if err := os.Rename(dir, filepath.Join(root, strconv.Itoa(asUID))); err != nil {
			t.Fatal(err)
		}
		_, err := Open(root, asUID, nil)
		if !errors.Is(err, ErrUnsafe) {
			t.Errorf("Open = %v, want ErrUnsafe", err)
		}
	})
	t.Run("shared queue folder without sticky bit", func(t *testing.T) {
		root := t.TempDir()
		os.Chmod(root, 0o777)
		if _, err := Open(root, uid, nil); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Open = %v, want ErrUnsafe", err)
		}
		os.Chmod(root, 0o777|fs.ModeSticky)
		s, err := Open(root, uid, nil)
		if err != nil {
			t.Fatalf("Open with mode 1777 = %v", err)
		}
		if _, err := s.Put(Entry{Recipients: []string{"a@example.org"}}, strings.NewReader("x")); err != nil {
			t.Fatalf("Put = %v", err)
		}
	})
	t.Run("folder made unsafe after Open", func(t *testing.T) {
		s := newSpool(t, newClock(t0))
		put(t, s, Entry{Recipients: []string{"a@example.org"}}, "x")
		os.Chmod(s.Dir(), 0o755)
		if _, errs := s.List(); len(errs) != 1 || !errors.Is(errs[0], ErrUnsafe) {
			t.Errorf("List errors = %v, want ErrUnsafe", errs)
		}
		if _, err := s.Put(Entry{Recipients: []string{"a@example.org"}}, strings.NewReader("x")); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Put = %v, want ErrUnsafe", err)
		}
	})
}

func TestGarbageReportedNeverDeleted(t *testing.T) {
	c := newClock(time.Now().Add(48 * time.Hour)) // past the clean-up age of every file
	s := newSpool(t, c)
	good := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"a@example.org"}}, "good")

	badJSON := newID(t0)
	noMsg := newID(t0.Add(time.Second))
	noRcpt := newID(t0.Add(2 * time.Second))
	files := map[string]string{
		badJSON + envExt:               "{not json",
		badJSON + msgExt:               "message",
		noMsg + envExt:                 `{"version":1,"sender":"x@example.com","recipients":["a@example.org"],"created":"2025-01-02T15:04:05Z"}`,
		noRcpt + envExt:                `{"version":1,"sender":"x@example.com","recipients":[],"created":"2025-01-02T15:04:05Z"}`,
		noRcpt + msgExt:                "message",
		"notes.txt":                    "mine",
		filepath.Join(expiredDir, "x"): "?",
	}
	os.Mkdir(filepath.Join(s.Dir(), expiredDir), 0o700)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wantBad := []string{badJSON + envExt, noMsg + envExt, noRcpt + envExt, "notes.txt", filepath.Join(expiredDir, "x")}

	check := func(what string, errs []error) {
		t.Helper()
		var got []string
		for _, err := range errs {
			var bad *BadEntryError
			if !errors.As(err, &bad) {
				t.Errorf("%s: unexpected error %v", what, err)
				continue
			}
			if !strings.Contains(err.Error(), bad.File) {
				t.Errorf("%s: error %q does not name the file", what, err)
			}
			rel, _ := filepath.Rel(s.Dir(), bad.File)
			got = append(got, rel)
		}
		slices.Sort(got)
		slices.Sort(wantBad)
		if !slices.Equal(got, wantBad) {
			t.Errorf("%s reported %v, want %v", what, got, wantBad)
		}
	}
	entries, errs := s.List()
	if !slices.Equal(ids(entries), []string{good}) {
		t.Errorf("List ids = %v, want [%s]", ids(entries), good)
	}
	check("List", errs)

	var delivered []string
	r := s.Flush(t.Context(), FlushOptions{}, func(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
		delivered = append(delivered, e.ID)
		return Outcome{Delivered: e.Recipients}
	})
	check("Flush", r.Errors)
	if !slices.Equal(delivered, []string{good}) || r.Delivered != 1 {
		t.Errorf("Flush delivered %v (report %+v), want only %s", delivered, r, good)
	}
	for name, content := range files {
		if b, err := os.ReadFile(filepath.Join(s.Dir(), name)); err != nil || string(b) != content {
			t.Errorf("%s after List and Flush: %q, %v; want it untouched", name, b, err)
		}
	}
	if due, err := s.HasDue(); due || err != nil {
		t.Errorf("HasDue = %v, %v; want false, nil (garbage is no error here)", due, err)
	}

	// The user can remove garbage by id.
	for _, id := range []string{badJSON, noMsg} {
		if err := s.Delete(id); err != nil {
			t.Errorf("Delete(%s) = %v", id, err)
		}
	}
	for _, name := range []string{badJSON + envExt, badJSON + msgExt, noMsg + envExt} {
		if _, err := os.Lstat(filepath.Join(s.Dir(), name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after Delete", name)
		}
	}
}

func TestIncompleteWritesIgnoredThenCleanedUp(t *testing.T) {
	c := newClock(time.Now())
	s := newSpool(t, c)
	put(t, s, Entry{Recipients: []string{"a@example.org"}}, "x") // creates the folder
	if r := s.Flush(t.Context(), FlushOptions{}, deliverAll); r.Delivered != 1 {
		t.Fatalf("Flush = %+v", r)
	}

	// What a Put killed at each step leaves: a temporary file, a message file without
	// envelope, a temporary envelope.
	orphan := newID(t0)
	leftovers := []string{tmpPrefix + "123456", orphan + msgExt, tmpPrefix + "env"}
	for _, name := range leftovers {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), []byte("Subject: half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A Put in progress holds the lock on its file, whatever its age.
	busy, err := s.createTemp()
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	old := time.Now().Add(-3 * time.Hour)
	os.Chtimes(busy.Name(), old, old)

	if entries, errs := s.List(); len(entries) != 0 || len(errs) != 0 {
		t.Fatalf("List = %v, %v; want nothing", entries, errs)
	}
	r := s.Flush(t.Context(), FlushOptions{}, deliverAll)
	if r.Delivered != 0 || len(r.Errors) != 0 || len(r.Results) != 0 {
		t.Fatalf("Flush = %+v; want nothing done", r)
	}
	for _, name := range leftovers {
		if _, err := os.Lstat(filepath.Join(s.Dir(), name)); err != nil {
			t.Errorf("%s removed while younger than an hour: %v", name, err)
		}
	}

	c.Add(2 * time.Hour)
	if entries, errs := s.List(); len(entries) != 0 || len(errs) != 0 {
		t.Fatalf("List = %v, %v; want nothing", entries, errs)
	}
	for _, name := range leftovers {
		if _, err := os.Lstat(filepath.Join(s.Dir(), name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s not removed after an hour (%v)", name, err)
		}
	}
	if _, err := os.Lstat(busy.Name()); err != nil {
		t.Errorf("locked temporary file removed: %v", err)
	}
}

// Entries written before routes recorded the route as a profile and a
// transport string; they still read, and flush the way they were meant to.
func TestLegacyRoute(t *testing.T) {
	for _, tt := range []struct {
		fields string
		want   Route
	}{
		{`"transport":"server=127.0.0.1:2525 none"`, Route{Transport: "smtp", Server: "127.0.0.1:2525", TLS: "none"}},
		{`"transport":"server=[::1] starttls"`, Route{Transport: "smtp", Server: "[::1]", TLS: "starttls"}},
		{`"profile":"work","transport":"smtp"`, Route{Transport: "smtp", Profile: "work"}},
		{`"profile":"direct","transport":"mx"`, Route{Transport: "mx", Profile: "direct"}},
		{`"transport":"mx"`, Route{Transport: "mx"}},
	} {
		s := newSpool(t, newClock(t0))
		id := put(t, s, Entry{Sender: "me@example.com", Recipients: []string{"a@example.org"}}, "Subject: old\r\n\r\n")
		env := `{"version":1,"sender":"me@example.com","recipients":["a@example.org"],` + tt.fields +
			`,"created":"2025-01-02T15:04:05Z","next_attempt":"2025-01-02T15:04:05Z","attempts":1,"size":17}`
		if err := os.WriteFile(filepath.Join(s.Dir(), id+".env"), []byte(env), 0o600); err != nil {
			t.Fatal(err)
		}
		got := list(t, s)
		if len(got) != 1 || got[0].Route != tt.want {
			t.Errorf("envelope with %s: entries %+v, want route %+v", tt.fields, got, tt.want)
		}
	}
}
