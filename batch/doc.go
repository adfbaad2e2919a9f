// Package batch is the domain core of "mailout batch": it streams the rows of
// a CSV file (RFC 4180), keeps the journal that makes a re-run skip every row
// already sent, spaces sends with a smooth rate limit, and runs a pool of
// workers over the rows.
//
// [Send] runs a whole batch: it iterates the rows not yet sent (one pass to
// count them when asked, one to send them), composes each through a callback,
// delivers it through one delivery.Pool per worker with retries, records it in
// the journal, writes the report lines and tallies the outcomes. It knows
// nothing of templates, flags or terminals: the command layer gives it those
// as [Deps].
//
// The pieces are usable alone too: [NewReader] streams a CSV file, [Journal]
// records outcomes, [Limiter] spaces sends and [Run] runs workers over jobs.
//
// # Memory
//
// Nothing here keeps rows: memory is constant in the number of rows, except
// the journal's set of done keys, which holds 16 bytes per key.
package batch
