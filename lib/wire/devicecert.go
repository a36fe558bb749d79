package wire

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"time"
)

// The purposes of device signatures: the identity certifying a device key,
// and the device signing a call signal.
const (
	PurposeDeviceCert Purpose = "smvs/1 device certificate"
	PurposeCallSignal Purpose = "smvs/1 call signal"
)

// MaxDeviceCertLifetime bounds a device certificate from its issue to its
// expiry: a certificate is short-lived, so a key that leaks stops counting
// soon without any revocation list.
const MaxDeviceCertLifetime = 7 * 24 * time.Hour

// DeviceCertSkew is how far a certificate's times may be from the
// checker's clock: devices' clocks differ.
const DeviceCertSkew = 5 * time.Minute

// MaxDeviceCertSize bounds an encoded signed certificate in a call signal.
const MaxDeviceCertSize = 512

// DeviceCert says that Device is a key of the user Identity from Issued
// to Expires (Unix ms). It travels signed by Identity for
// PurposeDeviceCert.
type DeviceCert struct {
	V        uint64 `cbor:"0,keyasint"`
	Identity []byte `cbor:"1,keyasint"`
	Device   []byte `cbor:"2,keyasint"`
	Issued   int64  `cbor:"3,keyasint"`
	Expires  int64  `cbor:"4,keyasint"`
}

// Validate checks the sizes and times of a certificate.
func (c *DeviceCert) Validate() error {
	if err := checkSize("identity key", c.Identity, KeySize); err != nil {
		return err
	}
	if err := checkSize("device key", c.Device, KeySize); err != nil {
		return err
	}
	if err := checkTime("issued", c.Issued); err != nil {
		return err
	}
	switch {
	case bytes.Equal(c.Identity, c.Device):
		return fmt.Errorf("%w: a device certificate for the identity key itself", ErrMalformed)
	case c.Expires <= c.Issued:
		return fmt.Errorf("%w: a device certificate expires at %d, not after its issue at %d", ErrMalformed, c.Expires, c.Issued)
	case c.Expires-c.Issued > MaxDeviceCertLifetime.Milliseconds():
		return fmt.Errorf("%w: a device certificate valid for %v, longer than %v", ErrMalformed,
			time.Duration(c.Expires-c.Issued)*time.Millisecond, MaxDeviceCertLifetime)
	}
	return nil
}

// DecodeDeviceCert strictly decodes a certificate body (unsigned).
func DecodeDeviceCert(data []byte) (*DeviceCert, error) {
	c := new(DeviceCert)
	if err := decode("device certificate", data, c, c.Validate); err != nil {
		return nil, err
	}
	return c, nil
}

// Encode returns the deterministic encoding of c.
func (c *DeviceCert) Encode() []byte {
	c.V = Version
	return encode(c)
}

// SignDeviceCert signs c with the identity it names, and returns the
// encoded Signed container.
func SignDeviceCert(identity crypto.Signer, c *DeviceCert) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("device certificate: %w", err)
	}
	return signAs(identity, c.Identity, PurposeDeviceCert, c.Encode())
}

// VerifyDeviceCert decodes a signed certificate and verifies its signature
// by the identity it names. It does not check the times: see ValidAt.
func VerifyDeviceCert(data []byte) (*DeviceCert, error) {
	if len(data) > MaxDeviceCertSize {
		return nil, fmt.Errorf("device certificate: %w: %d bytes, limit %d", ErrTooLarge, len(data), MaxDeviceCertSize)
	}
	return verifySigned(data, PurposeDeviceCert, DecodeDeviceCert, func(c *DeviceCert) []byte { return c.Identity })
}

// ValidAt reports whether the certificate is valid at now, give or take
// DeviceCertSkew.
func (c *DeviceCert) ValidAt(now time.Time) error {
	ms := now.UnixMilli()
	skew := DeviceCertSkew.Milliseconds()
	switch {
	case c.Issued > ms+skew:
		return fmt.Errorf("the device certificate is issued in the future (%s)", time.UnixMilli(c.Issued).UTC().Format(time.RFC3339))
	case c.Expires < ms-skew:
		return fmt.Errorf("the device certificate expired at %s", time.UnixMilli(c.Expires).UTC().Format(time.RFC3339))
	}
	return nil
}

// CallDirection says which side of a call sent a signal.
type CallDirection uint64

// The directions of a call signal.
const (
	FromCaller CallDirection = 1
	FromCallee CallDirection = 2
)

// CallBinding is what a device's signature on a call signal binds it to
// beyond the signal itself: the two users' identity keys and the
// direction, so a signal can't be replayed into a call between others or
// reflected back to its sender.
type CallBinding struct {
	Caller    []byte
	Callee    []byte
	Direction CallDirection
}

// CallStatement is what a device signs for a call signal
// (PurposeCallSignal): every field of the signal that decides the media
// path or the ending, the binding, and the signing device key. It is
// never sent: sender and receiver each build it from the signal and what
// they know, and its deterministic encoding is the signed body.
type CallStatement struct {
	V         uint64        `cbor:"0,keyasint"`
	CallID    []byte        `cbor:"1,keyasint"`
	Type      SignalType    `cbor:"2,keyasint"`
	SDP       string        `cbor:"3,keyasint,omitempty"`
	Candidate string        `cbor:"4,keyasint,omitempty"`
	Reason    string        `cbor:"5,keyasint,omitempty"`
	Caller    []byte        `cbor:"6,keyasint"`
	Callee    []byte        `cbor:"7,keyasint"`
	Direction CallDirection `cbor:"8,keyasint"`
	Device    []byte        `cbor:"9,keyasint"`
	Tampered  bool          `cbor:"10,keyasint,omitempty"`
}

// Validate checks a statement as DecodeCallStatement would.
func (s *CallStatement) Validate() error {
	sig := CallSignal{V: Version, CallID: s.CallID, Type: s.Type, SDP: s.SDP, Candidate: s.Candidate, Reason: s.Reason, Tampered: s.Tampered}
	if err := sig.Validate(); err != nil {
		return err
	}
	if !s.Type.DeviceSigned() {
		return fmt.Errorf("%w: a %s signal is a host's and is not signed", ErrMalformed, s.Type)
	}
	for _, k := range []struct {
		name string
		b    []byte
	}{{"caller", s.Caller}, {"callee", s.Callee}, {"device", s.Device}} {
		if err := checkSize(k.name+" key", k.b, KeySize); err != nil {
			return err
		}
	}
	if s.Direction != FromCaller && s.Direction != FromCallee {
		return fmt.Errorf("%w: call direction %d", ErrMalformed, uint64(s.Direction))
	}
	return nil
}

// DecodeCallStatement strictly decodes a statement. Devices never receive
// one (they build it); this is for tests and tools that read the vectors.
func DecodeCallStatement(data []byte) (*CallStatement, error) {
	s := new(CallStatement)
	if err := decode("call statement", data, s, s.Validate); err != nil {
		return nil, err
	}
	return s, nil
}

// Encode returns the deterministic encoding of s.
func (s *CallStatement) Encode() []byte {
	s.V = Version
	return encode(s)
}

// Statement returns what device signs for s under binding b.
func (s *CallSignal) Statement(b CallBinding, device []byte) *CallStatement {
	return &CallStatement{
		V: Version, CallID: s.CallID, Type: s.Type, SDP: s.SDP, Candidate: s.Candidate, Reason: s.Reason,
		Caller: b.Caller, Callee: b.Callee, Direction: b.Direction, Device: device, Tampered: s.Tampered,
	}
}

// SignCallSignal signs s with a device key for binding b and sets s.Sig.
// cert, the device's signed certificate, goes with the signals that carry
// one (CarriesCert); it may be nil for the others.
func SignCallSignal(device crypto.Signer, s *CallSignal, b CallBinding, cert []byte) error {
	pub, ok := device.Public().(ed25519.PublicKey)
	if !ok {
		return fmt.Errorf("%s: signer has a %T key, want Ed25519", PurposeCallSignal, device.Public())
	}
	st := s.Statement(b, pub)
	if err := st.Validate(); err != nil {
		return fmt.Errorf("signing a call %s: %w", s.Type, err)
	}
	signed, err := Sign(device, PurposeCallSignal, st.Encode())
	if err != nil {
		return err
	}
	s.Sig = signed.Sig
	s.Cert = nil
	if s.Type.CarriesCert() {
		s.Cert = cert
	}
	return nil
}

// VerifyCallSignal checks s.Sig by device for binding b. It does not look
// at s.Cert: the caller checks that device is the certified one.
func VerifyCallSignal(s *CallSignal, device []byte, b CallBinding) error {
	if len(s.Sig) == 0 {
		return fmt.Errorf("a call %s signal: %w: it is not signed", s.Type, ErrBadSignature)
	}
	st := s.Statement(b, device)
	if err := st.Validate(); err != nil {
		return fmt.Errorf("a call %s signal: %w", s.Type, err)
	}
	signed := Signed{V: Version, Body: st.Encode(), Sig: s.Sig}
	if err := signed.Verify(device, PurposeCallSignal); err != nil {
		return fmt.Errorf("a call %s signal: %w", s.Type, err)
	}
	return nil
}
