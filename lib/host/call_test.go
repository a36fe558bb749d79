package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/seal"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// callSDP is an offer's or answer's SDP, cut to its DTLS fingerprint.
const callSDP = "v=0\r\na=fingerprint:sha-256 2D:AD:EB:A6:3C:8E:A0:3A:8A:09:4C:FB:F7:1F:F5:22:BD:B6:8F:E4:58:5E:59:38:A4:2E:CC:18:B3:22:4B:74\r\n"

func newCallID(b byte) []byte { return bytes.Repeat([]byte{b}, wire.CallIDSize) }

// callStream opens a call stream on u's host: to place calls to peer, or,
// with answer, to ring for calls from from ("" for anyone).
func (u *user) callStream(peer string, answer bool, from string) (*hostapi.CallStream, error) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	u.t.Cleanup(cancel)
	c, err := hostapi.Dial(ctx, u.cfg.Socket)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { c.Close() })
	var s *hostapi.CallStream
	if answer {
		s, err = c.Answer(ctx, from)
	} else {
		s, err = c.Call(ctx, peer)
	}
	if s != nil {
		u.t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func (u *user) call(peer string) *hostapi.CallStream {
	u.t.Helper()
	s, err := u.callStream(peer, false, "")
	if err != nil {
		u.t.Fatalf("%s calls %s: %v", u.name, peer, err)
	}
	return s
}

func (u *user) answering(from string) *hostapi.CallStream {
	u.t.Helper()
	s, err := u.callStream("", true, from)
	if err != nil {
		u.t.Fatalf("%s answers: %v", u.name, err)
	}
	return s
}

func send(t *testing.T, s *hostapi.CallStream, sig *wire.CallSignal) {
	t.Helper()
	if err := s.Send(sig); err != nil {
		t.Fatalf("send %v: %v", sig.Type, err)
	}
}

// expect reads the next event of s and checks it is a signal of type typ
// of call id.
func expect(t *testing.T, s *hostapi.CallStream, id []byte, typ wire.SignalType) *hostapi.CallEvent {
	t.Helper()
	ev, err := s.Recv()
	if err != nil {
		t.Fatalf("waiting for %v: %v", typ, err)
	}
	if ev.Signal.Type != typ || !bytes.Equal(ev.Signal.CallID, id) {
		t.Fatalf("got %v (reason %q) of call %x, want %v of call %x", ev.Signal.Type, ev.Signal.Reason, ev.Signal.CallID, typ, id)
	}
	return ev
}

// noCallMessages checks that u's store holds no call message at all.
func (u *user) noCallMessages() {
	u.t.Helper()
	ms, err := u.host.store.List(0, 1<<20)
	if err != nil {
		u.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Kind == wire.KindCall {
			u.t.Errorf("%s's store holds a call message", u.name)
		}
	}
}

func TestCallRelayed(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	before := len(alice.messages()) + len(bob.messages())

	ring1, ring2 := bob.answering(""), bob.answering("")
	a := alice.call("bob")
	if !bytes.Equal(a.Peer(), bob.key().Bytes()) || a.PeerName() != "bob" {
		t.Errorf("alice's stream: peer %x %q", a.Peer(), a.PeerName())
	}
	id := newCallID(1)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalCandidate, Candidate: "early"})

	// Both of bob's devices ring; alice hears it ringing.
	for _, r := range []*hostapi.CallStream{ring1, ring2} {
		ev := expect(t, r, id, wire.SignalOffer)
		if !bytes.Equal(ev.Peer, alice.key().Bytes()) || ev.Signal.SDP != callSDP {
			t.Errorf("the offer rang as %+v", ev)
		}
	}
	expect(t, a, id, wire.SignalRinging)

	// Device 1 answers: device 2 stops ringing, alice gets the answer,
	// device 1 the candidate that came before.
	send(t, ring1, &wire.CallSignal{CallID: id, Type: wire.SignalAnswer, SDP: "v=0 answer"})
	if ev := expect(t, ring2, id, wire.SignalTaken); ev.Signal.Reason != "answered on another device" {
		t.Errorf("taken: %q", ev.Signal.Reason)
	}
	if ev := expect(t, a, id, wire.SignalAnswer); ev.Signal.SDP != "v=0 answer" {
		t.Errorf("answer: %q", ev.Signal.SDP)
	}
	if ev := expect(t, ring1, id, wire.SignalCandidate); ev.Signal.Candidate != "early" {
		t.Errorf("early candidate: %q", ev.Signal.Candidate)
	}
	// A late answer from device 2 changes nothing.
	send(t, ring2, &wire.CallSignal{CallID: id, Type: wire.SignalAnswer, SDP: "v=0 late"})

	// Candidates both ways, in order.
	for i := range 5 {
		c := string(rune('a' + i))
		send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalCandidate, Candidate: "alice " + c})
		send(t, ring1, &wire.CallSignal{CallID: id, Type: wire.SignalCandidate, Candidate: "bob " + c})
	}
	for i := range 5 {
		c := string(rune('a' + i))
		if ev := expect(t, ring1, id, wire.SignalCandidate); ev.Signal.Candidate != "alice "+c {
			t.Errorf("bob got candidate %q, want %q", ev.Signal.Candidate, "alice "+c)
		}
		if ev := expect(t, a, id, wire.SignalCandidate); ev.Signal.Candidate != "bob "+c {
			t.Errorf("alice got candidate %q, want %q", ev.Signal.Candidate, "bob "+c)
		}
	}
	send(t, ring1, &wire.CallSignal{CallID: id, Type: wire.SignalHangup, Reason: "bye"})
	if ev := expect(t, a, id, wire.SignalHangup); ev.Signal.Reason != "bye" {
		t.Errorf("hangup: %q", ev.Signal.Reason)
	}

	// Nothing of the call was stored, and the conversation's chain did
	// not move: the first message after it chains to nothing.
	if n := len(alice.messages()) + len(bob.messages()); n != before {
		t.Errorf("the stores hold %d messages after the call, %d before", n, before)
	}
	alice.noCallMessages()
	bob.noCallMessages()
	alice.device().send("bob", "after the call")
	eventually(t, "bob to store alice's message", func() bool { return len(bob.incoming(alice)) == 1 })
	m, err := wire.VerifyMessage(bob.incoming(alice)[0].Signed)
	if err != nil || len(m.Chain) != 0 {
		t.Errorf("the first message after the call: chain %x, %v", m.Chain, err)
	}
}

func TestCallBusy(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	carol := newUser(t, "carol", dir).start()

	// bob is calling carol, and carol's device rings.
	carolRings := carol.answering("")
	bobCalls := bob.call("carol")
	bobsCall := newCallID(2)
	send(t, bobCalls, &wire.CallSignal{CallID: bobsCall, Type: wire.SignalOffer, SDP: callSDP})
	expect(t, carolRings, bobsCall, wire.SignalOffer)
	expect(t, bobCalls, bobsCall, wire.SignalRinging)

	// So a call from alice finds bob busy, and his device does not ring.
	bobRings := bob.answering("")
	a := alice.call("bob")
	id := newCallID(3)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	expect(t, a, id, wire.SignalBusy)

	// bob's stream closing hangs his call up.
	bobCalls.Close()
	if ev := expect(t, carolRings, bobsCall, wire.SignalHangup); ev.Signal.Reason != "the call ended on the device" {
		t.Errorf("hangup: %q", ev.Signal.Reason)
	}

	// Now bob is free: alice's next call rings.
	id = newCallID(4)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	expect(t, bobRings, id, wire.SignalOffer)
	expect(t, a, id, wire.SignalRinging)
}

func TestCallUnavailable(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	carol := newUser(t, "carol", dir)

	a := alice.call("bob")
	id := newCallID(5)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	if ev := expect(t, a, id, wire.SignalUnavailable); ev.Signal.Reason != "no device is waiting for calls" {
		t.Errorf("unavailable: %q", ev.Signal.Reason)
	}

	// A device that waits only for carol's calls does not ring for alice.
	bob.answering(carol.key().String())
	id = newCallID(6)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	expect(t, a, id, wire.SignalUnavailable)

	// When the ringing device leaves, the caller learns it.
	ring := bob.answering(alice.key().String())
	id = newCallID(7)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	expect(t, ring, id, wire.SignalOffer)
	expect(t, a, id, wire.SignalRinging)
	ring.Close()
	expect(t, a, id, wire.SignalUnavailable)
}

func TestCallPeerHostDown(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	bob.stop()

	a := alice.call("bob")
	id := newCallID(8)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	ev := expect(t, a, id, wire.SignalUnavailable)
	if !strings.HasPrefix(ev.Signal.Reason, "bob's host can't be reached: ") {
		t.Errorf("reason %q", ev.Signal.Reason)
	}

	// Stopping the host ends the stream.
	alice.stop()
	if _, err := a.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after the host stopped: %v", err)
	}
}

func TestCallUnknownPeer(t *testing.T) {
	alice := newUser(t, "alice", newDirectory(t, nil)).start()
	_, err := alice.callStream("nobody", false, "")
	var e *hostapi.Error
	if !errors.As(err, &e) || e.Code != hostapi.ErrUnknownRecipient {
		t.Errorf("calling nobody: %v", err)
	}
	_, err = alice.callStream("alice", false, "")
	if !errors.As(err, &e) || e.Code != hostapi.ErrBadRequest {
		t.Errorf("calling oneself: %v", err)
	}
	_, err = alice.callStream("", true, "nobody")
	if !errors.As(err, &e) || e.Code != hostapi.ErrUnknownRecipient {
		t.Errorf("answering nobody's calls: %v", err)
	}
}

// TestCallSignalsDropped sends bob's host call messages as alice's host
// would, and some it must drop: replays, old ones, other calls' and other
// peers'.
func TestCallSignalsDropped(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	ring := bob.answering("")

	asAlice := &peer{t: t, id: alice.id}
	conn := asAlice.conn(bob, transport.Config{})
	rec, err := wire.VerifyRecord(bob.host.Record())
	if err != nil {
		t.Fatal(err)
	}
	sealCall := func(p *peer, sig *wire.CallSignal, sent time.Time) []byte {
		t.Helper()
		s, err := seal.Seal(p.id.Signer(), rec, &wire.Message{Sent: sent.UnixMilli(), Kind: wire.KindCall, Body: sig.Encode()}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s.Envelope
	}
	id := newCallID(9)
	offer := sealCall(asAlice, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP}, time.Now())
	if r := asAlice.deliver(conn, offer); r.Status != wire.StatusStored {
		t.Fatalf("offer: %v %s", r.Status, r.Message)
	}
	expect(t, ring, id, wire.SignalOffer)
	send(t, ring, &wire.CallSignal{CallID: id, Type: wire.SignalAnswer, SDP: "v=0 answer"})

	if r := asAlice.deliver(conn, offer); r.Status != wire.StatusDuplicate {
		t.Errorf("replayed offer: %v", r.Status)
	}
	old := sealCall(asAlice, &wire.CallSignal{CallID: id, Type: wire.SignalCandidate, Candidate: "old"}, time.Now().Add(-3*time.Minute))
	if r := asAlice.deliver(conn, old); r.Status != wire.StatusInvalid {
		t.Errorf("old candidate: %v", r.Status)
	}
	foreign := sealCall(asAlice, &wire.CallSignal{CallID: newCallID(10), Type: wire.SignalCandidate, Candidate: "foreign"}, time.Now())
	if r := asAlice.deliver(conn, foreign); r.Status != wire.StatusStored {
		t.Errorf("candidate of another call: %v", r.Status)
	}
	mallory := newPeer(t)
	fromMallory := sealCall(mallory, &wire.CallSignal{CallID: id, Type: wire.SignalHangup, Reason: "mallory"}, time.Now())
	if r := mallory.deliver(mallory.conn(bob, transport.Config{}), fromMallory); r.Status != wire.StatusStored {
		t.Errorf("mallory's hangup: %v", r.Status)
	}
	good := sealCall(asAlice, &wire.CallSignal{CallID: id, Type: wire.SignalCandidate, Candidate: "good"}, time.Now())
	if r := asAlice.deliver(conn, good); r.Status != wire.StatusStored {
		t.Errorf("candidate: %v", r.Status)
	}
	// Of all those, the device gets only the last.
	if ev := expect(t, ring, id, wire.SignalCandidate); ev.Signal.Candidate != "good" {
		t.Errorf("the device got candidate %q", ev.Signal.Candidate)
	}
	if len(bob.messages()) != 0 {
		t.Error("bob's store holds messages")
	}
	bob.noCallMessages()
}
