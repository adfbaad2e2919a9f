package delivery

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawServer is a minimal SMTP server written out by hand for what go-smtp
// cannot be made to do: offer no PIPELINING (go-smtp always does), show
// what a client sent in one write with an end of data, drop a connection
// without answering. It refuses RCPT for addresses starting with "bad",
// and with 451 the content of a message that contains "FAIL451".
type rawServer struct {
	ln        net.Listener
	ext       []string // EHLO keywords besides 8BITMIME
	dropFirst bool     // cut the first connection after its first end of data, unanswered

	mu     sync.Mutex
	conns  int
	cmds   []string // MAIL and RCPT lines, as received
	bodies []string
	ahead  []bool // per answered end of data: the next MAIL came with it

	accepting, serving sync.WaitGroup
}

// startRawServer starts a rawServer offering ext, stopped at the test's end.
func startRawServer(t *testing.T, dropFirst bool, ext ...string) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, ext: ext, dropFirst: dropFirst}
	s.accepting.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			drop := s.conns == 1 && s.dropFirst
			s.mu.Unlock()
			s.serving.Go(func() { s.serve(c, drop) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.accepting.Wait(); s.serving.Wait() })
	return s
}

func (s *rawServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *rawServer) serve(c net.Conn, drop bool) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(l string) { c.Write([]byte(l + "\r\n")) }
	say("220 raw ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch cmd := strings.ToUpper(line); {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-raw")
			for _, e := range s.ext {
				say("250-" + e)
			}
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"):
			s.mu.Lock()
			s.cmds = append(s.cmds, line)
			s.mu.Unlock()
			if strings.HasPrefix(cmd, "RCPT TO:<BAD") {
				say("550 5.1.1 no such user")
			} else {
				say("250 ok")
			}
		case cmd == "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.bodies = append(s.bodies, b.String())
			s.mu.Unlock()
			if drop {
				return // taken, but never answered
			}
			// What came with the end of data is buffered already: a
			// pipelining client's next MAIL.
			next, _ := r.Peek(r.Buffered())
			s.mu.Lock()
			s.ahead = append(s.ahead, strings.HasPrefix(string(next), "MAIL FROM:"))
			s.mu.Unlock()
			if strings.Contains(b.String(), "FAIL451") {
				say("451 4.3.0 try later")
			} else {
				say("250 2.0.0 queued as 7")
			}
		case cmd == "RSET", cmd == "NOOP":
			say("250 ok")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("500 what")
		}
	}
}

// commands returns the MAIL and RCPT lines received so far.
func (s *rawServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmds)
}

// messages returns the contents received so far.
func (s *rawServer) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}
