package cmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mailout/batch"
	"mailout/internal/smtptest"
	"mailout/message"
)

// batchFiles writes a template and a CSV of n rows, row i mailed to
// u<i>@example.com (or to rcpt(i) when given) with the body token tok-<i>.
func batchFiles(t *testing.T, n int, rcpt func(i int) string) (dir, csvPath, tplPath string) {
	t.Helper()
	dir = t.TempDir()
	tplPath = filepath.Join(dir, "msg.tpl")
	if err := os.WriteFile(tplPath, []byte("To: {{ .email }}\nSubject: hello {{ .name }}\n\nbody {{ .token }} end\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("name,email,token\n")
	for i := 1; i <= n; i++ {
		addr := fmt.Sprintf("u%d@example.com", i)
		if rcpt != nil {
			addr = rcpt(i)
		}
		fmt.Fprintf(&b, "User %d,%s,tok-%d\n", i, addr, i)
	}
	csvPath = filepath.Join(dir, "list.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, csvPath, tplPath
}

// batchTestEnv is an Env with buffers for the streams and a private state
// folder; no configuration file is found.
func batchTestEnv(t *testing.T, stdin string, tty bool) (*Env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	home := t.TempDir()
	vars := map[string]string{
		"HOME": home, "XDG_STATE_HOME": filepath.Join(home, "state"), "XDG_CONFIG_HOME": filepath.Join(home, "config"),
	}
	var stdout, stderr bytes.Buffer
	return &Env{
		Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr,
		StdinTTY: tty, StderrTTY: tty,
		Getenv:    func(k string) string { return vars[k] },
		Environ:   func() []string { return nil },
		Now:       time.Now,
		Rand:      rand.Reader,
		Hostname:  func() string { return "client.example.test" },
		LoginName: func() (string, error) { return "tester", nil },
		UID:       os.Getuid(),
		OpenTTY:   func() (*os.File, error) { return nil, errors.New("no terminal in tests") },
		Keyring:   testKeyring(),
		Syslog:    func(string) error { return nil },
	}, &stdout, &stderr
}

// batchTokenCounts counts each row's token in the messages a server received.
func batchTokenCounts(t *testing.T, srv *smtptest.Server, n int) []int {
	t.Helper()
	counts := make([]int, n+1)
	for _, m := range srv.Messages() {
		for i := 1; i <= n; i++ {
			counts[i] += bytes.Count(m.Data, []byte(fmt.Sprintf("body tok-%d end", i)))
		}
	}
	return counts
}

func batchWantEachOnce(t *testing.T, srv *smtptest.Server, n int) {
	t.Helper()
	for i, c := range batchTokenCounts(t, srv, n)[1:] {
		if c != 1 {
			t.Errorf("row %d was delivered %d times, want 1", i+1, c)
		}
	}
}

func TestBatchReusesOneConnection(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	_, csvPath, tplPath := batchFiles(t, 5, nil)
	env, _, stderr := batchTestEnv(t, "", false)
	code := Main([]string{"mailout", "batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none", "--yes"}, env)
	if code != 0 {
		t.Fatalf("batch = %d, want 0; stderr:\n%s", code, stderr)
	}
	batchWantEachOnce(t, srv, 5)
	if n := srv.Connections(); n != 1 {
		t.Errorf("5 rows used %d connections, want 1 (RSET between messages)", n)
	}
	if !strings.Contains(stderr.String(), "mailout: batch: 5 sent, 0 failed, 0 skipped (already sent), 0 queued in ") {
		t.Errorf("stderr = %q, want the summary line", stderr)
	}
}

func TestBatchParallel(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	_, csvPath, tplPath := batchFiles(t, 12, nil)
	env, _, stderr := batchTestEnv(t, "", false)
	code := Main([]string{"mailout", "batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none", "--yes", "--parallel", "3"}, env)
	if code != 0 {
		t.Fatalf("batch = %d, want 0; stderr:\n%s", code, stderr)
	}
	batchWantEachOnce(t, srv, 12)
	if n := srv.Connections(); n < 1 || n > 3 {
		t.Errorf("--parallel 3 used %d connections, want 1 to 3", n)
	}
}

// The limiter spaces messages evenly, so 4 messages at 20/s cannot take
// less than 3 intervals of 50ms. Only this lower bound is checked: an upper
// one would depend on the machine's load.
func TestBatchRate(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	_, csvPath, tplPath := batchFiles(t, 4, nil)
	env, _, stderr := batchTestEnv(t, "", false)
	start := time.Now()
	code := Main([]string{"mailout", "batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none", "--yes", "--parallel", "4", "--rate", "20/s"}, env)
	elapsed := time.Since(start)
	if code != 0 {
		t.Fatalf("batch = %d, want 0; stderr:\n%s", code, stderr)
	}
	batchWantEachOnce(t, srv, 4)
	if elapsed < 150*time.Millisecond {
		t.Errorf("4 messages at --rate 20/s took %v, want at least 150ms", elapsed)
	}
}

// batchProxy forwards TCP connections to an SMTP server and watches the
// dialogue, to cut a connection at an exact point or to learn that the
// client reached one.
type batchProxy struct {
	ln     net.Listener
	target string
	conns  atomic.Int32
	// clientLine and serverLine see each line of connection n (from 1);
	// serverLine returning true cuts the connection after that line.
	clientLine func(n int, line string)
	serverLine func(n int, line string) bool
	wg         sync.WaitGroup
	mu         sync.Mutex
	open       []net.Conn
}

func startBatchProxy(t *testing.T, target string, p *batchProxy) *batchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.ln, p.target = ln, target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c, int(p.conns.Add(1)))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.open {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *batchProxy) Addr() string { return p.ln.Addr().String() }

func (p *batchProxy) serve(c net.Conn, n int) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.open = append(p.open, c, s)
	p.mu.Unlock()
	defer c.Close()
	defer s.Close()
	go func() {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if p.clientLine != nil && line != "" {
				p.clientLine(n, line)
			}
			if _, werr := io.WriteString(s, line); werr != nil || err != nil {
				s.Close()
				return
			}
		}
	}()
	br := bufio.NewReader(s)
	for {
		line, err := br.ReadString('\n')
		if _, werr := io.WriteString(c, line); werr != nil || err != nil {
			return
		}
		if p.serverLine != nil && p.serverLine(n, line) {
			return
		}
	}
}

// A server that drops the connection between two messages (an idle
// timeout, a restart): the worker notices at RSET and reconnects, and no
// row is lost or sent twice.
func TestBatchReconnectsAfterDrop(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	var accepted atomic.Int32
	p := startBatchProxy(t, srv.Addr(), &batchProxy{serverLine: func(n int, line string) bool {
		return n == 1 && strings.HasPrefix(line, "250 2.0.0 OK: queued") && accepted.Add(1) == 2
	}})
	_, csvPath, tplPath := batchFiles(t, 5, nil)
	env, _, stderr := batchTestEnv(t, "", false)
	code := Main([]string{"mailout", "batch", "--csv", csvPath, "-T", tplPath, "--server", p.Addr(), "--tls", "none", "--yes"}, env)
	if code != 0 {
		t.Fatalf("batch = %d, want 0; stderr:\n%s", code, stderr)
	}
	batchWantEachOnce(t, srv, 5)
	if n := p.conns.Load(); n != 2 {
		t.Errorf("the batch made %d connections, want 2 (one reconnect)", n)
	}
}

func TestBatchConfirm(t *testing.T) {
	for _, tt := range []struct {
		name, answer string
		wantSent     int
		wantStderr   string
	}{
		{"yes", "y\n", 3, "mailout: batch: 3 sent"},
		{"YES", "YES\n", 3, "mailout: batch: 3 sent"},
		{"no", "n\n", 0, "mailout: batch: aborted, nothing sent"},
		{"empty", "\n", 0, "mailout: batch: aborted, nothing sent"},
		{"end of input", "", 0, "mailout: batch: aborted, nothing sent"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{})
			_, csvPath, tplPath := batchFiles(t, 3, nil)
			env, stdout, stderr := batchTestEnv(t, tt.answer, true)
			code := Main([]string{"mailout", "batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none"}, env)
			if code != 0 {
				t.Fatalf("batch = %d, want 0; stderr:\n%s", code, stderr)
			}
			if got := len(srv.Messages()); got != tt.wantSent {
				t.Errorf("sent %d messages, want %d", got, tt.wantSent)
			}
			for _, want := range []string{"Subject: hello User 1\n", "body tok-1 end\n", "send 3 messages via " + srv.Addr() + "? [y/N]", tt.wantStderr} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestUnsubscribeHeaders(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    []message.Field
		wantErr bool
	}{
		{in: ""},
		{in: "https://example.com/u?id=1", want: []message.Field{
			{Name: "List-Unsubscribe", Value: "<https://example.com/u?id=1>"},
			{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}}},
		{in: "http://example.com/u", want: []message.Field{{Name: "List-Unsubscribe", Value: "<http://example.com/u>"}}},
		{in: "mailto:leave@example.com?subject=unsubscribe", want: []message.Field{
			{Name: "List-Unsubscribe", Value: "<mailto:leave@example.com?subject=unsubscribe>"}}},
		{in: "mailto:leave", wantErr: true},
		{in: "mailto:", wantErr: true},
		{in: "https://", wantErr: true},
		{in: "ftp://example.com/u", wantErr: true},
		{in: "example.com/u", wantErr: true},
		{in: "https://example.com/a b", wantErr: true},
		{in: "https://example.com/a>\r\nBcc: x@example.com", wantErr: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := unsubscribeHeaders(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("unsubscribeHeaders(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				if code := exitCode(err); code != exitUsage {
					t.Errorf("unsubscribeHeaders(%q) error exits %d, want %d", tt.in, code, exitUsage)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("unsubscribeHeaders(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// batchCommand runs the mailout binary that the test's TestMain puts on
// PATH, with a private home and state folder.
func batchCommand(t *testing.T, home string, args ...string) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath("mailout")
	if err != nil {
		t.Skipf("no mailout on PATH (run through go test, whose TestMain installs it): %v", err)
	}
	c := exec.Command(path, args...)
	c.Env = append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "MAILOUT_CONFIG=", "MAILOUT_PROFILE=", "DBUS_SESSION_BUS_ADDRESS=")
	return c
}

// A batch killed with SIGKILL and run again delivers every row: the rows
// whose 250 reached the journal are skipped, the rest are sent.
func TestBatchResumesAfterSIGKILL(t *testing.T) {
	t.Run("between messages: every row exactly once", func(t *testing.T) {
		// Row 5's recipient is refused with 451 until the test clears it: the
		// batch then waits to retry it, with rows 1 to 4 journaled and
		// nothing in flight, and is killed there.
		srv := smtptest.Start(t, smtptest.Options{RcptReplies: map[string]smtptest.Reply{"hold@example.com": {Code: 451}}})
		reached := make(chan struct{})
		var once sync.Once
		p := startBatchProxy(t, srv.Addr(), &batchProxy{clientLine: func(n int, line string) {
			if strings.HasPrefix(line, "RCPT TO:<hold@example.com>") {
				once.Do(func() { close(reached) })
			}
		}})
		dir, csvPath, tplPath := batchFiles(t, 8, func(i int) string {
			if i == 5 {
				return "hold@example.com"
			}
			return fmt.Sprintf("u%d@example.com", i)
		})
		journal := filepath.Join(dir, "list.journal")
		args := []string{"batch", "--csv", csvPath, "-T", tplPath, "--server", p.Addr(), "--tls", "none", "--yes", "--journal", journal}
		c := batchCommand(t, dir, args...)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- c.Wait() }()
		select {
		case <-reached:
		case err := <-exited:
			t.Fatalf("batch exited (%v) before reaching row 5; stderr:\n%s", err, stderr.String())
		}
		// The journal commits in the background, a moment behind the sends:
		// kill once it has rows 1 to 4, while row 5 waits for its retry.
		for deadline := time.Now().Add(10 * time.Second); len(batchJournaledRows(t, journal)) < 4; {
			if time.Now().After(deadline) {
				c.Process.Kill()
				t.Fatalf("the journal never had rows 1 to 4: %v", batchJournaledRows(t, journal))
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := c.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited
		if got := len(srv.Messages()); got != 4 {
			t.Fatalf("before the kill the server got %d messages, want 4", got)
		}

		srv.SetOptions(func(o *smtptest.Options) { o.RcptReplies = nil })
		c = batchCommand(t, dir, args...)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("re-run: %v\n%s", err, out)
		} else if !strings.Contains(string(out), "4 sent, 0 failed, 4 skipped (already sent)") {
			t.Errorf("re-run said %q, want 4 sent and 4 skipped", out)
		}
		batchWantEachOnce(t, srv, 8)
	})

	t.Run("at any point: only the messages in flight again", func(t *testing.T) {
		const rows, parallel = 40, 2
		srv := smtptest.Start(t, smtptest.Options{})
		dir, csvPath, tplPath := batchFiles(t, rows, nil)
		// The rate makes the run last long enough to be killed in the middle.
		args := []string{"batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none", "--yes",
			"--parallel", fmt.Sprint(parallel), "--rate", "200/s"}
		c := batchCommand(t, dir, args...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- c.Wait() }()
		if _, err := srv.Wait(10, 10*time.Second); err != nil {
			c.Process.Kill()
			<-exited
			t.Fatal(err)
		}
		c.Process.Kill()
		<-exited
		if got := len(srv.Messages()); got >= rows {
			t.Fatalf("the batch sent all %d rows before it was killed", got)
		}

		c = batchCommand(t, dir, args...)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("re-run: %v\n%s", err, out)
		}
		extra := 0
		for i, n := range batchTokenCounts(t, srv, rows)[1:] {
			if n == 0 {
				t.Errorf("row %d was never delivered", i+1)
			}
			extra += max(n-1, 0)
		}
		if k := (batch.WindowPerWorker + 1) * parallel; extra > k {
			t.Errorf("%d rows were delivered twice, want at most %d (the messages in flight and the journal's window)", extra, k)
		}
	})

	t.Run("during a fast run: at most K again, none the journal has", func(t *testing.T) {
		const rows, parallel = 3000, 4
		srv := smtptest.Start(t, smtptest.Options{})
		dir, csvPath, tplPath := batchFiles(t, rows, nil)
		journal := filepath.Join(dir, "list.journal")
		args := []string{"batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none", "--yes",
			"--parallel", fmt.Sprint(parallel), "--journal", journal}
		c := batchCommand(t, dir, args...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- c.Wait() }()
		if _, err := srv.Wait(100+mathrand.IntN(400), 30*time.Second); err != nil {
			c.Process.Kill()
			<-exited
			t.Fatal(err)
		}
		c.Process.Kill()
		<-exited
		if got := len(srv.Messages()); got >= rows {
			t.Fatalf("the batch sent all %d rows before it was killed", got)
		}
		journaled := batchJournaledRows(t, journal)

		c = batchCommand(t, dir, args...)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("re-run: %v\n%s", err, out)
		}
		extra := 0
		for i, n := range batchTokenCounts(t, srv, rows)[1:] {
			switch {
			case n == 0:
				t.Errorf("row %d was never delivered", i+1)
			case n > 1 && journaled[i+1]:
				t.Errorf("row %d was delivered %d times, though the journal had it as sent", i+1, n)
			}
			extra += max(n-1, 0)
		}
		t.Logf("the journal had %d rows at the kill; %d rows delivered twice", len(journaled), extra)
		if k := (batch.WindowPerWorker + 1) * parallel; extra > k {
			t.Errorf("%d rows were delivered twice, want at most %d (the messages in flight and the journal's window)", extra, k)
		}
	})
}

// batchJournaledRows returns the rows a journal records as sent.
func batchJournaledRows(t *testing.T, path string) map[int]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[int]bool{}
	for line := range strings.Lines(string(b)) {
		var l struct {
			Status string
			Row    int
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Status == "sent" {
			rows[l.Row] = true
		}
	}
	return rows
}

// TestBatchProgressOnlyOnATerminal checks that the progress bar is drawn
// on stderr when it is a terminal, and that a redirected stderr gets the
// summary line alone (progressbar itself draws into pipes).
func TestBatchProgressOnlyOnATerminal(t *testing.T) {
	for _, tty := range []bool{true, false} {
		srv := smtptest.Start(t, smtptest.Options{})
		_, csvPath, tplPath := batchFiles(t, 3, nil)
		env, _, stderr := batchTestEnv(t, "", tty)
		code := Main([]string{"mailout", "batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none", "--yes"}, env)
		if code != 0 {
			t.Fatalf("tty=%v: batch = %d; stderr:\n%s", tty, code, stderr)
		}
		drawn := strings.Contains(stderr.String(), "\r")
		if drawn != tty {
			t.Errorf("tty=%v: progress bar drawn = %v; stderr %q", tty, drawn, stderr)
		}
		if !strings.Contains(stderr.String(), "mailout: batch: 3 sent") {
			t.Errorf("tty=%v: stderr %q lacks the summary line", tty, stderr)
		}
	}
}

// A signal stops the run gracefully: the messages in flight finish and
// are journaled, the buffered report is flushed with a line for every row
// the server got, and the re-run sends the rest, each row exactly once.
func TestBatchStopsGracefullyOnSignal(t *testing.T) {
	const rows = 40
	srv := smtptest.Start(t, smtptest.Options{})
	dir, csvPath, tplPath := batchFiles(t, rows, nil)
	report := filepath.Join(dir, "report.jsonl")
	args := []string{"batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none", "--yes",
		"--rate", "50/s", "--report", report}
	c := batchCommand(t, dir, args...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	if _, err := srv.Wait(5, 10*time.Second); err != nil {
		c.Process.Kill()
		<-exited
		t.Fatal(err)
	}
	c.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err == nil {
		t.Fatal("the batch ended without error after SIGTERM")
	}
	got := len(srv.Messages())
	if got >= rows {
		t.Fatalf("the batch sent all %d rows before SIGTERM", got)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"status":"sent"`); n != got {
		t.Errorf("the report has %d rows sent, the server got %d messages:\n%s", n, got, b)
	}

	c = batchCommand(t, dir, append(args[:len(args)-4], "--rate", "1000/s")...)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	batchWantEachOnce(t, srv, rows)
}

// fakeClock is a clock whose sleeps return at once and move it on.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

// The batch's clock is the Env's: the journal's time stamps, the retries'
// back-off and the --rate limiter all go by it, so none of them waits for
// real time here.
func TestBatchClockIsTheEnvs(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{RcptReplies: map[string]smtptest.Reply{
		"u2@example.com": {Code: 451, Enhanced: "4.2.0", Text: "try later"}}})
	dir, csvPath, tplPath := batchFiles(t, 3, nil)
	env, _, stderr := batchTestEnv(t, "", false)
	clock := &fakeClock{now: time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)}
	env.Now, env.Sleep = clock.Now, clock.Sleep
	journal := filepath.Join(dir, "list.journal")
	start := time.Now()
	code := Main([]string{"mailout", "batch", "--csv", csvPath, "-T", tplPath, "--server", srv.Addr(), "--tls", "none", "--yes",
		"--rate", "1/s", "--journal", journal}, env)
	if code != exitTempFail {
		t.Fatalf("batch = %d, want %d (a row deferred); stderr:\n%s", code, exitTempFail, stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the batch took %v of real time", d)
	}
	// Row 2's back-offs (1 s, 2 s) and the waits for the rate slots of
	// rows 2 and 3, unless row 3's came while row 2 waited to retry.
	if n := len(clock.sleeps); n < batch.DefaultAttempts || n > batch.DefaultAttempts+1 || !slices.Contains(clock.sleeps, 2*time.Second) {
		t.Errorf("sleeps %v: want the back-offs 1s and 2s and one or two rate slots", clock.sleeps)
	}
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"time":"2001-02-03T04:`); n != 3 {
		t.Errorf("journal:\n%s\nwant its 3 lines stamped by the Env's clock", b)
	}
}
