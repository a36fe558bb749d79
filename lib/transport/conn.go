package transport

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// Conn is an authenticated connection to a listener, made by Dial or a
// Pool. (A Listener keeps the same for each connection it accepts, and
// hands its handlers the streams.)
type Conn struct {
	qc     *quic.Conn
	peer   identity.PublicKey
	cfg    Config
	budget *budget
	ctx    context.Context // canceled when the connection is over

	// In a Listener: what all its connections share, and whether Admit
	// called the peer known. Nil for a dialed connection.
	sh    *shared
	known bool

	lastStreamEnd atomic.Int64 // in a Listener: when a handler last finished, in Unix nanoseconds

	// A dialed connection's requests in flight, and when one last began
	// or ended, in Unix nanoseconds: a Pool closes one idle too long.
	requests atomic.Int64
	lastUsed atomic.Int64
	// When a packet last came from the peer, in Unix nanoseconds, as
	// track sees it (a Pool's connections with keep-alives, a Listener's
	// from hosts).
	heard atomic.Int64
}

// trackEvery is how often track looks whether packets came.
const trackEvery = 250 * time.Millisecond

// track keeps c.heard up to date until c is over.
func (c *Conn) track() {
	tick := time.NewTicker(trackEvery)
	defer tick.Stop()
	seen := c.qc.ConnectionStats().PacketsReceived
	for {
		select {
		case <-c.ctx.Done():
			return
		case now := <-tick.C:
			if n := c.qc.ConnectionStats().PacketsReceived; n != seen {
				seen = n
				c.heard.Store(now.UnixNano())
			}
		}
	}
}

// silentFor returns how long nothing has come from the peer (see track).
func (c *Conn) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.heard.Load()))
}

func newConn(ctx context.Context, qc *quic.Conn, peer identity.PublicKey, cfg Config) *Conn {
	c := &Conn{qc: qc, peer: peer, cfg: cfg, budget: newBudget(cfg.ConnBuffer), ctx: ctx}
	now := time.Now().UnixNano()
	c.lastUsed.Store(now)
	c.heard.Store(now)
	return c
}

// Dial connects to the listener at addr ("host:port") as a host and
// authenticates it: the handshake fails with a *KeyMismatchError unless
// the listener presents expect, and this side presents the identity key
// signer holds (ALPN). If host resolves to several addresses, the first
// is dialed.
//
// The handshake completes before the listener has checked this side's
// certificate, so a listener refusing it (AllowPeer, or a key of the wrong
// type) shows as an error matching ErrHandshake from the first Request.
func Dial(ctx context.Context, addr string, signer crypto.Signer, expect identity.PublicKey, cfg Config) (*Conn, error) {
	return dialAs(ctx, addr, signer, ALPN, expect, cfg)
}

// DialDevice is Dial for one of the user's devices: signer holds its
// device key, which it presents under DeviceALPN.
func DialDevice(ctx context.Context, addr string, signer crypto.Signer, expect identity.PublicKey, cfg Config) (*Conn, error) {
	return dialAs(ctx, addr, signer, DeviceALPN, expect, cfg)
}

func dialAs(ctx context.Context, addr string, signer crypto.Signer, alpn string, expect identity.PublicKey, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cert, err := newCertificate(signer)
	if err != nil {
		return nil, err
	}
	return dial(ctx, addr, cert, alpn, expect, cfg, false)
}

// Redialling: a new attempt every redialEvery while none has completed,
// at most maxAttempts at once (the oldest is given up for a new one).
const (
	redialEvery = time.Second
	maxAttempts = 3
)

// dial connects to addr, whose listener must present expect. QUIC backs
// off its own retransmissions of a first packet that was lost (seconds,
// after a few losses), so while no attempt has completed a fresh one
// starts every redialEvery, within HandshakeTimeout: its first packet
// goes at once, and a path that heals, or a peer that comes up, is found
// within about a second. The first attempt to complete wins; an attempt
// that fails for another reason than silence (a key mismatch, a refusal)
// ends the dial with its error. accept says whether the peer may open
// streams on the connection.
func dial(ctx context.Context, addr string, cert tls.Certificate, alpn string, expect identity.PublicKey, cfg Config, accept bool) (*Conn, error) {
	if expect.IsZero() {
		return nil, fmt.Errorf("transport: dial %q: no expected key", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	raddr, err := resolve(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %q: %w", addr, err)
	}
	type result struct {
		c   *Conn
		err error
	}
	results := make(chan result, maxAttempts)
	var live []context.CancelFunc // the attempts not given up, oldest first
	pending := 0
	start := func() {
		if len(live) == maxAttempts {
			live[0]()
			live = live[1:]
		}
		actx, acancel := context.WithCancel(ctx)
		live = append(live, acancel)
		pending++
		go func() {
			c, err := dialOnce(actx, raddr, cert, alpn, expect, cfg, accept)
			results <- result{c, err}
		}()
	}
	// settle closes what the attempts still under way make, once they end.
	settle := func() {
		cancel()
		go func() {
			for range pending {
				if r := <-results; r.c != nil {
					r.c.Close()
				}
			}
		}()
	}
	start()
	tick := time.NewTicker(redialEvery)
	defer tick.Stop()
	var last error
	for {
		select {
		case r := <-results:
			pending--
			switch {
			case r.err == nil:
				settle()
				return r.c, nil
			case !errors.Is(r.err, ErrTimeout) && !errors.Is(r.err, context.Canceled):
				settle()
				return nil, fmt.Errorf("transport: dial %q: %w", addr, r.err)
			}
			last = r.err
			if pending == 0 && ctx.Err() != nil {
				if errors.Is(last, context.Canceled) {
					last = dialError(ctx.Err())
				}
				return nil, fmt.Errorf("transport: dial %q: %w", addr, last)
			}
		case <-tick.C:
			if ctx.Err() == nil {
				start()
			}
		}
	}
}

// dialOnce makes one attempt of dial, on a socket of its own.
func dialOnce(ctx context.Context, raddr netip.AddrPort, cert tls.Certificate, alpn string, expect identity.PublicKey, cfg Config, accept bool) (*Conn, error) {
	network := "udp6"
	if raddr.Addr().Is4() {
		network = "udp4"
	}
	udp, err := net.ListenUDP(network, nil)
	if err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: udp}
	closeTransport := func() {
		tr.Close()
		udp.Close()
	}
	qc, err := tr.Dial(ctx, net.UDPAddrFromAddrPort(raddr), clientTLS(cert, alpn, expect), cfg.quicConfig(accept))
	if err != nil {
		closeTransport()
		return nil, dialError(err)
	}
	// The socket is this connection's alone: close it when the connection
	// is over, however that comes about.
	context.AfterFunc(qc.Context(), closeTransport)
	return newConn(qc.Context(), qc, expect, cfg), nil
}

// dialError converts an error of quic-go's Dial: the connection never came
// about, so whatever went wrong, the handshake failed.
func dialError(err error) error {
	_, idle := errors.AsType[*quic.IdleTimeoutError](err)
	if idle || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w: no answer from the peer (%w)", ErrHandshake, ErrTimeout, err)
	}
	err = convertError(err)
	if errors.Is(err, ErrHandshake) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrHandshake, err)
}

// resolve looks up the first address of host:port.
func resolve(ctx context.Context, addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := net.DefaultResolver.LookupPort(ctx, "udp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

// linger waits until the last stream that ended has had about three probe
// timeouts (RFC 9002) to be acknowledged, or ctx ends or the connection
// does. That lets the last response through, lost packets included, before
// the connection is closed.
func (c *Conn) linger(ctx context.Context) {
	end := c.lastStreamEnd.Load()
	if end == 0 {
		return
	}
	stats := c.qc.ConnectionStats()
	pto := stats.SmoothedRTT + 4*stats.MeanDeviation + maxAckDelay
	wait := time.Until(time.Unix(0, end).Add(3 * pto))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-c.qc.Context().Done():
	}
}

// maxAckDelay is how long a QUIC peer may hold back an acknowledgement by
// default (RFC 9000, section 18.2).
const maxAckDelay = 25 * time.Millisecond

// Peer returns the peer's key, proven by the handshake.
func (c *Conn) Peer() identity.PublicKey { return c.peer }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// TLS returns the state of the TLS handshake: negotiated key exchange,
// protocol, certificates.
func (c *Conn) TLS() tls.ConnectionState { return c.qc.ConnectionState().TLS }

// Done returns a channel that is closed when the connection is over.
func (c *Conn) Done() <-chan struct{} { return c.ctx.Done() }

// Close closes the connection at once: requests in flight on it fail.
func (c *Conn) Close() error {
	return c.qc.CloseWithError(quic.ApplicationErrorCode(CodeNoError), "")
}

// CloseWithError closes the connection at once with code, and reason for
// the peer to read: its streams fail with an error matching the code's
// (ErrRevoked for CodeRevoked, else ErrClosed).
func (c *Conn) CloseWithError(code ErrorCode, reason string) error {
	return c.qc.CloseWithError(quic.ApplicationErrorCode(code), reason)
}

// OpenStream opens a stream to the peer, waiting while the peer's limit on
// concurrent streams is reached. The caller must end the stream with Close
// or Reset.
func (c *Conn) OpenStream(ctx context.Context) (*Stream, error) {
	qs, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, contextError(ctx)
		}
		return nil, convertError(err)
	}
	return newStream(qs, c), nil
}

// Hold keeps a Pool's connection open while it is idle, as a request in
// flight does, until release is called: a host behind a NAT keeps the
// connection to its relay so that the relay can reach it over it. The
// connection is still replaced or closed when its path goes silent.
func (c *Conn) Hold() (release func()) {
	c.requests.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			c.lastUsed.Store(time.Now().UnixNano())
			c.requests.Add(-1)
		})
	}
}

// Request sends req as one frame on a new stream and returns the peer's
// one-frame response. ctx bounds the whole exchange; when it ends first, the
// stream is reset with CodeCanceled.
func (c *Conn) Request(ctx context.Context, req []byte) ([]byte, error) {
	return c.Exchange(ctx, req, nil)
}

// Exchange is Request for an exchange of more frames: after writing req,
// it calls more (if not nil), which may read the peer's answers and write
// more frames. If more returns a response, that is the peer's last and
// the exchange ends; if it returns nil, this side is finished and the
// peer's last response is read.
func (c *Conn) Exchange(ctx context.Context, req []byte, more func(*Stream) ([]byte, error)) ([]byte, error) {
	if len(req) > c.cfg.MaxFrame {
		return nil, fmt.Errorf("request: %w: %d bytes, limit %d", wire.ErrTooLarge, len(req), c.cfg.MaxFrame)
	}
	c.requests.Add(1)
	c.lastUsed.Store(time.Now().UnixNano())
	defer func() {
		c.lastUsed.Store(time.Now().UnixNano())
		c.requests.Add(-1)
	}()
	s, err := c.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset(CodeCanceled) })
	defer stop()
	resp, err := exchange(s, req, more)
	if err != nil {
		if ctx.Err() != nil {
			err = contextError(ctx)
		}
		return nil, fmt.Errorf("request: %w", err)
	}
	return resp, nil
}

// exchange writes req, then what more writes, finishes this side, and
// reads one response frame (unless more returned it) followed by the end of
// the stream.
func exchange(s *Stream, req []byte, more func(*Stream) ([]byte, error)) ([]byte, error) {
	defer s.Close()
	if err := s.WriteFrame(req); err != nil {
		return nil, err
	}
	if more != nil {
		resp, err := more(s)
		if err != nil {
			s.Reset(CodeCanceled)
			return nil, err
		}
		if resp != nil {
			// The peer's last answer came before this side was done: it
			// may have asked this side to stop sending already.
			return resp, nil
		}
	}
	var resp []byte
	if err := s.CloseWrite(); err != nil {
		// The peer may have stopped this side (STOP_SENDING) as it reset
		// its own, refusing the request: its reset says why.
		if _, rerr := s.ReadFrame(); errors.As(rerr, new(*ResetError)) {
			return nil, rerr
		}
		return nil, err
	}
	if resp == nil {
		var err error
		resp, err = s.ReadFrame()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("response: %w", wire.ErrTruncated)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := s.ExpectEnd(); err != nil {
		return nil, err
	}
	return resp, nil
}

// contextError is the error of an operation cut short by ctx; a deadline
// also matches ErrTimeout.
func contextError(ctx context.Context) error {
	err := context.Cause(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}
