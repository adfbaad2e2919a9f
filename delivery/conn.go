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
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.timeout > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if c.timeout > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	return c.Conn.Write(p)
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
