// Package call places and answers SMVS video calls over WebRTC.
//
// A call carries media that is already encoded: samples from a
// media.Reader are paced by their timestamps and sent to the peer, and the
// peer's frames are reassembled and written to a media.Writer; nothing is
// decoded or re-encoded. The offer, the answer and the trickled ICE
// candidates travel through a Signaller, which for smvs-call is the two
// users' hosts sealing and signing every signal.
//
// What the package promises:
//   - Every signal this side makes that decides the media path or the
//     ending (offer, answer, candidate, hangup, reject) is signed by this
//     side's Device, bound to the call id, both users' identity keys and
//     the direction; every such signal of the peer must be signed by one
//     device the peer's identity certified, the same all call long. A
//     signal that fails ends the call with ErrTampered before it is used,
//     so no host on the way can change the SDP, its DTLS fingerprint and
//     ICE credentials, a candidate or a reason unseen.
//   - Media flows only on a connection whose DTLS certificate matches the
//     fingerprint in the peer's signed SDP. On a mismatch the call ends with
//     ErrFingerprint before any frame is sent or written.
//   - Only this side's own checks end a call with ErrTampered or
//     ErrFingerprint: no reason the peer sends does.
//   - With Config.RelayOnly no host or server-reflexive candidate leaves this
//     device, neither in the SDP nor trickled, so the peer learns only the
//     TURN relay's address.
//   - A caller's offer names the addresses of its STUN and TURN servers, never
//     their credentials; a callee that is not RelayOnly asks them for its
//     public address (unless IgnorePeerSTUN), so a relay-only caller reaches
//     a callee behind a NAT that has nothing configured.
//   - The Writers get whole frames in order, starting with a keyframe, and
//     are closed after the last one when the call ends.
//   - Every way a call ends is an error errors.Is tells apart (ErrHungUp,
//     ErrBusy, …), or nil when this side ended it.
package call

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"smvs/lib/media"
	"smvs/lib/wire"
)

// Signaller carries the signals of one call to the peer and back (through
// the hosts). Recv returns the peer's next signal for this call. A call
// calls Send from one goroutine at a time and Recv from another.
type Signaller interface {
	Send(ctx context.Context, s *wire.CallSignal) error
	Recv(ctx context.Context) (*wire.CallSignal, error)
}

// Config says what a call sends and receives and how it connects.
type Config struct {
	Video    media.Reader                            // nil: send no video
	Audio    media.Reader                            // nil: send no audio
	VideoOut func(media.Codec) (media.Writer, error) // nil: receive no video
	AudioOut func(media.Codec) (media.Writer, error) // nil: receive no audio

	ICEServers []webrtc.ICEServer // STUN and TURN
	// RelayOnly gathers and sends relay candidates only, so the peer never
	// learns this device's addresses.
	RelayOnly bool
	// IgnorePeerSTUN keeps a callee from asking the STUN servers the
	// caller's offer names for its public address (see stunhint.go); a
	// callee with RelayOnly never asks them.
	IgnorePeerSTUN bool

	RingTimeout       time.Duration // caller: how long to wait for an answer (default 30s)
	ConnectTimeout    time.Duration // from the answer to a verified connection (default 20s)
	DisconnectTimeout time.Duration // how long the peer may be silent before ErrConnection (default 15s)

	// Stats, if set, gets one line a second: round-trip time, packet loss,
	// jitter, and bitrate and frame rate in and out.
	Stats io.Writer
	Log   *slog.Logger // nil: discard

	// Device signs this side's signals; Peer is the peer's identity key,
	// whose certified device must sign the peer's. Both are required.
	Device *Device
	Peer   []byte

	// Where ICE looks for candidates. Production leaves these empty (all
	// interfaces); tests restrict them to the loopback interface.
	NetworkTypes    []webrtc.NetworkType // e.g. UDP4 only
	InterfaceFilter func(name string) bool
	IPFilter        func(net.IP) bool
	IncludeLoopback bool     // gather 127.0.0.1/::1 host candidates (off by default, as in browsers)
	PortMin         uint16   // with PortMax: the UDP ports ICE may use
	PortMax         uint16   //
	NAT1To1IPs      []string // public addresses to announce as host candidates behind a 1:1 NAT
}

// Timing defaults, and the grace periods that make endings orderly.
const (
	defaultRingTimeout       = 30 * time.Second
	defaultConnectTimeout    = 20 * time.Second
	defaultDisconnectTimeout = 15 * time.Second
	// drainTime is how long a side whose input ended keeps the connection
	// up before hanging up, so its last packets (and their
	// retransmissions) reach the peer before the Hangup does.
	drainTime = 200 * time.Millisecond
	// failureGrace is how long a failed connection waits for the peer's
	// explanation (a fingerprint report) before calling it ErrConnection.
	failureGrace = time.Second
	// sendTimeout bounds the last signal (Hangup) at the end of a call.
	sendTimeout = 3 * time.Second
)

// Call is one call in progress. Its methods are safe for concurrent use.
type Call struct {
	id      []byte
	role    string // "caller" or "callee", for hang-up reasons
	sig     Signaller
	cfg     Config
	log     *slog.Logger
	pc      *webrtc.PeerConnection
	started time.Time
	hints   []netip.AddrPort // caller: the STUN servers its offer names

	// ctx lives as long as the call: signalling, senders, timers.
	ctx    context.Context
	cancel context.CancelFunc

	// The bindings of the signals this side sends and receives, and the
	// peer's device key once its offer or answer made it known (guarded
	// by mu).
	bindOut, bindIn wire.CallBinding
	peerKey         []byte
	unverified      []*wire.CallSignal // the peer's candidates before its device key is known

	// The outbound signals, in order, sent by one goroutine.
	outMu     sync.Mutex
	out       chan *wire.CallSignal
	outClosed bool
	outHeld   []*wire.CallSignal // candidates gathered before the offer or answer was queued
	outReady  bool               // the offer or answer is queued; candidates may follow
	outDone   chan struct{}
	sendCtx   context.Context
	sendStop  context.CancelFunc

	mu        sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit // the peer's candidates that came before its description
	ended     bool
	err       error
	inputs    int // senders still reading their input
	receivers sync.WaitGroup
	senders   []sender

	answered     chan struct{} // caller: the answer is applied
	answerOnce   sync.Once
	verified     chan struct{} // the peer's certificate matched its signed fingerprint
	verifiedOnce sync.Once
	done         chan struct{} // the call has ended and every Writer is closed

	counters counters
}

// Dial calls the peer at the other end of sig: it sends an offer and waits
// for the answer. Ringing signals extend nothing: after cfg.RingTimeout
// Dial gives up with ErrNoAnswer. The peer's refusal is ErrRejected,
// ErrBusy or ErrUnavailable. ctx bounds the dialling only; end an answered
// call with Hangup.
func Dial(ctx context.Context, sig Signaller, cfg Config) (*Call, error) {
	id := make([]byte, wire.CallIDSize)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	c, err := newCall(ctx, sig, cfg, id, "caller")
	if err != nil {
		return nil, err
	}
	c.hints = stunHints(ctx, cfg.ICEServers)
	if err := c.addTransceivers(); err != nil {
		c.abort()
		return nil, err
	}
	offer, err := c.pc.CreateOffer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	if err != nil {
		c.abort()
		return nil, fmt.Errorf("call: making the offer: %w", err)
	}
	c.queueDescription(wire.SignalOffer)
	go c.recvLoop()

	ring := time.NewTimer(c.cfg.RingTimeout)
	defer ring.Stop()
	select {
	case <-c.answered:
		c.start()
		return c, nil
	case <-c.done:
		return nil, c.err
	case <-ring.C:
		c.end(&Ended{Err: ErrNoAnswer, Reason: fmt.Sprintf("nobody answered within %v", c.cfg.RingTimeout)}, "no answer")
	case <-ctx.Done():
		c.end(ctx.Err(), "the caller gave up")
	}
	<-c.done
	return nil, c.err
}

// Accept answers offer, a SignalOffer the peer sent through sig. It
// returns once the answer is on its way; Wait tells how the call ends.
//
// The offer must be signed by a device cfg.Peer certified (see
// CheckOffer): if not, Accept sends nothing but a hang-up and returns an
// *Ended wrapping ErrTampered.
func Accept(ctx context.Context, sig Signaller, offer *wire.CallSignal, cfg Config) (*Call, error) {
	if offer.Type != wire.SignalOffer || len(offer.CallID) != wire.CallIDSize || offer.SDP == "" {
		return nil, fmt.Errorf("call: accepting a %s signal: not an offer with a call id and SDP", offer.Type)
	}
	// The STUN servers the caller names, from an offer its device signed
	// (else acceptOffer below ends the call before anything is gathered).
	if CheckOffer(offer, cfg.Device, cfg.Peer) == nil {
		if peer := peerSTUNServers(cfg, offer.SDP); peer != nil {
			cfg.ICEServers = append(slices.Clip(cfg.ICEServers), peer...)
			if cfg.Log != nil {
				cfg.Log.Debug("asking the STUN servers the caller named for this device's public address", "servers", peer[0].URLs)
			}
		}
	}
	c, err := newCall(ctx, sig, cfg, offer.CallID, "callee")
	if err != nil {
		return nil, err
	}
	if err := c.acceptOffer(offer); err != nil {
		c.tampered(err)
		<-c.done
		return nil, c.err
	}
	// Our transceivers exist before the offer is applied, so pion pairs
	// them with the offered m-lines and the answer carries our directions.
	if err := c.addTransceivers(); err != nil {
		c.abort()
		return nil, err
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		c.abort()
		return nil, fmt.Errorf("call: the peer's offer is unusable: %w", err)
	}
	c.remoteDescriptionSet()
	answer, err := c.pc.CreateAnswer(nil)
	if err == nil {
		err = c.pc.SetLocalDescription(answer)
	}
	if err != nil {
		c.abort()
		return nil, fmt.Errorf("call: making the answer: %w", err)
	}
	if err := ctx.Err(); err != nil {
		c.end(err, "the callee gave up")
		<-c.done
		return nil, err
	}
	c.queueDescription(wire.SignalAnswer)
	go c.recvLoop()
	c.start()
	return c, nil
}

func newCall(ctx context.Context, sig Signaller, cfg Config, id []byte, role string) (*Call, error) {
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = defaultRingTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.DisconnectTimeout <= 0 {
		cfg.DisconnectTimeout = defaultDisconnectTimeout
	}
	if err := checkKeys(cfg.Device, cfg.Peer, time.Now()); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out, in := binding(cfg.Device.Identity(), cfg.Peer, role == "caller")
	c := &Call{
		id: id, role: role, sig: sig, cfg: cfg, started: time.Now(), bindOut: out, bindIn: in,
		log:      log.With("call", fmt.Sprintf("%x", id[:4]), "role", role),
		out:      make(chan *wire.CallSignal, 256),
		outDone:  make(chan struct{}),
		answered: make(chan struct{}),
		verified: make(chan struct{}),
		done:     make(chan struct{}),
	}
	base := context.WithoutCancel(ctx)
	c.ctx, c.cancel = context.WithCancel(base)
	c.sendCtx, c.sendStop = context.WithCancel(base)
	pc, err := c.newPeerConnection()
	if err != nil {
		c.cancel()
		c.sendStop()
		return nil, fmt.Errorf("call: %w", err)
	}
	c.pc = pc
	go c.sendLoop()
	return c, nil
}

// start runs what a call does once the description exchange is under way:
// the senders, the stats line and the connect deadline.
func (c *Call) start() {
	c.startSenders()
	if c.cfg.Stats != nil {
		go c.statsLoop()
	}
	connect := time.AfterFunc(c.cfg.ConnectTimeout, func() {
		select {
		case <-c.verified:
		default:
			c.end(&Ended{Err: ErrConnection, Reason: fmt.Sprintf("could not reach the peer within %v", c.cfg.ConnectTimeout)}, c.role+" hung up: no connection")
		}
	})
	go func() {
		<-c.done
		connect.Stop()
	}()
}

// Wait blocks until the call has ended and every Writer is closed. It
// returns nil when this side ended it (its input ended, or Hangup), an
// *Ended wrapping a sentinel when the peer or the network did, and an
// error wrapping ErrMedia when an input was bad.
func (c *Call) Wait() error {
	<-c.done
	return c.err
}

// Hangup ends the call, telling the peer reason, and waits until every
// Writer is closed.
func (c *Call) Hangup(reason string) error {
	c.end(nil, reason)
	<-c.done
	return nil
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// ID returns the call id.
func (c *Call) ID() []byte { return c.id }

// end ends the call with err (nil: this side ended it) and, if reason is
// not empty, tells the peer with a Hangup. The first end wins.
func (c *Call) end(err error, reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.err = err
	c.mu.Unlock()
	if err != nil {
		c.log.Info("call ended", "err", err)
	} else {
		c.log.Info("call ended here", "reason", reason)
	}
	var last *wire.CallSignal
	if reason != "" {
		// A hang-up after this side's own check failed says so, signed,
		// so that the peer's device can tell its user too.
		tampered := errors.Is(err, ErrTampered) || errors.Is(err, ErrFingerprint)
		last = &wire.CallSignal{Type: wire.SignalHangup, Reason: reason, Tampered: tampered}
	}
	// Teardown runs apart: end is called from pion's callbacks, which must
	// not wait for the connection to close.
	go c.teardown(last)
}

func (c *Call) isEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

func (c *Call) teardown(last *wire.CallSignal) {
	c.closeQueue(last)
	c.cancel()
	if err := c.pc.GracefulClose(); err != nil {
		c.log.Debug("closing the peer connection", "err", err)
	}
	// The receivers see their tracks end, write what they hold and close
	// their Writers.
	c.receivers.Wait()
	t := time.NewTimer(sendTimeout)
	select {
	case <-c.outDone:
	case <-t.C:
	}
	t.Stop()
	c.sendStop()
	<-c.outDone
	close(c.done)
}

// abort ends a call that failed before it was under way.
func (c *Call) abort() {
	c.end(errors.New("call: set-up failed"), "")
	<-c.done
}

// inputEnded counts a sender whose input ended cleanly; when the last one
// has, the call hangs up after letting the last packets arrive.
func (c *Call) inputEnded() {
	c.mu.Lock()
	c.inputs--
	last := c.inputs == 0
	c.mu.Unlock()
	if !last {
		return
	}
	t := time.NewTimer(drainTime)
	defer t.Stop()
	select {
	case <-t.C:
		c.end(nil, "the "+c.role+" hung up")
	case <-c.ctx.Done():
	}
}

// markVerified opens the gate for media.
func (c *Call) markVerified() {
	c.verifiedOnce.Do(func() {
		c.counters.connected.Store(int64(time.Since(c.started)))
		close(c.verified)
	})
}

// isVerified reports whether the peer's certificate was checked: the call
// connected.
func (c *Call) isVerified() bool {
	select {
	case <-c.verified:
		return true
	default:
		return false
	}
}

// waitVerified reports whether media may flow: false when the call ended
// before the peer's certificate was checked.
func (c *Call) waitVerified() bool {
	select {
	case <-c.verified:
		return true
	case <-c.ctx.Done():
		return false
	}
}
