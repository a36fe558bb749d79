package wire

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// DeleteRequest is the body of a KindDelete message: the sender asks the
// recipient's host to delete its copies of messages the sender sent, by
// id. It carries an empty chain and is never stored: the recipient's host
// honours it or refuses it by its user's policy (PROTOCOL.md section 19.8).
type DeleteRequest struct {
	V   uint64   `cbor:"0,keyasint"`
	IDs [][]byte `cbor:"1,keyasint"`
}

// MaxDeleteIDs bounds the ids of one delete request.
const MaxDeleteIDs = MaxArrayElements

func (r *DeleteRequest) validate() error {
	if len(r.IDs) == 0 || len(r.IDs) > MaxDeleteIDs {
		return fmt.Errorf("%w: a delete request carries 1 to %d ids", ErrMalformed, MaxDeleteIDs)
	}
	for _, id := range r.IDs {
		if err := checkSize("message id", id, MessageIDSize); err != nil {
			return err
		}
	}
	return nil
}

// DecodeDeleteRequest strictly decodes a delete request body.
func DecodeDeleteRequest(data []byte) (*DeleteRequest, error) {
	r := new(DeleteRequest)
	if err := decode("delete request", data, r, r.validate); err != nil {
		return nil, err
	}
	return r, nil
}

// Encode returns the deterministic encoding of r.
func (r *DeleteRequest) Encode() []byte {
	r.V = Version
	return encode(r)
}

// transcriptContext separates transcript fingerprints from any other
// SHA-256 use.
const transcriptContext = "smvs/1 transcript"

// TranscriptFingerprint is the fingerprint of a conversation's transcript
// (PROTOCOL.md section 7.2): SHA-256 over the context string, a zero byte
// and the chain hashes of its messages, sorted and without repeats. Both
// users compute it from the messages they hold, in either direction, so it
// is equal exactly when they hold the same messages, whatever order they
// arrived in; a deleted message counts by the hash it leaves behind.
func TranscriptFingerprint(hashes [][]byte) []byte {
	sorted := slices.Clone(hashes)
	slices.SortFunc(sorted, bytes.Compare)
	sorted = slices.CompactFunc(sorted, bytes.Equal)
	h := sha256.New()
	h.Write([]byte(transcriptContext))
	h.Write([]byte{0})
	for _, c := range sorted {
		h.Write(c)
	}
	return h.Sum(nil)
}

// FingerprintDigits shows a transcript fingerprint as people read it out:
// the hash as a big-endian number modulo 10^60, in 12 groups of 5 digits.
func FingerprintDigits(hash []byte) string {
	n := new(big.Int).SetBytes(hash)
	n.Mod(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(60), nil))
	digits := fmt.Sprintf("%060s", n.String())
	groups := make([]string, 0, 12)
	for i := 0; i < len(digits); i += 5 {
		groups = append(groups, digits[i:i+5])
	}
	return strings.Join(groups, " ")
}
