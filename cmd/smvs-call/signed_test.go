package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"smvs/lib/call"
	"smvs/lib/wire"
)

// TestAnswerForgedOffer: an offer that is not signed by a device of the
// caller is refused before anyone is asked, with status 15, and the
// refusal is signed.
func TestAnswerForgedOffer(t *testing.T) {
	h := newHost(t)
	r := start(t, "--answer", "--receive-only")
	r.waitFor(t, "smvs-call: waiting for a call\n")
	id := bytes.Repeat([]byte{7}, wire.CallIDSize)
	h.SendCall(aliceKey, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: offerSDP})
	res := r.result(t)
	expect(t, res, exitFingerprint, "smvs-call: error: the call signals from alice are not what alice's device signed",
		"the offer is not signed by the peer's device", "someone may be tampering with the call")
	if strings.Contains(res.stderr, "is calling") || strings.Contains(r.tty.out.String(), "answer the call") {
		t.Error("a forged offer rang")
	}
	sent := h.WaitCallSignals(1, 5*time.Second)
	if len(sent) != 1 || sent[0].Signal.Type != wire.SignalReject || len(sent[0].Signal.Sig) != wire.SignatureSize {
		t.Errorf("sent %+v, want one signed reject", sent)
	}
}

// TestPlaceForgedReason: the words a tamper report once used, sent as a
// hang-up reason, are a hang-up: status 10, no tamper report.
func TestPlaceForgedReason(t *testing.T) {
	const forged = "the DTLS certificate does not match the signed fingerprint"
	for _, signed := range []bool{true, false} {
		h := newHost(t)
		r, offer := placed(t, h)
		sig := &wire.CallSignal{CallID: offer.CallID, Type: wire.SignalReject, Reason: forged}
		if signed {
			h.SendCallAs(bobID, sig)
		} else {
			h.SendCall(bobKey, sig)
		}
		res := r.result(t)
		expect(t, res, exitRejected, "smvs-call: error: bob declined the call (", forged)
		if strings.Contains(res.stderr, "tampering") || strings.Contains(res.stderr, "someone may be") {
			t.Errorf("signed %v: a peer's reason made a tamper report: %s", signed, res.stderr)
		}
		if strings.Contains(res.stderr, "unsigned, from a host") == signed {
			t.Errorf("signed %v: %s", signed, res.stderr)
		}
	}
}

// TestOutcomeTampered: ErrTampered is status 15, saying why.
func TestOutcomeTampered(t *testing.T) {
	err := outcome(&call.Ended{Err: call.ErrTampered, Reason: "the signature on the answer does not verify"}, "bob", false)
	var e interface{ ExitCode() int }
	if !asExit(err, &e) || e.ExitCode() != exitFingerprint ||
		!strings.Contains(err.Error(), "the signature on the answer does not verify") || !strings.Contains(err.Error(), "tampering") {
		t.Errorf("outcome: %v", err)
	}
}

func asExit(err error, target *interface{ ExitCode() int }) bool {
	e, ok := err.(interface{ ExitCode() int })
	*target = e
	return ok
}
