package hostapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"smvs/lib/wire"
)

// The operations and event of call signalling.
//
// A device opens a call stream with one OpCall request: to place calls to
// CallRequest.Peer, or, with CallRequest.Answer, to ring for incoming
// calls. The host answers with one EventCall event without a Signal (the
// stream is open; for a placed call, Peer and PeerName say whom Peer
// resolved to), or with an Error, and then closes the connection. From
// then on the device sends OpSignal requests (never answered one by one)
// and the host sends EventCall events with a Signal, both at any time,
// until either side closes the connection. Signals are never stored.
//
// A device that gives CallRequest.Key, a fresh Ed25519 key of its own,
// gets in the first event's Cert a wire.DeviceCert for it, signed by the
// user's identity, valid for CallCertLifetime: the device signs its call
// signals with that key, and the peer's device checks them against it.
const (
	OpCall    Op        = 4 // the connection becomes a call-signalling stream
	OpSignal  Op        = 5 // one call signal from the device, on a call stream
	EventCall EventKind = 4 // one call signal for the device, on a call stream
)

// CallRequest opens a call stream: set exactly one of Peer and Answer.
type CallRequest struct {
	Peer   string `cbor:"1,keyasint,omitempty"` // place calls to this contact name, smvs1 key or directory name
	Answer bool   `cbor:"2,keyasint,omitempty"` // ring this device for incoming calls
	From   string `cbor:"3,keyasint,omitempty"` // with Answer: only calls from this contact name or smvs1 key
	Key    []byte `cbor:"4,keyasint,omitempty"` // the device's call key, for the host to certify
}

// CallCertLifetime is how long a certificate of a device's call key is
// valid from the moment the host issues it.
const CallCertLifetime = 24 * time.Hour

// CallEvent is what the host tells a device on a call stream: a signal of
// the peer's device, or one the host makes (Ringing, Busy, Unavailable,
// Taken; Unavailable also when the peer's host can't be reached). Peer is
// the peer's identity key; the first event of a stream has no Signal.
type CallEvent struct {
	Peer     []byte           `cbor:"1,keyasint,omitempty"`
	PeerName string           `cbor:"2,keyasint,omitempty"` // as Item.PeerName
	Signal   *wire.CallSignal `cbor:"3,keyasint,omitempty"`
	// Cert, in the first event of a stream whose request gave a Key, is
	// the signed wire.DeviceCert of that key.
	Cert []byte `cbor:"5,keyasint,omitempty"`
	// ClaimedName is as Item.ClaimedName: a stranger's record's name.
	ClaimedName string `cbor:"4,keyasint,omitempty"`
}

func (c *CallRequest) validate() error {
	switch {
	case (c.Peer == "") == !c.Answer:
		return fmt.Errorf("%w: a call request either places a call to a peer or answers", wire.ErrMalformed)
	case c.From != "" && !c.Answer:
		return fmt.Errorf("%w: a call request gives From only to answer", wire.ErrMalformed)
	case c.Key != nil && len(c.Key) != wire.KeySize:
		return fmt.Errorf("%w: a call key is %d bytes, want %d", wire.ErrMalformed, len(c.Key), wire.KeySize)
	}
	return nil
}

// validSignal checks a signal nested in a Request or an Event: it carries
// its own version field.
func validSignal(s *wire.CallSignal) error {
	if s.V != wire.Version {
		return fmt.Errorf("%w: call signal of version %d", wire.ErrMalformed, s.V)
	}
	return s.Validate()
}

// validate checks an event: a call event carries a CallEvent and no item,
// a live event neither, the others an item.
func (e *Event) validate() error {
	switch {
	case e.Kind != EventDeleted && len(e.Deleted) > 0:
		return fmt.Errorf("%w: deleted messages in an event of kind %d", wire.ErrMalformed, e.Kind)
	case e.Kind == EventCall && (e.Call == nil || e.Item != nil):
		return fmt.Errorf("%w: call event without its call, or with an item", wire.ErrMalformed)
	case e.Kind == EventCall && len(e.Call.Cert) > 0 && (e.Call.Signal != nil || len(e.Call.Cert) > wire.MaxDeviceCertSize):
		return fmt.Errorf("%w: a device certificate in a call event with a signal, or over %d bytes", wire.ErrMalformed, wire.MaxDeviceCertSize)
	case e.Kind == EventCall && e.Call.Signal != nil:
		return validSignal(e.Call.Signal)
	case e.Kind == EventCall:
		return nil
	case e.Call != nil:
		return fmt.Errorf("%w: a call in an event of kind %d", wire.ErrMalformed, e.Kind)
	case e.Kind == EventDeleted && (e.Item != nil || len(e.Deleted) == 0 || len(e.Deleted) > MaxDeleteSeqs):
		return fmt.Errorf("%w: a deletion event carries 1 to %d sequence numbers and no item", wire.ErrMalformed, MaxDeleteSeqs)
	case e.Kind == EventDeleted:
		return nil
	case e.Kind != EventLive && e.Item == nil:
		return fmt.Errorf("%w: event without an item", wire.ErrMalformed)
	case e.Item != nil:
		return e.Item.validate()
	}
	return nil
}

// errCalled is the error of a Client whose connection a call stream took
// over.
var errCalled = errors.New("hostapi: the connection was handed to a call stream")

// Call opens a call stream to place calls to peer (a contact name, an
// smvs1 key or a directory name). The stream takes over the connection.
// ctx bounds the whole stream. A peer that does not resolve is an *Error
// as Submit's: ErrUnknownRecipient, ErrKeyChanged, ErrUnavailable, …
//
// The device places a call by sending a SignalOffer with a new random
// CallID; it gets every signal of the peer for its calls, and
// SignalUnavailable when the peer's host can't be reached.
func (c *Client) Call(ctx context.Context, peer string) (*CallStream, error) {
	return c.openCall(ctx, &CallRequest{Peer: peer})
}

// Answer opens a call stream that rings for incoming calls: from the
// contact from (a name or smvs1 key), or from anyone if from is empty.
// ctx bounds the whole stream.
//
// Every answering stream of the user rings (gets the SignalOffer); the
// first to send SignalAnswer (or SignalReject) for its CallID decides,
// and the others get SignalTaken (or SignalHangup).
func (c *Client) Answer(ctx context.Context, from string) (*CallStream, error) {
	return c.openCall(ctx, &CallRequest{Answer: true, From: from})
}

// OpenCall opens a call stream as r asks, Call or Answer, with r.Key
// for the host to certify: see CallStream.Cert.
func (c *Client) OpenCall(ctx context.Context, r *CallRequest) (*CallStream, error) {
	return c.openCall(ctx, r)
}

func (c *Client) openCall(ctx context.Context, r *CallRequest) (*CallStream, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpCall, Call: r})
	var hostErr *Error
	if errors.As(err, &hostErr) {
		return nil, c.fail(hostErr) // the host closed the connection
	}
	if err != nil {
		return nil, err
	}
	if resp.Event == nil || resp.Event.Kind != EventCall || resp.Event.Call.Signal != nil {
		return nil, c.fail(fmt.Errorf("%w: a call request was not answered with its stream", ErrProtocol))
	}
	first := resp.Event.Call
	s := &CallStream{conn: c.conn, ctx: ctx, peer: first.Peer, peerName: first.PeerName, claimedName: first.ClaimedName}
	if r.Key != nil && len(first.Cert) == 0 {
		return nil, c.fail(fmt.Errorf("%w: the host certified no call key", ErrProtocol))
	}
	s.cert = first.Cert
	s.stop = context.AfterFunc(ctx, s.interrupt)
	c.err = errCalled
	return s, nil
}

// CallStream is an open call-signalling stream. Send, Recv and Close may
// be called from different goroutines at once (a call reads and writes
// at the same time).
type CallStream struct {
	conn     net.Conn
	ctx      context.Context
	stop     func() bool
	peer     []byte
	peerName string
	// claimedName is the name a stranger's record claims (CallEvent).
	claimedName string
	cert        []byte

	sendMu  sync.Mutex
	sendErr error
	recvMu  sync.Mutex
	recvErr error

	closeOnce sync.Once
}

// Peer returns the identity key the peer of Call resolved to; nil for an
// Answer stream without From.
func (s *CallStream) Peer() []byte { return s.peer }

// PeerName returns the user's contact name for the peer, if it is one.
func (s *CallStream) PeerName() string { return s.peerName }

// ClaimedName returns the name the peer's record claims, for a peer that
// is no contact.
func (s *CallStream) ClaimedName() string { return s.claimedName }

// Cert returns the host's certificate of the request's Key, if it gave
// one: a signed wire.DeviceCert.
func (s *CallStream) Cert() []byte { return s.cert }

// Send sends sig to the host, which relays it to the peer of the call
// sig.CallID names. A signal for no call of this stream is dropped by the
// host. A failure is returned by every later call too.
func (s *CallStream) Send(sig *wire.CallSignal) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.sendErr != nil {
		return s.sendErr
	}
	sig.V = wire.Version
	req := &Request{Op: OpSignal, Signal: sig}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("invalid call signal: %w", err)
	}
	if err := WriteRequest(s.conn, req); err != nil {
		if s.ctx.Err() != nil {
			err = s.ctx.Err()
		} else {
			err = fmt.Errorf("sending to the host: %w", err)
		}
		s.sendErr = err
		return err
	}
	return nil
}

// Recv returns the next event. It returns io.EOF when the host ended the
// stream (it is stopping), a host *Error if it ended it with one, and
// ctx's error once ctx ends. A failure is returned by every later call too.
func (s *CallStream) Recv() (*CallEvent, error) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if s.recvErr != nil {
		return nil, s.recvErr
	}
	resp, err := ReadResponse(s.conn, MaxFrame)
	var hostErr *Error
	switch {
	case s.ctx.Err() != nil:
		err = s.ctx.Err()
	case errors.As(err, &hostErr):
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = io.EOF
	case errors.Is(err, net.ErrClosed):
	case err != nil:
		err = readError(err)
	case resp.Event == nil || resp.Event.Kind != EventCall || resp.Event.Call.Signal == nil:
		err = fmt.Errorf("%w: a call stream carried something other than a call signal", ErrProtocol)
	default:
		return resp.Event.Call, nil
	}
	s.recvErr = err
	return nil, err
}

// Close closes the stream. The host ends the stream's calls: it sends
// each peer a SignalHangup.
func (s *CallStream) Close() error {
	err := net.ErrClosed
	s.closeOnce.Do(func() {
		s.stop()
		err = s.conn.Close()
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *CallStream) interrupt() { s.conn.SetDeadline(time.Unix(1, 0)) }
