package wire

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"fmt"
)

// Purpose is the context string a signature is made for. The signed input is
// the purpose, a zero byte, then the body, so a signature made for one purpose
// never verifies for another.
type Purpose string

// The purposes of SMVS signatures.
const (
	PurposeRecord    Purpose = "smvs/1 record"
	PurposeMessage   Purpose = "smvs/1 message"
	PurposeRotation  Purpose = "smvs/1 rotation"
	PurposeTombstone Purpose = "smvs/1 tombstone"
)

func (p Purpose) input(body []byte) []byte {
	in := make([]byte, 0, len(p)+1+len(body))
	in = append(in, p...)
	in = append(in, 0)
	return append(in, body...)
}

// Signed carries the exact bytes that were signed and the signature. It is
// verified over Body as it is, never over a re-encoding.
type Signed struct {
	V    uint64 `cbor:"0,keyasint"`
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

func (s *Signed) validate() error {
	return checkSize("signature", s.Sig, SignatureSize)
}

// Sign signs body for purpose p with an Ed25519 signer (an
// ed25519.PrivateKey, or a key agent's signer).
func Sign(signer crypto.Signer, p Purpose, body []byte) (*Signed, error) {
	sig, err := signer.Sign(nil, p.input(body), crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", p, err)
	}
	return &Signed{V: Version, Body: body, Sig: sig}, nil
}

// Verify checks the signature for purpose p under the Ed25519 public key.
func (s *Signed) Verify(key []byte, p Purpose) error {
	if len(key) != ed25519.PublicKeySize || !ed25519.Verify(ed25519.PublicKey(key), p.input(s.Body), s.Sig) {
		return fmt.Errorf("%s: %w", p, ErrBadSignature)
	}
	return nil
}

// DecodeSigned strictly decodes a signed container. It does not verify the
// signature: the key is inside Body, so see VerifyRecord and VerifyMessage.
func DecodeSigned(data []byte) (*Signed, error) {
	s := new(Signed)
	if err := decode("signed", data, s, s.validate); err != nil {
		return nil, err
	}
	return s, nil
}

// Encode returns the deterministic encoding of s.
func (s *Signed) Encode() []byte {
	s.V = Version
	return encode(s)
}

// signAs signs body for purpose p after checking that signer's key is want,
// the key the structure names as its signer, and returns the encoded Signed.
func signAs(signer crypto.Signer, want []byte, p Purpose, body []byte) ([]byte, error) {
	pub, ok := signer.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: signer has a %T key, want Ed25519", p, signer.Public())
	}
	if !bytes.Equal(pub, want) {
		return nil, fmt.Errorf("%s: the signer is not the key the structure names", p)
	}
	s, err := Sign(signer, p, body)
	if err != nil {
		return nil, err
	}
	return s.Encode(), nil
}

// verifySigned decodes a signed container whose body decode parses, and
// verifies its signature for purpose p by the key that signer names.
func verifySigned[T any](data []byte, p Purpose, decode func([]byte) (T, error), signer func(T) []byte) (T, error) {
	var zero T
	s, err := DecodeSigned(data)
	if err != nil {
		return zero, err
	}
	v, err := decode(s.Body)
	if err != nil {
		return zero, err
	}
	if err := s.Verify(signer(v), p); err != nil {
		return zero, err
	}
	return v, nil
}
