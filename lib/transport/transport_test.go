package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

func TestRequestRoundTrip(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	var gotPeer atomic.Value
	l := listen(t, server, Config{}, RequestFunc(func(_ context.Context, peer identity.PublicKey, req []byte) ([]byte, error) {
		gotPeer.Store(peer)
		return append([]byte("re: "), req...), nil
	}))
	c := dialListener(t, l, server, client, Config{})
	if c.Peer() != server.Public() {
		t.Errorf("Peer() = %s, want %s", c.Peer(), server.Public())
	}
	for i := range 3 {
		req := fmt.Appendf(nil, "hello %d", i)
		resp, err := c.Request(testContext(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("re: "), req...); !bytes.Equal(resp, want) {
			t.Fatalf("response %q, want %q", resp, want)
		}
	}
	if p := gotPeer.Load().(identity.PublicKey); p != client.Public() || p.Kind() != identity.KindIdentity {
		t.Errorf("handler saw peer %s (%v), want %s", p, p.Kind(), client.Public())
	}
	if got := serverConn(t, l).Peer(); got != client.Public() {
		t.Errorf("listener's connection has peer %s, want %s", got, client.Public())
	}
}

// TestHandshakeParameters checks what both sides negotiated: TLS 1.3, ALPN
// smvs/1, the hybrid post-quantum group, no resumption.
func TestHandshakeParameters(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	l := listen(t, server, Config{}, echo)
	c := dialListener(t, l, server, client, Config{})
	if _, err := c.Request(testContext(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
	for side, cs := range map[string]tls.ConnectionState{"dialer": c.TLS(), "listener": serverConn(t, l).TLS()} {
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("%s: TLS version %#x, want 1.3", side, cs.Version)
		}
		if cs.CurveID != tls.X25519MLKEM768 {
			t.Errorf("%s: key exchange %v, want X25519MLKEM768", side, cs.CurveID)
		}
		if cs.NegotiatedProtocol != ALPN {
			t.Errorf("%s: ALPN %q, want %q", side, cs.NegotiatedProtocol, ALPN)
		}
		if cs.DidResume {
			t.Errorf("%s: session resumed", side)
		}
		if len(cs.PeerCertificates) != 1 {
			t.Errorf("%s: %d peer certificates, want 1", side, len(cs.PeerCertificates))
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	const streams = 8
	var inFlight, maxInFlight atomic.Int64
	l := listen(t, server, Config{MaxIncomingStreams: streams}, RequestFunc(func(_ context.Context, _ identity.PublicKey, req []byte) ([]byte, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		return req, nil
	}))
	c := dialListener(t, l, server, client, Config{})
	ctx := testContext(t)
	const workers, each = 50, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				req := fmt.Appendf(nil, "%d/%d", w, i)
				resp, err := c.Request(ctx, req)
				if err == nil && !bytes.Equal(resp, req) {
					err = fmt.Errorf("response %q to %q", resp, req)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := maxInFlight.Load(); m > streams {
		t.Errorf("%d requests in flight at once, limit %d", m, streams)
	}
	if connCount(l) != 1 {
		t.Errorf("%d connections, want 1", connCount(l))
	}
}

func TestKeyMismatch(t *testing.T) {
	server, client, other := newIdentity(t), newIdentity(t), newIdentity(t)
	var called atomic.Bool
	l := listen(t, server, Config{}, RequestFunc(func(context.Context, identity.PublicKey, []byte) ([]byte, error) {
		called.Store(true)
		return []byte("x"), nil
	}))
	_, err := Dial(testContext(t), l.Addr().String(), client.Signer(), other.Public(), Config{})
	var mismatch *KeyMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("Dial to a listener with another key: %v, want a *KeyMismatchError", err)
	}
	if mismatch.Expected != other.Public() || mismatch.Got != server.Public() {
		t.Errorf("mismatch expected %s got %s, want expected %s got %s", mismatch.Expected, mismatch.Got, other.Public(), server.Public())
	}
	if !errors.Is(err, ErrHandshake) {
		t.Errorf("%v does not match ErrHandshake", err)
	}
	// The dialer stopped the handshake: the listener never got a connection.
	time.Sleep(100 * time.Millisecond)
	if n := connCount(l); n != 0 || called.Load() {
		t.Errorf("listener has %d connections, handler called: %v", n, called.Load())
	}
}

// TestRefusedClients dials the listener with quic-go directly, as clients
// that don't present an SMVS key or don't speak smvs/1.
func TestRefusedClients(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	cert, err := newCertificate(client.Signer())
	if err != nil {
		t.Fatal(err)
	}
	errs := newErrorLog()
	var called atomic.Bool
	l := listen(t, server, Config{OnError: errs.record}, RequestFunc(func(context.Context, identity.PublicKey, []byte) ([]byte, error) {
		called.Store(true)
		return []byte("x"), nil
	}))
	for _, tc := range []struct {
		name   string
		conf   *tls.Config
		report error // what the listener reports, if it gets that far
	}{
		{"no certificate", rawTLS(nil, ALPN), nil},
		{"ECDSA certificate", rawTLS([]tls.Certificate{ecdsaCertificate(t)}, ALPN), ErrNotEd25519},
		{"other ALPN", rawTLS([]tls.Certificate{cert}, "smvs/2"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rawRequest(testContext(t), l.Addr().String(), tc.conf)
			if err == nil {
				t.Fatal("request went through")
			}
			if cerr := convertError(err); !errors.Is(cerr, ErrHandshake) {
				t.Errorf("%v does not match ErrHandshake", cerr)
			}
			t.Logf("client sees: %v", convertError(err))
			if tc.report != nil {
				if rep := errs.next(t); !errors.Is(rep, tc.report) {
					t.Errorf("listener reported %v, want %v", rep, tc.report)
				}
			}
		})
	}
	if called.Load() {
		t.Error("handler called")
	}
	// The listener still serves good clients.
	if _, err := dialListener(t, l, server, client, Config{}).Request(testContext(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// TestDialerRefusesOtherALPN dials a QUIC server that speaks something else
// with the right key.
func TestDialerRefusesOtherALPN(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	cert, err := newCertificate(server.Signer())
	if err != nil {
		t.Fatal(err)
	}
	conf := serverTLS(cert, Config{})
	conf.NextProtos = []string{"h3"}
	conf.VerifyConnection = nil
	ql, err := quic.ListenAddr("127.0.0.1:0", conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ql.Close()
	_, err = Dial(testContext(t), ql.Addr().String(), client.Signer(), server.Public(), Config{})
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("Dial to an h3 server: %v, want ErrHandshake", err)
	}
	t.Logf("dialer sees: %v", err)
}

// TestAdmit checks that Admit runs when the handshake completes, before
// any stream is read: a refused key's connection is closed with
// CodeRefused and the reason, and its requests never reach the handler.
func TestAdmit(t *testing.T) {
	server, friend, stranger := newIdentity(t), newIdentity(t), newIdentity(t)
	errNotAllowed := errors.New("not a contact")
	errs := newErrorLog()
	var handled atomic.Int64
	cfg := Config{
		Admit: func(p identity.PublicKey) (bool, error) {
			if p != friend.Public() {
				return false, errNotAllowed
			}
			return true, nil
		},
		OnError: errs.record,
	}
	l := listen(t, server, cfg, RequestFunc(func(_ context.Context, _ identity.PublicKey, req []byte) ([]byte, error) {
		handled.Add(1)
		return req, nil
	}))
	if _, err := dialListener(t, l, server, friend, Config{}).Request(testContext(t), []byte("x")); err != nil {
		t.Fatalf("friend: %v", err)
	}
	c, err := Dial(testContext(t), l.Addr().String(), stranger.Signer(), server.Public(), Config{})
	if err == nil {
		_, err = c.Request(testContext(t), make([]byte, 1<<20))
		c.Close()
	}
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), errNotAllowed.Error()) {
		t.Errorf("stranger: %v, want ErrRefused with the reason", err)
	}
	if rep := errs.next(t); !errors.Is(rep, errNotAllowed) {
		t.Errorf("listener reported %v", rep)
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("handler called %d times, want once (the friend)", n)
	}
}

// blocker is a handler that holds requests "block" until released, and
// echoes the others.
type blocker struct {
	entered chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blocker) handle(ctx context.Context, _ identity.PublicKey, req []byte) ([]byte, error) {
	b.calls.Add(1)
	if string(req) == "block" {
		b.entered <- struct{}{}
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return req, nil
}

func (b *blocker) waitEntered(t testing.TB) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(testTimeout):
		t.Fatal("handler not entered")
	}
}

// startRequest sends req in the background and returns where its result
// will arrive.
func startRequest(ctx context.Context, c *Conn, req []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		resp, err := c.Request(ctx, req)
		if err == nil && !bytes.Equal(resp, req) {
			err = fmt.Errorf("response %q to %q", resp, req)
		}
		done <- err
	}()
	return done
}

func wait(t testing.TB, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout):
		t.Fatal("request did not finish")
		return nil
	}
}

// TestOversizedFrameStoppedFirst: the peer's STOP_SENDING for an
// oversized request may come before this side finishes its stream; the
// request still fails with the peer's reset, too large, not with the
// error of closing a stream the peer stopped.
func TestOversizedFrameStoppedFirst(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	const limit = 1 << 10
	l := listen(t, server, Config{MaxFrame: limit}, RequestFunc(func(context.Context, identity.PublicKey, []byte) ([]byte, error) { return []byte("ok"), nil }))
	c := dialListener(t, l, server, client, Config{MaxFrame: 1 << 20})
	ctx := testContext(t)
	_, err := c.Exchange(ctx, make([]byte, limit+1), func(s *Stream) ([]byte, error) {
		<-s.Context().Done() // the peer stopped this side
		return nil, nil
	})
	var reset *ResetError
	if !errors.Is(err, wire.ErrTooLarge) || !errors.As(err, &reset) || reset.Code != CodeTooLarge {
		t.Fatalf("oversized request: %v, want a reset with CodeTooLarge", err)
	}
}

func TestOversizedFrame(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	b := newBlocker()
	errs := newErrorLog()
	const limit = 1 << 10
	l := listen(t, server, Config{MaxFrame: limit, OnError: errs.record}, RequestFunc(b.handle))
	c := dialListener(t, l, server, client, Config{MaxFrame: 1 << 20})
	ctx := testContext(t)

	inFlight := startRequest(ctx, c, []byte("block"))
	b.waitEntered(t)

	_, err := c.Request(ctx, make([]byte, limit+1))
	var reset *ResetError
	if !errors.Is(err, wire.ErrTooLarge) || !errors.As(err, &reset) || reset.Code != CodeTooLarge {
		t.Fatalf("oversized request: %v, want a reset with CodeTooLarge", err)
	}
	if rep := errs.next(t); !errors.Is(rep, wire.ErrTooLarge) {
		t.Errorf("listener reported %v", rep)
	}
	if _, err := c.Request(ctx, make([]byte, limit)); err != nil {
		t.Errorf("request at the limit: %v", err)
	}
	close(b.release)
	if err := wait(t, inFlight); err != nil {
		t.Errorf("request in flight: %v", err)
	}
	if n := b.calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2", n)
	}
}

// TestOversizedHeaderNotAllocated sends a length prefix of 4 GiB - 1 and
// checks the listener allocated nothing like it.
func TestOversizedHeaderNotAllocated(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	errs := newErrorLog()
	l := listen(t, server, Config{OnError: errs.record}, echo)
	c := dialListener(t, l, server, client, Config{})
	ctx := testContext(t)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.qs.Write([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	_, err = s.ReadFrame()
	if !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("reading after an oversized header: %v, want a reset matching wire.ErrTooLarge", err)
	}
	if rep := errs.next(t); !errors.Is(rep, wire.ErrTooLarge) {
		t.Errorf("listener reported %v", rep)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("%d MiB allocated while refusing the frame", grew>>20)
	}
	if _, err := c.Request(ctx, []byte("still there")); err != nil {
		t.Errorf("next request: %v", err)
	}
}

// rawStream opens a stream, writes data as it is, finishes it, and returns
// the error reading the response.
func rawStream(t *testing.T, c *Conn, data []byte) error {
	t.Helper()
	s, err := c.OpenStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(data) > 0 {
		if _, err := s.qs.Write(data); err != nil {
			return convertError(err)
		}
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	_, err = s.ReadFrame()
	return err
}

func TestGarbage(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	b := newBlocker()
	l := listen(t, server, Config{}, RequestFunc(b.handle))
	c := dialListener(t, l, server, client, Config{})
	frame := wire.AppendFrame(nil, []byte("0123456789"))
	for _, tc := range []struct {
		name string
		data []byte
		code ErrorCode
	}{
		{"random bytes", []byte("\xde\xad\xbe\xef not a frame at all"), CodeTooLarge},
		{"empty frame", []byte{0, 0, 0, 0}, CodeMalformed},
		{"truncated header", []byte{0, 0}, CodeMalformed},
		{"truncated payload", frame[:8], CodeMalformed},
		{"data after the frame", append(frame[:len(frame):len(frame)], 'x'), CodeMalformed},
		{"two frames", append(frame[:len(frame):len(frame)], frame...), CodeMalformed},
		{"nothing", nil, CodeMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rawStream(t, c, tc.data)
			var reset *ResetError
			if !errors.As(err, &reset) || reset.Code != tc.code {
				t.Fatalf("got %v, want a reset with %v", err, tc.code)
			}
		})
	}
	if n := b.calls.Load(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
	if _, err := c.Request(testContext(t), []byte("fine")); err != nil {
		t.Errorf("request on the same connection: %v", err)
	}
	if _, err := dialListener(t, l, server, client, Config{}).Request(testContext(t), []byte("fine")); err != nil {
		t.Errorf("request on a new connection: %v", err)
	}
}

func TestHandlerErrors(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	errSecret := errors.New("disk on fire at /var/secret")
	errs := newErrorLog()
	l := listen(t, server, Config{MaxFrame: 1 << 10, OnError: errs.record}, RequestFunc(func(_ context.Context, _ identity.PublicKey, req []byte) ([]byte, error) {
		switch string(req) {
		case "fail":
			return nil, errSecret
		case "empty":
			return nil, nil
		case "huge":
			return make([]byte, 2<<10), nil
		}
		return req, nil
	}))
	c := dialListener(t, l, server, client, Config{})
	for _, req := range []string{"fail", "empty", "huge"} {
		_, err := c.Request(testContext(t), []byte(req))
		if !errors.Is(err, ErrRequestFailed) {
			t.Errorf("%s: %v, want ErrRequestFailed", req, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("fire")) {
			t.Errorf("%s: the handler's error reached the peer: %v", req, err)
		}
		rep := errs.next(t)
		if req == "fail" && !errors.Is(rep, errSecret) {
			t.Errorf("listener reported %v, want the handler's error", rep)
		}
	}
	if _, err := c.Request(testContext(t), []byte("ok")); err != nil {
		t.Errorf("next request: %v", err)
	}
}

func TestRequestLimits(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	b := newBlocker()
	l := listen(t, server, Config{}, RequestFunc(b.handle))
	c := dialListener(t, l, server, client, Config{MaxFrame: 1 << 10})

	t.Run("request over own limit", func(t *testing.T) {
		_, err := c.Request(testContext(t), make([]byte, 2<<10))
		if !errors.Is(err, wire.ErrTooLarge) {
			t.Errorf("got %v, want wire.ErrTooLarge", err)
		}
	})
	t.Run("response over own limit", func(t *testing.T) {
		big := listen(t, server, Config{}, RequestFunc(func(context.Context, identity.PublicKey, []byte) ([]byte, error) {
			return make([]byte, 2<<10), nil
		}))
		_, err := dialListener(t, big, server, client, Config{MaxFrame: 1 << 10}).Request(testContext(t), []byte("x"))
		if !errors.Is(err, wire.ErrTooLarge) {
			t.Errorf("got %v, want wire.ErrTooLarge", err)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Request(ctx, []byte("block"))
		b.waitEntered(t)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
			t.Errorf("got %v, want context.DeadlineExceeded and ErrTimeout", err)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := startRequest(ctx, c, []byte("block"))
		b.waitEntered(t)
		cancel()
		if err := wait(t, done); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
}

func TestFirstFrameTimeout(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	errs := newErrorLog()
	l := listen(t, server, Config{FirstFrameTimeout: 200 * time.Millisecond, OnError: errs.record}, echo)
	c := dialListener(t, l, server, client, Config{})
	s, err := c.OpenStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.qs.Write([]byte{0, 0}); err != nil { // half a header, and then nothing
		t.Fatal(err)
	}
	_, err = s.ReadFrame()
	var reset *ResetError
	if !errors.As(err, &reset) || reset.Code != CodeTimeout || !errors.Is(err, ErrTimeout) {
		t.Errorf("stalled request: %v, want a reset with CodeTimeout", err)
	}
	if rep := errs.next(t); !errors.Is(rep, ErrTimeout) {
		t.Errorf("listener reported %v", rep)
	}
	// A stream that sent its frame in time is not bound by the timeout
	// while the handler works.
	if _, err := c.Request(testContext(t), []byte("ok")); err != nil {
		t.Error(err)
	}
}

// TestConnBuffer checks that a connection's streams hold no more than
// ConnBuffer bytes of frames at once: a second full-size request waits for
// the first handler to finish.
func TestConnBuffer(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	const size = 32 << 10
	var active, peak atomic.Int64
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	l := listen(t, server, Config{MaxFrame: size, ConnBuffer: size}, RequestFunc(func(_ context.Context, _ identity.PublicKey, req []byte) ([]byte, error) {
		n := active.Add(1)
		defer active.Add(-1)
		if n > peak.Load() {
			peak.Store(n)
		}
		entered <- struct{}{}
		<-release
		return []byte("ok"), nil
	}))
	c := dialListener(t, l, server, client, Config{})
	ctx := testContext(t)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Request(ctx, make([]byte, size))
			done <- err
		}()
	}
	<-entered
	select {
	case <-entered:
		t.Fatal("second request handled while the first holds the connection's buffer")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	for range 2 {
		if err := wait(t, done); err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p != 1 {
		t.Errorf("%d handlers at once, want 1", p)
	}
}

func TestStreamFunc(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	l := listen(t, server, Config{}, StreamFunc(func(ctx context.Context, peer identity.PublicKey, s *Stream) {
		hello, err := s.ReadFrame()
		if err != nil {
			return
		}
		for i := range 3 {
			if s.WriteFrame(fmt.Appendf(nil, "%s %d", hello, i)) != nil {
				return
			}
		}
	}))
	c := dialListener(t, l, server, client, Config{})
	s, err := c.OpenStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WriteFrame([]byte("push")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		f, err := s.ReadFrame()
		if want := fmt.Sprintf("push %d", i); err != nil || string(f) != want {
			t.Fatalf("frame %d: %q, %v; want %q", i, f, err, want)
		}
	}
	if _, err := s.ReadFrame(); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	b := newBlocker()
	l := listen(t, server, Config{}, RequestFunc(b.handle))
	c := dialListener(t, l, server, client, Config{})
	ctx := testContext(t)

	inFlight := startRequest(ctx, c, []byte("block"))
	b.waitEntered(t)
	shutdown := make(chan error, 1)
	go func() { shutdown <- l.Shutdown(ctx) }()
	<-l.Draining()

	_, err := c.Request(ctx, []byte("late"))
	var reset *ResetError
	if !errors.As(err, &reset) || reset.Code != CodeShutdown || !errors.Is(err, ErrClosed) {
		t.Errorf("request after Shutdown began: %v, want a reset with CodeShutdown", err)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(b.release)
	if err := wait(t, inFlight); err != nil {
		t.Errorf("request in flight: %v", err)
	}
	if err := wait(t, shutdown); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatal("connection still open after Shutdown")
	}
	if _, err := c.Request(ctx, []byte("after")); !errors.Is(err, ErrClosed) {
		t.Errorf("request after Shutdown: %v, want ErrClosed", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	b := newBlocker() // never released: the handler ends when its ctx does
	l := listen(t, server, Config{}, RequestFunc(b.handle))
	c := dialListener(t, l, server, client, Config{})
	inFlight := startRequest(testContext(t), c, []byte("block"))
	b.waitEntered(t)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := l.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	if err := wait(t, inFlight); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrRequestFailed) {
		t.Errorf("request cut off by Shutdown: %v", err)
	}
}

func TestDialNobody(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	l := listen(t, server, Config{}, echo)
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err := Dial(testContext(t), addr, client.Signer(), server.Public(), Config{HandshakeTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrHandshake) && !errors.Is(err, ErrTimeout) {
		t.Errorf("dialing nobody: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dialing nobody took %v", d)
	}
	t.Logf("dialer sees: %v", err)
}

// ReadFrameInto reads a frame into the buffer it is given when the frame
// fits, and into a new one when it does not.
func TestReadFrameInto(t *testing.T) {
	server, client := newIdentity(t), newIdentity(t)
	type read struct {
		frame []byte
		err   error
	}
	buf := make([]byte, 8)
	reads := make(chan read, 3)
	l := listen(t, server, Config{}, StreamFunc(func(_ context.Context, _ identity.PublicKey, s *Stream) {
		for {
			frame, err := s.ReadFrameInto(buf)
			reads <- read{bytes.Clone(frame), err}
			if err != nil {
				return
			}
			if inBuf, fits := &frame[0] == &buf[0], len(frame) <= len(buf); inBuf != fits {
				reads <- read{err: fmt.Errorf("a frame of %d bytes in the buffer of %d: %v", len(frame), len(buf), inBuf)}
				return
			}
		}
	}))
	c := dialListener(t, l, server, client, Config{})
	s, err := c.OpenStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range []string{"fits", "does not fit"} {
		if err := s.WriteFrame([]byte(frame)); err != nil {
			t.Fatal(err)
		}
		r := <-reads
		if r.err != nil || string(r.frame) != frame {
			t.Fatalf("read %q, %v; want %q", r.frame, r.err, frame)
		}
	}
	s.CloseWrite()
	if r := <-reads; !errors.Is(r.err, io.EOF) {
		t.Fatalf("after the last frame: %q, %v; want io.EOF", r.frame, r.err)
	}
}
