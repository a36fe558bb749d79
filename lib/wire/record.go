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
	// Rotations, when present, are the encoded signed rotation statements
	// before Rotation, oldest first: each one's New is the next one's Old,
	// the last one's New is Rotation's Old. With Rotation they lead from
	// any key the identity held, at most MaxRotations ago, to Identity.
	Rotations [][]byte `cbor:"9,keyasint,omitempty"`
	// Via, when present, is the identity key of the host at Host: a relay
	// that passes requests on to this user's host, which can't be dialled
	// (PROTOCOL.md 19.9). Senders dial Host expecting Via, not Identity.
	Via []byte `cbor:"10,keyasint,omitempty"`
}

// MaxRotations bounds the rotation statements a record carries in all
// (Rotation and Rotations); identity.MaxRotations is the same number.
const MaxRotations = 16

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
	if r.Via != nil {
		if err := checkSize("relay key", r.Via, KeySize); err != nil {
			return err
		}
		if r.Host == "" || bytes.Equal(r.Via, r.Identity) {
			return fmt.Errorf("%w: a relay key without a host address, or the record's own key", ErrMalformed)
		}
	}
	if err := checkTime("issue time", r.Issued); err != nil {
		return err
	}
	if r.Expires <= r.Issued {
		return fmt.Errorf("%w: record expires before it is issued", ErrMalformed)
	}
	if len(r.Rotations) > 0 && len(r.Rotation) == 0 {
		return fmt.Errorf("%w: earlier rotation statements without the last one", ErrMalformed)
	}
	if n := len(r.Rotations) + 1; n > MaxRotations {
		return fmt.Errorf("%w: %d rotation statements, at most %d", ErrMalformed, n, MaxRotations)
	}
	for _, s := range r.Rotations {
		if len(s) == 0 {
			return fmt.Errorf("%w: an empty rotation statement", ErrMalformed)
		}
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
// identity key it names, and the rotation statements it carries, if any:
// each is signed by its old key, and they form one chain (each one's new
// key is the next one's old key, no key twice) ending at Identity.
// Whether the record is current (expiry, sequence) is for the caller to
// judge.
func VerifyRecord(data []byte) (*Record, error) {
	r, err := verifySigned(data, PurposeRecord, DecodeRecord, func(r *Record) []byte { return r.Identity })
	if err != nil {
		return nil, err
	}
	if _, err := r.Chain(); err != nil {
		return nil, err
	}
	return r, nil
}

// Chain verifies the record's rotation statements (Rotations, then
// Rotation) and returns them decoded, oldest first: none if it carries
// none. Chain()[i].Old are the keys the identity held before, oldest
// first.
func (r *Record) Chain() ([]*Rotation, error) {
	if len(r.Rotation) == 0 {
		if len(r.Rotations) > 0 {
			return nil, fmt.Errorf("record's rotation statements: %w: earlier ones without the last one", ErrMalformed)
		}
		return nil, nil
	}
	all := append(append(make([][]byte, 0, len(r.Rotations)+1), r.Rotations...), r.Rotation)
	if len(all) > MaxRotations {
		return nil, fmt.Errorf("record's rotation statements: %w: %d, at most %d", ErrMalformed, len(all), MaxRotations)
	}
	chain := make([]*Rotation, len(all))
	seen := map[string]bool{string(r.Identity): true}
	for i, s := range all {
		rot, err := VerifyRotation(s)
		if err != nil {
			return nil, fmt.Errorf("record's rotation statement %d of %d: %w", i+1, len(all), err)
		}
		if i > 0 && !bytes.Equal(chain[i-1].New, rot.Old) {
			return nil, fmt.Errorf("record's rotation statement %d of %d: %w: it rotates from another key than the one before rotated to",
				i+1, len(all), ErrMalformed)
		}
		if seen[string(rot.Old)] {
			return nil, fmt.Errorf("record's rotation statement %d of %d: %w: it rotates from a key the chain holds already",
				i+1, len(all), ErrMalformed)
		}
		seen[string(rot.Old)] = true
		chain[i] = rot
	}
	if !bytes.Equal(chain[len(chain)-1].New, r.Identity) {
		return nil, fmt.Errorf("record's rotation statement: %w: it names another new key", ErrMalformed)
	}
	return chain, nil
}

// RotatedFrom returns the key the record's last rotation statement
// rotates from, or nil if it carries none. It is meaningful only on a
// record that VerifyRecord returned.
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

// PreviousKeys returns the keys the record's rotation statements rotate
// from, oldest first, or none. It is meaningful only on a record that
// VerifyRecord returned.
func (r *Record) PreviousKeys() [][]byte {
	var keys [][]byte
	for _, data := range append(append([][]byte(nil), r.Rotations...), r.Rotation) {
		if len(data) == 0 {
			continue
		}
		s, err := DecodeSigned(data)
		if err != nil {
			return nil
		}
		rot, err := DecodeRotation(s.Body)
		if err != nil {
			return nil
		}
		keys = append(keys, rot.Old)
	}
	return keys
}
