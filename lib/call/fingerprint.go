package call

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/dtls/v3/pkg/crypto/fingerprint"
)

// errNoFingerprint: a signed SDP without a fingerprint cannot be checked.
var errNoFingerprint = errors.New("the peer's SDP names no certificate fingerprint")

// sdpFingerprints returns the a=fingerprint values of an SDP, session- or
// media-level, as algorithm and value.
func sdpFingerprints(sdp string) [][2]string {
	var fps [][2]string
	for l := range strings.Lines(sdp) {
		v, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "a=fingerprint:")
		if !ok {
			continue
		}
		algo, value, ok := strings.Cut(strings.TrimSpace(v), " ")
		if ok {
			fps = append(fps, [2]string{strings.ToLower(algo), strings.TrimSpace(value)})
		}
	}
	return fps
}

// matchFingerprint checks a DER certificate against the fingerprints of the
// peer's signed SDP: one of them must be the certificate's.
func matchFingerprint(der []byte, sdp string) error {
	fps := sdpFingerprints(sdp)
	if len(fps) == 0 {
		return errNoFingerprint
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("the peer's certificate: %w", err)
	}
	for _, fp := range fps {
		hash, err := fingerprint.HashFromString(fp[0])
		if err != nil {
			continue
		}
		got, err := fingerprint.Fingerprint(cert, hash)
		if err == nil && strings.EqualFold(got, fp[1]) {
			return nil
		}
	}
	return fmt.Errorf("matches none of the %d fingerprints in the signed SDP", len(fps))
}

// checkFingerprint runs once DTLS is up. Pion checks the fingerprint during
// the handshake already; checking again here, against the SDP as it was
// signed, keeps the promise whatever pion's settings, and media waits for
// it.
func (c *Call) checkFingerprint() {
	remote := c.pc.RemoteDescription()
	der := c.pc.SCTP().Transport().GetRemoteCertificate()
	if remote == nil || len(der) == 0 {
		c.fingerprintMismatch(errors.New("no certificate to check"))
		return
	}
	if err := matchFingerprint(der, remote.SDP); err != nil {
		c.fingerprintMismatch(err)
		return
	}
	c.log.Debug("the peer's certificate matches its signed fingerprint", "after", time.Since(c.started))
	c.markVerified()
}

func (c *Call) fingerprintMismatch(err error) {
	c.log.Warn("the peer's DTLS certificate", "err", err)
	c.end(&Ended{Err: ErrFingerprint, Reason: err.Error()}, "the "+c.role+" hung up: the connection's certificate does not match the signed fingerprint")
}

// transportFailed ends the call when ICE or DTLS failed. When the
// handshake failed on the peer's certificate (pion's own check), that is
// ErrFingerprint; otherwise it waits a moment for the peer's hang-up,
// which says why in its words, before calling it ErrConnection.
func (c *Call) transportFailed() {
	remote := c.pc.RemoteDescription()
	der := c.pc.SCTP().Transport().GetRemoteCertificate()
	if remote != nil && len(der) > 0 {
		if err := matchFingerprint(der, remote.SDP); err != nil {
			c.fingerprintMismatch(err)
			return
		}
	}
	reason := "lost the connection to the peer"
	select {
	case <-c.verified:
	default:
		reason = "could not set up a secure connection with the peer"
	}
	t := time.NewTimer(failureGrace)
	defer t.Stop()
	select {
	case <-t.C:
		c.end(&Ended{Err: ErrConnection, Reason: reason}, "the "+c.role+" hung up: "+reason)
	case <-c.ctx.Done():
	}
}
