package wire

import (
	"bytes"
	"crypto"
	"fmt"
)

// KEMPublic is a KEM public key as a record certifies it: the key sealed
// envelopes go to, its id, and the time after which senders must not use it.
type KEMPublic struct {
	ID      []byte `cbor:"1,keyasint"`
	Key     []byte `cbor:"2,keyasint"`
	Expires int64  `cbor:"3,keyasint"` // Unix milliseconds
}

func (k *KEMPublic) validate() error {
	if err := checkSize("KEM key id", k.ID, KEMKeyIDSize); err != nil {
		return err
	}
	if err := checkSize("KEM key", k.Key, KEMPublicKeySize); err != nil {
		return err
	}
	return checkTime("KEM key expiry", k.Expires)
}

// Record is a user's self-signed directory record: the name it claims, its
// identity key, its KEM key, where its host listens, and when the record was
// issued and expires. Seq only ever goes up.
type Record struct {
	V        uint64    `cbor:"0,keyasint"`
	Name     string    `cbor:"1,keyasint,omitempty"`
	Identity []byte    `cbor:"2,keyasint"`
	KEM      KEMPublic `cbor:"3,keyasint"`
	Host     string    `cbor:"4,keyasint,omitempty"`
	Seq      uint64    `cbor:"5,keyasint"`
	Issued   int64     `cbor:"6,keyasint"` // Unix milliseconds
	Expires  int64     `cbor:"7,keyasint"` // Unix milliseconds
	// Rotation, when present, is an encoded signed Rotation from the key
	// that held this name before to Identity.
	Rotation []byte `cbor:"8,keyasint,omitempty"`
}

func (r *Record) validate() error {
	if err := checkSize("identity key", r.Identity, KeySize); err != nil {
		return err
	}
	if err := r.KEM.validate(); err != nil {
		return err
	}
	if err := checkMax("name", len(r.Name), MaxNameLen); err != nil {
		return err
	}
	if err := checkMax("host address", len(r.Host), MaxHostLen); err != nil {
		return err
	}
	if err := checkTime("issue time", r.Issued); err != nil {
		return err
	}
	if r.Expires <= r.Issued {
		return fmt.Errorf("%w: record expires before it is issued", ErrMalformed)
	}
	return nil
}

// DecodeRecord strictly decodes a record body.
func DecodeRecord(body []byte) (*Record, error) {
	r := new(Record)
	if err := decode("record", body, r, r.validate); err != nil {
		return nil, err
	}
	return r, nil
}

// Encode returns the deterministic encoding of r.
func (r *Record) Encode() []byte {
	r.V = Version
	return encode(r)
}

// SignRecord signs r with its identity's signer and returns the encoded
// signed record. The signer's key must be r.Identity.
func SignRecord(signer crypto.Signer, r *Record) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	return signAs(signer, r.Identity, PurposeRecord, r.Encode())
}

// VerifyRecord decodes a signed record and verifies its signature by the
// identity key it names, and the rotation statement it carries, if any.
// Whether the record is current (expiry, sequence) is for the caller to
// judge.
func VerifyRecord(data []byte) (*Record, error) {
	r, err := verifySigned(data, PurposeRecord, DecodeRecord, func(r *Record) []byte { return r.Identity })
	if err != nil {
		return nil, err
	}
	if len(r.Rotation) > 0 {
		rot, err := VerifyRotation(r.Rotation)
		if err != nil {
			return nil, fmt.Errorf("record's rotation statement: %w", err)
		}
		if !bytes.Equal(rot.New, r.Identity) {
			return nil, fmt.Errorf("record's rotation statement: %w: it names another new key", ErrMalformed)
		}
	}
	return r, nil
}

// RotatedFrom returns the key the record's rotation statement rotates from,
// or nil if it carries none. It is meaningful only on a record that
// VerifyRecord returned.
func (r *Record) RotatedFrom() []byte {
	if len(r.Rotation) == 0 {
		return nil
	}
	s, err := DecodeSigned(r.Rotation)
	if err != nil {
		return nil
	}
	rot, err := DecodeRotation(s.Body)
	if err != nil {
		return nil
	}
	return rot.Old
}
