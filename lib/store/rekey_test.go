package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"smvs/lib/wire"
)

// storeUnder makes a store in a new directory under kek holding one
// message, closed, and returns the directory and the message.
func storeUnder(t *testing.T, kek []byte) (string, *Message) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, [][]byte{kek}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := message(random(32), "kept across the move")
	addIn(t, s, m)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// rootFileUnder is dir's root.key re-wrapped under kek, as the move
// writes it, read with old.
func rootFileUnder(t *testing.T, dir string, old, kek []byte) []byte {
	t.Helper()
	keys, err := readRootFile(filepath.Join(dir, rootName), old)
	if err != nil {
		t.Fatal(err)
	}
	f := rootFile{V: wire.Version, Moved: true}
	for gen, k := range keys {
		f.Keys = append(f.Keys, wrappedKey{Gen: gen, Key: wrapRoot(kek, gen, k)})
	}
	return wire.Marshal(&f)
}

// opensWith checks that dir opens with keks and still holds m, and
// returns whether Open moved it.
func opensWith(t *testing.T, dir string, keks [][]byte, m *Message) bool {
	t.Helper()
	s, err := Open(dir, keks, Options{})
	if err != nil {
		t.Fatalf("Open with %d keys: %v", len(keks), err)
	}
	defer s.Close()
	got, err := s.Get(m.Seq)
	if err != nil || !bytes.Equal(got.Body, m.Body) {
		t.Fatalf("after opening with %d keys: %v, %v", len(keks), got, err)
	}
	return s.Moved()
}

// TestMoveCrashes cuts the move of a store to a new identity between each
// of its steps (root.key re-wrapped to root.key.new, renamed over
// root.key, the retired identity forgotten) and shows the store opens
// with the new identity's keys at every cut, and with its own key alone
// once Open has returned.
func TestMoveCrashes(t *testing.T) {
	old, cur := random(32), random(32)
	identityKeys := [][]byte{cur, old} // the current identity's, then the retired one's

	t.Run("before anything", func(t *testing.T) {
		dir, m := storeUnder(t, old)
		if !opensWith(t, dir, identityKeys, m) {
			t.Error("Open did not report the move")
		}
		opensWith(t, dir, [][]byte{cur}, m) // after ForgetRetired
	})
	t.Run("root.key.new written, not renamed", func(t *testing.T) {
		dir, m := storeUnder(t, old)
		if err := os.WriteFile(filepath.Join(dir, rootName+".new"), rootFileUnder(t, dir, old, cur), 0o600); err != nil {
			t.Fatal(err)
		}
		if !opensWith(t, dir, identityKeys, m) {
			t.Error("Open did not report the move")
		}
		opensWith(t, dir, [][]byte{cur}, m)
	})
	t.Run("root.key.new cut short", func(t *testing.T) {
		dir, m := storeUnder(t, old)
		if err := os.WriteFile(filepath.Join(dir, rootName+".new"), []byte{0xa2, 0}, 0o600); err != nil {
			t.Fatal(err)
		}
		if !opensWith(t, dir, identityKeys, m) {
			t.Error("Open did not report the move")
		}
		opensWith(t, dir, [][]byte{cur}, m)
	})
	t.Run("renamed, retired identity not forgotten", func(t *testing.T) {
		dir, m := storeUnder(t, old)
		if err := os.WriteFile(filepath.Join(dir, rootName), rootFileUnder(t, dir, old, cur), 0o600); err != nil {
			t.Fatal(err)
		}
		// Reported again, so that the host forgets the retired identity now.
		if !opensWith(t, dir, identityKeys, m) {
			t.Error("Open did not report the move a crash cut short")
		}
		opensWith(t, dir, [][]byte{cur}, m)
	})
	t.Run("root key rotation cut short, then the move", func(t *testing.T) {
		dir, m := storeUnder(t, old)
		// A deletion's rotation wrote the next root key beside the current
		// one and never committed: root.key holds both, under old.
		keys, err := readRootFile(filepath.Join(dir, rootName), old)
		if err != nil {
			t.Fatal(err)
		}
		f := rootFile{V: wire.Version}
		for gen, k := range keys {
			f.Keys = append(f.Keys, wrappedKey{Gen: gen, Key: wrapRoot(old, gen, k)},
				wrappedKey{Gen: gen + 1, Key: wrapRoot(old, gen+1, newKey())})
		}
		if err := os.WriteFile(filepath.Join(dir, rootName), wire.Marshal(&f), 0o600); err != nil {
			t.Fatal(err)
		}
		if !opensWith(t, dir, identityKeys, m) {
			t.Error("Open did not report the move")
		}
		opensWith(t, dir, [][]byte{cur}, m)
	})
}

func TestMoveOrder(t *testing.T) {
	a, b, c := random(32), random(32), random(32)
	// Rotated twice, A to B to C, with the host stopped: the store is
	// still under A, the oldest of C's retired keys.
	dir, m := storeUnder(t, a)
	if !opensWith(t, dir, [][]byte{c, b, a}, m) {
		t.Error("Open did not report the move")
	}
	for _, kek := range [][]byte{a, b} {
		if _, err := Open(dir, [][]byte{kek}, Options{}); !errors.Is(err, ErrWrongKey) {
			t.Errorf("a retired key still opens the moved store: %v", err)
		}
	}
	opensWith(t, dir, [][]byte{c}, m)
}

// TestMoveMarkDropped checks that root.key's next rewrite after a move,
// a deletion's, drops the mark that makes Open report the move.
func TestMoveMarkDropped(t *testing.T) {
	old, cur := random(32), random(32)
	dir, m := storeUnder(t, old)
	if !opensWith(t, dir, [][]byte{cur, old}, m) || !opensWith(t, dir, [][]byte{cur}, m) {
		t.Fatal("the move is not reported until root.key's next rewrite")
	}
	s := open(t, dir, cur, Options{})
	gone := message(random(32), "deleted")
	addIn(t, s, gone)
	if err := s.Delete(gone.Seq); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if opensWith(t, dir, [][]byte{cur}, m) {
		t.Error("the move is still reported after a deletion rewrote root.key")
	}
}

func TestMoveWrongKeys(t *testing.T) {
	dir, _ := storeUnder(t, random(32))
	before := snapshot(t, dir)
	if _, err := Open(dir, [][]byte{random(32), random(32)}, Options{}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with none of the keys: %v, want ErrWrongKey", err)
	}
	if after := snapshot(t, dir); !maps(before, after) {
		t.Errorf("wrong keys changed the directory:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := Open(dir, nil, Options{}); err == nil {
		t.Error("Open with no key: no error")
	}
}

func TestNewStoreWithRetiredKeys(t *testing.T) {
	cur := random(32)
	dir := t.TempDir()
	s, err := Open(dir, [][]byte{cur, random(32)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Moved() {
		t.Error("a new store reports a move")
	}
	m := message(random(32), "x")
	addIn(t, s, m)
	s.Close()
	opensWith(t, dir, [][]byte{cur}, m)
}

// FuzzRootFile checks that root.key's decoder takes only what it would
// write: a file that decodes is the bytes of what it decoded to.
func FuzzRootFile(f *testing.F) {
	kek := make([]byte, keySize)
	for _, moved := range []bool{false, true} {
		rf := rootFile{V: wire.Version, Moved: moved, Keys: []wrappedKey{{Gen: 1, Key: wrapRoot(kek, 1, make([]byte, keySize))}}}
		f.Add(wire.Marshal(&rf))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var rf rootFile
		if err := wire.Unmarshal(rootName, data, &rf); err != nil {
			return
		}
		if again := wire.Marshal(&rf); !bytes.Equal(again, data) {
			t.Fatalf("decoded %x as %+v, which encodes as %x", data, rf, again)
		}
	})
}
