package wire

import (
	"crypto"
	"crypto/sha256"
	"fmt"
)

// Kind says what a message is for.
type Kind uint64

// The kinds of message.
const (
	KindText    Kind = 1 // a text message
	KindFile    Kind = 2 // a file, with its name and content type
	KindReceipt Kind = 3 // a delivery receipt for another message
	KindDelete  Kind = 4 // a request to delete messages
	KindCall    Kind = 5 // call signalling, never stored
)

var kindNames = map[Kind]string{
	KindText: "text", KindFile: "file", KindReceipt: "receipt", KindDelete: "delete", KindCall: "call",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint64(k))
}

// Message is what a sender signs: who it is from and to, which KEM key it is
// sealed to, and the content. Because Sender, Recipient and KEMKeyID are
// signed, the recipient can't re-seal it to a third party and another key
// can't claim it.
type Message struct {
	V           uint64 `cbor:"0,keyasint"`
	Sender      []byte `cbor:"1,keyasint"`
	Recipient   []byte `cbor:"2,keyasint"`
	KEMKeyID    []byte `cbor:"3,keyasint"`
	ID          []byte `cbor:"4,keyasint"` // random, for dedup and replay protection
	Chain       []byte `cbor:"5,keyasint"` // ChainHash of the previous message in the conversation, or empty
	Sent        int64  `cbor:"6,keyasint"` // Unix milliseconds
	Kind        Kind   `cbor:"7,keyasint"`
	ContentType string `cbor:"8,keyasint,omitempty"`
	Body        []byte `cbor:"9,keyasint"`
	Expires     int64  `cbor:"10,keyasint,omitempty"` // Unix milliseconds; 0 never
	FileName    string `cbor:"11,keyasint,omitempty"`
	// Stream, when present, says the body travels beside the envelope as
	// sealed chunks (section 23); Body is then empty.
	Stream *BodyStream `cbor:"12,keyasint,omitempty"`
}

// MaxStreamSize bounds the size of a streamed body: 2^40 bytes (1 TiB).
const MaxStreamSize = 1 << 40

// BodyStream names a body sealed in chunks (lib/blob): the key it is sealed
// under, its plaintext size, and the hash of its sealed bytes. It is signed
// with the message, so the hash binds the body to the sender's signature
// as an inline body is bound.
type BodyStream struct {
	Key  []byte `cbor:"1,keyasint"`
	Size int64  `cbor:"2,keyasint"`
	Hash []byte `cbor:"3,keyasint"`
}

func (b *BodyStream) validate() error {
	if err := checkSize("body key", b.Key, KeySize); err != nil {
		return err
	}
	if err := checkSize("body hash", b.Hash, HashSize); err != nil {
		return err
	}
	if b.Size < 1 || b.Size > MaxStreamSize {
		return fmt.Errorf("%w: streamed body size %d, want 1 to %d", ErrMalformed, b.Size, int64(MaxStreamSize))
	}
	return nil
}

func (m *Message) validate() error {
	for _, f := range []struct {
		name string
		b    []byte
		size int
	}{
		{"sender key", m.Sender, KeySize},
		{"recipient key", m.Recipient, KeySize},
		{"KEM key id", m.KEMKeyID, KEMKeyIDSize},
		{"message id", m.ID, MessageIDSize},
	} {
		if err := checkSize(f.name, f.b, f.size); err != nil {
			return err
		}
	}
	if len(m.Chain) != 0 {
		if err := checkSize("chain hash", m.Chain, HashSize); err != nil {
			return err
		}
	}
	if _, ok := kindNames[m.Kind]; !ok {
		return fmt.Errorf("%w: unknown message kind %d", ErrMalformed, uint64(m.Kind))
	}
	if m.Stream != nil {
		if err := m.Stream.validate(); err != nil {
			return err
		}
		if len(m.Body) != 0 || m.Kind != KindText && m.Kind != KindFile {
			return fmt.Errorf("%w: a streamed body goes with an empty body and kind text or file", ErrMalformed)
		}
	}
	if err := checkMax("content type", len(m.ContentType), MaxContentTypeLen); err != nil {
		return err
	}
	if err := checkMax("file name", len(m.FileName), MaxFileNameLen); err != nil {
		return err
	}
	if err := checkTime("send time", m.Sent); err != nil {
		return err
	}
	return checkTime("expiry", m.Expires)
}

// DecodeMessage strictly decodes a message body.
func DecodeMessage(body []byte) (*Message, error) {
	m := new(Message)
	if err := decode("message", body, m, m.validate); err != nil {
		return nil, err
	}
	return m, nil
}

// Encode returns the deterministic encoding of m.
func (m *Message) Encode() []byte {
	m.V = Version
	return encode(m)
}

// SignMessage signs m with the sender's signer and returns the encoded signed
// message. The signer's key must be m.Sender.
func SignMessage(signer crypto.Signer, m *Message) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return signAs(signer, m.Sender, PurposeMessage, m.Encode())
}

// VerifyMessage decodes a signed message and verifies its signature by the
// sender key it names.
func VerifyMessage(data []byte) (*Message, error) {
	return verifySigned(data, PurposeMessage, DecodeMessage, func(m *Message) []byte { return m.Sender })
}

// chainContext separates chain hashes from any other SHA-256 use.
const chainContext = "smvs/1 chain"

// ChainHash returns the hash the next message in a conversation carries in
// Chain: SHA-256 over the context string, a zero byte and the encoded signed
// message.
func ChainHash(signedMessage []byte) []byte {
	h := sha256.New()
	h.Write([]byte(chainContext))
	h.Write([]byte{0})
	h.Write(signedMessage)
	return h.Sum(nil)
}
