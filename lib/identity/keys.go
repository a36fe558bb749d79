package identity

import (
	"crypto"
	"crypto/hpke"
	"sync"
	"time"

	"smvs/lib/wire"
)

// Keys is what a host needs of an identity's secret keys, wherever they
// are held: in this process (Keyring) or by smvs-agent (lib/agent), which
// never hands them out. Implementations are safe for concurrent use.
type Keys interface {
	// Public returns the identity key.
	Public() PublicKey
	// Signer signs with the identity key (Ed25519; its Sign may fail
	// when the keys are held elsewhere).
	Signer() crypto.Signer
	// StorageKeys returns the storage keys for purpose (see
	// Identity.StorageKeys): the identity's own first, then those of the
	// retired identities it still holds, newest first. The caller clears
	// them.
	StorageKeys(purpose string) ([][]byte, error)
	// ForgetRetired destroys the retired identities' secrets, for good.
	ForgetRetired() error
	// Rotations returns the signed rotation statements that lead to the
	// identity, oldest first (see Identity.Rotations).
	Rotations() ([][]byte, error)

	// CurrentKEM returns the public half of the current KEM key (see
	// Identity.CurrentKEM).
	CurrentKEM(now time.Time) (wire.KEMPublic, error)
	// KEMPrivateKey returns the KEM key with the given id as an HPKE
	// private key, if it is held and unexpired at now (see
	// Identity.KEMKey). With an agent, its decapsulation asks the agent.
	KEMPrivateKey(keyID []byte, now time.Time) (hpke.PrivateKey, error)
	// RotateKEM makes a new current KEM key (see Identity.RotateKEM), and
	// PruneKEM destroys the expired ones (see Identity.PruneKEM); both
	// save the change where the keys are kept before they return.
	RotateKEM(now time.Time, lifetime, grace time.Duration) (wire.KEMPublic, error)
	PruneKEM(now time.Time) (int, error)
}

// Keyring holds an identity in this process, as Keys, and keeps its file
// up to date: each change is saved (atomically, protected with the
// passphrase the file had) before the call returns. It is the identity
// file's one writer while it is in use; the caller takes the file's lock
// (Lock) before reading it.
type Keyring struct {
	mu   sync.RWMutex
	id   *Identity
	path string // "" keeps changes in memory, for tests
	pass []byte
}

// NewKeyring returns a Keyring that holds id, read from path (protected
// with pass, or nil). It takes id and a copy of pass; Close destroys them.
func NewKeyring(id *Identity, path string, pass []byte) *Keyring {
	k := &Keyring{id: id, path: path}
	if pass != nil {
		k.pass = append([]byte(nil), pass...)
	}
	return k
}

// Close destroys the keys held. The Keyring must not be used afterwards.
func (k *Keyring) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.id.Destroy()
	clear(k.pass)
}

// Public implements Keys.
func (k *Keyring) Public() PublicKey { return k.id.Public() }

// Signer implements Keys.
func (k *Keyring) Signer() crypto.Signer { return k.id.Signer() }

// StorageKeys implements Keys.
func (k *Keyring) StorageKeys(purpose string) ([][]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.id.StorageKeys(purpose), nil
}

// ForgetRetired implements Keys.
func (k *Keyring) ForgetRetired() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.id.Retired() == 0 {
		return nil
	}
	k.id.ForgetRetired()
	return k.save()
}

// Rotations implements Keys.
func (k *Keyring) Rotations() ([][]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.id.Rotations(), nil
}

// CurrentKEM implements Keys.
func (k *Keyring) CurrentKEM(now time.Time) (wire.KEMPublic, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	kem, err := k.id.CurrentKEM(now)
	if err != nil {
		return wire.KEMPublic{}, err
	}
	return kem.Public(), nil
}

// KEMPrivateKey implements Keys.
func (k *Keyring) KEMPrivateKey(keyID []byte, now time.Time) (hpke.PrivateKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	kem, err := k.id.KEMKey(keyID, now)
	if err != nil {
		return nil, err
	}
	return kem.PrivateKey(), nil
}

// RotateKEM implements Keys.
func (k *Keyring) RotateKEM(now time.Time, lifetime, grace time.Duration) (wire.KEMPublic, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kem, err := k.id.RotateKEM(now, lifetime, grace)
	if err != nil {
		return wire.KEMPublic{}, err
	}
	return kem.Public(), k.save()
}

// PruneKEM implements Keys.
func (k *Keyring) PruneKEM(now time.Time) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := k.id.PruneKEM(now)
	if n == 0 {
		return 0, nil
	}
	return n, k.save()
}

// Save writes the identity file again, as the last change would have: a
// host calls it when that change's save failed (a full disk, say).
func (k *Keyring) Save() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.save()
}

// save rewrites the file with the identity as it is now; k.mu is held.
func (k *Keyring) save() error {
	if k.path == "" {
		return nil
	}
	text := k.id.MarshalText()
	defer clear(text)
	data := text
	if k.pass != nil {
		var err error
		if data, err = Encrypt(text, k.pass); err != nil {
			return err
		}
	}
	return ReplaceFile(k.path, data)
}
