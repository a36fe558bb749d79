package call

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"smvs/lib/wire"
)

// Device is this side's certified call key: the key signs every signal
// this side makes, and the certificate, signed by this user's identity,
// tells the peer whose device it is. For smvs-call the key is made fresh
// for each run and the user's host certifies it.
type Device struct {
	key  ed25519.PrivateKey
	cert []byte
	c    *wire.DeviceCert
}

// NewDevice pairs a device key with its signed certificate, which must
// verify and name the key.
func NewDevice(key ed25519.PrivateKey, cert []byte) (*Device, error) {
	c, err := wire.VerifyDeviceCert(cert)
	if err != nil {
		return nil, fmt.Errorf("call: this device's certificate: %w", err)
	}
	if pub, ok := key.Public().(ed25519.PublicKey); !ok || !bytes.Equal(pub, c.Device) {
		return nil, fmt.Errorf("call: this device's certificate is for another key")
	}
	return &Device{key: key, cert: cert, c: c}, nil
}

// Identity returns the identity key the certificate names: this user.
func (d *Device) Identity() []byte { return d.c.Identity }

// Cert returns the signed certificate.
func (d *Device) Cert() []byte { return d.cert }

// binding is what this side's signals are bound to: caller, callee, and
// the direction they travel.
func binding(me, peer []byte, caller bool) (out, in wire.CallBinding) {
	if caller {
		return wire.CallBinding{Caller: me, Callee: peer, Direction: wire.FromCaller},
			wire.CallBinding{Caller: me, Callee: peer, Direction: wire.FromCallee}
	}
	return wire.CallBinding{Caller: peer, Callee: me, Direction: wire.FromCallee},
		wire.CallBinding{Caller: peer, Callee: me, Direction: wire.FromCaller}
}

// checkKeys checks what a call needs to sign and check its signals.
func checkKeys(dev *Device, peer []byte, now time.Time) error {
	switch {
	case dev == nil:
		return fmt.Errorf("call: no device key to sign the call's signals with")
	case len(peer) != wire.KeySize:
		return fmt.Errorf("call: the peer's identity key is %d bytes, want %d", len(peer), wire.KeySize)
	case bytes.Equal(peer, dev.Identity()):
		return fmt.Errorf("call: the peer is this device's own user")
	}
	if err := dev.c.ValidAt(now); err != nil {
		return fmt.Errorf("call: this device's certificate: %w", err)
	}
	return nil
}

// peerDevice checks the certificate on a peer's signal: signed by the
// peer's identity, valid now, for the device key already known for this
// call if one is. It returns the certified device key.
func peerDevice(s *wire.CallSignal, peer, known []byte, now time.Time) ([]byte, error) {
	c, err := wire.VerifyDeviceCert(s.Cert)
	switch {
	case err != nil:
		return nil, fmt.Errorf("the device certificate on the %s does not verify: %w", s.Type, err)
	case !bytes.Equal(c.Identity, peer):
		return nil, fmt.Errorf("the device certificate on the %s is not signed by the peer's identity", s.Type)
	case known != nil && !bytes.Equal(c.Device, known):
		return nil, fmt.Errorf("the %s comes from another device than the call's", s.Type)
	}
	if err := c.ValidAt(now); err != nil {
		return nil, fmt.Errorf("the %s: %w", s.Type, err)
	}
	return c.Device, nil
}

// verifyPeer checks a signal of the peer's device: its certificate if it
// carries one, else the device key known for the call (known, nil if none
// yet), and its signature for the binding in. It returns the signing
// device key. An unsigned Hangup or Reject is no error: a host, not the
// peer's device, ended the call, and host says so.
func verifyPeer(s *wire.CallSignal, peer, known []byte, in wire.CallBinding, now time.Time) (device []byte, host bool, err error) {
	switch {
	case !s.Type.DeviceSigned():
		return nil, false, nil // a host's own kind of signal: it carries no path, and ends nothing as tampering
	case len(s.Sig) == 0 && (s.Type == wire.SignalHangup || s.Type == wire.SignalReject):
		return nil, true, nil
	case len(s.Sig) == 0:
		return nil, false, fmt.Errorf("the %s is not signed by the peer's device", s.Type)
	}
	device = known
	if len(s.Cert) > 0 {
		if device, err = peerDevice(s, peer, known, now); err != nil {
			return nil, false, err
		}
	}
	if device == nil {
		return nil, false, fmt.Errorf("the %s names no device certificate, and no device of the peer is known for the call yet", s.Type)
	}
	if err := wire.VerifyCallSignal(s, device, in); err != nil {
		return nil, false, fmt.Errorf("the signature on the %s does not verify for this call: %w", s.Type, err)
	}
	return device, false, nil
}

// CheckOffer checks an offer before the user is asked to answer it: it
// must be signed by a device the peer's identity certified, for a call
// from peer to this device's user. A failure is an *Ended wrapping
// ErrTampered.
func CheckOffer(offer *wire.CallSignal, dev *Device, peer []byte) error {
	if err := checkKeys(dev, peer, time.Now()); err != nil {
		return err
	}
	if offer.Type != wire.SignalOffer {
		return fmt.Errorf("call: checking a %s signal: not an offer", offer.Type)
	}
	_, in := binding(dev.Identity(), peer, false)
	if _, _, err := verifyPeer(offer, peer, nil, in, time.Now()); err != nil {
		return &Ended{Err: ErrTampered, Reason: err.Error()}
	}
	return nil
}

// Reject declines offer with a reason the caller will see, signed by dev
// for the call from peer.
func Reject(ctx context.Context, sig Signaller, offer *wire.CallSignal, dev *Device, peer []byte, reason string) error {
	return reject(ctx, sig, dev, peer, &wire.CallSignal{CallID: offer.CallID, Type: wire.SignalReject, Reason: reason})
}

// RejectTampered declines an offer that failed CheckOffer, saying so,
// signed by dev, so that the caller's device reports it too
// (ErrPeerTampered).
func RejectTampered(ctx context.Context, sig Signaller, offer *wire.CallSignal, dev *Device, peer []byte) error {
	return reject(ctx, sig, dev, peer, &wire.CallSignal{
		CallID: offer.CallID, Type: wire.SignalReject, Reason: "the offer did not verify", Tampered: true,
	})
}

func reject(ctx context.Context, sig Signaller, dev *Device, peer []byte, r *wire.CallSignal) error {
	if err := checkKeys(dev, peer, time.Now()); err != nil {
		return err
	}
	out, _ := binding(dev.Identity(), peer, false)
	if err := wire.SignCallSignal(dev.key, r, out, dev.cert); err != nil {
		return fmt.Errorf("call: %w", err)
	}
	return sig.Send(ctx, r)
}
