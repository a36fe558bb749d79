// Package bep44 makes and checks the mutable items of BitTorrent's
// mainline DHT (BEP 44): the bencoded salt, sequence number and value an
// Ed25519 key signs, and the target under which DHT nodes keep them. It
// writes exactly what the BEP defines, so any implementation reads what
// SMVS publishes; the network side is the DHT library's. A value is handed
// in and out already bencoded; SMVS's is a byte string (String).
package bep44

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha1"
	"errors"
	"fmt"
	"strconv"
)

// Limits of BEP 44.
const (
	MaxValue = 1000 // bytes of the bencoded value
	MaxSalt  = 64   // bytes of the salt
	SigSize  = ed25519.SignatureSize
)

var (
	// ErrBadItem means an item breaks BEP 44: a bad size, or a signature
	// that does not verify.
	ErrBadItem = errors.New("bep44: invalid item")
	// ErrBadString means bytes are not exactly one bencoded byte string.
	ErrBadString = errors.New("bep44: not a bencoded byte string")
)

// Item is a signed mutable item, as a DHT put carries it.
type Item struct {
	Key  ed25519.PublicKey // k
	Salt []byte            // salt, nil for none
	Seq  int64             // seq
	V    []byte            // v, bencoded
	Sig  []byte            // sig
}

// SigningInput is what the key signs: the bencoded "salt" (if any),
// "seq" and "v" entries of the item's dictionary, in that order, without
// the dictionary's own d and e.
func SigningInput(salt []byte, seq int64, v []byte) []byte {
	var b []byte
	if len(salt) > 0 {
		b = append(b, "4:salt"...)
		b = AppendString(b, salt)
	}
	b = append(b, "3:seqi"...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, "e1:v"...)
	return append(b, v...)
}

// Target is where DHT nodes keep the items of key and salt: the SHA-1 of
// the key followed by the salt.
func Target(key ed25519.PublicKey, salt []byte) [sha1.Size]byte {
	return sha1.Sum(append(bytes.Clone(key), salt...))
}

// Sign returns the item of v (bencoded), salt and seq, signed by signer,
// an Ed25519 key (or an agent that holds one).
func Sign(signer crypto.Signer, salt []byte, seq int64, v []byte) (*Item, error) {
	key, ok := signer.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the signer's key is not Ed25519", ErrBadItem)
	}
	it := &Item{Key: key, Salt: bytes.Clone(salt), Seq: seq, V: bytes.Clone(v)}
	if err := it.checkSizes(); err != nil {
		return nil, err
	}
	sig, err := signer.Sign(nil, SigningInput(salt, seq, v), crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("bep44: signing: %w", err)
	}
	it.Sig = sig
	return it, it.Verify()
}

func (it *Item) checkSizes() error {
	switch {
	case len(it.Key) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: a key of %d bytes", ErrBadItem, len(it.Key))
	case len(it.Salt) > MaxSalt:
		return fmt.Errorf("%w: a salt of %d bytes, over %d", ErrBadItem, len(it.Salt), MaxSalt)
	case len(it.V) == 0 || len(it.V) > MaxValue:
		return fmt.Errorf("%w: a value of %d bytes, want 1 to %d", ErrBadItem, len(it.V), MaxValue)
	case it.Seq < 0:
		return fmt.Errorf("%w: a negative sequence number", ErrBadItem)
	}
	return nil
}

// Verify checks the item's sizes and its signature under its key.
func (it *Item) Verify() error {
	if err := it.checkSizes(); err != nil {
		return err
	}
	if len(it.Sig) != SigSize || !ed25519.Verify(it.Key, SigningInput(it.Salt, it.Seq, it.V), it.Sig) {
		return fmt.Errorf("%w: the signature does not verify", ErrBadItem)
	}
	return nil
}

// Target is where DHT nodes keep it.
func (it *Item) Target() [sha1.Size]byte { return Target(it.Key, it.Salt) }

// AppendString appends s bencoded as a byte string: its length in
// decimal, a colon, its bytes.
func AppendString(b, s []byte) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// String returns s bencoded as a byte string.
func String(s []byte) []byte { return AppendString(nil, s) }

// ParseString returns the bytes of v, exactly one bencoded byte string in
// its one canonical form (a length with no sign and no leading zero).
func ParseString(v []byte) ([]byte, error) {
	colon := bytes.IndexByte(v, ':')
	if colon < 1 || colon > len(strconv.Itoa(MaxValue)) {
		return nil, ErrBadString
	}
	digits := v[:colon]
	if digits[0] == '0' && len(digits) > 1 {
		return nil, ErrBadString
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, ErrBadString
		}
		n = n*10 + int(c-'0')
	}
	if len(v)-colon-1 != n {
		return nil, ErrBadString
	}
	return v[colon+1:], nil
}
