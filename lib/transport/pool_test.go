package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smvs/lib/identity"
)

func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := NewPool(newIdentity(t).Signer(), cfg, nil)
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

// TestRequestBack: a listener reaches a host that dialled it over that
// host's own connection (as when it is behind a NAT), and the Pool's
// handler answers; a Pool without a handler takes no streams.
func TestRequestBack(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	connected := make(chan identity.PublicKey, 1)
	l := listen(t, server, Config{Connected: func(peer identity.PublicKey) { connected <- peer }}, echo)
	back := RequestFunc(func(_ context.Context, peer identity.PublicKey, req []byte) ([]byte, error) {
		if peer != server.Public() {
			return nil, fmt.Errorf("request from %v", peer)
		}
		return append([]byte("back: "), req...), nil
	})
	p, err := NewPool(client.Signer(), Config{KeepAlive: 100 * time.Millisecond}, back)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := testContext(t)
	if _, err := p.Request(ctx, l.Addr().String(), server.Public(), []byte("out")); err != nil {
		t.Fatal(err)
	}
	if got := <-connected; got != client.Public() {
		t.Errorf("connected: %v, want the client", got)
	}
	c := l.ConnFrom(client.Public(), time.Second)
	if c == nil {
		t.Fatal("no connection from the client")
	}
	if resp, err := c.Request(ctx, []byte("hi")); err != nil || string(resp) != "back: hi" {
		t.Fatalf("request back: %q, %v", resp, err)
	}
	if l.ConnFrom(newIdentity(t).Public(), time.Second) != nil {
		t.Error("a connection from a key that never dialled")
	}

	other := newIdentity(t)
	p2, err := NewPool(other.Signer(), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if _, err := p2.Request(ctx, l.Addr().String(), server.Public(), []byte("out")); err != nil {
		t.Fatal(err)
	}
	<-connected
	c2 := l.ConnFrom(other.Public(), time.Second)
	if c2 == nil {
		t.Fatal("no connection from the pool without a handler")
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c2.Request(short, []byte("hi")); err == nil {
		t.Error("a pool without a handler answered a request back")
	}
}

// TestPoolCloseWaitsForHandlers: Close returns only once the handlers of
// the streams peers opened on the pool's connections are done, their ctx
// ended, so that nothing they touch is closed under them.
func TestPoolCloseWaitsForHandlers(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	l := listen(t, server, Config{}, echo)
	started := make(chan struct{})
	var done atomic.Bool
	slow := RequestFunc(func(ctx context.Context, _ identity.PublicKey, _ []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		time.Sleep(100 * time.Millisecond) // finishing its writes
		done.Store(true)
		return nil, ctx.Err()
	})
	p, err := NewPool(client.Signer(), Config{}, slow)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if _, err := p.Request(ctx, l.Addr().String(), server.Public(), []byte("out")); err != nil {
		t.Fatal(err)
	}
	c := l.ConnFrom(client.Public(), time.Second)
	if c == nil {
		t.Fatal("no connection from the client")
	}
	go c.Request(ctx, []byte("back")) //nolint:errcheck // it fails when the pool closes
	select {
	case <-started:
	case <-time.After(testTimeout):
		t.Fatal("the request back did not reach the handler")
	}
	p.Close()
	if !done.Load() {
		t.Error("Close returned while a handler was still running")
	}
}
