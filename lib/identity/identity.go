// Package identity holds SMVS keys: identities (an Ed25519 signing key that
// is the user, plus the hybrid MLKEM768-X25519 KEM keys envelopes are sealed
// to) and device keys (an Ed25519 key of one machine of the user).
//
// Public keys print as bech32 strings with a checksum, "smvs1…" for an
// identity and "smvsdev1…" for a device, so a mistyped key is caught. Secret
// keys live in a small text file (see MarshalText), optionally encrypted with
// a passphrase (see Encrypt), and are refused when others can read the file
// (see ReadFile).
//
// An Identity is safe for concurrent use by readers only; RotateKEM and
// PruneKEM need exclusive access.
package identity

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"smvs/lib/bech32"
)

// Kind tells an identity key from a device key.
type Kind uint8

// The kinds of key.
const (
	KindIdentity Kind = iota + 1
	KindDevice
)

func (k Kind) String() string {
	switch k {
	case KindIdentity:
		return "identity"
	case KindDevice:
		return "device"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// publicPrefix is the bech32 prefix of a public key of each kind.
func (k Kind) publicPrefix() string {
	if k == KindDevice {
		return "smvsdev"
	}
	return "smvs"
}

// ErrBadPublicKey means a string is not a valid SMVS public key.
var ErrBadPublicKey = errors.New("not a valid SMVS public key")

// PublicKey is the public Ed25519 key of an identity or a device. It is
// comparable, so it can be a map key.
type PublicKey struct {
	kind Kind
	key  [ed25519.PublicKeySize]byte
}

// NewPublicKey returns the public key of the given kind with the raw bytes b.
func NewPublicKey(kind Kind, b []byte) (PublicKey, error) {
	var p PublicKey
	if len(b) != ed25519.PublicKeySize {
		return p, fmt.Errorf("%w: %d bytes, want %d", ErrBadPublicKey, len(b), ed25519.PublicKeySize)
	}
	if kind != KindIdentity && kind != KindDevice {
		return p, fmt.Errorf("%w: unknown kind %v", ErrBadPublicKey, kind)
	}
	p.kind = kind
	copy(p.key[:], b)
	return p, nil
}

// ParsePublicKey parses a public key string, "smvs1…" or "smvsdev1…".
func ParsePublicKey(s string) (PublicKey, error) {
	hrp, data, err := bech32.Decode(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %q: %v", ErrBadPublicKey, s, err)
	}
	if s != strings.ToLower(s) {
		return PublicKey{}, fmt.Errorf("%w: %q: public keys are lower case", ErrBadPublicKey, s)
	}
	for _, kind := range []Kind{KindIdentity, KindDevice} {
		if hrp == kind.publicPrefix() {
			p, err := NewPublicKey(kind, data)
			if err != nil {
				return PublicKey{}, fmt.Errorf("%q: %w", s, err)
			}
			return p, nil
		}
	}
	return PublicKey{}, fmt.Errorf("%w: %q: prefix %q is neither smvs nor smvsdev", ErrBadPublicKey, s, hrp)
}

// Kind returns the kind of key.
func (p PublicKey) Kind() Kind { return p.kind }

// Bytes returns the raw 32-byte Ed25519 public key.
func (p PublicKey) Bytes() []byte { return p.key[:] }

// IsZero reports whether p is the zero value, not a key.
func (p PublicKey) IsZero() bool { return p.kind == 0 }

// String returns the bech32 form, "smvs1…" or "smvsdev1…".
func (p PublicKey) String() string {
	if p.IsZero() {
		return "<no key>"
	}
	s, err := bech32.Encode(p.kind.publicPrefix(), p.key[:])
	if err != nil {
		panic(err) // a 32-byte key always encodes
	}
	return s
}

// Identity is a secret key: an identity with its KEM keys, or a device key.
type Identity struct {
	kind    Kind
	created time.Time
	priv    ed25519.PrivateKey
	kem     []*KEMKey // oldest first; the last one is current
	// retired are the Ed25519 seeds of the identities this one replaced
	// (Rotate), oldest first, kept only until the host has moved its
	// store to this identity (ForgetRetired).
	retired [][]byte
	// rotations are the signed rotation statements that lead to this
	// identity, oldest first, at most MaxRotations (public).
	rotations [][]byte
}

// Generate makes a new secret key of the given kind. An identity also gets a
// first KEM key, valid for DefaultKEMLifetime.
func Generate(kind Kind, now time.Time) (*Identity, error) {
	if kind != KindIdentity && kind != KindDevice {
		return nil, fmt.Errorf("identity: unknown kind %v", kind)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	id := &Identity{kind: kind, created: now.UTC().Truncate(time.Second), priv: ed25519.NewKeyFromSeed(seed)}
	clear(seed)
	if kind == KindIdentity {
		if _, err := id.RotateKEM(now, DefaultKEMLifetime, DefaultKEMGrace); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// Kind returns whether this is an identity or a device key.
func (id *Identity) Kind() Kind { return id.kind }

// Created returns when the key was made, to the second.
func (id *Identity) Created() time.Time { return id.created }

// Public returns the public key.
func (id *Identity) Public() PublicKey {
	p, _ := NewPublicKey(id.kind, id.priv.Public().(ed25519.PublicKey))
	return p
}

// Signer returns the signer for the key's Ed25519 signatures.
func (id *Identity) Signer() crypto.Signer { return id.priv }

// Destroy overwrites the secret keys held in memory. The Identity must not be
// used afterwards.
func (id *Identity) Destroy() {
	clear(id.priv)
	for _, k := range id.kem {
		k.destroy()
	}
	id.kem = nil
	id.ForgetRetired()
}

// StorageKey derives a 32-byte key for purpose from the secret key, with
// HKDF-SHA256 (info "smvs/1 storage key", a zero byte, then purpose). The
// host uses it to wrap the keys it keeps at rest, so its data opens only
// with the identity. The caller clears the key when done.
func (id *Identity) StorageKey(purpose string) []byte {
	return storageKey(id.priv.Seed(), purpose)
}

func storageKey(seed []byte, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, seed, nil, "smvs/1 storage key\x00"+purpose, 32)
	if err != nil {
		panic(err) // 32 bytes of SHA-256 HKDF output can't fail
	}
	return key
}

// StorageKeys returns the storage key for purpose (see StorageKey) of
// this identity, then those of the retired identities it still holds,
// newest first: data kept under an identity this one replaced opens with
// one of them until it is moved over. The caller clears the keys.
func (id *Identity) StorageKeys(purpose string) [][]byte {
	keys := [][]byte{id.StorageKey(purpose)}
	for i := len(id.retired) - 1; i >= 0; i-- {
		keys = append(keys, storageKey(id.retired[i], purpose))
	}
	return keys
}

// Retired reports how many retired identities' secrets id still holds.
func (id *Identity) Retired() int { return len(id.retired) }

// ForgetRetired destroys the secrets of the identities this one replaced,
// once nothing is kept under them any more.
func (id *Identity) ForgetRetired() {
	for _, s := range id.retired {
		clear(s)
	}
	id.retired = nil
}
