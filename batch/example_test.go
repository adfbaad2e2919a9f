package batch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"mailout/batch"
)

// The command layer's loop, with printing in place of SMTP: rows already in
// the journal are skipped, a bad row is reported and the rest go on.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "batch-example")
	defer os.RemoveAll(dir)
	j, err := batch.OpenJournal(filepath.Join(dir, "list.journal"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer j.Close()
	j.Record("ann@example.com", batch.StatusSent, 1) // sent by an earlier run

	csv := "name,email\nAnn,ann@example.com\nBob\n\"Cy, Jr.\",cy@example.com\n"
	rows, err := batch.NewReader(strings.NewReader(csv))
	if err != nil {
		fmt.Println(err)
		return
	}
	var readErr error
	jobs := func(yield func(batch.Job) bool) {
		for {
			row, err := rows.Next()
			var rowErr *batch.RowError
			switch {
			case err == io.EOF:
				return
			case errors.As(err, &rowErr):
				fmt.Println("list.csv:", err)
				continue
			case err != nil:
				readErr = err
				return
			}
			key, err := batch.RowKey(row, "email")
			if err != nil {
				fmt.Println("list.csv:", err)
				continue
			}
			if !j.Claim(key) {
				fmt.Printf("row %d: skipped\n", row.Num)
				continue
			}
			if !yield(batch.Job{Row: row, Key: key}) {
				return
			}
		}
	}
	send := func(ctx context.Context, worker int, job batch.Job) batch.Outcome {
		fmt.Printf("row %d: mail to %s <%s>\n", job.Row.Num, job.Row.Fields["name"], job.Row.Fields["email"])
		return batch.Outcome{Status: batch.StatusSent}
	}
	err = batch.Run(context.Background(), jobs, batch.Options{Parallel: 1}, send, func(o batch.Outcome) error {
		fmt.Printf("row %d: %s\n", o.Row, o.Status)
		return j.Record(o.Key, o.Status, o.Row)
	})
	fmt.Println("run:", err, "read:", readErr)
	// Output:
	// row 1: skipped
	// list.csv: line 3: row 2: has 1 fields, the header has 2
	// row 3: mail to Cy, Jr. <cy@example.com>
	// row 3: sent
	// run: <nil> read: <nil>
}
