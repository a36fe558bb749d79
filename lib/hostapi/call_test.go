package hostapi

import (
	"bytes"
	"errors"
	"testing"

	"smvs/lib/wire"
)

func testSignal(t wire.SignalType) *wire.CallSignal {
	s := &wire.CallSignal{V: wire.Version, CallID: bytes.Repeat([]byte{9}, wire.CallIDSize), Type: t}
	switch t {
	case wire.SignalOffer, wire.SignalAnswer:
		s.SDP = "v=0\r\na=fingerprint:sha-256 00:11\r\n"
	case wire.SignalCandidate:
		s.Candidate = `{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`
	}
	return s
}

func TestCallRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	for _, req := range []*Request{
		{Op: OpCall, Call: &CallRequest{Peer: "bob"}},
		{Op: OpCall, Call: &CallRequest{Answer: true}},
		{Op: OpCall, Call: &CallRequest{Answer: true, From: "bob"}},
		{Op: OpSignal, Signal: testSignal(wire.SignalOffer)},
		{Op: OpSignal, Signal: testSignal(wire.SignalCandidate)},
	} {
		if err := WriteRequest(&buf, req); err != nil {
			t.Fatal(err)
		}
		got, err := ReadRequest(&buf, MaxFrame)
		if err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		if !bytes.Equal(wire.Marshal(got), wire.Marshal(req)) {
			t.Errorf("round trip changed %+v into %+v", req, got)
		}
	}
	for _, resp := range []*Response{
		{Event: &Event{Kind: EventCall, Call: &CallEvent{Peer: make([]byte, wire.KeySize), PeerName: "bob"}}},
		{Event: &Event{Kind: EventCall, Call: &CallEvent{}}},
		{Event: &Event{Kind: EventCall, Call: &CallEvent{Peer: make([]byte, wire.KeySize), Signal: testSignal(wire.SignalAnswer)}}},
	} {
		if err := WriteResponse(&buf, resp); err != nil {
			t.Fatal(err)
		}
		got, err := ReadResponse(&buf, MaxFrame)
		if err != nil {
			t.Fatalf("%+v: %v", resp, err)
		}
		if !bytes.Equal(wire.Marshal(got), wire.Marshal(resp)) {
			t.Errorf("round trip changed %+v into %+v", resp, got)
		}
	}
}

func TestCallRejects(t *testing.T) {
	old := testSignal(wire.SignalHangup)
	old.V = 0
	for name, r := range map[string]*Request{
		"call without a peer":       {Op: OpCall, Call: &CallRequest{}},
		"call with peer and answer": {Op: OpCall, Call: &CallRequest{Peer: "bob", Answer: true}},
		"from without answer":       {Op: OpCall, Call: &CallRequest{Peer: "bob", From: "bob"}},
		"call op with a signal":     {Op: OpCall, Signal: testSignal(wire.SignalHangup)},
		"signal op with a call":     {Op: OpSignal, Call: &CallRequest{Peer: "bob"}},
		"offer without SDP":         {Op: OpSignal, Signal: &wire.CallSignal{V: 1, CallID: make([]byte, 16), Type: wire.SignalOffer}},
		"signal of version 0":       {Op: OpSignal, Signal: old},
		"two operations":            {Op: OpCall, Call: &CallRequest{Peer: "bob"}, Signal: testSignal(wire.SignalHangup)},
	} {
		r.V = Version
		if err := wire.Unmarshal("request", wire.Marshal(r), new(Request)); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, r := range map[string]*Response{
		"call event without a call": {Event: &Event{Kind: EventCall}},
		"call event with an item":   {Event: &Event{Kind: EventCall, Call: &CallEvent{}, Item: &Item{}}},
		"call in a live event":      {Event: &Event{Kind: EventLive, Call: &CallEvent{}}},
		"bad signal":                {Event: &Event{Kind: EventCall, Call: &CallEvent{Signal: &wire.CallSignal{V: 1, Type: 99}}}},
	} {
		r.V = Version
		if err := wire.Unmarshal("response", wire.Marshal(r), new(Response)); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzCallRequest checks call requests and events round trip through the
// device protocol's decoders.
func FuzzCallRequest(f *testing.F) {
	for _, r := range []*Request{
		{Op: OpCall, Call: &CallRequest{Answer: true, From: "bob"}},
		{Op: OpSignal, Signal: testSignal(wire.SignalOffer)},
	} {
		r.V = Version
		f.Add(wire.Marshal(r))
	}
	resp := &Response{V: Version, Event: &Event{Kind: EventCall, Call: &CallEvent{Peer: make([]byte, 32), Signal: testSignal(wire.SignalCandidate)}}}
	f.Add(wire.Marshal(resp))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r := new(Request); wire.Unmarshal("request", data, r) == nil && !bytes.Equal(wire.Marshal(r), data) {
			t.Fatalf("request decode→encode changed %x", data)
		}
		if r := new(Response); wire.Unmarshal("response", data, r) == nil && !bytes.Equal(wire.Marshal(r), data) {
			t.Fatalf("response decode→encode changed %x", data)
		}
	})
}
