package transport

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smvs/lib/identity"
)

// relay forwards UDP between its clients and target, and drops every
// packet both ways while blocked: a partition of the path.
type relay struct {
	conn    *net.UDPConn
	target  *net.UDPAddr
	blocked atomic.Bool

	mu       sync.Mutex
	upstream map[string]*net.UDPConn
}

func newRelay(t *testing.T, target net.Addr) *relay {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{conn: c, target: target.(*net.UDPAddr), upstream: make(map[string]*net.UDPConn)}
	t.Cleanup(func() {
		c.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, u := range r.upstream {
			u.Close()
		}
	})
	go r.serve()
	return r
}

func (r *relay) addr() string { return r.conn.LocalAddr().String() }

func (r *relay) serve() {
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if r.blocked.Load() {
			continue
		}
		r.mu.Lock()
		up := r.upstream[from.String()]
		if up == nil {
			if up, err = net.DialUDP("udp", nil, r.target); err != nil {
				r.mu.Unlock()
				continue
			}
			r.upstream[from.String()] = up
			go r.back(up, from)
		}
		r.mu.Unlock()
		up.Write(buf[:n])
	}
}

// back forwards what target sends to one client.
func (r *relay) back(up *net.UDPConn, client *net.UDPAddr) {
	buf := make([]byte, 65536)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		if !r.blocked.Load() {
			r.conn.WriteToUDP(buf[:n], client)
		}
	}
}

// TestDialAcrossHeal: a dial begun during a partition completes about a
// second after it heals, not when QUIC's backed-off retransmission of its
// first packet comes (seconds later): a fresh attempt starts every
// redialEvery.
func TestDialAcrossHeal(t *testing.T) {
	t.Parallel()
	server := newIdentity(t)
	l := listen(t, server, Config{}, echo)
	r := newRelay(t, l.Addr())
	r.blocked.Store(true)
	p := newPool(t, Config{HandshakeTimeout: 15 * time.Second})
	healed := make(chan time.Time, 1)
	time.AfterFunc(5*time.Second, func() {
		r.blocked.Store(false)
		healed <- time.Now()
	})
	if _, err := p.Request(testContext(t), r.addr(), server.Public(), []byte("hi")); err != nil {
		t.Fatal(err)
	}
	after := time.Since(<-healed)
	t.Logf("the dial completed %v after the heal", after)
	if after > 3*time.Second {
		t.Errorf("the dial completed %v after the heal, want about %v", after, time.Second)
	}
}

// TestPoolReplacesSilentConnection: a request in flight when the path
// goes silent for long (its retransmissions backed off to seconds) ends
// soon after the heal: the pool dials a fresh connection and closes the
// silent one, and the request sent again goes over the new one.
func TestPoolReplacesSilentConnection(t *testing.T) {
	t.Parallel()
	server := newIdentity(t)
	l := listen(t, server, Config{}, echo)
	r := newRelay(t, l.Addr())
	p := newPool(t, Config{KeepAlive: 200 * time.Millisecond})
	ctx := testContext(t)
	c1, err := p.Conn(ctx, r.addr(), server.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Request(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	r.blocked.Store(true)
	healed := make(chan time.Time, 1)
	time.AfterFunc(8*time.Second, func() {
		r.blocked.Store(false)
		healed <- time.Now()
	})
	_, err = c1.Request(ctx, []byte("during"))
	switch {
	case errors.Is(err, ErrClosed):
		// Replaced: send it again.
		if _, err := p.Request(ctx, r.addr(), server.Public(), []byte("during")); err != nil {
			t.Fatalf("again, after the heal: %v", err)
		}
	case err != nil:
		t.Fatalf("the request in flight: %v, want ErrClosed or an answer", err)
	}
	after := time.Since(<-healed)
	t.Logf("the request went through %v after the heal (first try: %v)", after, err)
	if after > 3*time.Second {
		t.Errorf("the request went through %v after the heal, want about %v", after, time.Second)
	}
	if c2, err := p.Conn(ctx, r.addr(), server.Public()); err != nil || c2 == c1 {
		t.Errorf("the pool still hands out the silent connection (%v)", err)
	}
}

// TestPoolClosesIdleConnection: keep-alives keep a connection open; the
// pool closes one no request used for IdleTimeout.
func TestPoolClosesIdleConnection(t *testing.T) {
	t.Parallel()
	server := newIdentity(t)
	l := listen(t, server, Config{}, echo)
	p := newPool(t, Config{KeepAlive: 100 * time.Millisecond, IdleTimeout: time.Second})
	ctx := testContext(t)
	c, err := p.Request(ctx, l.Addr().String(), server.Public(), []byte("hi"))
	if err != nil || len(c) == 0 {
		t.Fatal(err)
	}
	conn, err := p.Conn(ctx, l.Addr().String(), server.Public())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Done():
	case <-time.After(testTimeout):
		t.Fatal("an idle connection stayed open")
	}
}

// crashWithRequestInFlight starts a listener whose handler takes a request
// and never answers, sends it one through a pool with keep-alives, and
// crashes the listener (no word to the peer) once the request is taken;
// with restart, another listener with the same identity starts on the same
// address at once. It returns the request's error and how long after the
// crash it came, failing the test if none came within within.
func crashWithRequestInFlight(t *testing.T, restart bool, within time.Duration) (time.Duration, error) {
	t.Helper()
	server := newIdentity(t)
	took := make(chan struct{}, 1)
	hang := RequestFunc(func(ctx context.Context, _ identity.PublicKey, _ []byte) ([]byte, error) {
		took <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	l := listen(t, server, Config{}, hang)
	addr := l.Addr().String()
	p := newPool(t, Config{KeepAlive: 200 * time.Millisecond})
	failed := make(chan error, 1)
	go func() {
		_, err := p.Request(testContext(t), addr, server.Public(), []byte("never answered"))
		failed <- err
	}()
	<-took
	time.Sleep(100 * time.Millisecond) // its packets acknowledged
	l.tr.Close()
	l.udp.Close()
	if restart {
		listenAt(t, addr, server, Config{}, echo)
	}
	start := time.Now()
	select {
	case err := <-failed:
		return time.Since(start), err
	case <-time.After(within):
		t.Fatal("the request still waits for the crashed peer's answer")
		return 0, nil
	}
}

// TestKeepAliveFindsRestartedPeer: a request the peer took (its packets
// all acknowledged) and never answered, because the peer crashed and came
// back at once, fails within a few keep-alive periods: the restarted
// peer's stateless reset answers the keep-alive. Without keep-alives
// nothing is sent, and the request waits out the idle timeout.
func TestKeepAliveFindsRestartedPeer(t *testing.T) {
	t.Parallel()
	after, err := crashWithRequestInFlight(t, true, testTimeout/2)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("the request: %v, want ErrClosed", err)
	}
	t.Logf("failed %v after the restart: %v", after, err)
}

// TestPoolDropsConnectionToGonePeer: a request in flight to a peer that
// crashed and did not come back at that address fails within replaceWait
// of the silence, not at the idle timeout: its caller can look the peer up
// again (it may have restarted elsewhere).
func TestPoolDropsConnectionToGonePeer(t *testing.T) {
	t.Parallel()
	after, err := crashWithRequestInFlight(t, false, testTimeout)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("the request: %v, want ErrClosed", err)
	}
	t.Logf("failed %v after the crash: %v", after, err)
}
