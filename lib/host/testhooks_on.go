//go:build smvs_testhooks

package host

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"

	"smvs/lib/wire"
)

// tamperSignal plays a compromised host for the end-to-end tests: with
// SMVS_TEST_REWRITE_FINGERPRINT=1 in the environment, it rewrites the DTLS
// fingerprint of every outgoing offer and answer to another one of the
// same form, before the signal is signed and sealed. A device must then
// refuse the call: the fingerprint it sees is not its peer's certificate.
// This file is only built with the smvs_testhooks tag.
func tamperSignal(sig *wire.CallSignal) *wire.CallSignal {
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
