package wire

import (
	"crypto"
	"fmt"
)

// Tombstone is an identity's signed request to remove its record. Seq must
// be above the record's, so an old record can't be replayed over it.
type Tombstone struct {
	V        uint64 `cbor:"0,keyasint"`
	Name     string `cbor:"1,keyasint,omitempty"`
	Identity []byte `cbor:"2,keyasint"`
	Seq      uint64 `cbor:"3,keyasint"`
	Issued   int64  `cbor:"4,keyasint"` // Unix milliseconds
}

func (t *Tombstone) validate() error {
	if err := checkSize("identity key", t.Identity, KeySize); err != nil {
		return err
	}
	if err := checkMax("name", len(t.Name), MaxNameLen); err != nil {
		return err
	}
	return checkTime("issue time", t.Issued)
}

// DecodeTombstone strictly decodes a tombstone body.
func DecodeTombstone(body []byte) (*Tombstone, error) {
	t := new(Tombstone)
	if err := decode("tombstone", body, t, t.validate); err != nil {
		return nil, err
	}
	return t, nil
}

// Encode returns the deterministic encoding of t.
func (t *Tombstone) Encode() []byte {
	t.V = Version
	return encode(t)
}

// SignTombstone signs t with its identity's signer and returns the encoded
// signed tombstone. The signer's key must be t.Identity.
func SignTombstone(signer crypto.Signer, t *Tombstone) ([]byte, error) {
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("tombstone: %w", err)
	}
	return signAs(signer, t.Identity, PurposeTombstone, t.Encode())
}

// VerifyTombstone decodes a signed tombstone and verifies it is signed by
// the identity it names.
func VerifyTombstone(data []byte) (*Tombstone, error) {
	return verifySigned(data, PurposeTombstone, DecodeTombstone, func(t *Tombstone) []byte { return t.Identity })
}
