package job

import (
	"fmt"
	"sync"
)

// collector keeps a bounded copy of a job's interleaved output: the first
// headMax bytes, and the last tailMax bytes in a ring buffer. Everything in
// between is counted, not kept, so its memory stays at headMax+tailMax
// whatever the child writes.
type collector struct {
	mu      sync.Mutex
	headMax int
	tailMax int
	head    []byte
	tail    []byte // ring buffer of len tailMax, allocated when the head is full
	tpos    int    // where the next tail byte goes
	tlen    int    // bytes of tail in use
	total   int64
	stderr  int64
}

func newCollector(limit int64) *collector {
	h := int(limit / 2)
	return &collector{headMax: h, tailMax: int(limit) - h}
}

// write appends p, read from stdout or stderr, under the lock, so the
// order of the kept bytes is the order in which the reads completed.
func (c *collector) write(p []byte, stderr bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(p))
	if stderr {
		c.stderr += int64(len(p))
	}
	if room := c.headMax - len(c.head); room > 0 {
		n := min(room, len(p))
		c.head = appendBounded(c.head, p[:n], c.headMax)
		p = p[n:]
	}
	if len(p) == 0 || c.tailMax == 0 {
		return
	}
	if c.tail == nil {
		c.tail = make([]byte, c.tailMax)
	}
	if len(p) >= c.tailMax {
		copy(c.tail, p[len(p)-c.tailMax:])
		c.tpos, c.tlen = 0, c.tailMax
		return
	}
	n := copy(c.tail[c.tpos:], p)
	copy(c.tail, p[n:])
	c.tpos = (c.tpos + len(p)) % c.tailMax
	c.tlen = min(c.tlen+len(p), c.tailMax)
}

// appendBounded appends p to b without growing b's capacity past limit.
func appendBounded(b, p []byte, limit int) []byte {
	if need := len(b) + len(p); need > cap(b) {
		c := min(limit, max(need, 2*cap(b), 4096))
		nb := make([]byte, len(b), c)
		copy(nb, b)
		b = nb
	}
	return append(b, p...)
}

// dropped is the number of bytes neither in the head nor in the tail.
func (c *collector) dropped() int64 {
	return c.total - int64(len(c.head)) - int64(c.tlen)
}

// output returns the kept bytes: head, then (when bytes were dropped) the
// marker, then the tail in order.
func (c *collector) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var marker string
	if d := c.dropped(); d > 0 {
		marker = fmt.Sprintf("\n[... %d bytes dropped ...]\n", d)
	}
	out := make([]byte, 0, len(c.head)+len(marker)+c.tlen)
	out = append(out, c.head...)
	out = append(out, marker...)
	start := (c.tpos - c.tlen + c.tailMax) % max(c.tailMax, 1)
	if start+c.tlen <= c.tailMax {
		out = append(out, c.tail[start:start+c.tlen]...)
	} else {
		out = append(out, c.tail[start:]...)
		out = append(out, c.tail[:c.tpos]...)
	}
	return out
}
