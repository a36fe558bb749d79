package transport

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// Handler serves the streams a Listener accepts.
type Handler interface {
	// ServeStream serves one stream that peer opened. ctx is canceled when
	// the connection closes or the Listener stops waiting for its handlers
	// (Close, or Shutdown's deadline). When ServeStream returns, the stream
	// is closed (see Stream.Close) unless it was reset; the handler must not
	// use it afterwards.
	ServeStream(ctx context.Context, peer identity.PublicKey, s *Stream)
}

// RequestFunc is a Handler for requests: it reads the stream's one request
// frame, calls the function, and writes the response as one frame. A stream
// that carries anything but one frame is reset with CodeMalformed without
// calling the function. If the function returns an error or an empty
// response, the stream is reset with CodeFailed and the error goes to
// Config.OnError; the peer learns nothing more. The function's ctx ends
// with the connection, or when the peer gives the request up (it resets
// the stream): its answer would not be read.
type RequestFunc func(ctx context.Context, peer identity.PublicKey, req []byte) (resp []byte, err error)

// ServeStream implements Handler.
func (f RequestFunc) ServeStream(ctx context.Context, peer identity.PublicKey, s *Stream) {
	req, err := s.ReadRequest()
	if err != nil {
		s.conn.cfg.reportError(peer, fmt.Errorf("request: %w", err))
		return
	}
	Answer(ctx, peer, s, req, f)
}

// Answer answers req, the first frame of s, with f as RequestFunc does:
// for a Handler that reads the request itself, to tell a request that
// carries more frames (which it serves itself) from one that does not.
func Answer(ctx context.Context, peer identity.PublicKey, s *Stream, req []byte, f RequestFunc) {
	cfg := s.conn.cfg
	if err := s.ExpectEnd(); err != nil {
		cfg.reportError(peer, fmt.Errorf("request: %w", err))
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.qs.Context(), cancel)
	defer stop()
	resp, err := f(ctx, peer, req)
	if err == nil && len(resp) == 0 {
		err = errors.New("empty response")
	}
	if err != nil {
		s.Reset(CodeFailed)
		cfg.reportError(peer, fmt.Errorf("handler: %w", err))
		return
	}
	if err := s.WriteFrame(resp); err != nil {
		s.Reset(CodeFailed) // if it wasn't already: the response was too large
		cfg.reportError(peer, fmt.Errorf("response: %w", err))
	}
}

// ReadRequest reads the first frame of a stream a Listener accepted: a
// stream that ends without one is reset with CodeMalformed.
func (s *Stream) ReadRequest() ([]byte, error) {
	req, err := s.ReadFrame()
	if errors.Is(err, io.EOF) {
		return nil, s.refuse(CodeMalformed, fmt.Errorf("%w: stream ended without a request", wire.ErrMalformed))
	}
	return req, err
}

// StreamFunc is a Handler that is given the stream itself, for exchanges of
// more than one frame each way, such as a long-lived push to a device.
type StreamFunc func(ctx context.Context, peer identity.PublicKey, s *Stream)

// ServeStream implements Handler.
func (f StreamFunc) ServeStream(ctx context.Context, peer identity.PublicKey, s *Stream) {
	f(ctx, peer, s)
}

// Listener accepts authenticated connections and serves each stream on
// them with its Handler, concurrently.
type Listener struct {
	cfg Config
	sh  *shared
	h   Handler
	udp *net.UDPConn
	tr  *quic.Transport
	ql  *quic.Listener

	ctx        context.Context // the handlers'; canceled when the Listener stops waiting for them
	cancel     context.CancelFunc
	draining   chan struct{}
	acceptDone chan struct{}
	finishOnce sync.Once

	mu       sync.Mutex
	closing  bool
	conns    map[*Conn]struct{}
	handlers sync.WaitGroup
}

// Listen listens on the UDP address addr ("host:port"; port 0 picks one)
// and serves every stream of every connection with h. It presents a
// certificate made with signer's key and requires each client to present
// one.
//
// The listener's QUIC stateless reset key is derived with signer (see
// statelessResetKey), so peers of a host that restarted drop their stale
// connections at once.
func Listen(addr string, signer crypto.Signer, cfg Config, h Handler) (*Listener, error) {
	if h == nil {
		return nil, errors.New("transport: Listen without a Handler")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cert, err := newCertificate(signer)
	if err != nil {
		return nil, err
	}
	resetKey, err := statelessResetKey(signer)
	if err != nil {
		return nil, err
	}
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %q: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	sh := newShared(cfg)
	tr := &quic.Transport{
		Conn: udp, StatelessResetKey: resetKey,
		ConnContext:         sh.connContext,
		VerifySourceAddress: sh.verifySource,
	}
	qcfg := cfg.quicConfig(true)
	qcfg.InitialStreamReceiveWindow = firstStreamWindow
	qcfg.MaxStreamReceiveWindow = maxStreamWindow
	qcfg.InitialConnectionReceiveWindow = firstConnWindow
	qcfg.MaxConnectionReceiveWindow = maxConnWindow
	qcfg.AllowConnectionWindowIncrease = sh.allowWindowIncrease
	ql, err := tr.Listen(serverTLS(cert, cfg), qcfg)
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, fmt.Errorf("transport: listen %q: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		cfg: cfg, sh: sh, h: h, udp: udp, tr: tr, ql: ql,
		ctx: ctx, cancel: cancel,
		draining:   make(chan struct{}),
		acceptDone: make(chan struct{}),
		conns:      make(map[*Conn]struct{}),
	}
	go l.accept()
	return l, nil
}

// admit asks Config.Admit about peer.
func (l *Listener) admit(peer identity.PublicKey) (bool, error) {
	if l.cfg.Admit == nil {
		return true, nil
	}
	return l.cfg.Admit(peer)
}

// Addr returns the address the Listener listens on.
func (l *Listener) Addr() net.Addr { return l.udp.LocalAddr() }

// Draining returns a channel that is closed when Shutdown or Close begins,
// so that handlers of long-lived streams can wind down.
func (l *Listener) Draining() <-chan struct{} { return l.draining }

func (l *Listener) accept() {
	defer close(l.acceptDone)
	for {
		qc, err := l.ql.Accept(l.ctx)
		if err != nil {
			return
		}
		if slot := slotOf(qc); slot != nil {
			slot.handshakeDone()
		}
		// VerifyConnection has checked the protocol and certificate, so
		// this succeeds.
		kind, err := clientKind(qc.ConnectionState().TLS)
		var peer identity.PublicKey
		if err == nil {
			peer, err = peerKey(qc.ConnectionState().TLS, kind)
		}
		if err != nil {
			qc.CloseWithError(quic.ApplicationErrorCode(CodeMalformed), "bad certificate")
			continue
		}
		known, err := l.admit(peer)
		if err != nil {
			// Before any stream is read: a refused peer costs no frame.
			qc.CloseWithError(quic.ApplicationErrorCode(CodeRefused), err.Error())
			l.cfg.reportError(peer, fmt.Errorf("refused connection: %w", err))
			continue
		}
		if slot := slotOf(qc); slot != nil {
			slot.known.Store(known)
		}
		ctx, cancel := context.WithCancel(l.ctx)
		context.AfterFunc(qc.Context(), cancel)
		c := newConn(ctx, qc, peer, l.cfg)
		c.sh, c.known = l.sh, known
		l.mu.Lock()
		if l.closing {
			l.mu.Unlock()
			qc.CloseWithError(quic.ApplicationErrorCode(CodeShutdown), "shutting down")
			continue
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		if kind == identity.KindIdentity {
			go c.track() // for ConnFrom
			if l.cfg.Connected != nil {
				l.cfg.Connected(peer)
			}
		}
		go l.serve(c)
	}
}

// ConnFrom returns the connection a host with key peer has open to this
// listener and was heard on within the last within (its Pool's
// keep-alives), the most recently heard if several; nil if none. Requests
// sent on it (Conn.Request) go to a Pool that serves them (NewPool): so a
// host behind a NAT, whose own address can't be dialled, is reached over
// the connection it made.
func (l *Listener) ConnFrom(peer identity.PublicKey, within time.Duration) *Conn {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var best *Conn
	for c := range l.conns {
		if c.peer != peer || c.peer.Kind() != identity.KindIdentity || c.silentFor(now) > within || c.ctx.Err() != nil {
			continue
		}
		if best == nil || c.heard.Load() > best.heard.Load() {
			best = c
		}
	}
	return best
}

// serve accepts the streams of one connection until it is over.
func (l *Listener) serve(c *Conn) {
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
	}()
	for {
		// Until the connection is over, not just c.ctx: finish must find
		// the connection in l.conns to close it.
		qs, err := c.qc.AcceptStream(context.Background())
		if err != nil {
			return
		}
		s := newStream(qs, c)
		if !c.known && !l.sh.takeStream() {
			// Before a goroutine or a deadline is spent on it.
			s.Reset(CodeBusy)
			continue
		}
		s.arm(time.Now())
		l.mu.Lock()
		if l.closing {
			l.mu.Unlock()
			s.Reset(CodeShutdown)
			if !c.known {
				l.sh.releaseStream()
			}
			continue
		}
		l.handlers.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.handlers.Done()
			if !c.known {
				defer l.sh.releaseStream()
			}
			l.h.ServeStream(c.ctx, c.peer, s)
			s.Close()
			c.lastStreamEnd.Store(time.Now().UnixNano())
		}()
	}
}

// Shutdown stops the Listener gracefully. It stops accepting connections,
// resets streams opened from now on with CodeShutdown (the peer knows they
// were not handled), and waits for the handlers of the streams already
// accepted. It then gives each connection a few round trips to deliver the
// last responses (QUIC has no way to close a connection after its data is
// acknowledged) and closes it with CodeShutdown, and closes the socket. When
// ctx ends first, it cancels the handlers' contexts and closes everything at
// once; it then returns ctx's error.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.beginClose()
	done := make(chan struct{})
	go func() {
		l.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		l.finish(ctx, true)
		return nil
	case <-ctx.Done():
		l.finish(ctx, false)
		return fmt.Errorf("transport: shutdown: %w", ctx.Err())
	}
}

// Close stops the Listener at once: streams in flight are reset and every
// connection is closed.
func (l *Listener) Close() error {
	l.beginClose()
	l.finish(context.Background(), false)
	return nil
}

func (l *Listener) beginClose() {
	l.mu.Lock()
	first := !l.closing
	l.closing = true
	l.mu.Unlock()
	if first {
		close(l.draining)
		l.ql.Close()
	}
}

// finish closes every connection and the socket. If linger is set, it first
// lets recent responses reach their peers, for as long as ctx allows.
func (l *Listener) finish(ctx context.Context, linger bool) {
	l.finishOnce.Do(func() {
		if !linger {
			l.cancel()
		}
		l.mu.Lock()
		conns := make([]*Conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() {
				if linger {
					c.linger(ctx)
				}
				c.qc.CloseWithError(quic.ApplicationErrorCode(CodeShutdown), "shutting down")
			})
		}
		wg.Wait()
		l.cancel()
		l.tr.Close()
		l.udp.Close()
		<-l.acceptDone
	})
}
