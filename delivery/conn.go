package delivery

import (
	"context"
	"net"
	"time"
)

// DialFunc opens a network connection; net.Dialer.DialContext fits.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// idleConn refreshes its deadline on every read and write, so a timeout
// bounds inactivity, not the whole transfer: a 500 MB upload that keeps
// moving never times out, a server that stops answering does.
//
// Setting a deadline costs more than a small read (it resets a runtime
// timer), and a batch reads and writes a few times per message, so a
// deadline is set timeout + timeout/64 ahead and moved only once less than
// timeout is left: a connection still times out after between timeout and
// timeout + timeout/64 of silence.
type idleConn struct {
	net.Conn
	timeout           time.Duration
	readEnd, writeEnd time.Time // the deadlines set
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.timeout > 0 {
		if now := time.Now(); c.readEnd.Sub(now) < c.timeout {
			c.readEnd = now.Add(c.timeout + c.timeout/64)
			c.Conn.SetReadDeadline(c.readEnd)
		}
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.timeout > 0 {
		if now := time.Now(); c.writeEnd.Sub(now) < c.timeout {
			c.writeEnd = now.Add(c.timeout + c.timeout/64)
			c.Conn.SetWriteDeadline(c.writeEnd)
		}
	}
	return c.Conn.Write(p)
}

// SetReadDeadline sets the deadline until the next read moves it, as it
// did before the idle deadline was kept.
func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.readEnd = time.Time{}
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline until the next write moves it.
func (c *idleConn) SetWriteDeadline(t time.Time) error {
	c.writeEnd = time.Time{}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline is ignored: the per-operation idle deadline above owns the
// connection's deadlines.
func (c *idleConn) SetDeadline(time.Time) error { return nil }

func dial(ctx context.Context, d DialFunc, addr string, timeout time.Duration) (net.Conn, error) {
	if d == nil {
		d = (&net.Dialer{}).DialContext
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	c, err := d(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		// Small SMTP commands must not wait for Nagle (msmtp loses ~40 ms
		// per message to that at the end of DATA).
		tc.SetNoDelay(true)
	}
	return &idleConn{Conn: c, timeout: timeout}, nil
}
