// Package batch is the domain core of "mailout batch": it streams the rows of
// a CSV file (RFC 4180), keeps the journal that makes a re-run skip every row
// already sent, spaces sends with a smooth rate limit, and runs a pool of
// workers over the rows.
//
// It knows nothing of SMTP, templates or flags. The command layer glues it
// with the template and delivery packages:
//
//	rows, err := batch.NewReader(csvFile)
//	j, err := batch.OpenJournal(batch.DefaultJournalPath(stateDir, csvPath, tplPath))
//	jobs := func(yield func(batch.Job) bool) {
//		for {
//			row, err := rows.Next()
//			// io.EOF: stop; *RowError: report the row and continue; other errors: stop
//			key, err := batch.RowKey(row, keyColumn)
//			if !j.Claim(key) { /* report row as skipped */ continue }
//			if !yield(batch.Job{Row: row, Key: key}) { return }
//		}
//	}
//	err = batch.Run(ctx, jobs, batch.Options{Parallel: 4, Limiter: lim}, send, func(o batch.Outcome) error {
//		// the report line, then (for sent, queued and failed):
//		return j.Record(o.Key, o.Status, o.Row)
//	})
//
// # Memory
//
// Nothing here keeps rows: memory is constant in the number of rows, except
// the journal's set of done keys, which holds 16 bytes per key.
package batch
