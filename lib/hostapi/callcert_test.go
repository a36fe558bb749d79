package hostapi

import (
	"bytes"
	"errors"
	"testing"

	"smvs/lib/wire"
)

// TestCallKeyFields: a call request's key is 32 bytes, and a certificate
// rides only in a stream's first event, within its size limit; both
// round-trip through the frames.
func TestCallKeyFields(t *testing.T) {
	key := bytes.Repeat([]byte{1}, wire.KeySize)
	good := &Request{Op: OpCall, Call: &CallRequest{Peer: "bob", Key: key}}
	var buf bytes.Buffer
	if err := WriteRequest(&buf, good); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRequest(&buf, MaxFrame)
	if err != nil || !bytes.Equal(got.Call.Key, key) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if err := (&Request{Op: OpCall, Call: &CallRequest{Answer: true, Key: key[:31]}}).Validate(); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("a 31-byte key: %v", err)
	}
	cert := bytes.Repeat([]byte{2}, 100)
	first := &Response{Event: &Event{Kind: EventCall, Call: &CallEvent{Peer: key, Cert: cert}}}
	buf.Reset()
	if err := WriteResponse(&buf, first); err != nil {
		t.Fatal(err)
	}
	resp, err := ReadResponse(&buf, MaxFrame)
	if err != nil || !bytes.Equal(resp.Event.Call.Cert, cert) {
		t.Fatalf("round trip: %+v, %v", resp, err)
	}
	for name, ev := range map[string]*CallEvent{
		"with a signal": {Cert: cert, Signal: testSignal(wire.SignalHangup)},
		"oversized":     {Cert: make([]byte, wire.MaxDeviceCertSize+1)},
	} {
		if err := (&Event{Kind: EventCall, Call: ev}).validate(); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("a certificate %s: %v", name, err)
		}
	}
}
