package identity

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"smvs/lib/wire"
)

// Defaults for KEM key rotation.
const (
	// DefaultKEMLifetime is how long a new KEM key may be sealed to.
	DefaultKEMLifetime = 30 * 24 * time.Hour
	// DefaultKEMGrace is how long a replaced KEM key is kept to open
	// envelopes sealed to it before the rotation was seen.
	DefaultKEMGrace = 7 * 24 * time.Hour
)

var (
	// ErrUnknownKEMKey means no KEM key with the requested id is held: it
	// was never this identity's, or it was destroyed.
	ErrUnknownKEMKey = errors.New("unknown KEM key")
	// ErrExpiredKEMKey means the KEM key has expired and may no longer be
	// used.
	ErrExpiredKEMKey = errors.New("expired KEM key")
	// ErrNoKEMKey means the key has no current KEM key (a device key, or an
	// identity whose KEM keys all expired).
	ErrNoKEMKey = errors.New("no current KEM key")
)

// KEM returns the HPKE KEM SMVS uses: MLKEM768-X25519.
func KEM() hpke.KEM { return hpke.MLKEM768X25519() }

const kemIDContext = "smvs/1 kem id"

// KEMKeyID returns the id of a KEM public key: the first 8 bytes of SHA-256
// over a context string, a zero byte and the key.
func KEMKeyID(publicKey []byte) []byte {
	h := sha256.New()
	h.Write([]byte(kemIDContext))
	h.Write([]byte{0})
	h.Write(publicKey)
	return h.Sum(nil)[:wire.KEMKeyIDSize]
}

// KEMKey is one KEM private key of an identity, with its lifetime.
type KEMKey struct {
	id      []byte
	created time.Time
	expires time.Time
	seed    []byte
	priv    hpke.PrivateKey
}

func newKEMKey(seed []byte, created, expires time.Time) (*KEMKey, error) {
	priv, err := KEM().NewPrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("KEM key: %w", err)
	}
	return &KEMKey{
		id:      KEMKeyID(priv.PublicKey().Bytes()),
		created: created,
		expires: expires,
		seed:    bytes.Clone(seed),
		priv:    priv,
	}, nil
}

// ID returns the key id.
func (k *KEMKey) ID() []byte { return bytes.Clone(k.id) }

// Expires returns when the key stops being usable.
func (k *KEMKey) Expires() time.Time { return k.expires }

// PrivateKey returns the HPKE private key, to open envelopes.
func (k *KEMKey) PrivateKey() hpke.PrivateKey { return k.priv }

// Public returns the public half as a record certifies it.
func (k *KEMKey) Public() wire.KEMPublic {
	return wire.KEMPublic{ID: k.ID(), Key: k.priv.PublicKey().Bytes(), Expires: k.expires.UnixMilli()}
}

func (k *KEMKey) destroy() {
	clear(k.seed)
	k.priv = nil
}

// CurrentKEM returns the newest KEM key, the one to publish and be sealed to.
func (id *Identity) CurrentKEM(now time.Time) (*KEMKey, error) {
	if len(id.kem) == 0 {
		return nil, ErrNoKEMKey
	}
	k := id.kem[len(id.kem)-1]
	if !now.Before(k.expires) {
		return nil, fmt.Errorf("%w: the newest one expired at %s", ErrNoKEMKey, k.expires.UTC().Format(time.RFC3339))
	}
	return k, nil
}

// KEMKey returns the KEM key with the given id if it is held and unexpired.
func (id *Identity) KEMKey(keyID []byte, now time.Time) (*KEMKey, error) {
	for _, k := range id.kem {
		if bytes.Equal(k.id, keyID) {
			if !now.Before(k.expires) {
				return nil, fmt.Errorf("%w: %x expired at %s", ErrExpiredKEMKey, keyID, k.expires.UTC().Format(time.RFC3339))
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: %x", ErrUnknownKEMKey, keyID)
}

// RotateKEM makes a new current KEM key valid for lifetime, and shortens the
// life of every older key to at most grace from now, so envelopes sealed
// before senders saw the new key still open for that long.
func (id *Identity) RotateKEM(now time.Time, lifetime, grace time.Duration) (*KEMKey, error) {
	if id.kind != KindIdentity {
		return nil, fmt.Errorf("identity: a %v key has no KEM keys", id.kind)
	}
	if lifetime <= 0 || grace < 0 {
		return nil, fmt.Errorf("identity: KEM lifetime must be positive and grace not negative")
	}
	seed := make([]byte, wire.KEMSeedSize)
	defer clear(seed)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Millisecond)
	k, err := newKEMKey(seed, now, now.Add(lifetime))
	if err != nil {
		return nil, err
	}
	for _, old := range id.kem {
		if end := now.Add(grace); old.expires.After(end) {
			old.expires = end
		}
	}
	id.kem = append(id.kem, k)
	return k, nil
}

// PruneKEM destroys every expired KEM key and returns how many it destroyed.
// Once pruned, envelopes sealed to those keys can never be opened again.
func (id *Identity) PruneKEM(now time.Time) int {
	kept := id.kem[:0]
	n := 0
	for _, k := range id.kem {
		if now.Before(k.expires) {
			kept = append(kept, k)
		} else {
			k.destroy()
			n++
		}
	}
	clear(id.kem[len(kept):])
	id.kem = kept
	return n
}
