package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateChainVectors = flag.Bool("update-chain-vectors", false,
	"rewrite the record with a chain of rotations in testdata/vectors")

// The keys and clock of the chain vector (PROTOCOL.md section 16.2):
// Ed25519 from fixed seeds, so the signatures are fixed too; the KEM key
// is a fixed pattern, as the wire format does not check it.
var vecChainTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func chainKeys(t testing.TB) []ed25519.PrivateKey {
	return []ed25519.PrivateKey{testKey(t, 0xc0), testKey(t, 0xc1), testKey(t, 0xc2), testKey(t, 0xc3)}
}

// signChain returns the signed rotations from keys[0] to keys[1], … to the
// last key, a minute apart.
func signChain(t testing.TB, keys []ed25519.PrivateKey) [][]byte {
	var out [][]byte
	for i := 1; i < len(keys); i++ {
		s, err := SignRotation(keys[i-1], &Rotation{
			Old: keys[i-1].Public().(ed25519.PublicKey), New: keys[i].Public().(ed25519.PublicKey),
			Issued: vecChainTime.Add(time.Duration(i) * time.Minute).UnixMilli(),
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// chainRecord returns the record of the last of keys with the chain from
// the first, unsigned.
func chainRecord(t testing.TB, keys []ed25519.PrivateKey) *Record {
	last := keys[len(keys)-1]
	chain := signChain(t, keys)
	r := &Record{
		Name: "alice", Identity: last.Public().(ed25519.PublicKey),
		KEM: KEMPublic{ID: bytes.Repeat([]byte{0x1d}, KEMKeyIDSize), Key: bytes.Repeat([]byte{0x4b}, KEMPublicKeySize),
			Expires: vecChainTime.Add(30 * 24 * time.Hour).UnixMilli()},
		Host: "192.0.2.7:7447", Seq: uint64(vecChainTime.UnixMilli()), Issued: vecChainTime.UnixMilli(),
		Expires: vecChainTime.Add(30 * 24 * time.Hour).UnixMilli(),
	}
	if n := len(chain); n > 0 {
		r.Rotation = chain[n-1]
		if n > 1 {
			r.Rotations = chain[:n-1]
		}
	}
	return r
}

// TestChainVector checks chained-record.cbor byte for byte (go test -run
// TestChainVector -update-chain-vectors rewrites it): alice's record after
// three rotations, c0→c1→c2→c3, carrying the first two statements in key 9
// and the last in key 8.
func TestChainVector(t *testing.T) {
	keys := chainKeys(t)
	last := keys[len(keys)-1]
	signed, err := SignRecord(last, chainRecord(t, keys))
	if err != nil {
		t.Fatal(err)
	}
	const name = "chained-record.cbor"
	if *updateChainVectors {
		if err := os.WriteFile(filepath.Join(vectorDir, name), signed, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want := readVector(t, name); !bytes.Equal(signed, want) {
		t.Errorf("%s: regenerated vector differs from %s", name, filepath.Join(vectorDir, name))
	}
	r, err := VerifyRecord(signed)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := r.Chain()
	if err != nil || len(chain) != 3 || len(r.Rotations) != 2 {
		t.Fatalf("chain of %d (%d earlier), %v", len(chain), len(r.Rotations), err)
	}
	prev := r.PreviousKeys()
	for i, k := range prev {
		if !bytes.Equal(k, keys[i].Public().(ed25519.PublicKey)) {
			t.Errorf("previous key %d is not c%d", i, i)
		}
	}
	if len(prev) != 3 || !bytes.Equal(r.RotatedFrom(), keys[2].Public().(ed25519.PublicKey)) {
		t.Errorf("previous keys %d, rotated from %x", len(prev), r.RotatedFrom())
	}
}

// TestChainRefused: a chain verifies only whole, linked, signed by each
// old key, ending at the record's key, and at most MaxRotations long.
func TestChainRefused(t *testing.T) {
	keys := chainKeys(t)
	last := keys[len(keys)-1]
	stranger := testKey(t, 0x5e)
	check := func(name string, r *Record, want string) {
		t.Helper()
		signed, err := SignRecord(last, r)
		if err == nil {
			_, err = VerifyRecord(signed)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}

	// A link skipped: c0→c1, then c2→c3.
	r := chainRecord(t, keys)
	r.Rotations = r.Rotations[:1]
	r.Rotations[0] = signChain(t, keys[:2])[0]
	check("skipped", r, "another key than the one before rotated to")

	// A statement from c1 to c2 signed by a stranger.
	r = chainRecord(t, keys)
	forged, err := SignRotation(stranger, &Rotation{Old: stranger.Public().(ed25519.PublicKey),
		New: keys[2].Public().(ed25519.PublicKey), Issued: 1})
	if err != nil {
		t.Fatal(err)
	}
	var s *Signed
	if s, err = DecodeSigned(forged); err != nil {
		t.Fatal(err)
	}
	s.Body = (&Rotation{Old: keys[1].Public().(ed25519.PublicKey), New: keys[2].Public().(ed25519.PublicKey), Issued: 1}).Encode()
	r.Rotations[1] = s.Encode()
	check("forged", r, "record's rotation statement 2 of 3")

	// Earlier statements without the last one.
	r = chainRecord(t, keys)
	r.Rotation = nil
	if _, err := SignRecord(last, r); !errors.Is(err, ErrMalformed) {
		t.Errorf("earlier statements alone: %v", err)
	}

	// A chain that ends at another key.
	r = chainRecord(t, keys[:3])
	r.Identity = last.Public().(ed25519.PublicKey)
	check("ends elsewhere", r, "names another new key")

	// MaxRotations+1 statements.
	many := []ed25519.PrivateKey{}
	for i := range MaxRotations + 2 {
		many = append(many, testKey(t, byte(0x20+i)))
	}
	r = chainRecord(t, many)
	if _, err := SignRecord(many[len(many)-1], r); !errors.Is(err, ErrMalformed) ||
		!strings.Contains(err.Error(), "at most 16") {
		t.Errorf("%d statements: %v", MaxRotations+1, err)
	}
	r = chainRecord(t, many[1:])
	signed, err := SignRecord(many[len(many)-1], r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyRecord(signed); err != nil {
		t.Errorf("%d statements: %v", MaxRotations, err)
	}
}
