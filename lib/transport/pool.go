package transport

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"smvs/lib/identity"
)

// Pool keeps one connection per (address, expected key) and dials again
// when that connection is over, so that many requests to a peer share one
// handshake.
//
// With Config.KeepAlive set, it also watches each connection (watch): one
// on which nothing has arrived from the peer for silentAfter keep-alives
// is handed out no more, and closed as soon as a fresh one completes its
// handshake, or after replaceWait without one, so that requests stuck on
// a broken path (or sent to a peer that is gone from that address) fail
// and can go again at once, rather than waiting out QUIC's backed-off
// retransmissions or its idle timeout; and one without a request for
// IdleTimeout is closed, as the keep-alives would keep it open for good.
type Pool struct {
	cert tls.Certificate
	cfg  Config
	h    Handler // serves the streams peers open on the pool's connections; nil: none

	mu     sync.Mutex
	closed bool
	conns  map[poolKey]*poolEntry
	// live are the connections the pool looks after, handed out or not
	// (one being replaced is no longer in conns), and serving counts
	// their serve loops: Close closes them all and waits for the streams
	// being served, so that no handler outlives the pool.
	live    map[*Conn]struct{}
	serving sync.WaitGroup
}

type poolKey struct {
	addr   string
	expect identity.PublicKey
}

// poolEntry is a connection being dialed (ready open) or dialed.
type poolEntry struct {
	ready chan struct{}
	conn  *Conn
	err   error
}

// NewPool returns a Pool that dials as the host whose identity key signer
// holds, with cfg. If h is not nil, a peer may open streams on the
// connections the pool dialed to it (up to cfg.MaxIncomingStreams at
// once), and h serves them, with the peer key the handshake proved: a
// peer behind a NAT that dialed out can be reached back over its own
// connection (Listener.ConnFrom). A nil h accepts no streams.
func NewPool(signer crypto.Signer, cfg Config, h Handler) (*Pool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cert, err := newCertificate(signer)
	if err != nil {
		return nil, err
	}
	return &Pool{cert: cert, cfg: cfg, h: h, conns: make(map[poolKey]*poolEntry), live: make(map[*Conn]struct{})}, nil
}

// Conn returns the pool's live connection to addr authenticated as expect,
// dialing one if there is none. Callers asking at once share one dial, which
// is bounded by HandshakeTimeout rather than any one caller's ctx; each
// caller stops waiting when its ctx ends. A failed dial is not remembered:
// the next call dials again.
func (p *Pool) Conn(ctx context.Context, addr string, expect identity.PublicKey) (*Conn, error) {
	key := poolKey{addr, expect}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("transport: pool: %w", ErrClosed)
	}
	e := p.conns[key]
	if e != nil && e.over() {
		delete(p.conns, key)
		e = nil
	}
	if e == nil {
		e = &poolEntry{ready: make(chan struct{})}
		p.conns[key] = e
		go p.dial(key, e)
	}
	p.mu.Unlock()

	select {
	case <-e.ready:
		if e.err != nil {
			return nil, e.err
		}
		return e.conn, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("transport: dial %q: %w", addr, contextError(ctx))
	}
}

// over reports whether e's dial failed or its connection is over.
func (e *poolEntry) over() bool {
	select {
	case <-e.ready:
	default:
		return false // still dialing
	}
	if e.err != nil {
		return true
	}
	select {
	case <-e.conn.Done():
		return true
	default:
		return false
	}
}

func (p *Pool) dial(key poolKey, e *poolEntry) {
	conn, err := dial(context.Background(), key.addr, p.cert, ALPN, key.expect, p.cfg, p.h != nil)
	p.mu.Lock()
	e.conn, e.err = conn, err
	close(e.ready)
	if err != nil && p.conns[key] == e {
		delete(p.conns, key)
	}
	p.mu.Unlock()
	if err == nil {
		p.keep(key, conn)
	}
}

// keep starts looking after conn, the pool's connection for key, or
// closes it if the pool is closed.
func (p *Pool) keep(key poolKey, conn *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		conn.Close()
		return
	}
	p.live[conn] = struct{}{}
	// Forget the connection when it is over, so that a pool of many
	// peers does not keep dead ones.
	context.AfterFunc(conn.ctx, func() {
		p.forget(key, conn)
		p.mu.Lock()
		delete(p.live, conn)
		p.mu.Unlock()
	})
	if p.cfg.KeepAlive > 0 {
		go conn.track()
		go p.watch(key, conn)
	}
	if p.h != nil {
		p.serving.Go(func() { p.serve(conn) })
	}
}

// serve serves the streams conn's peer opens until conn is over.
func (p *Pool) serve(conn *Conn) {
	var handlers sync.WaitGroup
	defer handlers.Wait()
	for {
		qs, err := conn.qc.AcceptStream(conn.ctx)
		if err != nil {
			return
		}
		s := newStream(qs, conn)
		s.arm(time.Now())
		// A request served is a use too: the connection stays open while
		// its peer reaches this side over it (watch).
		conn.requests.Add(1)
		handlers.Go(func() {
			defer func() {
				conn.lastUsed.Store(time.Now().UnixNano())
				conn.requests.Add(-1)
			}()
			p.h.ServeStream(conn.ctx, conn.peer, s)
			s.Close()
		})
	}
}

// silentAfter is how many keep-alive periods of silence from the peer make
// a connection suspect, watchEvery how often watch looks, and replaceWait
// how long a suspect connection is kept while a fresh one is dialled.
const (
	silentAfter = 3
	watchEvery  = trackEvery
	replaceWait = 5 * time.Second
)

// watch looks after conn while it is open (see Pool).
func (p *Pool) watch(key poolKey, conn *Conn) {
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for {
		var now time.Time
		select {
		case <-conn.Done():
			return
		case now = <-tick.C:
		}
		if conn.requests.Load() == 0 && now.Sub(time.Unix(0, conn.lastUsed.Load())) > p.cfg.IdleTimeout {
			conn.Close()
			return
		}
		if conn.silentFor(now) > silentAfter*p.cfg.KeepAlive {
			p.replace(key, conn)
			return
		}
	}
}

// replace hands out no more of conn, which has gone silent, dials its
// peer again, and closes conn once a fresh connection is up or replaceWait
// has passed without one (the peer does not answer at that address: it
// moved, or is down), or at once if the pool closed: conn's requests fail
// with ErrClosed, and their callers can send them again at once, over the
// new connection or to wherever the peer is now.
func (p *Pool) replace(key poolKey, conn *Conn) {
	p.forget(key, conn)
	ctx, cancel := context.WithTimeout(context.Background(), replaceWait)
	defer cancel()
	context.AfterFunc(conn.ctx, cancel)
	reason := "replaced: the path went silent"
	if _, err := p.Conn(ctx, key.addr, key.expect); err != nil {
		reason = "the path went silent, and the peer does not answer at its address"
	}
	conn.CloseWithError(CodeNoError, reason)
}

// Request sends req to the peer at addr, which must present expect, over
// the pool's connection to it (see Conn.Request). It does not retry: a
// request that failed because the connection was over fails with an error
// matching ErrClosed, and the next request dials again.
func (p *Pool) Request(ctx context.Context, addr string, expect identity.PublicKey, req []byte) ([]byte, error) {
	return p.Exchange(ctx, addr, expect, req, nil)
}

// Exchange is Request for an exchange of more frames (see Conn.Exchange).
func (p *Pool) Exchange(ctx context.Context, addr string, expect identity.PublicKey, req []byte, more func(*Stream) ([]byte, error)) ([]byte, error) {
	c, err := p.Conn(ctx, addr, expect)
	if err != nil {
		return nil, err
	}
	resp, err := c.Exchange(ctx, req, more)
	if errors.Is(err, ErrClosed) {
		// The connection may learn it is over only after the request
		// does; don't hand it out again meanwhile.
		p.forget(poolKey{addr, expect}, c)
	}
	return resp, err
}

// forget drops c from the pool, if it is still the pool's connection for
// key, without closing it.
func (p *Pool) forget(key poolKey, c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.conns[key]; e != nil && e.conn == c {
		delete(p.conns, key)
	}
}

// Close closes every connection of the pool, and waits for the handlers
// of the streams its peers opened on them (their ctx ends); it dials no
// more.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := make([]*Conn, 0, len(p.live))
	for c := range p.live {
		conns = append(conns, c)
	}
	clear(p.conns)
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	p.serving.Wait()
	return nil
}
