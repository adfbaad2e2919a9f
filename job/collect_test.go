package job

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// want is what a collector of limit should keep of data.
func want(data []byte, limit int) []byte {
	if len(data) <= limit {
		return data
	}
	h := limit / 2
	t := limit - h
	d := len(data) - limit
	return fmt.Appendf(nil, "%s\n[... %d bytes dropped ...]\n%s", data[:h], d, data[len(data)-t:])
}

func TestCollector(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, limit := range []int{1, 2, 7, 10, 64, 1000} {
		for _, size := range []int{0, 1, limit / 2, limit - 1, limit, limit + 1, 2 * limit, 10*limit + 3} {
			data := make([]byte, size)
			for i := range data {
				data[i] = 'a' + byte(i%26)
			}
			c := newCollector(int64(limit))
			var stderr int64
			for rest := data; len(rest) > 0; {
				n := 1 + rng.IntN(min(len(rest), 2*limit+1))
				isErr := rng.IntN(2) == 0
				if isErr {
					stderr += int64(n)
				}
				c.write(rest[:n], isErr)
				rest = rest[n:]
			}
			name := fmt.Sprintf("limit=%d/size=%d", limit, size)
			if got, w := c.output(), want(data, limit); !bytes.Equal(got, w) {
				t.Errorf("%s: output = %q, want %q", name, got, w)
			}
			if got, w := c.dropped(), int64(max(size-limit, 0)); got != w {
				t.Errorf("%s: dropped = %d, want %d", name, got, w)
			}
			if c.total != int64(size) || c.stderr != stderr {
				t.Errorf("%s: total, stderr = %d, %d, want %d, %d", name, c.total, c.stderr, size, stderr)
			}
			if cap(c.head) > c.headMax || len(c.tail) > c.tailMax {
				t.Errorf("%s: buffers %d+%d bytes, limit %d", name, cap(c.head), len(c.tail), limit)
			}
		}
	}
}
