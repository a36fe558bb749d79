package wire

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

// TestDeleteVectors checks the delete vectors byte for byte: the body
// decodes and re-encodes to the same bytes, and the message carrying it is
// a signed delete message with no chain.
func TestDeleteVectors(t *testing.T) {
	data := readVector(t, "delete.cbor")
	r, err := DecodeDeleteRequest(data)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := VerifyMessage(readVector(t, "message.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	absent := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if len(r.IDs) != 2 || !bytes.Equal(r.IDs[0], msg.ID) || !bytes.Equal(r.IDs[1], absent) {
		t.Errorf("delete vector: %x", r.IDs)
	}
	if !bytes.Equal(r.Encode(), data) {
		t.Error("delete vector: re-encoding changed it")
	}
	// 0x00 v=1, 0x01 ids: an array of two 16-byte strings.
	if !bytes.HasPrefix(data, []byte{0xa2, 0x00, 0x01, 0x01, 0x82, 0x50}) {
		t.Errorf("delete vector begins % x", data[:6])
	}

	m, err := VerifyMessage(readVector(t, "delete-message.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindDelete || len(m.Chain) != 0 || !bytes.Equal(m.Body, data) || m.ContentType != "" || m.Expires != 0 ||
		!bytes.Equal(m.Sender, msg.Sender) || !bytes.Equal(m.Recipient, msg.Recipient) || !bytes.Equal(m.KEMKeyID, msg.KEMKeyID) ||
		!bytes.Equal(m.ID, bytes.Repeat([]byte{0xde}, MessageIDSize)) {
		t.Errorf("delete message vector: %+v", m)
	}
}

// TestTranscriptVector checks transcript.txt: its hashes are those of the
// conversation of message.cbor (the message its chain names, and itself),
// listed unsorted and with a repeat, and its fingerprint and digits are
// what TranscriptFingerprint and FingerprintDigits make of them.
func TestTranscriptVector(t *testing.T) {
	var chains [][]byte
	var fingerprint []byte
	var digits string
	sc := bufio.NewScanner(bytes.NewReader(readVector(t, "transcript.txt")))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("transcript vector line %q", sc.Text())
		}
		switch name {
		case "chain", "fingerprint":
			b, err := hex.DecodeString(value)
			if err != nil || len(b) != HashSize {
				t.Fatalf("transcript vector line %q: %v", sc.Text(), err)
			}
			if name == "chain" {
				chains = append(chains, b)
			} else {
				fingerprint = b
			}
		case "digits":
			digits = value
		default:
			t.Fatalf("transcript vector line %q", sc.Text())
		}
	}
	msg, err := VerifyMessage(readVector(t, "message.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	last := ChainHash(readVector(t, "message.cbor"))
	if len(chains) != 3 || !bytes.Equal(chains[0], msg.Chain) || !bytes.Equal(chains[1], last) || !bytes.Equal(chains[2], msg.Chain) {
		t.Fatalf("transcript vector hashes: %x", chains)
	}
	if got := TranscriptFingerprint(chains); !bytes.Equal(got, fingerprint) {
		t.Errorf("TranscriptFingerprint = %x, the vector says %x", got, fingerprint)
	}
	// By hand: the context, a zero byte, the two distinct hashes in order.
	h := sha256.New()
	h.Write([]byte("smvs/1 transcript\x00"))
	h.Write(last) // 27af… sorts before c01d…
	h.Write(msg.Chain)
	if !bytes.Equal(h.Sum(nil), fingerprint) {
		t.Errorf("the vector's fingerprint is not SHA-256 of the context and the sorted hashes")
	}
	if got := FingerprintDigits(fingerprint); got != digits {
		t.Errorf("FingerprintDigits = %q, the vector says %q", got, digits)
	}
}

func TestDeleteRequestRoundTrip(t *testing.T) {
	full := make([][]byte, MaxDeleteIDs)
	for i := range full {
		full[i] = bytes.Repeat([]byte{byte(i), byte(i >> 8)}, MessageIDSize/2)
	}
	for _, ids := range [][][]byte{{bytes.Repeat([]byte{9}, MessageIDSize)}, full} {
		r := &DeleteRequest{IDs: ids}
		data := r.Encode()
		if r.V != Version {
			t.Errorf("Encode left the version %d", r.V)
		}
		got, err := DecodeDeleteRequest(data)
		if err != nil {
			t.Fatalf("%d ids: %v", len(ids), err)
		}
		if len(got.IDs) != len(ids) {
			t.Fatalf("%d ids came back as %d", len(ids), len(got.IDs))
		}
		for i := range ids {
			if !bytes.Equal(got.IDs[i], ids[i]) {
				t.Fatalf("id %d: %x, want %x (order kept)", i, got.IDs[i], ids[i])
			}
		}
		if !bytes.Equal(got.Encode(), data) {
			t.Errorf("%d ids: decode→encode changed the bytes", len(ids))
		}
	}
}

func TestDeleteRequestValidation(t *testing.T) {
	id := bytes.Repeat([]byte{7}, MessageIDSize)
	over := make([][]byte, MaxDeleteIDs+1)
	for i := range over {
		over[i] = id
	}
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"no ids":           {encMap(t, map[uint64]any{0: 1}), ErrMalformed},
		"empty ids":        {encMap(t, map[uint64]any{0: 1, 1: [][]byte{}}), ErrMalformed},
		"too many ids":     {(&DeleteRequest{IDs: over}).Encode(), ErrMalformed},
		"short id":         {(&DeleteRequest{IDs: [][]byte{id, id[:15]}}).Encode(), ErrMalformed},
		"long id":          {(&DeleteRequest{IDs: [][]byte{append(id, 0)}}).Encode(), ErrMalformed},
		"empty id":         {(&DeleteRequest{IDs: [][]byte{{}}}).Encode(), ErrMalformed},
		"text id":          {encMap(t, map[uint64]any{0: 1, 1: []string{"0123456789abcdef"}}), ErrMalformed},
		"ids not an array": {encMap(t, map[uint64]any{0: 1, 1: id}), ErrMalformed},
		"null id":          {encMap(t, map[uint64]any{0: 1, 1: []any{nil}}), ErrMalformed},
	} {
		if r, err := DecodeDeleteRequest(c.data); !errors.Is(err, c.want) {
			t.Errorf("%s: %+v, %v; want %v", name, r, err, c.want)
		}
	}
}

func TestDeleteRequestStrict(t *testing.T) {
	id := bytes.Repeat([]byte{7}, MessageIDSize)
	valid := (&DeleteRequest{IDs: [][]byte{id}}).Encode()

	var uve *UnknownVersionError
	if _, err := DecodeDeleteRequest(encMap(t, map[uint64]any{0: 2, 1: [][]byte{id}})); !errors.As(err, &uve) || uve.What != "delete request" || uve.Version != 2 {
		t.Errorf("version 2: %v", err)
	}
	if _, err := DecodeDeleteRequest(encMap(t, map[uint64]any{1: [][]byte{id}})); !errors.As(err, &uve) || uve.Version != 0 {
		t.Errorf("no version: %v", err)
	}
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"empty":         {nil, ErrTruncated},
		"truncated":     {valid[:len(valid)-1], ErrTruncated},
		"trailing":      {append(bytes.Clone(valid), 0), ErrTrailingData},
		"unknown field": {encMap(t, map[uint64]any{0: 1, 1: [][]byte{id}, 2: 1}), ErrMalformed},
		"not a map":     {[]byte{0x81, 0x40}, ErrMalformed},
		// The array's length in one extra byte: 98 01 instead of 81.
		"long array header": {append([]byte{0xa2, 0x00, 0x01, 0x01, 0x98, 0x01}, valid[5:]...), ErrNonCanonical},
		// An indefinite-length array: 9f … ff.
		"indefinite array": {append(append([]byte{0xa2, 0x00, 0x01, 0x01, 0x9f}, valid[5:]...), 0xff), ErrMalformed},
		// The version in two bytes: 18 01 instead of 01.
		"long version":      {append([]byte{0xa2, 0x00, 0x18, 0x01}, valid[3:]...), ErrNonCanonical},
		"keys out of order": {append(append([]byte{0xa2}, valid[3:]...), 0x00, 0x01), ErrNonCanonical},
	} {
		if r, err := DecodeDeleteRequest(c.data); !errors.Is(err, c.want) {
			t.Errorf("%s: %+v, %v; want %v", name, r, err, c.want)
		}
	}
	if _, err := DecodeDeleteRequest(valid); err != nil {
		t.Fatalf("the unaltered request: %v", err)
	}
}

func TestTranscriptFingerprint(t *testing.T) {
	a, b, c := ChainHash([]byte("a")), ChainHash([]byte("b")), ChainHash([]byte("c"))

	// No message at all: SHA-256 of the context and the zero byte alone.
	empty := sha256.Sum256([]byte("smvs/1 transcript\x00"))
	if got := TranscriptFingerprint(nil); !bytes.Equal(got, empty[:]) {
		t.Errorf("empty transcript: %x, want %x", got, empty)
	}
	if hex.EncodeToString(empty[:]) != "81f56594184e58a5a9f9bfe662791ed6009b4b8299a28131aa09f588fd2a01ef" {
		t.Errorf("the empty transcript's fingerprint is not the one PROTOCOL.md section 7.2 gives: %x", empty)
	}

	abc := TranscriptFingerprint([][]byte{a, b, c})
	if len(abc) != HashSize {
		t.Fatalf("fingerprint of %d bytes", len(abc))
	}
	for name, hashes := range map[string][][]byte{
		"another order": {c, a, b},
		"repeats":       {b, a, c, a, b, b},
	} {
		in := bytes.Join(hashes, nil)
		if got := TranscriptFingerprint(hashes); !bytes.Equal(got, abc) {
			t.Errorf("%s: %x, want %x", name, got, abc)
		}
		if !bytes.Equal(bytes.Join(hashes, nil), in) {
			t.Errorf("%s: TranscriptFingerprint changed its input", name)
		}
	}
	for name, hashes := range map[string][][]byte{
		"one missing":  {a, c},
		"one more":     {a, b, c, ChainHash([]byte("d"))},
		"one replaced": {a, b, ChainHash([]byte("C"))},
	} {
		if got := TranscriptFingerprint(hashes); bytes.Equal(got, abc) {
			t.Errorf("%s: the same fingerprint as a, b, c", name)
		}
	}
	// The context is part of the hash: the same bytes under SHA-256 alone differ.
	if plain := sha256.Sum256(bytes.Join([][]byte{a, b, c}, nil)); bytes.Equal(plain[:], abc) {
		t.Error("the fingerprint carries no context")
	}
}

func TestFingerprintDigits(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9]{5}( [0-9]{5}){11}$`)
	tenTo60 := new(big.Int).Exp(big.NewInt(10), big.NewInt(60), nil)
	minus1 := new(big.Int).Sub(tenTo60, big.NewInt(1))
	zeros := strings.TrimSpace(strings.Repeat("00000 ", 12))
	for name, c := range map[string]struct {
		hash []byte
		want string
	}{
		"zero":       {make([]byte, HashSize), zeros},
		"one":        {append(make([]byte, HashSize-1), 1), zeros[:len(zeros)-1] + "1"},
		"10^60":      {tenTo60.FillBytes(make([]byte, HashSize)), zeros},
		"10^60 − 1":  {minus1.FillBytes(make([]byte, HashSize)), strings.TrimSpace(strings.Repeat("99999 ", 12))},
		"10^60 + 42": {new(big.Int).Add(tenTo60, big.NewInt(42)).FillBytes(make([]byte, HashSize)), zeros[:len(zeros)-2] + "42"},
	} {
		if got := FingerprintDigits(c.hash); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
	all := FingerprintDigits(bytes.Repeat([]byte{0xff}, HashSize))
	if !shape.MatchString(all) {
		t.Errorf("FingerprintDigits(ff…) = %q", all)
	}
	// 2^256 − 1 mod 10^60, worked out apart from the code under test.
	n := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	if want := new(big.Int).Mod(n, tenTo60).String(); strings.ReplaceAll(all, " ", "") != want {
		t.Errorf("FingerprintDigits(ff…) = %q, want %s", all, want)
	}
}
