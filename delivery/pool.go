package delivery

import (
	"context"
	"io"
	"sync"
	"time"

	"mailout/message"
)

// Pool is a transport that keeps its connections open between messages, as
// a batch wants: a RelayPool or an MXPool, DKIM-signed when asked. A Pool is
// for one goroutine at a time; Close it when done.
type Pool interface {
	Transport
	io.Closer
}

// NewPools returns n pools for the route o describes, one per worker. Through
// a relay they are pools of one Relay (see Relay.Pool); direct, each keeps a
// connection per domain (see MX.Pool); through an HTTP API they share one
// client, whose keep-alive connections serve whichever worker sends next.
func NewPools(o Options, n int) ([]Pool, error) {
	var pool func() Pool
	switch k := o.kind(); {
	case k.IsAPI():
		t, err := New(o) // signs already
		if err != nil {
			return nil, err
		}
		pools := make([]Pool, n)
		for i := range pools {
			pools[i] = sharedPool{t}
		}
		return pools, nil
	case k == TransportSMTP:
		r := NewRelay(o.RelayConfig())
		pool = func() Pool {
			p := r.Pool()
			if o.Now != nil {
				p.now = o.Now
			}
			return p
		}
	case k == TransportMX:
		m := NewMX(o.MXConfig())
		pool = func() Pool { return m.Pool() }
	default:
		return nil, o.unknown()
	}
	pools := make([]Pool, n)
	for i := range pools {
		p := pool()
		if o.DKIM != nil {
			s := &signing{next: p, opts: *o.DKIM}
			if rp, ok := p.(*RelayPool); ok {
				p = signedRelayPool{RelayPool: rp, signing: s}
			} else {
				p = signedPool{Transport: s, Closer: p}
			}
		}
		pools[i] = p
	}
	return pools, nil
}

// Pipeliner is a Pool that can hold a message back until the next one's
// envelope goes out behind it: see [RelayPool.Send].
type Pipeliner interface {
	Pool
	Send(ctx context.Context, env message.Envelope, msg message.Message) []Sent
	Flush() (Sent, bool)
}

// signedRelayPool is a RelayPool that signs every message, pipelined or not.
type signedRelayPool struct {
	*RelayPool
	signing *signing
}

func (p signedRelayPool) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	return p.signing.Deliver(ctx, env, msg)
}

func (p signedRelayPool) Send(ctx context.Context, env message.Envelope, msg message.Message) []Sent {
	sm, res, err := p.signing.sign(env, msg)
	if err != nil {
		// This message goes nowhere, so the one held back is decided
		// first: the outcomes stay in the order of the messages.
		var out []Sent
		if st, ok := p.RelayPool.Flush(); ok {
			out = append(out, st)
		}
		return append(out, Sent{res, err})
	}
	return p.RelayPool.Send(ctx, env, sm)
}

// sharedPool is a transport every worker shares, with nothing to close.
type sharedPool struct{ Transport }

func (sharedPool) Close() error { return nil }

// signedPool signs for a pool and still closes it.
type signedPool struct {
	Transport
	io.Closer
}

// relayShared is what every pool of a Relay shares: one secret lookup and
// one gate for the first connection.
type relayShared struct {
	once  sync.Once
	relay *Relay // the Relay, its secret asked for at most once
	gate  openGate
}

// Pool returns a transport that keeps one session open across messages:
// opened at the first message, reset (RSET) before a message that follows
// a pause, replaced when it broke. All pools of a Relay ask for the secret
// at most once (one prompt, one password_command run), and their first
// connections wait for one to come up, so that wrong credentials cost one
// failed AUTH, not one per pool: a server counting failures may lock the
// account. An OAuth secret (Auth.Bearer) is asked for at every connection:
// its source hands out the cached token until it is due for renewal.
func (r *Relay) Pool() *RelayPool {
	sh := &r.shared
	sh.once.Do(func() {
		o := r.opts
		// An OAuth source caches its token and renews it before it runs
		// out; asked once, a token would outlive its hour in a long batch.
		if !o.Auth.Bearer {
			o.Auth.Secret = OnceSecret(o.Auth.Secret)
		}
		sh.relay = &Relay{opts: o, log: r.log}
	})
	return &RelayPool{relay: sh.relay, gate: &sh.gate, now: time.Now}
}

// OnceSecret returns a secret lookup that asks f at most once, however many
// connections need the secret: one prompt, one password_command run.
func OnceSecret(f func(context.Context) (string, error)) func(context.Context) (string, error) {
	if f == nil {
		return nil
	}
	var (
		once   sync.Once
		secret string
		err    error
	)
	return func(ctx context.Context) (string, error) {
		once.Do(func() { secret, err = f(ctx) })
		return secret, err
	}
}

// RelayPool is one goroutine's kept session to a relay.
type RelayPool struct {
	relay    *Relay
	gate     *openGate
	now      func() time.Time
	s        *Session
	lastUsed time.Time
}

// idleCheck is how long a kept session may sit unused before the next
// message first checks it with RSET: servers close idle connections, but a
// busy batch should not pay a round trip per message for that.
const idleCheck = 2 * time.Second

// openGate holds back the pools' first connections until one came up.
type openGate struct {
	mu  sync.Mutex
	ok  bool  // a connection came up: the credentials work
	err error // fatal: no connection can come up
}

// open opens a session through the gate.
func (p *RelayPool) open(ctx context.Context) (*Session, error) {
	g := p.gate
	g.mu.Lock()
	if g.ok {
		g.mu.Unlock()
		return p.relay.Open(ctx)
	}
	defer g.mu.Unlock()
	if g.err != nil {
		return nil, g.err
	}
	s, err := p.relay.Open(ctx)
	switch {
	case err == nil:
		g.ok = true
	case IsFatal(err):
		g.err = err
	}
	return s, err
}

// Deliver sends msg over the kept session, opening one when there is none.
// It must not be called while [RelayPool.Send] holds a message: Flush first.
func (p *RelayPool) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	reused, res, err := p.session(ctx, env)
	if err != nil {
		return res, err
	}
	res, err = p.s.Deliver(ctx, env, msg)
	if p.s.Broken() {
		p.Close()
		if reused && DroppedBeforeMail(err) {
			// The kept connection was gone before anything was sent:
			// send on a fresh one.
			return p.Deliver(ctx, env, msg)
		}
	}
	p.lastUsed = p.now()
	return res, err
}

// session makes sure p.s is a session that can take a message, and says
// whether it was kept from an earlier one. When none can be opened, it
// returns the failure as a result for every recipient.
func (p *RelayPool) session(ctx context.Context, env message.Envelope) (reused bool, _ *Result, _ error) {
	reused = p.s != nil
	if reused && p.s.cn.held == nil && p.now().Sub(p.lastUsed) > idleCheck {
		if err := p.s.Reset(); err != nil {
			p.Close()
			reused = false
		}
	}
	if p.s == nil {
		s, err := p.open(ctx)
		if err != nil {
			res := &Result{Transport: string(TransportSMTP)}
			res.failAll(env.To, p.relay.opts.Host, asError(err))
			return false, res, err
		}
		p.s = s
	}
	return reused, nil, nil
}

// Sent is the outcome of one message handed to [RelayPool.Send].
type Sent struct {
	Result *Result
	Err    error
}

// relaySent is a conn's outcome as a relay's Sent.
func (s *sent) relaySent() Sent {
	return Sent{&Result{Transport: string(TransportSMTP), Recipients: s.rs}, s.err}
}

// Send delivers msg like Deliver, except that through a server that offers
// PIPELINING it returns once the message is written, its reply unread: the
// next Send writes its envelope behind this message's end of data, in the
// same write, and reads both replies (RFC 2920 section 3.1). That is one
// round trip per message instead of two. Send returns the outcomes it
// decided, oldest first: of the message the previous Send held back, then
// of this one unless it is held back in turn. [RelayPool.Flush] decides a
// held message; call it before the pool sits idle.
func (p *RelayPool) Send(ctx context.Context, env message.Envelope, msg message.Message) []Sent {
	reused, res, err := p.session(ctx, env)
	if err != nil {
		return []Sent{{res, err}}
	}
	if !p.s.cn.pipelines() {
		res, err := p.Deliver(ctx, env, msg)
		return []Sent{{res, err}}
	}
	var out []Sent
	prev, cur := p.s.cn.sendAhead(env, msg)
	if prev != nil {
		out = append(out, prev.relaySent())
	}
	if p.s.Broken() {
		p.Close()
		if reused && cur != nil && DroppedBeforeMail(cur.err) {
			// The kept connection was gone before this message's
			// envelope got an answer: send it on a fresh one.
			return append(out, p.Send(ctx, env, msg)...)
		}
	}
	p.lastUsed = p.now()
	if cur != nil {
		out = append(out, cur.relaySent())
	}
	return out
}

// Flush decides the message [RelayPool.Send] holds back, if any: ok is
// false when there is none.
func (p *RelayPool) Flush() (_ Sent, ok bool) {
	if p.s == nil || p.s.cn.held == nil {
		return Sent{}, false
	}
	r := p.s.cn.flushHeld()
	if p.s.Broken() {
		p.Close()
	}
	p.lastUsed = p.now()
	return r.relaySent(), true
}

// Close ends the kept session, if any.
func (p *RelayPool) Close() error {
	if p.s != nil {
		p.s.Close()
		p.s = nil
	}
	return nil
}
