//go:build unix && !aix && (!solaris || illumos)

package spool

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests re-execute the test binary as a child process to flush or to write the spool
// from another process. The child's role is in SPOOL_TEST_CHILD.
const (
	envChild   = "SPOOL_TEST_CHILD"
	envDir     = "SPOOL_TEST_DIR"
	envCounter = "SPOOL_TEST_COUNTER"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "":
		os.Exit(m.Run())
	case "flush":
		childFlush()
	case "put":
		childPut()
	default:
		fmt.Fprintln(os.Stderr, "unknown child role")
		os.Exit(2)
	}
}

func childFail(err error) {
	fmt.Fprintln(os.Stderr, "child:", err)
	os.Exit(1)
}

// childFlush waits for its stdin to close, flushes the spool, counting every delivery as
// a line "id rcpt" appended to the counter file, and prints its report as JSON.
func childFlush() {
	s, err := Open(os.Getenv(envDir), os.Getuid(), nil)
	if err != nil {
		childFail(err)
	}
	counter, err := os.OpenFile(os.Getenv(envCounter), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		childFail(err)
	}
	io.Copy(io.Discard, os.Stdin) // the start signal: both children begin together
	r := s.Flush(context.Background(), FlushOptions{}, func(_ context.Context, e Entry, _ io.ReaderAt, _ int64) Outcome {
		for _, rcpt := range e.Recipients {
			if _, err := fmt.Fprintf(counter, "%s %s\n", e.ID, rcpt); err != nil { // one append each: atomic
				childFail(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
		return Outcome{Delivered: e.Recipients}
	})
	var errs []string
	for _, err := range r.Errors {
		errs = append(errs, err.Error())
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"delivered": r.Delivered, "locked": r.Locked, "errors": errs})
	os.Exit(0)
}

// slowMessage writes an endless message slowly, saying on stdout when it has begun.
type slowMessage struct{}

func (slowMessage) WriteTo(w io.Writer) (int64, error) {
	chunk := []byte(strings.Repeat("0123456789abcdef", 4096))
	var n int64
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		k, err := w.Write(chunk)
		n += int64(k)
		if err != nil {
			return n, err
		}
		if i == 32 { // 2 MB written, more than the writer buffers
			fmt.Println("writing")
		}
		time.Sleep(time.Millisecond)
	}
	return n, nil
}

func childPut() {
	s, err := Open(os.Getenv(envDir), os.Getuid(), nil)
	if err != nil {
		childFail(err)
	}
	_, err = s.Put(Entry{Sender: "me@example.com", Recipients: []string{"a@example.org"}}, slowMessage{})
	childFail(fmt.Errorf("Put returned (%v); it should have been killed", err))
}

func child(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, envChild+"="+role)...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestFlushTwoProcesses(t *testing.T) {
	c := newClock(t0)
	s := newSpool(t, c)
	const n = 40
	for i := range n {
		put(t, s, Entry{Recipients: []string{"a@x.org", fmt.Sprintf("r%d@x.org", i)}}, fmt.Sprint(i))
	}
	counter := filepath.Join(t.TempDir(), "deliveries")

	var cmds []*exec.Cmd
	var starts []io.WriteCloser
	var outs []*strings.Builder
	for range 2 {
		cmd := child(t, "flush", envDir+"="+filepath.Dir(s.Dir()), envCounter+"="+counter)
		start, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out := new(strings.Builder)
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, starts, outs = append(cmds, cmd), append(starts, start), append(outs, out)
	}
	for _, start := range starts {
		start.Close()
	}
	total := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child flush: %v", err)
		}
		var r struct {
			Delivered, Locked int
			Errors            []string
		}
		if err := json.Unmarshal([]byte(outs[i].String()), &r); err != nil {
			t.Fatalf("child output %q: %v", outs[i], err)
		}
		if len(r.Errors) > 0 {
			t.Errorf("child %d: errors %v", i, r.Errors)
		}
		t.Logf("child %d: delivered %d, skipped %d as locked", i, r.Delivered, r.Locked)
		total += r.Delivered
	}

	b, err := os.ReadFile(counter)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for line := range strings.Lines(string(b)) {
		count[line]++
	}
	for line, k := range count {
		if k != 1 {
			t.Errorf("delivered %d times: %s", k, line)
		}
	}
	if len(count) != 2*n || total != 2*n {
		t.Errorf("%d distinct deliveries, %d reported; want %d", len(count), total, 2*n)
	}
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List = %v, want empty", got)
	}
}

func TestPutKilledMidWrite(t *testing.T) {
	c := newClock(time.Now())
	s := newSpool(t, c)
	kept := put(t, s, Entry{Recipients: []string{"b@example.org"}}, "complete")

	cmd := child(t, "put", envDir+"="+filepath.Dir(s.Dir()))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "writing\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v), want writing", line, err)
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()

	// The killed write left a partial temporary file behind.
	partial, _ := filepath.Glob(filepath.Join(s.Dir(), tmpPrefix+"*"))
	if len(partial) != 1 {
		t.Fatalf("temporary files = %v, want the partial write", partial)
	}
	if fi, err := os.Stat(partial[0]); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("partial write: %v, %v; want over 1 MB written", fi, err)
	}

	entries, errs := s.List()
	if len(entries) != 1 || entries[0].ID != kept || len(errs) != 0 {
		t.Fatalf("List = %v, %v; want only %s", ids(entries), errs, kept)
	}
	rec := newRecorder()
	r := s.Flush(t.Context(), FlushOptions{}, rec.deliver)
	if r.Delivered != 1 || len(r.Errors) != 0 || len(rec.bodies) != 1 || rec.bodies[kept] != "complete" {
		t.Fatalf("Flush = %+v, delivered %v; want only %s", r, rec.bodies, kept)
	}
	// The spool works on, and removes the partial file once it is an hour old.
	id := put(t, s, Entry{Recipients: []string{"c@example.org"}}, "after")
	c.Add(2 * time.Hour)
	if entries := list(t, s); len(entries) != 1 || entries[0].ID != id {
		t.Errorf("List = %v, want [%s]", ids(entries), id)
	}
	if _, err := os.Lstat(partial[0]); err == nil {
		t.Errorf("partial write %s not cleaned up", partial[0])
	}
}
