// Package transport is the QUIC layer between SMVS hosts (and, later,
// between a host and its devices): mutually authenticated connections that
// carry one request and one response per stream, each a frame of lib/wire.
//
// # Authentication
//
// Each side presents a self-signed X.509 certificate made from its identity
// key (see Listen and Dial); no certificate authority is involved. The dialer
// names the key it expects — from the peer's pinned record — and the
// handshake fails with a *KeyMismatchError unless the listener's certificate
// carries exactly that key; the dialer sends nothing else to such a peer. The
// listener requires a client certificate and hands the client's key to its
// Handler as an identity.PublicKey of KindIdentity: the transport proves who
// the peer is, and the host decides what the peer may do (Config.Admit
// can refuse a key once the handshake has proved it, before any stream is
// read, and says whether the peer is known). Only Ed25519 certificates are
// accepted. TLS is 1.3 only, with ALPN "smvs/1" and the hybrid
// post-quantum key exchange X25519MLKEM768 as the only group: a peer that
// can't do it is refused. Sessions are never resumed, so every connection
// proves both keys afresh.
//
// # Streams and frames
//
// A request is one bidirectional stream: the dialer sends one frame and
// finishes its side, the listener answers with one frame and finishes its
// side (Conn.Request, RequestFunc). A frame is a 4-byte length and a payload,
// which the transport carries as opaque bytes (by convention one CBOR item;
// decoding it is the caller's job). Long-lived streams of many frames, such
// as a host pushing messages to a device, use Conn.OpenStream and StreamFunc.
//
// Error responses are the host's business: what a peer should see
// ("blocked", "unknown recipient", …) goes in the response frame. A handler
// that returns an error instead has its stream reset with CodeFailed, and the
// requester gets an error matching ErrRequestFailed, with nothing of the
// handler's error text.
//
// # Limits
//
// Every limit is in Config. A frame longer than MaxFrame is refused from its
// length prefix, before any memory is allocated for it: the stream is reset
// with CodeTooLarge, the handler never sees it, and other streams carry on.
// The streams of one connection hold at most ConnBuffer bytes of frames at
// once, and all the frames a Listener is reading, of every connection and
// both protocols (NetConn's frames too), at most ReadBudget, of which peers
// Admit does not call known hold at most half; a known peer's frame that
// doesn't fit waits, a stranger's is reset with CodeBusy, as are strangers'
// streams beyond MaxStrangerStreams. quic-go's own buffering is bounded by
// small first flow-control windows that grow only within the budget. A
// Listener takes MaxConns connections and MaxConnsPerAddr from one address,
// refusing more on their first packet, before TLS, and asks clients to
// prove their address (Retry) under load. A peer may have
// MaxIncomingStreams streams open per connection; further ones wait in the
// peer's OpenStream. FrameTimeout bounds writing a frame; in a listener,
// FirstFrameTimeout bounds the first bytes of a stream and RequestTimeout a
// whole request. IdleTimeout closes silent connections; HandshakeTimeout
// bounds the handshake. Rate limits per peer belong to the host, which gets
// the peer's key with every request.
//
// # Errors
//
// Errors match, with errors.Is or errors.As: *KeyMismatchError and
// ErrHandshake (the handshake failed, on either side), ErrClosed (the
// connection is gone: closed by either side, the peer shut down or lost its
// state), ErrTimeout (handshake, idle, frame or context deadline),
// ErrRefused (the listener refused this side's key: CodeRefused),
// wire.ErrTooLarge (a frame over the sender's or the receiver's limit),
// wire.ErrMalformed and wire.ErrTruncated (a stream that isn't frames), and
// ErrRequestFailed (the peer's handler failed). A stream the peer reset is a
// *ResetError carrying the peer's ErrorCode.
//
// # Concurrency
//
// Listener, Conn and Pool are safe for concurrent use. A Stream may have one
// goroutine reading and one writing at the same time, no more.
//
// # UDP buffers
//
// quic-go asks for 7 MiB UDP socket buffers. It gets them when the process
// may force them (CAP_NET_ADMIN) or the sysctls net.core.rmem_max and
// net.core.wmem_max allow them (e.g. 7500000); otherwise it logs one warning
// and throughput on fast links suffers. Setting the environment variable
// QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true silences the warning, not the
// cause.
package transport

import "time"

// ALPN is the application protocol hosts negotiate with each other in the
// TLS handshake; both sides present identity keys.
const ALPN = "smvs/1"

// DeviceALPN is the application protocol of a user's remote device talking
// to its host: the client presents a device key, the host its identity key.
// A Listener accepts both; its handlers tell them apart by the kind of the
// peer's key.
const DeviceALPN = "smvs-device/1"

// Defaults of the Config fields.
const (
	// DefaultMaxFrame fits a 64 MiB padded envelope and its framing.
	DefaultMaxFrame         = 64<<20 + 64<<10
	DefaultMaxStreams       = 100
	DefaultIdleTimeout      = 60 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultFrameTimeout and DefaultRequestTimeout let a full-size frame
	// through a link of about 2 Mbit/s.
	DefaultFrameTimeout   = 5 * time.Minute
	DefaultRequestTimeout = 5 * time.Minute
	// DefaultFirstFrameTimeout is long enough for a request's first packet
	// on a slow, lossy link, and short enough that streams opened and left
	// silent cost little.
	DefaultFirstFrameTimeout = 10 * time.Second
	// DefaultMaxConns and DefaultMaxConnsPerAddr are far above what a
	// user's contacts and devices open at once (one pooled connection
	// each, closed when idle for a minute), and keep a flood's
	// per-connection memory (quic-go's state, about 200 KiB a connection
	// measured) to about 50 MiB.
	DefaultMaxConns        = 256
	DefaultMaxConnsPerAddr = 16
	// DefaultMaxStrangerStreams holds a flood of strangers' empty streams
	// to a few MiB, and is far more than strangers writing for the first
	// time send at once.
	DefaultMaxStrangerStreams = 256
)
