package transport

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := NewPool(newIdentity(t).Signer(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPoolSharesConnection(t *testing.T) {
	server := newIdentity(t)
	l := listen(t, server, Config{}, echo)
	p := newPool(t, Config{})
	addr, ctx := l.Addr().String(), testContext(t)

	conns := make([]*Conn, 20)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := p.Conn(ctx, addr, server.Public())
			if err != nil {
				t.Error(err)
				return
			}
			conns[i] = c
			if _, err := p.Request(ctx, addr, server.Public(), []byte("hi")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, c := range conns {
		if c != conns[0] {
			t.Fatal("the pool dialed more than one connection")
		}
	}
	if n := connCount(l); n != 1 {
		t.Errorf("listener has %d connections, want 1", n)
	}
}

func TestPoolKeysByExpectedKey(t *testing.T) {
	server, other := newIdentity(t), newIdentity(t)
	l := listen(t, server, Config{}, echo)
	p := newPool(t, Config{})
	addr, ctx := l.Addr().String(), testContext(t)
	var mismatch *KeyMismatchError
	if _, err := p.Request(ctx, addr, other.Public(), []byte("x")); !errors.As(err, &mismatch) {
		t.Fatalf("request expecting another key: %v, want a *KeyMismatchError", err)
	}
	if _, err := p.Request(ctx, addr, server.Public(), []byte("x")); err != nil {
		t.Fatalf("request expecting the right key: %v", err)
	}
	// A failed dial is not remembered.
	if _, err := p.Request(ctx, addr, other.Public(), []byte("x")); !errors.As(err, &mismatch) {
		t.Fatalf("second request expecting another key: %v", err)
	}
}

// TestPoolReconnectsAfterRestart restarts the listener gracefully on the same
// address: the pool sees its connection closed and dials again.
func TestPoolReconnectsAfterRestart(t *testing.T) {
	server := newIdentity(t)
	l := listen(t, server, Config{}, echo)
	p := newPool(t, Config{})
	addr, ctx := l.Addr().String(), testContext(t)
	c1, err := p.Conn(ctx, addr, server.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Request(ctx, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := l.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c1.Done():
	case <-time.After(testTimeout):
		t.Fatal("the pool's connection outlived the listener")
	}
	listenAt(t, addr, server, Config{}, echo)
	if _, err := p.Request(ctx, addr, server.Public(), []byte("two")); err != nil {
		t.Fatalf("request after the restart: %v", err)
	}
	if c2, _ := p.Conn(ctx, addr, server.Public()); c2 == c1 {
		t.Error("the pool kept the dead connection")
	}
}

// TestPoolAfterCrash kills the listener without a word to its peers and
// starts another with the same identity on the same address. Its stateless
// reset, keyed by the identity, ends the stale connection at once rather
// than after the idle timeout; the next request dials again.
func TestPoolAfterCrash(t *testing.T) {
	server := newIdentity(t)
	l := listen(t, server, Config{}, echo)
	p := newPool(t, Config{})
	addr, ctx := l.Addr().String(), testContext(t)
	if _, err := p.Request(ctx, addr, server.Public(), []byte("one")); err != nil {
		t.Fatal(err)
	}
	l.tr.Close() // drops every connection silently, as a crash would
	l.udp.Close()
	listenAt(t, addr, server, Config{}, echo)

	start := time.Now()
	_, err := p.Request(ctx, addr, server.Public(), []byte("two"))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("request on the stale connection: %v, want ErrClosed", err)
	}
	if d := time.Since(start); d > DefaultIdleTimeout/2 {
		t.Errorf("the stale connection took %v to fail", d)
	}
	t.Logf("stale connection failed after %v: %v", time.Since(start), err)
	if _, err := p.Request(ctx, addr, server.Public(), []byte("three")); err != nil {
		t.Fatalf("request after the crash: %v", err)
	}
}

func TestPoolClose(t *testing.T) {
	server := newIdentity(t)
	l := listen(t, server, Config{}, echo)
	p := newPool(t, Config{})
	addr, ctx := l.Addr().String(), testContext(t)
	c, err := p.Conn(ctx, addr, server.Public())
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatal("connection open after Pool.Close")
	}
	if _, err := p.Request(ctx, addr, server.Public(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("request on a closed pool: %v, want ErrClosed", err)
	}
}
