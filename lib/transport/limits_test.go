package transport

import (
	"context"
	"errors"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// holder is a handler that keeps each request's frame (and so its share of
// the budgets) until released, and tells which requests it entered.
type holder struct {
	entered chan string
	release chan struct{}
}

func newHolder() *holder {
	return &holder{entered: make(chan string, 16), release: make(chan struct{})}
}

func (h *holder) handle(_ context.Context, _ identity.PublicKey, req []byte) ([]byte, error) {
	h.entered <- string(req[:1])
	<-h.release
	return req[:1], nil
}

// expect waits for the request tagged tag to be handled.
func (h *holder) expect(t *testing.T, tag string) {
	t.Helper()
	select {
	case got := <-h.entered:
		if got != tag {
			t.Fatalf("handled %q, want %q", got, tag)
		}
	case <-time.After(testTimeout):
		t.Fatalf("request %q not handled", tag)
	}
}

// refuseFor checks that no request is handled for a while.
func (h *holder) refuseFor(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-h.entered:
		t.Fatalf("request %q handled while the budget was spent", got)
	case <-time.After(d):
	}
}

func frameOf(tag byte, size int) []byte {
	b := make([]byte, size)
	b[0] = tag
	return b
}

// TestReadBudgetShared checks that the read budget is shared by every
// connection: strangers together hold at most half of it, so a second
// stranger's full-size frame, on another connection, waits, while a known
// peer's is read at once.
func TestReadBudgetShared(t *testing.T) {
	server, friend := newIdentity(t), newIdentity(t)
	strangers := []*identity.Identity{newIdentity(t), newIdentity(t)}
	const size = 32 << 10
	h := newHolder()
	cfg := Config{
		MaxFrame:   size,
		ReadBudget: 2 * size,
		Admit: func(p identity.PublicKey) (bool, error) {
			return p == friend.Public(), nil
		},
	}
	l := listen(t, server, cfg, RequestFunc(h.handle))
	ctx := testContext(t)
	done := make(chan error, 3)
	send := func(id *identity.Identity, tag byte) {
		c := dialListener(t, l, server, id, Config{})
		go func() {
			_, err := c.Request(ctx, frameOf(tag, size))
			done <- err
		}()
	}
	send(strangers[0], 'a')
	h.expect(t, "a")
	send(strangers[1], 'b')
	var reset *ResetError
	if err := wait(t, done); !errors.As(err, &reset) || reset.Code != CodeBusy {
		t.Fatalf("second stranger's frame: %v, want a reset with CodeBusy", err)
	}
	send(friend, 'f')
	h.expect(t, "f")
	close(h.release)
	send(strangers[1], 'b')
	h.expect(t, "b")
	for range 3 {
		if err := wait(t, done); err != nil {
			t.Error(err)
		}
	}
}

// TestNetConnBudget checks that frames read through NetConn (the device
// protocol) draw on the same budget: a second stranger's frame is
// refused busy while the first holds the strangers' share.
func TestNetConnBudget(t *testing.T) {
	server := newIdentity(t)
	const size = 32 << 10
	h := newHolder()
	cfg := Config{
		MaxFrame:   size,
		ReadBudget: 2 * size,
		Admit:      func(identity.PublicKey) (bool, error) { return false, nil },
	}
	l := listen(t, server, cfg, StreamFunc(func(_ context.Context, _ identity.PublicKey, s *Stream) {
		nc := s.NetConn()
		req, err := wire.ReadFrame(nc, size)
		if err != nil {
			return
		}
		h.entered <- string(req[:1])
		<-h.release
		wire.WriteFrame(nc, req[:1])
	}))
	ctx := testContext(t)
	done := make(chan error, 2)
	for _, tag := range []byte{'a', 'b'} {
		device, err := identity.Generate(identity.KindDevice, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c := dialListener(t, l, server, device, Config{})
		go func() {
			s, err := c.OpenStream(ctx)
			if err == nil {
				err = wire.WriteFrame(s.NetConn(), frameOf(tag, size))
			}
			if err == nil {
				_, err = wire.ReadFrame(s.NetConn(), size)
			}
			done <- err
		}()
		if tag == 'a' {
			h.expect(t, "a")
		}
	}
	var reset *ResetError
	if err := wait(t, done); !errors.As(err, &reset) || reset.Code != CodeBusy {
		t.Errorf("second stranger's frame: %v, want a reset with CodeBusy", err)
	}
	h.refuseFor(t, 300*time.Millisecond)
	close(h.release)
	if err := wait(t, done); err != nil {
		t.Error(err)
	}
}

// TestConnectionsPerAddress checks that a listener refuses a connection
// over MaxConnsPerAddr before TLS, and takes one again once another
// closed.
func TestConnectionsPerAddress(t *testing.T) {
	server := newIdentity(t)
	l := listen(t, server, Config{MaxConnsPerAddr: 2}, echo)
	ctx := testContext(t)
	var conns []*Conn
	for range 2 {
		conns = append(conns, dialListener(t, l, server, newIdentity(t), Config{}))
	}
	_, err := Dial(ctx, l.Addr().String(), newIdentity(t).Signer(), server.Public(), Config{})
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("third connection: %v, want ErrHandshake (refused)", err)
	}
	t.Logf("refused: %v", err)
	conns[0].Close()
	waitFor(t, "the closed connection to be counted out", func() bool { return l.sh.connections() < 2 })
	c := dialListener(t, l, server, newIdentity(t), Config{})
	if _, err := c.Request(ctx, []byte("x")); err != nil {
		t.Errorf("after one closed: %v", err)
	}
}

// TestMaxConns checks the cap on connections in all.
func TestMaxConns(t *testing.T) {
	server := newIdentity(t)
	l := listen(t, server, Config{MaxConns: 1}, echo)
	dialListener(t, l, server, newIdentity(t), Config{})
	_, err := Dial(testContext(t), l.Addr().String(), newIdentity(t).Signer(), server.Public(), Config{})
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("second connection: %v, want ErrHandshake (refused)", err)
	}
}

// TestRequestTimeout checks that a request must be in, frame and end of
// stream, within RequestTimeout of the stream's arrival, though its first
// bytes came in time.
func TestRequestTimeout(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	l := listen(t, server, Config{RequestTimeout: 300 * time.Millisecond}, echo)
	c := dialListener(t, l, server, client, Config{})
	for _, tc := range []struct {
		name string
		send func(*Stream) error
	}{
		{"half a frame", func(s *Stream) error {
			_, err := s.NetConn().Write([]byte{0, 0, 0, 10, 1, 2})
			return err
		}},
		{"a frame and no end", func(s *Stream) error { return s.WriteFrame([]byte("no end")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.OpenStream(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := tc.send(s); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = s.ReadFrame()
			var reset *ResetError
			if !errors.As(err, &reset) || reset.Code != CodeTimeout {
				t.Errorf("got %v after %v, want a reset with CodeTimeout", err, time.Since(start))
			}
		})
	}
}

// TestStrangerStreams checks that strangers' streams beyond
// MaxStrangerStreams are reset with CodeBusy at once, and that a known
// peer's are not counted.
func TestStrangerStreams(t *testing.T) {
	server, friend, stranger := newIdentity(t), newIdentity(t), newIdentity(t)
	cfg := Config{
		MaxStrangerStreams: 2,
		Admit:              func(p identity.PublicKey) (bool, error) { return p == friend.Public(), nil },
	}
	l := listen(t, server, cfg, echo)
	ctx := testContext(t)
	c := dialListener(t, l, server, stranger, Config{})
	for range 2 { // open and silent: they hold their places
		s, err := c.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.NetConn().Write([]byte{0, 0}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two stranger streams", func() bool { return l.sh.strangerStreams.Load() == 2 })
	s, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.NetConn().Write([]byte{0}) // a stream exists for the peer once it carries something
	_, err = s.ReadFrame()
	var reset *ResetError
	if !errors.As(err, &reset) || reset.Code != CodeBusy {
		t.Errorf("third stranger stream: %v, want a reset with CodeBusy", err)
	}
	if _, err := dialListener(t, l, server, friend, Config{}).Request(ctx, []byte("friend")); err != nil {
		t.Errorf("known peer: %v", err)
	}
}

// TestLongLivedStream checks that the request deadline bounds each frame
// of a long-lived stream, not the wait between them: a device's --follow
// outlives it.
func TestLongLivedStream(t *testing.T) {
	server := newIdentity(t)
	device, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 200 * time.Millisecond
	cfg := Config{FirstFrameTimeout: timeout, RequestTimeout: timeout}
	l := listen(t, server, cfg, StreamFunc(func(_ context.Context, _ identity.PublicKey, s *Stream) {
		nc := s.NetConn()
		for {
			req, err := wire.ReadFrame(nc, 1<<10)
			if err != nil {
				return
			}
			if wire.WriteFrame(nc, req) != nil {
				return
			}
		}
	}))
	c := dialListener(t, l, server, device, Config{})
	s, err := c.OpenStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nc := s.NetConn()
	for i := range 3 {
		if i > 0 {
			time.Sleep(2 * timeout) // longer than both deadlines, between requests
		}
		if err := wire.WriteFrame(nc, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if got, err := wire.ReadFrame(nc, 1<<10); err != nil || len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("request %d: %v, %v", i, got, err)
		}
	}
}
