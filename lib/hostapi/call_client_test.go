package hostapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/hostapi/hostapitest"
	"smvs/lib/wire"
)

func callID(b byte) []byte { return bytes.Repeat([]byte{b}, wire.CallIDSize) }

func TestCallStream(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	ctx := context.Background()

	s, err := dial(t, h.Path()).Call(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !bytes.Equal(s.Peer(), bobKey) || s.PeerName() != "bob" {
		t.Errorf("peer %x %q", s.Peer(), s.PeerName())
	}
	offer := &wire.CallSignal{CallID: callID(1), Type: wire.SignalOffer, SDP: "v=0"}
	if err := s.Send(offer); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&wire.CallSignal{CallID: callID(1), Type: wire.SignalOffer}); err == nil {
		t.Error("an offer without SDP was sent")
	}
	sent := h.WaitCallSignals(1, 5*time.Second)
	if len(sent) != 1 || sent[0].Signal.Type != wire.SignalOffer || !bytes.Equal(sent[0].Peer, bobKey) {
		t.Fatalf("the host got %+v", sent)
	}

	// Recv and Send at once, as a call does.
	if n := h.SendCall(bobKey, &wire.CallSignal{CallID: callID(1), Type: wire.SignalAnswer, SDP: "v=0"}); n != 1 {
		t.Fatalf("the answer reached %d streams", n)
	}
	done := make(chan error)
	go func() {
		for range 10 {
			if err := s.Send(&wire.CallSignal{CallID: callID(1), Type: wire.SignalCandidate, Candidate: "{}"}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	ev, err := s.Recv()
	if err != nil || ev.Signal.Type != wire.SignalAnswer || ev.PeerName != "bob" {
		t.Fatalf("Recv = %+v, %v", ev, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.WaitCallSignals(11, 5*time.Second); len(got) != 11 {
		t.Fatalf("the host got %d signals", len(got))
	}

	// The host going away ends the stream with io.EOF.
	h.Stop()
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after the host stopped: %v", err)
	}
}

func TestCallRefused(t *testing.T) {
	h := hostapitest.Start(t)
	c := dial(t, h.Path())
	_, err := c.Call(context.Background(), "nobody")
	var e *hostapi.Error
	if !errors.As(err, &e) || e.Code != hostapi.ErrUnknownRecipient {
		t.Fatalf("unknown peer: %v", err)
	}
	if _, err := c.Submit(context.Background(), text("bob", "hi")); err == nil {
		t.Error("the connection went on after a refused call")
	}
	h.Refuse("bob", &hostapi.Error{Code: hostapi.ErrKeyChanged, Message: "bob's key changed"})
	if _, err := dial(t, h.Path()).Call(context.Background(), "bob"); !errors.As(err, &e) || e.Code != hostapi.ErrKeyChanged {
		t.Errorf("key changed: %v", err)
	}
}

func TestAnswerStream(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	anyone, err := dial(t, h.Path()).Answer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer anyone.Close()
	onlyBob, err := dial(t, h.Path()).Answer(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer onlyBob.Close()
	if anyone.Peer() != nil || !bytes.Equal(onlyBob.Peer(), bobKey) {
		t.Errorf("peers %x, %x", anyone.Peer(), onlyBob.Peer())
	}
	if n := h.SendCall(bytes.Repeat([]byte{0xc0}, wire.KeySize), &wire.CallSignal{CallID: callID(2), Type: wire.SignalOffer, SDP: "v=0"}); n != 1 {
		t.Errorf("carol's offer reached %d streams", n)
	}
	ev, err := anyone.Recv()
	if err != nil || ev.Signal.Type != wire.SignalOffer {
		t.Fatalf("Recv = %+v, %v", ev, err)
	}
	cancel()
	if _, err := onlyBob.Recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("after the context ended: %v", err)
	}
	if err := onlyBob.Send(&wire.CallSignal{CallID: callID(2), Type: wire.SignalHangup}); err == nil {
		t.Error("sent after the context ended")
	}
}
