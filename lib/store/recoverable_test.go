package store

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestKeyScanner checks the scanner against AES-GCM itself: it finds every
// key newAEAD wrapped, at any offset, with the associated data it was
// wrapped with, and nothing else.
func TestKeyScanner(t *testing.T) {
	key := random(32)
	aads := candidates("conversation key", 1, 40)
	aads = append(aads, aad("data key", 1<<40+3), aad("root key", 7))
	data := random(len(aads)*(wrappedSize+3) + 500)
	want := map[string][]byte{} // key → associated data
	for i, a := range aads {
		k := random(32)
		at := i*(wrappedSize+3) + 1
		if i == len(aads)-1 {
			at = len(data) - wrappedSize // the very end
		}
		copy(data[at:], newAEAD(bytes.Clone(key)).Seal(nil, nil, k, a))
		want[string(k)] = a
	}
	// Some wrapped with another key or other associated data.
	copy(data[len(data)-400:], newAEAD(random(32)).Seal(nil, nil, random(32), aads[0]))
	copy(data[len(data)-300:], newAEAD(bytes.Clone(key)).Seal(nil, nil, random(32), aad("conversation key", 41)))

	found := map[string][]byte{}
	newScanner(key, aads).scan(data, func(k, a []byte) { found[string(k)] = a })
	if len(found) != len(want) {
		t.Errorf("found %d keys, want %d", len(found), len(want))
	}
	for k, a := range want {
		if !bytes.Equal(found[k], a) {
			t.Errorf("the key wrapped with %q: found with %q", a, found[k])
		}
	}
}

// TestRecoverable shows what a copy of the directory allows: before a
// deletion, the deleted message opens; after it, it doesn't, though its
// old wrapped key is still in the files.
func TestRecoverable(t *testing.T) {
	s, dir, kek := newStore(t)
	alice, bob := random(32), random(32)
	victim, kept, other := message(alice, "victim"), message(alice, "kept"), message(bob, "other")
	for _, m := range []*Message{victim, kept, other} {
		addIn(t, s, m)
	}
	all := []uint64{victim.Seq, kept.Seq, other.Seq, 99}
	before := t.TempDir()
	copyDir(t, dir, before)
	if got, err := Recoverable(before, kek, all); err != nil || !slices.Equal(got, all[:3]) {
		t.Errorf("before the deletion: %v, %v, want %v", got, err, all[:3])
	}
	if _, err := Recoverable(before, random(32), all); err == nil {
		t.Error("Recoverable with the wrong KEK: no error")
	}
	oldDataKey := row(t, s, `SELECT key FROM messages WHERE seq = ?`, victim.Seq)

	if err := s.Delete(victim.Seq); err != nil {
		t.Fatal(err)
	}
	after := t.TempDir()
	copyDir(t, dir, after)
	if err := os.WriteFile(filepath.Join(after, "leftover"), oldDataKey, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := Recoverable(after, kek, all)
	if err != nil || !slices.Equal(got, all[1:3]) {
		t.Errorf("after the deletion: %v, %v, want %v", got, err, all[1:3])
	}
	t.Logf("Recoverable read %s in %v", dir, time.Since(start))

	// The old ciphertext is still there: the WAL holds the deleted row, and
	// with the root.key from before it opens.
	wal, err := os.ReadFile(filepath.Join(after, dbName+"-wal"))
	if err != nil || !bytes.Contains(wal, oldDataKey) {
		t.Fatalf("the deleted message's wrapped key is not in the WAL (%v): the test shows nothing", err)
	}
	oldRoot, err := os.ReadFile(filepath.Join(before, rootName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(after, rootName), oldRoot, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Recoverable(after, kek, all[:1]); err != nil || !slices.Equal(got, all[:1]) {
		t.Errorf("after the deletion, with the old root.key: %v, %v, want %v", got, err, all[:1])
	}

	// The other deletions hold as well.
	for _, del := range []struct {
		name string
		do   func() error
		left []uint64
	}{
		{"DeleteConversation", func() error { _, err := s.DeleteConversation(bob); return err }, all[1:2]},
		{"DeleteAll", func() error { _, err := s.DeleteAll(); return err }, nil},
	} {
		if err := del.do(); err != nil {
			t.Fatal(err)
		}
		copied := t.TempDir()
		copyDir(t, dir, copied)
		if got, err := Recoverable(copied, kek, all); err != nil || !slices.Equal(got, del.left) {
			t.Errorf("after %s: %v, %v, want %v", del.name, got, err, del.left)
		}
	}
}
