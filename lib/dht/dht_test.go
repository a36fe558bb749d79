package dht

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	abep44 "github.com/anacrolix/dht/v2/bep44"

	"smvs/lib/bep44"
)

// network starts a private DHT of n nodes, stopped when the test ends.
func network(t *testing.T, n int) []*Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := StartLocal(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range nodes {
		t.Cleanup(node.Close)
	}
	return nodes
}

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

var salt = []byte("smvs/1 dht")

// TestPublishLookup publishes an item from one node of a private DHT of
// 8 and finds it from another; a higher seq replaces it, a lower one does
// not, and another key's item is not found under this key.
func TestPublishLookup(t *testing.T) {
	nodes := network(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice := key(1)
	v1 := bep44.String([]byte("pointer 1"))
	if _, err := nodes[1].Publish(ctx, alice, salt, 1, v1); err != nil {
		t.Fatal(err)
	}
	it, err := nodes[6].Lookup(ctx, alice.Public().(ed25519.PublicKey), salt)
	if err != nil {
		t.Fatal(err)
	}
	if it.Seq != 1 || !bytes.Equal(it.V, v1) {
		t.Fatalf("found seq %d %q", it.Seq, it.V)
	}

	v2 := bep44.String([]byte("pointer 2"))
	if _, err := nodes[2].Publish(ctx, alice, salt, 2, v2); err != nil {
		t.Fatal(err)
	}
	lookup := func(from int) *bep44.Item {
		t.Helper()
		it, err := nodes[from].Lookup(ctx, alice.Public().(ed25519.PublicKey), salt)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	if it := lookup(7); it.Seq != 2 || !bytes.Equal(it.V, v2) {
		t.Fatalf("after seq 2: seq %d %q", it.Seq, it.V)
	}
	// A rollback: seq 1 again is refused by the nodes.
	if _, err := nodes[3].Publish(ctx, alice, salt, 1, v1); err != nil {
		t.Fatal(err)
	}
	if it := lookup(5); it.Seq != 2 {
		t.Fatalf("a rollback to seq 1 took: seq %d", it.Seq)
	}

	// Nothing under a key that published nothing, nor under another salt.
	if _, err := nodes[4].Lookup(ctx, key(2).Public().(ed25519.PublicKey), salt); !errors.Is(err, ErrNotFound) {
		t.Errorf("another key: %v", err)
	}
	if _, err := nodes[4].Lookup(ctx, alice.Public().(ed25519.PublicKey), []byte("other")); !errors.Is(err, ErrNotFound) {
		t.Errorf("another salt: %v", err)
	}
}

// TestStoreBounded checks that a serving node keeps at most its limit of
// others' items, the oldest dropped first.
func TestStoreBounded(t *testing.T) {
	s := newStore(3)
	var targets []abep44.Target
	for i := range 5 {
		var k [32]byte
		k[0] = byte(i)
		it := &abep44.Item{K: k, V: fmt.Sprint(i), Seq: 1}
		if err := s.Put(it); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, it.Target())
	}
	if len(s.m) != 3 {
		t.Fatalf("%d items kept, want 3", len(s.m))
	}
	for i, target := range targets {
		_, err := s.Get(target)
		if kept := err == nil; kept != (i >= 2) {
			t.Errorf("item %d kept: %v", i, kept)
		}
	}
	// Replacing an item keeps one entry for it.
	var k [32]byte
	k[0] = 4
	if err := s.Put(&abep44.Item{K: k, V: "4 again", Seq: 2}); err != nil || len(s.m) != 3 {
		t.Fatalf("replace: %d items, %v", len(s.m), err)
	}
}

// TestItemsReadElsewhere checks SMVS's items against another BEP 44
// implementation, the DHT library's: it verifies what lib/bep44 signs, and
// computes the same target.
func TestItemsReadElsewhere(t *testing.T) {
	priv := key(3)
	v := bep44.String([]byte("a pointer"))
	it, err := bep44.Sign(priv, salt, 42, v)
	if err != nil {
		t.Fatal(err)
	}
	if !abep44.Verify(it.Key, it.Salt, it.Seq, it.V, it.Sig) {
		t.Error("the library does not verify an SMVS item")
	}
	var k [32]byte
	copy(k[:], it.Key)
	if abep44.MakeMutableTarget(k, salt) != it.Target() {
		t.Error("the library computes another target")
	}
	// And an item the library signs verifies here.
	put := abep44.Put{V: "a pointer", K: &k, Salt: salt, Seq: 42}
	put.Sign(priv)
	if err := (&bep44.Item{Key: it.Key, Salt: salt, Seq: 42, V: v, Sig: put.Sig[:]}).Verify(); err != nil {
		t.Errorf("an item the library signed: %v", err)
	}
}
