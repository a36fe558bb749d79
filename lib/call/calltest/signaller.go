// Package calltest provides what tests of calls need: an in-memory pair of
// Signallers and a TURN server on 127.0.0.1.
package calltest

import (
	"context"
	"errors"
	"io"
	"sync"

	"smvs/lib/wire"
)

// Signaller is one end of an in-memory signalling path. Every signal goes
// through the real wire encoding on the way, as it would through the hosts.
// It is safe for concurrent use.
type Signaller struct {
	in   chan *wire.CallSignal
	peer *Signaller

	mu      sync.Mutex
	rewrite func(*wire.CallSignal) *wire.CallSignal
	sent    []*wire.CallSignal
	closed  chan struct{}
	closing sync.Once
}

// Pipe returns two connected Signallers: what one sends, the other
// receives.
func Pipe() (*Signaller, *Signaller) {
	a := &Signaller{in: make(chan *wire.CallSignal, 1024), closed: make(chan struct{})}
	b := &Signaller{in: make(chan *wire.CallSignal, 1024), closed: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

// Rewrite makes every signal this end sends pass through f first, as an
// attacker on the path could: f returns the signal to deliver, or nil to
// drop it.
func (s *Signaller) Rewrite(f func(*wire.CallSignal) *wire.CallSignal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rewrite = f
}

// Sent returns the signals this end sent so far, as sent (before any
// rewrite).
func (s *Signaller) Sent() []*wire.CallSignal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*wire.CallSignal(nil), s.sent...)
}

// Close ends this path: the peer's Recv returns io.EOF once it has
// received what was sent before.
func (s *Signaller) Close() {
	s.closing.Do(func() { close(s.closed) })
}

// Send encodes, decodes and delivers sig to the other end.
func (s *Signaller) Send(ctx context.Context, sig *wire.CallSignal) error {
	if err := sig.Validate(); err != nil {
		return err
	}
	select {
	case <-s.closed:
		return errors.New("calltest: signaller closed")
	default:
	}
	decoded, err := wire.DecodeCallSignal(sig.Encode())
	if err != nil {
		return err
	}
	s.mu.Lock()
	copied := *decoded
	s.sent = append(s.sent, &copied)
	rewrite := s.rewrite
	s.mu.Unlock()
	if rewrite != nil {
		if decoded = rewrite(decoded); decoded == nil {
			return nil
		}
	}
	select {
	case s.peer.in <- decoded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recv returns the next signal the other end sent.
func (s *Signaller) Recv(ctx context.Context) (*wire.CallSignal, error) {
	select {
	case sig := <-s.in:
		return sig, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.peer.closed:
		select {
		case sig := <-s.in:
			return sig, nil
		default:
			return nil, io.EOF
		}
	}
}
