//go:build unix && !aix && (!solaris || illumos)

package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// files returns the names in the user's folder.
func files(t *testing.T, s *Spool) []string {
	t.Helper()
	des, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// checkFolder fails unless the user's folder holds exactly the entries ids, each with its
// message and envelope, and nothing else (no temporary file).
func checkFolder(t *testing.T, s *Spool, ids []string) {
	t.Helper()
	var want []string
	for _, id := range ids {
		want = append(want, id+envExt, id+msgExt)
	}
	slices.Sort(want)
	if got := files(t, s); !slices.Equal(got, want) {
		t.Errorf("folder holds %q, want %q", got, want)
	}
}

func queued(f *folder) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

// putGroup commits the puts as one group: a first Put is held at its first folder sync
// until all of them have queued behind it (or failed before), so the next leader takes
// them together. hook,
// when not nil, is the folder's hook while they run. It returns the puts' errors and the
// number of folder syncs made, the first Put's included.
func putGroup(t *testing.T, s *Spool, hook func(op, path string) error, puts ...func() error) ([]error, int) {
	t.Helper()
	f := s.f
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	syncs := 0
	f.hook = func(op, path string) error {
		if op == "syncdir" {
			mu.Lock()
			syncs++
			mu.Unlock()
			once.Do(func() { close(held); <-release })
		}
		if hook != nil {
			return hook(op, path)
		}
		return nil
	}
	defer func() { f.hook = nil }()

	var wg sync.WaitGroup
	var firstErr error
	wg.Go(func() {
		_, firstErr = s.Put(Entry{Recipients: []string{"first@example.org"}}, strings.NewReader("first"))
	})
	<-held
	errs := make([]error, len(puts))
	var returned atomic.Int32 // before they queued: a Put that failed early
	for i, put := range puts {
		wg.Go(func() { errs[i] = put(); returned.Add(1) })
	}
	for deadline := time.Now().Add(10 * time.Second); queued(f)+int(returned.Load()) < len(puts); {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Puts queued", queued(f), len(puts))
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if firstErr != nil && hook == nil {
		t.Fatalf("first Put = %v", firstErr)
	}
	return errs, syncs
}

func TestConcurrentPutsAllDurableAndListed(t *testing.T) {
	root := filepath.Join(t.TempDir(), "queue")
	shared := openSpool(t, root, newClock(t0))
	const workers, each = 8, 25
	type put struct {
		id, body string
		e        Entry
	}
	var mu sync.Mutex
	var puts []put
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				s := shared
				if i%2 == 0 { // Spools of their own: each commits alone
					s = openSpool(t, root, newClock(t0))
				}
				body := fmt.Sprintf("Subject: %d-%d\r\n\r\n%s\r\n", w, i, strings.Repeat("x", w*i))
				e := Entry{Sender: fmt.Sprintf("w%d@example.com", w), Recipients: []string{fmt.Sprintf("r%d@example.org", i)}, Attempts: 1, LastError: "451 later"}
				id, err := s.Put(e, strings.NewReader(body))
				if err != nil {
					t.Errorf("Put = %v", err)
					return
				}
				mu.Lock()
				puts = append(puts, put{id, body, e})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(puts) != workers*each {
		t.Fatalf("%d Puts succeeded, want %d", len(puts), workers*each)
	}
	var want []string
	for _, p := range puts {
		want = append(want, p.id)
	}
	checkFolder(t, shared, want)
	entries := list(t, shared)
	if len(entries) != len(puts) {
		t.Fatalf("List has %d entries, want %d", len(entries), len(puts))
	}
	byID := map[string]Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	for _, p := range puts {
		e, ok := byID[p.id]
		if !ok {
			t.Errorf("entry %s not listed", p.id)
			continue
		}
		if e.Sender != p.e.Sender || !slices.Equal(e.Recipients, p.e.Recipients) || e.Attempts != 1 || e.LastError != "451 later" ||
			e.Size != int64(len(p.body)) {
			t.Errorf("entry %s = %+v, want the envelope of %+v, size %d", p.id, e, p.e, len(p.body))
		}
		if _, body := readBody(t, shared, p.id); body != p.body {
			t.Errorf("message of %s = %q, want %q", p.id, body, p.body)
		}
	}
}

func TestGroupCommittedTogether(t *testing.T) {
	s := newSpool(t, newClock(t0))
	var ids [6]string
	var puts []func() error
	for i := range ids {
		puts = append(puts, func() (err error) {
			ids[i], err = s.Put(Entry{Recipients: []string{fmt.Sprintf("r%d@example.org", i)}}, strings.NewReader(fmt.Sprint("body ", i)))
			return err
		})
	}
	errs, syncs := putGroup(t, s, nil, puts...)
	for _, err := range errs {
		if err != nil {
			t.Errorf("Put = %v", err)
		}
	}
	// Two folder syncs for the first Put's group, two for the six queued behind it.
	if syncs != 4 {
		t.Errorf("%d folder syncs, want 4: the queued Puts were not committed as one group", syncs)
	}
	entries := list(t, s)
	if len(entries) != 7 {
		t.Fatalf("List = %d entries, want 7", len(entries))
	}
	for i, id := range ids {
		e, body := readBody(t, s, id)
		if body != fmt.Sprint("body ", i) || e.Recipients[0] != fmt.Sprintf("r%d@example.org", i) {
			t.Errorf("entry %d = %+v, %q", i, e, body)
		}
	}
}

// errWriterTo writes part of a message, then fails.
type errWriterTo struct{ err error }

func (w errWriterTo) WriteTo(dst io.Writer) (int64, error) {
	n, _ := io.WriteString(dst, "Subject: half a message\r\n")
	return int64(n), w.err
}

func TestErrorFailsOnlyItsPut(t *testing.T) {
	errInjected := errors.New("injected failure")
	bad := "bad@example.org"
	// The hooks tell the bad entry's temporary files by their content.
	for _, tt := range []struct {
		name string
		msg  io.WriterTo
		hook func(op, path string) error
	}{
		{name: "message WriteTo", msg: errWriterTo{errInjected}},
		{name: "message fsync", hook: func(op, path string) error {
			if op == "fsync" && readFile(path) == "bad message" {
				return errInjected
			}
			return nil
		}},
		{name: "envelope fsync", hook: func(op, path string) error {
			if op == "fsync" && strings.Contains(readFile(path), bad) {
				return errInjected
			}
			return nil
		}},
		{name: "message rename", hook: func(op, path string) error {
			if op == "rename" && readFile(path) == "bad message" {
				return errInjected
			}
			return nil
		}},
		{name: "envelope rename", hook: func(op, path string) error {
			if op == "rename" && strings.Contains(readFile(path), bad) {
				return errInjected
			}
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpool(t, newClock(t0))
			var ids [4]string
			var puts []func() error
			for i := range ids {
				puts = append(puts, func() (err error) {
					var msg io.WriterTo = strings.NewReader(fmt.Sprint("good message ", i))
					rcpt := fmt.Sprintf("r%d@example.org", i)
					if i == 2 {
						msg, rcpt = strings.NewReader("bad message"), bad
						if tt.msg != nil {
							msg = tt.msg
						}
					}
					ids[i], err = s.Put(Entry{Recipients: []string{rcpt}}, msg)
					return err
				})
			}
			errs, _ := putGroup(t, s, tt.hook, puts...)
			var good []string
			for i, err := range errs {
				switch {
				case i == 2 && !errors.Is(err, errInjected):
					t.Errorf("bad Put = %v, want the injected error", err)
				case i == 2 && ids[i] != "":
					t.Errorf("bad Put returned id %q", ids[i])
				case i != 2 && err != nil:
					t.Errorf("good Put %d = %v", i, err)
				case i != 2:
					good = append(good, ids[i])
				}
			}
			entries := list(t, s)
			for _, e := range entries {
				if e.Recipients[0] == "first@example.org" {
					good = append(good, e.ID)
				}
			}
			if len(entries) != 4 {
				t.Errorf("List = %d entries, want the first and 3 good ones", len(entries))
			}
			checkFolder(t, s, good)
			for i, id := range ids {
				if i == 2 {
					continue
				}
				if _, body := readBody(t, s, id); body != fmt.Sprint("good message ", i) {
					t.Errorf("entry %d: body %q", i, body)
				}
			}
		})
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func TestFolderSyncErrorFailsTheGroup(t *testing.T) {
	errInjected := errors.New("injected folder sync failure")
	for _, which := range []int{1, 2} { // after the messages' renames, after the envelopes'
		t.Run(fmt.Sprint("sync ", which), func(t *testing.T) {
			s := newSpool(t, newClock(t0))
			n := 0 // folder syncs of the group under test (the first Put's two come first)
			hook := func(op, path string) error {
				if op != "syncdir" {
					return nil
				}
				if n++; n == 2+which {
					return errInjected
				}
				return nil
			}
			var puts []func() error
			for i := range 3 {
				puts = append(puts, func() error {
					_, err := s.Put(Entry{Recipients: []string{fmt.Sprintf("r%d@example.org", i)}}, strings.NewReader("m"))
					return err
				})
			}
			errs, _ := putGroup(t, s, hook, puts...)
			for i, err := range errs {
				if !errors.Is(err, errInjected) {
					t.Errorf("Put %d = %v, want the folder sync error", i, err)
				}
			}
			entries := list(t, s)
			if len(entries) != 1 || entries[0].Recipients[0] != "first@example.org" {
				t.Fatalf("List = %+v, want only the first entry", entries)
			}
			checkFolder(t, s, ids(entries))

			// The next Put, alone, goes through.
			id := put(t, s, Entry{Recipients: []string{"later@example.org"}}, "later")
			checkFolder(t, s, []string{entries[0].ID, id})
		})
	}
}

func TestPutRemakesARemovedFolder(t *testing.T) {
	s := newSpool(t, newClock(t0))
	put(t, s, Entry{Recipients: []string{"a@example.org"}}, "x")
	if err := os.RemoveAll(s.Dir()); err != nil {
		t.Fatal(err)
	}
	id := put(t, s, Entry{Recipients: []string{"a@example.org"}}, "y")
	checkFolder(t, s, []string{id})
	if got := mode(t, s.Dir()); got != 0o700 {
		t.Errorf("mode of the remade folder = %04o, want 0700", got)
	}
}
