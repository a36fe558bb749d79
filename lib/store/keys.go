package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// The key hierarchy (see the package doc):
//
//	KEK (the caller's) ── wraps ──► root key R (root.key)
//	R ─► rootWrap: wraps each conversation key; rootIndex: HMAC of a peer key (conversations.tag)
//	conversation key C ─► convWrap: wraps each data key; convIndex: HMAC of direction and
//	                      message id (messages.tag, links.tag); convPeer: encrypts the peer key;
//	                      convRecord: encrypts the peer's record (conversations.record);
//	                      convExpire: encrypts the default expiry (conversations.expire);
//	                      convLink: encrypts each link (links.data)
//	data key D (one per message) ─► encrypts the message's head, body, signed bytes,
//	                      and its outbox envelope and schedule
//
// Every key is 32 random bytes or derived with HKDF-SHA256; every encryption
// is AES-256-GCM with a random nonce and associated data naming what the
// ciphertext is (and, for wrapped keys, which row it belongs to).

const (
	keySize  = 32
	overhead = 12 + 16 // the random nonce and the tag of AES-GCM
)

// newKey returns a new random key.
func newKey() []byte {
	k := make([]byte, keySize)
	rand.Read(k) // never fails, per the crypto/rand documentation
	return k
}

// derive derives a subkey of secret for purpose.
func derive(secret []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "smvs/1 store\x00"+purpose, keySize)
	if err != nil {
		panic(err) // 32 bytes of SHA-256 HKDF output can't fail
	}
	return k
}

// newAEAD returns AES-256-GCM under key with random nonces, and clears key:
// the cipher keeps its own expanded copy.
func newAEAD(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	a, err := cipher.NewGCMWithRandomNonce(b)
	if err != nil {
		panic(err)
	}
	clear(key)
	return a
}

// aad names a ciphertext: what it is and, where it is bound to a row, which.
func aad(what string, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(what), 0), n)
}

// mac returns HMAC-SHA256 under key of the parts, each length-prefixed.
func mac(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		h.Write(p)
	}
	return h.Sum(nil)
}

// wrapRoot wraps the root key of generation gen under the KEK.
func wrapRoot(kek []byte, gen uint64, key []byte) []byte {
	a := newAEAD(append([]byte(nil), kek...))
	return a.Seal(nil, nil, key, aad("root key", gen))
}

// unwrapRoot opens a root key wrapped by wrapRoot; ErrWrongKey if it does
// not open under kek.
func unwrapRoot(kek []byte, gen uint64, wrapped []byte) ([]byte, error) {
	a := newAEAD(append([]byte(nil), kek...))
	key, err := a.Open(nil, nil, wrapped, aad("root key", gen))
	if err != nil {
		return nil, ErrWrongKey
	}
	return key, nil
}

// root is a root key and what is derived from it.
type root struct {
	gen      uint64
	key      []byte
	wrap     cipher.AEAD // wraps conversation keys
	index    []byte      // HMAC key of conversation tags
	verifier []byte      // kept in the database, to tell a root.key that belongs to it
}

func newRoot(gen uint64, key []byte) *root {
	return &root{
		gen:      gen,
		key:      key,
		wrap:     newAEAD(derive(key, "conversation key wrap")),
		index:    derive(key, "conversation index"),
		verifier: derive(key, "verifier"),
	}
}

// tag is the conversation index entry of peer.
func (r *root) tag(peer []byte) []byte { return mac(r.index, peer) }

func (r *root) wrapConversation(id int64, key []byte) []byte {
	return r.wrap.Seal(nil, nil, key, aad("conversation key", uint64(id)))
}

func (r *root) unwrapConversation(id int64, wrapped []byte) ([]byte, error) {
	key, err := r.wrap.Open(nil, nil, wrapped, aad("conversation key", uint64(id)))
	if err != nil {
		return nil, fmt.Errorf("%w: conversation %d: its key does not open", errCorrupt, id)
	}
	return key, nil
}

// wipe clears the key material that can be cleared; the AES key schedule
// inside wrap stays until the garbage collector reuses its memory.
func (r *root) wipe() {
	clear(r.key)
	clear(r.index)
	r.wrap = nil
}

// conversation is one conversation's key and what is derived from it.
type conversation struct {
	id    int64
	peer  []byte
	key   []byte
	wrap  cipher.AEAD // wraps data keys
	link  cipher.AEAD // encrypts links
	index []byte      // HMAC key of message tags
}

func newConversation(id int64, peer, key []byte) *conversation {
	return &conversation{
		id:    id,
		peer:  peer,
		key:   key,
		wrap:  newAEAD(derive(key, "data key wrap")),
		link:  newAEAD(derive(key, "link")),
		index: derive(key, "message index"),
	}
}

// openConversation opens a conversations row under r.
func openConversation(r *root, id int64, tag, wrappedKey, sealedPeer []byte) (*conversation, error) {
	key, err := r.unwrapConversation(id, wrappedKey)
	if err != nil {
		return nil, err
	}
	peer, err := newAEAD(derive(key, "peer")).Open(nil, nil, sealedPeer, aad("peer", uint64(id)))
	if err != nil || !hmac.Equal(r.tag(peer), tag) {
		clear(key)
		return nil, fmt.Errorf("%w: conversation %d: its peer does not open or match", errCorrupt, id)
	}
	return newConversation(id, peer, key), nil
}

// sealPeer encrypts the peer key for the conversations row.
func (c *conversation) sealPeer() []byte {
	return newAEAD(derive(c.key, "peer")).Seal(nil, nil, c.peer, aad("peer", uint64(c.id)))
}

// What a conversation key encrypts in its conversations row besides the
// peer; each is under its own derived key, bound to its name and the row.
const (
	convRecord = "peer record"
	convExpire = "expire after"
)

// sealColumn encrypts a conversations column, what, for c's row.
func (c *conversation) sealColumn(what string, plaintext []byte) []byte {
	return newAEAD(derive(c.key, what)).Seal(nil, nil, plaintext, aad(what, uint64(c.id)))
}

// openColumn decrypts what sealColumn encrypted.
func (c *conversation) openColumn(what string, sealed []byte) ([]byte, error) {
	p, err := newAEAD(derive(c.key, what)).Open(nil, nil, sealed, aad(what, uint64(c.id)))
	if err != nil {
		return nil, fmt.Errorf("%w: conversation %d: its %s does not open", errCorrupt, c.id, what)
	}
	return p, nil
}

// messageTag is the message index entry of a message: unique per
// conversation, direction and id, which is what deduplicates.
func (c *conversation) messageTag(dir delivery.Direction, id []byte) []byte {
	return mac(c.index, binary.BigEndian.AppendUint64(nil, uint64(dir)), id)
}

func (c *conversation) wrapDataKey(seq uint64, key []byte) []byte {
	return c.wrap.Seal(nil, nil, key, aad("data key", seq))
}

func (c *conversation) unwrapDataKey(seq uint64, wrapped []byte) ([]byte, error) {
	key, err := c.wrap.Open(nil, nil, wrapped, aad("data key", seq))
	if err != nil {
		return nil, fmt.Errorf("%w: message %d: its key does not open", errCorrupt, seq)
	}
	return key, nil
}

func (c *conversation) wipe() {
	clear(c.key)
	clear(c.index)
	c.wrap, c.link = nil, nil
}

// sealed is the AEAD under one message's data key.
type sealed struct{ a cipher.AEAD }

// The names of what a data key encrypts; each ciphertext is bound to its name.
const (
	partHead     = "head"
	partBody     = "body"
	partSigned   = "signed"
	partEnvelope = "envelope"
	partRetry    = "retry"
)

func (d sealed) seal(part string, plaintext []byte) []byte {
	return d.a.Seal(nil, nil, plaintext, []byte(part))
}

func (d sealed) open(seq uint64, part string, ciphertext []byte) ([]byte, error) {
	p, err := d.a.Open(nil, nil, ciphertext, []byte(part))
	if err != nil {
		return nil, fmt.Errorf("%w: message %d: its %s does not open", errCorrupt, seq, part)
	}
	return p, nil
}

// openHead decrypts and decodes a message's head.
func (d sealed) openHead(seq uint64, ciphertext []byte) (*head, error) {
	p, err := d.open(seq, partHead, ciphertext)
	if err != nil {
		return nil, err
	}
	h := new(head)
	if err := wire.Unmarshal("message head", p, h); err != nil {
		return nil, fmt.Errorf("%w: message %d: %w", errCorrupt, seq, err)
	}
	return h, nil
}

// dataKey unwraps a message's data key under c and returns its AEAD.
func (c *conversation) dataKey(seq uint64, wrapped []byte) (sealed, error) {
	key, err := c.unwrapDataKey(seq, wrapped)
	if err != nil {
		return sealed{}, err
	}
	return sealed{newAEAD(key)}, nil
}
