// Package seal seals a message from its sender to one recipient and opens it
// again, as doc/PROTOCOL.md specifies: the sender signs the message (sender
// key, recipient key, KEM key id and content), pads it to a size bucket, and
// encrypts it with HPKE base mode (MLKEM768-X25519, HKDF-SHA256,
// ChaCha20-Poly1305) to the recipient's KEM key.
//
// Open rejects every way an envelope can be wrong with an error a caller can
// tell apart with errors.Is: ErrWrongRecipient, ErrTampered, ErrForwarded,
// ErrSenderMismatch, ErrUnknownKEMKey, ErrExpiredKEMKey, wire.ErrTruncated,
// wire.ErrTrailingData, wire.ErrBadSignature, wire.ErrMalformed,
// wire.ErrNonCanonical, wire.ErrTooLarge, or an *wire.UnknownVersionError.
package seal

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

var (
	// ErrWrongRecipient means the envelope is addressed to another identity.
	ErrWrongRecipient = errors.New("envelope is for another recipient")
	// ErrTampered means the ciphertext or the header it is bound to was
	// altered, or it was not sealed to this KEM key.
	ErrTampered = errors.New("envelope does not decrypt (tampered or corrupted)")
	// ErrForwarded means the signed message inside was addressed to someone
	// else (or to another KEM key): its recipient re-sealed it to a third
	// party.
	ErrForwarded = errors.New("message was signed for another recipient (forwarded)")
	// ErrSenderMismatch means the message inside is signed by a key other
	// than the envelope's sender: someone re-signed another's message.
	ErrSenderMismatch = errors.New("message is signed by a key other than the envelope's sender")
	// ErrUnknownKEMKey and ErrExpiredKEMKey are identity's errors, named here
	// so callers of Open need only this package.
	ErrUnknownKEMKey = identity.ErrUnknownKEMKey
	ErrExpiredKEMKey = identity.ErrExpiredKEMKey
)

// info is the HPKE info string for envelopes.
const info = "smvs/1 envelope"

func suite() (hpke.KDF, hpke.AEAD) { return hpke.HKDFSHA256(), hpke.ChaCha20Poly1305() }

// Sealed is a sealed message: the envelope for the recipient's host, and the
// signed message inside it, which the sender's host keeps (its ChainHash
// links the conversation).
type Sealed struct {
	Envelope []byte
	Signed   []byte
}

// Seal signs m with sender, the sender's identity key (which may be held
// by an agent), and seals it to the recipient of the verified record to.
// It sets m's Sender, Recipient and KEMKeyID, and a random ID if m has
// none; the caller sets the rest (Sent, Kind, Body, Chain, …).
func Seal(sender crypto.Signer, to *wire.Record, m *wire.Message, now time.Time) (*Sealed, error) {
	senderKey, ok := sender.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("seal: the sender's signer has a %T key, want Ed25519", sender.Public())
	}
	pub, err := recipientKEM(to, now)
	if err != nil {
		return nil, err
	}
	m.Sender = bytes.Clone(senderKey)
	m.Recipient = bytes.Clone(to.Identity)
	m.KEMKeyID = bytes.Clone(to.KEM.ID)
	if len(m.ID) == 0 {
		m.ID = make([]byte, wire.MessageIDSize)
		if _, err := rand.Read(m.ID); err != nil {
			return nil, err
		}
	}
	signed, err := wire.SignMessage(sender, m)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return encrypt(pub, m, signed)
}

// SealSigned seals signed, the bytes wire.SignMessage made of m, to the
// recipient of the verified record to, as Seal does but without signing:
// for a sender that signed m already (a host chaining a conversation),
// whose signer may be an agent a signature costs a round trip to. m must
// name to's identity and KEM key as Seal sets them; signed is sealed as
// it is, and a recipient refuses it unless it is m signed by m's Sender.
func SealSigned(to *wire.Record, m *wire.Message, signed []byte, now time.Time) (*Sealed, error) {
	pub, err := recipientKEM(to, now)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(m.Recipient, to.Identity) || !bytes.Equal(m.KEMKeyID, to.KEM.ID) {
		return nil, errors.New("seal: the message names another recipient or KEM key than the record")
	}
	return encrypt(pub, m, signed)
}

// encrypt makes the envelope of signed, m's signed bytes, to pub.
func encrypt(pub hpke.PublicKey, m *wire.Message, signed []byte) (*Sealed, error) {
	env := &wire.Envelope{V: wire.Version, Sender: m.Sender, Recipient: m.Recipient, KEMKeyID: m.KEMKeyID}
	kdf, aead := suite()
	enc, s, err := hpke.NewSender(pub, kdf, aead, []byte(info))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	padded := pad(signed)
	env.Enc = enc
	env.Ciphertext, err = s.Seal(env.AAD(), padded)
	clear(padded)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealed{Envelope: env.Encode(), Signed: signed}, nil
}

// recipientKEM checks the KEM key of the verified record to at now, and
// returns it.
func recipientKEM(to *wire.Record, now time.Time) (hpke.PublicKey, error) {
	kem := to.KEM
	if !bytes.Equal(kem.ID, identity.KEMKeyID(kem.Key)) {
		return nil, fmt.Errorf("seal: %w: record's KEM key id does not match its key", wire.ErrMalformed)
	}
	if !now.Before(time.UnixMilli(kem.Expires)) {
		return nil, fmt.Errorf("seal: recipient's %w %x (expired %s): look the record up again",
			ErrExpiredKEMKey, kem.ID, time.UnixMilli(kem.Expires).UTC().Format(time.RFC3339))
	}
	return parsedKeys.get(kem.Key)
}

// parsedKeys keeps the KEM public keys parsed last: parsing one expands
// its ML-KEM matrix from its seed, about as costly as an encapsulation,
// and a host seals message after message to the same few keys.
var parsedKeys = keyCache{keys: make(map[string]hpke.PublicKey)}

// maxParsedKeys bounds parsedKeys: about 3 KiB each.
const maxParsedKeys = 1024

type keyCache struct {
	mu   sync.Mutex
	keys map[string]hpke.PublicKey
}

func (c *keyCache) get(key []byte) (hpke.PublicKey, error) {
	c.mu.Lock()
	pub, ok := c.keys[string(key)]
	c.mu.Unlock()
	if ok {
		return pub, nil
	}
	pub, err := identity.KEM().NewPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("seal: recipient's KEM key: %w", err)
	}
	c.mu.Lock()
	if len(c.keys) >= maxParsedKeys {
		clear(c.keys)
	}
	c.keys[string(key)] = pub
	c.mu.Unlock()
	return pub, nil
}

// Opened is a message Open decrypted and verified.
type Opened struct {
	Message *wire.Message
	Signed  []byte // the signed message, as the sender's host keeps it
}

// Open decrypts an envelope addressed to recipient and verifies the message
// inside. now decides whether the KEM key it was sealed to has expired.
// recipient's KEM key opens it, wherever it is held.
func Open(recipient identity.Keys, envelope []byte, now time.Time) (*Opened, error) {
	env, err := wire.DecodeEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	return OpenEnvelope(recipient, env, now)
}

// OpenEnvelope is Open of an envelope already decoded, for a host that
// read its sender and recipient first.
func OpenEnvelope(recipient identity.Keys, env *wire.Envelope, now time.Time) (*Opened, error) {
	me := recipient.Public()
	if !bytes.Equal(env.Recipient, me.Bytes()) {
		return nil, ErrWrongRecipient
	}
	key, err := recipient.KEMPrivateKey(env.KEMKeyID, now)
	if err != nil {
		return nil, err
	}
	kdf, aead := suite()
	r, err := hpke.NewRecipient(env.Enc, key, kdf, aead, []byte(info))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	padded, err := r.Open(env.AAD(), env.Ciphertext)
	if err != nil {
		return nil, ErrTampered
	}
	signed, err := unpad(padded)
	if err != nil {
		return nil, err
	}
	m, err := wire.VerifyMessage(signed)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(m.Recipient, env.Recipient) || !bytes.Equal(m.KEMKeyID, env.KEMKeyID) {
		return nil, ErrForwarded
	}
	if !bytes.Equal(m.Sender, env.Sender) {
		return nil, ErrSenderMismatch
	}
	return &Opened{Message: m, Signed: signed}, nil
}
