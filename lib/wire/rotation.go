package wire

import (
	"bytes"
	"crypto"
	"fmt"
)

// Rotation is an old identity key's statement that New replaces it. A record
// signed by New that carries it may take over Old's name, and a client that
// pinned Old accepts New.
type Rotation struct {
	V      uint64 `cbor:"0,keyasint"`
	Old    []byte `cbor:"1,keyasint"`
	New    []byte `cbor:"2,keyasint"`
	Issued int64  `cbor:"3,keyasint"` // Unix milliseconds
}

func (r *Rotation) validate() error {
	if err := checkSize("old key", r.Old, KeySize); err != nil {
		return err
	}
	if err := checkSize("new key", r.New, KeySize); err != nil {
		return err
	}
	if bytes.Equal(r.Old, r.New) {
		return fmt.Errorf("%w: a key rotated to itself", ErrMalformed)
	}
	return checkTime("issue time", r.Issued)
}

// DecodeRotation strictly decodes a rotation statement body.
func DecodeRotation(body []byte) (*Rotation, error) {
	r := new(Rotation)
	if err := decode("rotation", body, r, r.validate); err != nil {
		return nil, err
	}
	return r, nil
}

// Encode returns the deterministic encoding of r.
func (r *Rotation) Encode() []byte {
	r.V = Version
	return encode(r)
}

// SignRotation signs r with the old key's signer and returns the encoded
// signed statement. The signer's key must be r.Old.
func SignRotation(signer crypto.Signer, r *Rotation) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("rotation: %w", err)
	}
	return signAs(signer, r.Old, PurposeRotation, r.Encode())
}

// VerifyRotation decodes a signed rotation statement and verifies it is
// signed by the old key it names.
func VerifyRotation(data []byte) (*Rotation, error) {
	return verifySigned(data, PurposeRotation, DecodeRotation, func(r *Rotation) []byte { return r.Old })
}
