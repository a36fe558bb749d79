package identity

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"smvs/lib/wire"
)

// MaxRotations is how many rotation statements an identity keeps and its
// record carries: a peer that last saw the identity more rotations ago
// than this must compare safety numbers again.
const MaxRotations = 16

// Rotate returns the identity that replaces id: a new Ed25519 key with a
// new KEM key, holding id's rotation statements followed by one from id's
// key to the new one, signed by id (the last MaxRotations of them), and
// id's secret among its retired ones, so that what the host keeps under id
// still opens until it is moved over (see StorageKeys, ForgetRetired). id
// itself is left as it was; the caller destroys it.
func (id *Identity) Rotate(now time.Time) (*Identity, error) {
	if id.kind != KindIdentity {
		return nil, fmt.Errorf("identity: a %v key can't be rotated", id.kind)
	}
	next, err := Generate(KindIdentity, now)
	if err != nil {
		return nil, err
	}
	statement, err := wire.SignRotation(id.Signer(), &wire.Rotation{
		Old: id.Public().Bytes(), New: next.Public().Bytes(), Issued: now.UnixMilli(),
	})
	if err != nil {
		next.Destroy()
		return nil, fmt.Errorf("identity: signing the rotation: %w", err)
	}
	next.rotations = append(id.Rotations(), statement)
	if n := len(next.rotations); n > MaxRotations {
		next.rotations = next.rotations[n-MaxRotations:]
	}
	for _, s := range id.retired {
		next.retired = append(next.retired, bytes.Clone(s))
	}
	next.retired = append(next.retired, bytes.Clone(id.priv.Seed()))
	return next, nil
}

// Rotations returns the signed rotation statements (wire.SignRotation)
// that lead to this identity, oldest first: each one's new key is the
// next one's old key, and the last one's new key is this identity's.
func (id *Identity) Rotations() [][]byte {
	out := make([][]byte, len(id.rotations))
	for i, r := range id.rotations {
		out[i] = bytes.Clone(r)
	}
	return out
}

// checkRotations verifies that statements form a chain of signed
// rotations ending at key.
func checkRotations(statements [][]byte, key PublicKey) error {
	for i, s := range statements {
		r, err := wire.VerifyRotation(s)
		if err != nil {
			return fmt.Errorf("rotation %d: %w", i+1, err)
		}
		want := key.Bytes()
		if i+1 < len(statements) {
			next, err := wire.VerifyRotation(statements[i+1])
			if err != nil {
				return fmt.Errorf("rotation %d: %w", i+2, err)
			}
			want = next.Old
		}
		if !bytes.Equal(r.New, want) {
			return fmt.Errorf("rotation %d does not lead to the next key", i+1)
		}
	}
	return nil
}

// retiredSeed checks one retired identity's seed.
func retiredSeed(seed []byte) error {
	if len(seed) != ed25519.SeedSize {
		return fmt.Errorf("retired secret key is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return nil
}
