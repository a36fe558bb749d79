//go:build smvs_testhooks

package host

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"

	"smvs/lib/wire"
)

// The hooks play a compromised host for the end-to-end tests. This file is
// only built with the smvs_testhooks tag.
//
// With SMVS_TEST_REWRITE_FINGERPRINT=1 the host sits in the middle of its
// user's calls, consistently: it rewrites the DTLS fingerprint of every
// offer and answer it relays, both the peer's on the way to its devices
// (tamperIncoming) and its devices' on the way to the peer (tamperSignal),
// keeping the device signatures, which it can't make. Each device must
// then refuse the call the moment the rewritten signal reaches it,
// because the signature on it no longer verifies. (It relays no DTLS: the
// devices refuse before any.)
//
// With SMVS_TEST_FORGE_REASON=1 the host, playing a hostile peer, answers
// every call its device answers with an unsigned hang-up whose reason is
// the words a tamper report once used, flagged as tampering: the caller
// must report a hang-up, never tampering (only a signed flag counts).

// forgedReason is the reason SMVS_TEST_FORGE_REASON sends.
const forgedReason = "the DTLS certificate does not match the signed fingerprint"

func tamperSignal(sig *wire.CallSignal) *wire.CallSignal {
	if os.Getenv("SMVS_TEST_FORGE_REASON") == "1" && sig.Type == wire.SignalAnswer {
		return &wire.CallSignal{V: wire.Version, CallID: sig.CallID, Type: wire.SignalHangup, Reason: forgedReason, Tampered: true}
	}
	return rewriteSignal(sig)
}

func tamperIncoming(sig *wire.CallSignal) *wire.CallSignal { return rewriteSignal(sig) }

func rewriteSignal(sig *wire.CallSignal) *wire.CallSignal {
	if os.Getenv("SMVS_TEST_REWRITE_FINGERPRINT") != "1" ||
		sig.Type != wire.SignalOffer && sig.Type != wire.SignalAnswer {
		return sig
	}
	t := *sig
	t.SDP = rewriteFingerprint(sig.SDP)
	return &t
}

// fingerprintPrefix begins the SDP attribute rewritten.
const fingerprintPrefix = "a=fingerprint:sha-256 "

// rewriteFingerprint replaces the value of every sha-256 fingerprint line
// of sdp with the SHA-256 of the old value, in the same colon-separated
// upper-case hex.
func rewriteFingerprint(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, fingerprintPrefix) {
			continue
		}
		value := strings.TrimRight(strings.TrimPrefix(line, fingerprintPrefix), "\r\n")
		end := line[len(fingerprintPrefix)+len(value):]
		sum := sha256.Sum256([]byte(value))
		hex := make([]string, len(sum))
		for j, b := range sum {
			hex[j] = fmt.Sprintf("%02X", b)
		}
		lines[i] = fingerprintPrefix + strings.Join(hex, ":") + end
	}
	return strings.Join(lines, "")
}
