package hostapi

import (
	"bytes"
	"reflect"
	"testing"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// TestClaimedNameEncoding pins the key of claimed_name in every structure
// that names a peer (PROTOCOL.md section 20.3), and that a stranger's
// claim comes back as a claim, never as a peer_name.
func TestClaimedNameEncoding(t *testing.T) {
	claim := []byte{0x65, 'f', 'r', 'a', 'n', 'k'}
	for name, c := range map[string]struct {
		v   any
		key byte
	}{
		"Item":              {&Item{ClaimedName: "frank"}, 17},
		"PeerDeletion":      {&PeerDeletion{ClaimedName: "frank"}, 5},
		"FingerprintResult": {&FingerprintResult{ClaimedName: "frank"}, 6},
		"ExpiryResult":      {&ExpiryResult{ClaimedName: "frank"}, 5},
		"CallEvent":         {&CallEvent{ClaimedName: "frank"}, 4},
	} {
		got := wire.Marshal(c.v)
		if want := append([]byte{c.key}, claim...); !bytes.HasSuffix(got, want) {
			t.Errorf("%s: % x, want it to end % x", name, got, want)
		}
	}

	resp := &Response{Event: &Event{Kind: EventMessage, Item: &Item{
		Seq: 3, ID: make([]byte, wire.MessageIDSize), Direction: delivery.In, Peer: make([]byte, wire.KeySize),
		Kind: wire.KindText, Body: []byte("hi"), Status: delivery.Received, ClaimedName: "frank",
	}}}
	var b bytes.Buffer
	if err := WriteResponse(&b, resp); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResponse(&b, MaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, resp) || got.Event.Item.PeerName != "" {
		t.Errorf("got %+v, want %+v", got.Event.Item, resp.Event.Item)
	}
}
