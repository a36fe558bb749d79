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
	// FrameTimeout bounds writing one frame. Negative means no bound.
	// Default DefaultFrameTimeout.
	FrameTimeout time.Duration
	// FirstFrameTimeout, in a Listener, bounds the wait for the first bytes
	// of each stream: a peer that opens streams and sends nothing (or half
	// a frame header) holds them for no longer. Negative means no bound.
	// Default DefaultFirstFrameTimeout.
	FirstFrameTimeout time.Duration
	// RequestTimeout, in a Listener, bounds receiving one request: on a
	// stream served by RequestFunc, its frame and the end of the stream,
	// counted from the stream's arrival; on other streams, each frame,
	// counted from its first byte. Nothing bounds the wait between frames
	// of a long-lived stream (a device's --follow). A stream that exceeds
	// it is reset with CodeTimeout. Negative means no bound. Default
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// ReadBudget, in a Listener, is how many bytes of frames the streams of
	// all its connections, of both protocols, may hold at once, on top of
	// each connection's ConnBuffer. Peers that Admit does not call known
	// (strangers, unlinked devices) may hold half of it between them, so a
	// flood of them leaves the other half to known peers; a stranger's
	// frame that finds no room is not waited for but reset with CodeBusy. It also bounds
	// how far quic-go's flow-control windows may grow beyond their small
	// first size (see listenerWindows). It is at least 2 × MaxFrame, so a
	// stranger's full-size frame can be read. Default 2 × MaxFrame.
	ReadBudget int64
	// MaxConns, in a Listener, is how many connections it has at once,
	// handshakes included; further ones are refused before TLS begins.
	// Default DefaultMaxConns.
	MaxConns int
	// MaxConnsPerAddr, in a Listener, is how many of those may come from
	// one IP address (one /64 for IPv6). Default DefaultMaxConnsPerAddr.
	MaxConnsPerAddr int
	// MaxStrangerStreams, in a Listener, is how many streams peers that
	// Admit does not call known may have open at once, over all their
	// connections: a stream costs the listener a few KiB even when it
	// carries nothing. Further ones are reset at once with CodeBusy.
	// Default DefaultMaxStrangerStreams.
	MaxStrangerStreams int
	// Admit, in a Listener, is called when a handshake completes, with the
	// key the client has proved it holds, before any stream is read. An
	// error refuses the connection: it is closed with CodeRefused and the
	// error's text, which the peer sees. known says whether the peer may
	// draw on the half of ReadBudget kept from strangers. Nil admits every
	// key as known.
	Admit func(peer identity.PublicKey) (known bool, err error)
	// Connected, in a Listener, if set, is told of each connection from a
	// host (not a device) once it is accepted, after Admit: the peer can
	// now be reached over it (Listener.ConnFrom). It must return quickly.
	Connected func(peer identity.PublicKey)
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
		c.IdleTimeout < 0 || c.KeepAlive < 0 || c.HandshakeTimeout < 0 ||
		c.ReadBudget < 0 || c.MaxConns < 0 || c.MaxConnsPerAddr < 0 || c.MaxStrangerStreams < 0 {
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
	setDefault(&c.MaxIncomingStreams, DefaultMaxStreams)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.FrameTimeout, DefaultFrameTimeout)
	setDefault(&c.FirstFrameTimeout, DefaultFirstFrameTimeout)
	setDefault(&c.RequestTimeout, DefaultRequestTimeout)
	setDefault(&c.MaxConns, DefaultMaxConns)
	setDefault(&c.MaxConnsPerAddr, DefaultMaxConnsPerAddr)
	setDefault(&c.MaxStrangerStreams, DefaultMaxStrangerStreams)
	c.ReadBudget = max(c.ReadBudget, 2*int64(c.MaxFrame))
	return c, nil
}

// setDefault sets *v to def if it is zero.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// quicConfig returns the quic-go configuration for a listener or a dialer;
// accept says whether the peer may open streams (a listener's dialers
// may; a listener may open them to a Pool that serves requests).
func (c Config) quicConfig(accept bool) *quic.Config {
	streams := int64(c.MaxIncomingStreams)
	if !accept {
		streams = -1
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
