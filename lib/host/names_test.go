package host

import (
	"bytes"
	"testing"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// list returns every message bob's device lists.
func (d *device) list() []*hostapi.Item {
	d.t.Helper()
	var items []*hostapi.Item
	r, err := d.do(&hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{}})
	for range 1000 {
		if err != nil {
			d.t.Fatalf("list: %v", err)
		}
		if r.Event.Kind == hostapi.EventLive {
			return items
		}
		items = append(items, r.Event.Item)
		r, err = d.read()
	}
	d.t.Fatal("list: no end of the history")
	return nil
}

// A stranger who registered the name of one of bob's contacts in a
// directory is never told to bob's devices under that name: frank is
// bob's contact by key, in no directory, and another key has the record
// of "frank". Devices get the contact's name as peer_name, and the
// stranger's only as claimed_name.
func TestStrangerClaimsContactName(t *testing.T) {
	dir := newDirectory(t, nil)
	bob := newUser(t, "bob", dir).start()
	frank := newUser(t, "").start()
	stranger := newUser(t, "frank", dir).start()
	bob.addContact(contacts.Contact{Name: "frank", Key: frank.key(), Host: frank.host.Addr().String()})
	frank.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Host: bob.host.Addr().String()})

	for _, u := range []*user{frank, stranger} {
		d := u.device()
		if s := d.status(d.send("bob", "i am frank").ID, waitFor); s != delivery.Delivered {
			t.Fatalf("status %v, want delivered", s)
		}
	}
	items := bob.device().list()
	if len(items) != 2 {
		t.Fatalf("bob's device lists %d messages, want 2", len(items))
	}
	for _, it := range items {
		switch {
		case bytes.Equal(it.Peer, frank.key().Bytes()):
			if it.PeerName != "frank" || it.ClaimedName != "" {
				t.Errorf("frank's message: peer_name %q, claimed_name %q; want frank and none", it.PeerName, it.ClaimedName)
			}
		case bytes.Equal(it.Peer, stranger.key().Bytes()):
			if it.PeerName != "" || it.ClaimedName != "frank" {
				t.Errorf("the stranger's message: peer_name %q, claimed_name %q; want none and frank", it.PeerName, it.ClaimedName)
			}
		default:
			t.Errorf("a message of %x", it.Peer)
		}
	}

	d := bob.device()
	fp, err := d.do(&hostapi.Request{Op: hostapi.OpFingerprint, Fingerprint: &hostapi.Fingerprint{Peer: stranger.key().String()}})
	if err != nil || fp.Fingerprint.PeerName != "" || fp.Fingerprint.ClaimedName != "frank" {
		t.Errorf("the stranger's fingerprint: %+v, %v", fp, err)
	}
	ex, err := d.do(&hostapi.Request{Op: hostapi.OpExpiry, Expiry: &hostapi.Expiry{Peer: stranger.key().String()}})
	if err != nil || ex.Expiry.PeerName != "" || ex.Expiry.ClaimedName != "frank" {
		t.Errorf("the stranger's expiry: %+v, %v", ex, err)
	}
	ex, err = d.do(&hostapi.Request{Op: hostapi.OpExpiry, Expiry: &hostapi.Expiry{Peer: "frank"}})
	if err != nil || ex.Expiry.PeerName != "frank" || ex.Expiry.ClaimedName != "" || !bytes.Equal(ex.Expiry.Peer, frank.key().Bytes()) {
		t.Errorf("frank's expiry: %+v, %v", ex, err)
	}

	// Calls: a stream to or from the stranger, and its ringing.
	if s := bob.call(stranger.key().String()); s.PeerName() != "" || s.ClaimedName() != "frank" {
		t.Errorf("calling the stranger: peer_name %q, claimed_name %q", s.PeerName(), s.ClaimedName())
	}
	if s := bob.answering(stranger.key().String()); s.PeerName() != "" || s.ClaimedName() != "frank" {
		t.Errorf("answering the stranger: peer_name %q, claimed_name %q", s.PeerName(), s.ClaimedName())
	}
	if s := bob.answering("frank"); s.PeerName() != "frank" || s.ClaimedName() != "" || !bytes.Equal(s.Peer(), frank.key().Bytes()) {
		t.Errorf("answering frank: %x, peer_name %q, claimed_name %q", s.Peer(), s.PeerName(), s.ClaimedName())
	}
	ring := bob.answering("")
	id := newCallID(9)
	send(t, stranger.call("bob"), &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	if ev := expect(t, ring, id, wire.SignalOffer); ev.PeerName != "" || ev.ClaimedName != "frank" {
		t.Errorf("the stranger's call rang with peer_name %q, claimed_name %q", ev.PeerName, ev.ClaimedName)
	}
	// A stranger whose first word is a call rings with its claim too.
	caller := newUser(t, "carl", dir).start()
	id = newCallID(10)
	send(t, caller.call("bob"), &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	if ev := expect(t, ring, id, wire.SignalOffer); ev.PeerName != "" || ev.ClaimedName != "carl" {
		t.Errorf("a first call rang with peer_name %q, claimed_name %q", ev.PeerName, ev.ClaimedName)
	}
}
