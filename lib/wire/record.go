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
	if err := decode("record", body, r); err != nil {
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
	key, err := signerKey(signer)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(key, r.Identity) {
		return nil, fmt.Errorf("record: signer is not the record's identity")
	}
	s, err := Sign(signer, PurposeRecord, r.Encode())
	if err != nil {
		return nil, err
	}
	return s.Encode(), nil
}

// VerifyRecord decodes a signed record and verifies its signature by the
// identity key it names. Whether the record is current (expiry, sequence)
// is for the caller to judge.
func VerifyRecord(data []byte) (*Record, error) {
	s, err := DecodeSigned(data)
	if err != nil {
		return nil, err
	}
	r, err := DecodeRecord(s.Body)
	if err != nil {
		return nil, err
	}
	if err := s.Verify(r.Identity, PurposeRecord); err != nil {
		return nil, err
	}
	return r, nil
}
