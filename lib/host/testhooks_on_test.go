//go:build smvs_testhooks

package host

import (
	"regexp"
	"strings"
	"testing"

	"smvs/lib/wire"
)

var fingerprintLine = regexp.MustCompile(`(?m)^a=fingerprint:sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\r$`)

// TestCallFingerprintRewritten checks the compromised host of the
// end-to-end tests: the offer bob's device gets carries another valid-
// looking fingerprint than the one alice's device sent.
func TestCallFingerprintRewritten(t *testing.T) {
	t.Setenv("SMVS_TEST_REWRITE_FINGERPRINT", "1")
	sdp := fingerprintCall(t)
	if sdp == callSDP || !fingerprintLine.MatchString(sdp) || !strings.HasPrefix(sdp, "v=0\r\n") {
		t.Errorf("the offer arrived as %q", sdp)
	}
	if rewriteFingerprint(sdp) == sdp {
		t.Error("rewriting is the identity")
	}
}

// fingerprintCall has alice offer bob a call, and returns the SDP bob's
// device gets.
func fingerprintCall(t *testing.T) string {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	ring := bob.answering("")
	a := alice.call("bob")
	id := newCallID(11)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	return expect(t, ring, id, wire.SignalOffer).Signal.SDP
}

// TestCallReasonForged checks the hostile peer of the end-to-end tests:
// the answer of bob's device reaches alice as an unsigned hang-up with
// the words a tamper report once used.
func TestCallReasonForged(t *testing.T) {
	t.Setenv("SMVS_TEST_FORGE_REASON", "1")
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	ring := bob.answering("")
	a := alice.call("bob")
	id := newCallID(12)
	send(t, a, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	expect(t, ring, id, wire.SignalOffer)
	expect(t, a, id, wire.SignalRinging)
	send(t, ring, &wire.CallSignal{CallID: id, Type: wire.SignalAnswer, SDP: callSDP})
	if ev := expect(t, a, id, wire.SignalHangup); ev.Signal.Reason != forgedReason || ev.Signal.Sig != nil {
		t.Errorf("the forged hang-up: %+v", ev.Signal)
	}
}
