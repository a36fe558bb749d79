//go:build !smvs_testhooks

package host

import (
	"testing"

	"smvs/lib/wire"
)

// TestCallFingerprintKept checks that the default build relays an offer's
// fingerprint untouched, whatever the environment says.
func TestCallFingerprintKept(t *testing.T) {
	t.Setenv("SMVS_TEST_REWRITE_FINGERPRINT", "1")
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	ring := bob.answering("")
	a := alice.call("bob")
	id := newCallID(11)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	if sdp := expect(t, ring, id, wire.SignalOffer).Signal.SDP; sdp != callSDP {
		t.Errorf("the offer arrived as %q", sdp)
	}
}
