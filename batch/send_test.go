package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"mailout/delivery"
	"mailout/internal/smtptest"
	"mailout/message"
)

// fakeTransport accepts every recipient except those its refuse function
// fails, and counts what each recipient was sent.
type fakeTransport struct {
	mu     sync.Mutex
	got    map[string]int
	tries  map[string]int
	refuse func(rcpt string, try int) *delivery.Error
}

func (f *fakeTransport) Deliver(_ context.Context, env message.Envelope, _ message.Message) (*delivery.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := &delivery.Result{Transport: "fake"}
	var errs []error
	for _, a := range env.To {
		f.tries[a]++
		if f.refuse != nil {
			if e := f.refuse(a, f.tries[a]); e != nil {
				st := delivery.Refused
				if e.Kind == delivery.Temporary {
					st = delivery.Deferred
				}
				res.Recipients = append(res.Recipients, delivery.RecipientResult{Address: a, Status: st, Err: e})
				errs = append(errs, e)
				continue
			}
		}
		f.got[a]++
		res.Recipients = append(res.Recipients, delivery.RecipientResult{Address: a, Status: delivery.Accepted})
	}
	if len(errs) > 0 {
		return res, delivery.Worst(errs...)
	}
	return res, nil
}

type rawMessage string

func (m rawMessage) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, string(m))
	return int64(n), err
}

// sendFixture is a CSV, a fake transport per worker and the Deps around
// them; each row mails its email column, and the cc column too when set.
type sendFixture struct {
	dir, csv string
	tr       *fakeTransport
	d        Deps
}

func newSendFixture(t *testing.T, csv string, parallel int) *sendFixture {
	t.Helper()
	dir := t.TempDir()
	f := &sendFixture{dir: dir, csv: filepath.Join(dir, "list.csv"), tr: &fakeTransport{got: map[string]int{}, tries: map[string]int{}}}
	if err := os.WriteFile(f.csv, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	f.d = Deps{
		Compose: func(row Row) (*Mail, error) {
			if row.Fields["email"] == "" {
				return nil, errors.New("no recipient")
			}
			to := []string{row.Fields["email"]}
			if cc := row.Fields["cc"]; cc != "" {
				to = append(to, cc)
			}
			return &Mail{Envelope: message.Envelope{From: "me@example.test", To: to}, Message: rawMessage("Subject: x\r\n\r\nhi\r\n"),
				ID: fmt.Sprintf("<%d@example.test>", row.Num)}, nil
		},
		Line: func(r RowResult) any {
			l := map[string]any{"row": r.Row, "status": r.Status}
			if r.Err != nil {
				l["error"] = r.Err.Error()
			}
			return l
		},
	}
	for range parallel {
		f.d.Pools = append(f.d.Pools, f.tr)
	}
	return f
}

func (f *sendFixture) options(parallel int) SendOptions {
	return SendOptions{CSV: f.csv, Parallel: parallel, MaxErrors: DefaultMaxErrors,
		Sleep: func(context.Context, time.Duration) error { return nil }}
}

func readReport(t *testing.T, path string) []map[string]any {
	t.Helper()
	fl, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	var out []map[string]any
	sc := bufio.NewScanner(fl)
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// Every row goes out once with a report line; a re-run with the journal
// skips them all, and a row with a repeated key is mailed once.
func TestSendJournalAndReport(t *testing.T) {
	f := newSendFixture(t, "email\na@x.test\nb@x.test\na@x.test\nc@x.test\n", 2)
	j := openJournal(t, filepath.Join(f.dir, "j"))
	o := f.options(2)
	o.Journal, o.Key, o.Report = j, "email", filepath.Join(f.dir, "report.jsonl")
	tally, err := Send(context.Background(), o, f.d)
	if err != nil {
		t.Fatal(err)
	}
	if tally.Sent != 3 || tally.Skipped != 1 || tally.Failed != 0 || tally.Lines != 4 {
		t.Errorf("tally = %+v, want 3 sent, 1 skipped, 4 lines", tally)
	}
	for _, a := range []string{"a@x.test", "b@x.test", "c@x.test"} {
		if f.tr.got[a] != 1 {
			t.Errorf("%s got %d messages, want 1", a, f.tr.got[a])
		}
	}
	if lines := readReport(t, o.Report); len(lines) != 4 {
		t.Errorf("report has %d lines, want 4: %v", len(lines), lines)
	}

	tally, err = Send(context.Background(), o, f.d)
	if err != nil || tally.Sent != 0 || tally.Skipped != 4 {
		t.Errorf("re-run: tally %+v, err %v; want 4 skipped", tally, err)
	}
}

// A temporary failure is retried, to the pending recipients only.
func TestSendRetriesPending(t *testing.T) {
	f := newSendFixture(t, "email,cc\na@x.test,slow@x.test\n", 1)
	f.tr.refuse = func(rcpt string, try int) *delivery.Error {
		if rcpt == "slow@x.test" && try < 3 {
			return &delivery.Error{Kind: delivery.Temporary, Op: "rcpt", Code: 451, Reply: "try later"}
		}
		return nil
	}
	tally, err := Send(context.Background(), f.options(1), f.d)
	if err != nil || tally.Sent != 1 {
		t.Fatalf("tally %+v, err %v; want 1 sent", tally, err)
	}
	if f.tr.got["a@x.test"] != 1 || f.tr.got["slow@x.test"] != 1 || f.tr.tries["slow@x.test"] != 3 {
		t.Errorf("got %v after tries %v; want each once, slow@ after 3 tries", f.tr.got, f.tr.tries)
	}
}

// A server that stays down costs the back-off once, not once per row: after
// a row used up its retries, later rows get one attempt each until one
// gets through, and then the retries are back.
func TestSendServerDown(t *testing.T) {
	f := newSendFixture(t, "email\nr1@x.test\nr2@x.test\nr3@x.test\nr4@x.test\nup@x.test\nr6@x.test\n", 1)
	up := false
	f.tr.refuse = func(rcpt string, try int) *delivery.Error {
		if rcpt == "up@x.test" {
			up = true
		}
		if up && (rcpt == "up@x.test" || try > 1) {
			return nil
		}
		return &delivery.Error{Kind: delivery.Temporary, Op: "mail", Code: 451, Reply: "down"}
	}
	o := f.options(1)
	o.MaxErrors = 0
	tally, err := Send(context.Background(), o, f.d)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"r1@x.test": DefaultAttempts, "r2@x.test": 1, "r3@x.test": 1, "r4@x.test": 1, "up@x.test": 1, "r6@x.test": 2}
	if !reflect.DeepEqual(f.tr.tries, want) {
		t.Errorf("tries %v, want %v", f.tr.tries, want)
	}
	if tally.Failed != 4 || tally.Sent != 2 {
		t.Errorf("tally %+v, want 4 failed and 2 sent", tally)
	}
}

// Bad rows count towards MaxErrors with the failed ones; 0 never stops.
func TestSendMaxErrors(t *testing.T) {
	csv := "email,name\na@x.test,A\nbad\n,no email\nbad2\nb@x.test,B\n"
	for _, tt := range []struct {
		max      int
		wantStop bool
	}{{2, true}, {3, true}, {0, false}, {4, false}} {
		f := newSendFixture(t, csv, 1)
		o := f.options(1)
		o.MaxErrors = tt.max
		tally, err := Send(context.Background(), o, f.d)
		if stopped := errors.Is(err, ErrTooManyFailures); stopped != tt.wantStop {
			t.Errorf("MaxErrors %d: err %v, want a stop: %v", tt.max, err, tt.wantStop)
		}
		if !tt.wantStop && (tally.Failed != 3 || tally.Sent != 2) {
			t.Errorf("MaxErrors %d: tally %+v, want 2 sent and 3 failed", tt.max, tally)
		}
		if tt.wantStop && tally.Failed != tt.max {
			t.Errorf("MaxErrors %d: tally %+v, want %d failed", tt.max, tally, tt.max)
		}
	}
}

// A fatal failure stops the run at once.
func TestSendFatal(t *testing.T) {
	f := newSendFixture(t, "email\na@x.test\nb@x.test\nc@x.test\n", 1)
	f.tr.refuse = func(string, int) *delivery.Error {
		return &delivery.Error{Kind: delivery.AuthFailed, Op: "auth", Code: 535, Reply: "no"}
	}
	tally, err := Send(context.Background(), f.options(1), f.d)
	if delivery.KindOf(err) != delivery.AuthFailed || !strings.HasPrefix(err.Error(), "row 1: ") || tally.Failed != 1 {
		t.Errorf("tally %+v, err %v; want row 1's authentication failure, 1 failed", tally, err)
	}
}

// Count counts the rows not yet sent, up to Limit; a no from Start sends
// nothing and writes no report.
func TestSendCountAndStart(t *testing.T) {
	f := newSendFixture(t, "email\na@x.test\nb@x.test\nbad,row\nc@x.test\nb@x.test\n", 1)
	j := openJournal(t, filepath.Join(f.dir, "j"))
	record(t, j, "a@x.test", StatusSent, 1)
	report := filepath.Join(f.dir, "report.jsonl")
	for _, tt := range []struct {
		limit, want int
		first       string
	}{{0, 2, "b@x.test"}, {1, 1, "b@x.test"}} {
		o := f.options(1)
		o.Journal, o.Key, o.Count, o.Limit, o.Report = j, "email", true, tt.limit, report
		f.d.Start = func(n int, first *Row) (bool, error) {
			if n != tt.want || first == nil || first.Fields["email"] != tt.first {
				t.Errorf("Limit %d: Start(%d, %v), want %d rows from %s", tt.limit, n, first, tt.want, tt.first)
			}
			return false, nil
		}
		if _, err := Send(context.Background(), o, f.d); !errors.Is(err, ErrAborted) {
			t.Errorf("Limit %d: Send = %v, want ErrAborted", tt.limit, err)
		}
	}
	if len(f.tr.got) > 0 {
		t.Errorf("sent %v after a no", f.tr.got)
	}
	if _, err := os.Stat(report); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the report exists after a no: %v", err)
	}
}

// A message being sent outlives the run's context by the grace period.
func TestLingering(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, release := lingering(ctx, time.Hour)
	cancel()
	<-ctx.Done()
	if c.Err() != nil {
		t.Fatalf("lingering context ended with its parent: %v", c.Err())
	}
	release()
	if c.Err() == nil {
		t.Fatal("release did not end the lingering context")
	}

	ctx, cancel = context.WithCancel(context.Background())
	c, release = lingering(ctx, 0)
	defer release()
	cancel()
	<-c.Done() // ends once the grace is over
}

// Through a real relay that pipelines, in plain text and over STARTTLS
// with AUTH, every row is decided once: a row refused for a while mid-run
// gets all its attempts (the row held back behind it is decided first),
// and the rest go out once each.
func TestSendPipelinedRelay(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("starttls=%v", secure), func(t *testing.T) { testSendPipelinedRelay(t, secure) })
	}
}

func testSendPipelinedRelay(t *testing.T, secure bool) {
	so := smtptest.Options{RcptReplies: map[string]smtptest.Reply{
		"r7@x.test": {Code: 451, Enhanced: "4.2.0", Text: "try later"}}}
	ro := delivery.RelayOptions{TLS: delivery.TLSNone, Timeout: 5 * time.Second}
	if secure {
		so.STARTTLS, so.Users = true, map[string]string{"alice": "s3cret"}
		ro.TLS = delivery.TLSStartTLS
		ro.Auth = delivery.Auth{Username: "alice", Secret: func(context.Context) (string, error) { return "s3cret", nil }}
	}
	srv := smtptest.Start(t, so)
	ro.Host, ro.Port = srv.Host(), srv.Port()
	if secure {
		ro.TLSConfig = srv.ClientTLSConfig()
	}
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&csv, "r%d@x.test\n", i)
	}
	const parallel = 2
	f := newSendFixture(t, csv.String(), parallel)
	pools, err := delivery.NewPools(delivery.Options{Relay: ro}, parallel)
	if err != nil {
		t.Fatal(err)
	}
	f.d.Pools = nil
	for _, p := range pools {
		f.d.Pools = append(f.d.Pools, p)
	}
	defer func() {
		for _, p := range pools {
			p.Close()
		}
	}()
	j := openJournal(t, filepath.Join(f.dir, "j"))
	o := f.options(parallel)
	o.Journal, o.Key = j, "email"
	tally, err := Send(context.Background(), o, f.d)
	if err != nil {
		t.Fatal(err)
	}
	if tally.Sent != 19 || tally.Failed != 1 {
		t.Errorf("tally %+v, want 19 sent and 1 failed", tally)
	}
	got := map[string]int{}
	for _, m := range srv.Messages() {
		if m.TLS != secure || (secure && m.AuthUser != "alice") {
			t.Errorf("a message came with TLS %v, AUTH %q; want TLS %v", m.TLS, m.AuthUser, secure)
		}
		for _, r := range m.To {
			got[r]++
		}
	}
	for i := 1; i <= 20; i++ {
		a := fmt.Sprintf("r%d@x.test", i)
		want := 1
		if i == 7 {
			want = 0
		}
		if got[a] != want {
			t.Errorf("%s got %d messages, want %d", a, got[a], want)
		}
	}
	if n := strings.Count(srv.Transcript(), "RCPT TO:<r7@x.test>"); n != DefaultAttempts {
		t.Errorf("r7 was tried %d times, want %d", n, DefaultAttempts)
	}
}

// A row accepted by the server reaches the journal and the report at once,
// not after the retries of the row pipelined behind it, whose back-off
// can last minutes.
func TestSendDecidedRowNotHeldByRetries(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{RcptReplies: map[string]smtptest.Reply{
		"r2@x.test": {Code: 451, Enhanced: "4.2.0", Text: "try later"}}})
	f := newSendFixture(t, "email\nr1@x.test\nr2@x.test\n", 1)
	pools, err := delivery.NewPools(delivery.Options{Relay: delivery.RelayOptions{Host: srv.Host(), Port: srv.Port(),
		TLS: delivery.TLSNone, Timeout: 5 * time.Second}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pools[0].Close()
	f.d.Pools = []delivery.Transport{pools[0]}
	seen := make(chan int, 4)
	f.d.Row = func(r RowResult, _ Tally) { seen <- r.Row }
	o := f.options(1)
	var slept bool
	o.Sleep = func(ctx context.Context, _ time.Duration) error {
		if slept {
			return nil
		}
		slept = true
		// Row 2 waits to retry: row 1 must be done by now.
		select {
		case row := <-seen:
			if row != 1 {
				t.Errorf("row %d was done first, want 1", row)
			}
		case <-time.After(5 * time.Second):
			t.Error("row 1 was not done while row 2 waited to retry")
		}
		return nil
	}
	tally, err := Send(context.Background(), o, f.d)
	if err != nil || tally.Sent != 1 || tally.Failed != 1 {
		t.Errorf("tally %+v, err %v; want 1 sent, 1 failed", tally, err)
	}
}
