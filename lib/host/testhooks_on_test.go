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
