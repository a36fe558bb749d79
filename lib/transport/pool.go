package transport

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"

	"smvs/lib/identity"
)

// Pool keeps one connection per (address, expected key) and dials again
// when that connection is over, so that many requests to a peer share one
// handshake.
type Pool struct {
	cert tls.Certificate
	cfg  Config

	mu     sync.Mutex
	closed bool
	conns  map[poolKey]*poolEntry
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
// holds, with cfg.
func NewPool(signer crypto.Signer, cfg Config) (*Pool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cert, err := newCertificate(signer)
	if err != nil {
		return nil, err
	}
	return &Pool{cert: cert, cfg: cfg, conns: make(map[poolKey]*poolEntry)}, nil
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
	conn, err := dial(context.Background(), key.addr, p.cert, ALPN, key.expect, p.cfg)
	p.mu.Lock()
	e.conn, e.err = conn, err
	close(e.ready)
	if err != nil && p.conns[key] == e {
		delete(p.conns, key)
	}
	closed := p.closed
	p.mu.Unlock()
	switch {
	case err != nil:
	case closed:
		conn.Close()
	default:
		// Forget the connection when it is over, so that a pool of many
		// peers does not keep dead ones.
		context.AfterFunc(conn.ctx, func() { p.forget(key, conn) })
	}
}

// Request sends req to the peer at addr, which must present expect, over
// the pool's connection to it (see Conn.Request). It does not retry: a
// request that failed because the connection was over fails with an error
// matching ErrClosed, and the next request dials again.
func (p *Pool) Request(ctx context.Context, addr string, expect identity.PublicKey, req []byte) ([]byte, error) {
	c, err := p.Conn(ctx, addr, expect)
	if err != nil {
		return nil, err
	}
	resp, err := c.Request(ctx, req)
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

// Close closes every connection of the pool; it dials no more.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	var conns []*Conn
	for _, e := range p.conns {
		select {
		case <-e.ready:
			if e.err == nil {
				conns = append(conns, e.conn)
			}
		default: // dial closes it when done
		}
	}
	clear(p.conns)
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return nil
}
