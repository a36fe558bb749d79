package wire

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
)

// DHTSalt is the salt of an SMVS item in the mainline DHT (BEP 44,
// PROTOCOL.md section 24): the item an identity key signs under it points
// to the key's host. It is not empty: some implementations sign an empty
// salt differently from none.
const DHTSalt = "smvs/1 dht"

// ErrDHTMismatch means a record is not the one a DHT item names: another
// sequence number, or another hash (a rollback, or a host serving what
// its owner did not publish).
var ErrDHTMismatch = errors.New("not the record the DHT item names")

// dhtRecordContext separates the hash of a record named by a DHT item
// from any other SHA-256 use.
const dhtRecordContext = "smvs/1 dht record"

// DHTPointer is the value of an SMVS item in the DHT (PROTOCOL.md 24.2):
// not the record, which an ML-KEM key makes too large for an item, but
// where to fetch it and what it must be. The client fetches the record
// from Host (expecting Via's key there if set, else the item's), and takes
// it only if its hash and sequence number are these.
type DHTPointer struct {
	V          uint64 `cbor:"0,keyasint"`
	Host       string `cbor:"1,keyasint"`
	Via        []byte `cbor:"2,keyasint,omitempty"`
	RecordSeq  uint64 `cbor:"3,keyasint"`
	RecordHash []byte `cbor:"4,keyasint"`
}

// DHTRecordHash is the hash of a signed record (the Signed container, as
// its host serves it) that a DHTPointer names.
func DHTRecordHash(signed []byte) []byte {
	h := sha256.New()
	h.Write([]byte(dhtRecordContext))
	h.Write([]byte{0})
	h.Write(signed)
	return h.Sum(nil)
}

// PointTo returns the pointer to signed, the record r as signed.
func PointTo(r *Record, signed []byte) *DHTPointer {
	return &DHTPointer{Host: r.Host, Via: r.Via, RecordSeq: r.Seq, RecordHash: DHTRecordHash(signed)}
}

func (p *DHTPointer) validate() error {
	if p.Host == "" {
		return fmt.Errorf("%w: a DHT pointer without a host address", ErrMalformed)
	}
	if err := checkMax("host address", len(p.Host), MaxHostLen); err != nil {
		return err
	}
	if p.Via != nil {
		if err := checkSize("relay key", p.Via, KeySize); err != nil {
			return err
		}
	}
	return checkSize("record hash", p.RecordHash, sha256.Size)
}

// Validate implements Validator.
func (p *DHTPointer) Validate() error { return p.validate() }

// Matches reports whether signed, a record r as signed, is the one p
// names.
func (p *DHTPointer) Matches(r *Record, signed []byte) error {
	switch {
	case r.Seq != p.RecordSeq:
		return fmt.Errorf("%w: its sequence number is %d, the item's %d", ErrDHTMismatch, r.Seq, p.RecordSeq)
	case !bytes.Equal(DHTRecordHash(signed), p.RecordHash):
		return fmt.Errorf("%w: its hash differs", ErrDHTMismatch)
	}
	return nil
}

// DecodeDHTPointer strictly decodes a DHT item's pointer.
func DecodeDHTPointer(data []byte) (*DHTPointer, error) {
	p := new(DHTPointer)
	if err := decode("DHT pointer", data, p, p.validate); err != nil {
		return nil, err
	}
	return p, nil
}

// Encode returns the deterministic encoding of p.
func (p *DHTPointer) Encode() []byte {
	p.V = Version
	return encode(p)
}
