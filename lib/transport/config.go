package transport

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/quic-go/quic-go"

	"smvs/lib/identity"
)

// Config holds the limits of a Listener, a Conn or a Pool. The zero Config
// is ready to use: a zero field takes its default.
type Config struct {
	// MaxFrame is the largest frame payload, in bytes, this side sends or
	// accepts. Default DefaultMaxFrame.
	MaxFrame int
	// ConnBuffer is how many bytes of frames the streams of one connection
	// may hold at once. A stream holds the last frame it read until it reads
	// another or ends; one whose next frame doesn't fit waits for others to
	// finish. It is at least MaxFrame. Default 2 × MaxFrame.
	ConnBuffer int64
	// MaxIncomingStreams is how many streams the peer may have open on one
	// connection at once. In a Listener it bounds concurrent requests per
	// connection; a dialed Conn accepts no streams from its peer. Default
	// DefaultMaxStreams.
	MaxIncomingStreams int
	// IdleTimeout closes a connection on which nothing has arrived for this
	// long; the shorter of the two sides' values applies. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// KeepAlive, if set, sends a packet this often (at most every half
	// IdleTimeout) so that an idle connection, and the NAT mappings on its
	// path, stay open. Default none.
	KeepAlive time.Duration
	// HandshakeTimeout bounds the QUIC and TLS handshake: a dialer gives up
	// after it (name resolution included), a listener drops a handshake that
	// has been silent for it or unfinished for twice it. Default
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// FrameTimeout bounds writing one frame and, in a Listener, receiving
	// the first frame of each stream; a stream that exceeds it is reset with
	// CodeTimeout. Negative means no bound. Default DefaultFrameTimeout.
	FrameTimeout time.Duration
	// AllowPeer, in a Listener, is called during the handshake with the key
	// the client presents; an error refuses the connection. It runs before
	// the client has proved it holds the key, so it may refuse but must not
	// record anything as the peer's doing. Nil allows every key.
	AllowPeer func(peer identity.PublicKey) error
	// OnError, if set, is told of failures no caller sees: streams the
	// Listener refused (too large, malformed, timed out), handler errors,
	// refused handshakes. The peer is the zero key when unknown. It must be
	// safe for concurrent use and return quickly.
	OnError func(peer identity.PublicKey, err error)
}

// withDefaults returns c with its zero fields set to their defaults, or an
// error if a field is out of range.
func (c Config) withDefaults() (Config, error) {
	if c.MaxFrame < 0 || c.ConnBuffer < 0 || c.MaxIncomingStreams < 0 ||
		c.IdleTimeout < 0 || c.KeepAlive < 0 || c.HandshakeTimeout < 0 {
		return c, errors.New("transport: negative limit in Config")
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if uint64(c.MaxFrame) > math.MaxUint32 {
		return c, fmt.Errorf("transport: MaxFrame %d exceeds what a frame header can carry", c.MaxFrame)
	}
	if c.ConnBuffer == 0 {
		c.ConnBuffer = 2 * int64(c.MaxFrame)
	}
	c.ConnBuffer = max(c.ConnBuffer, int64(c.MaxFrame))
	if c.MaxIncomingStreams == 0 {
		c.MaxIncomingStreams = DefaultMaxStreams
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	return c, nil
}

// quicConfig returns the quic-go configuration for a listener or a dialer.
func (c Config) quicConfig(listener bool) *quic.Config {
	streams := int64(c.MaxIncomingStreams)
	if !listener {
		streams = -1 // requests only flow from dialer to listener
	}
	return &quic.Config{
		HandshakeIdleTimeout:  c.HandshakeTimeout,
		MaxIdleTimeout:        c.IdleTimeout,
		KeepAlivePeriod:       c.KeepAlive,
		MaxIncomingStreams:    streams,
		MaxIncomingUniStreams: -1, // SMVS has no use for them
	}
}

func (c Config) reportError(peer identity.PublicKey, err error) {
	if c.OnError != nil {
		c.OnError(peer, err)
	}
}
