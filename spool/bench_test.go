//go:build unix && !aix && (!solaris || illumos)

package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BenchmarkPut measures Put from several goroutines at once, as a batch queueing with
// --parallel N does, each Put through a Spool of its own, as cmd opens one for every
// message it queues. The ns/op is per entry and includes the fsyncs: run it on the file
// system the queue lives on (TMPDIR).
func BenchmarkPut(b *testing.B) {
	body := "From: a@example.com\r\nTo: u@example.com\r\nSubject: x\r\n\r\n" + strings.Repeat("hello\r\n", 30)
	for _, par := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			root := filepath.Join(b.TempDir(), "queue")
			if _, err := Open(root, os.Getuid(), nil); err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			work := make(chan struct{})
			b.ResetTimer()
			for range par {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						s, err := Open(root, os.Getuid(), nil)
						if err == nil {
							_, err = s.Put(Entry{Sender: "a@example.com", Recipients: []string{"u@example.com"}, Attempts: 1}, strings.NewReader(body))
						}
						if err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
		})
	}
}
