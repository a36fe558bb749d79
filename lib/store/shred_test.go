package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"smvs/lib/delivery"
)

// row reads one column of one row of the store's database, as stored.
func row(t *testing.T, s *Store, query string, args ...any) []byte {
	t.Helper()
	var b []byte
	if err := s.read.QueryRow(query, args...).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// copyDir copies the files of a store (not its lock) as a backup would.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	for _, name := range []string{rootName, dbName, dbName + "-wal"} {
		data, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// keysOnDisk opens, from the files alone and the KEK, every key the store
// holds: the root key and every conversation key.
func keysOnDisk(t *testing.T, dir string, kek []byte) (*root, []*conversation) {
	t.Helper()
	keys, err := readRootFile(filepath.Join(dir, rootName), kek)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("root.key holds %d keys, want 1", len(keys))
	}
	var r *root
	for gen, k := range keys {
		r = newRoot(gen, k)
	}
	s := &Store{dir: dir, kek: kek, root: r}
	if err := s.openDB(0); err != nil {
		t.Fatal(err)
	}
	defer s.shutdownDB()
	rows, err := s.read.Query(`SELECT id, tag, key, peer FROM conversations`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var convs []*conversation
	for rows.Next() {
		var id int64
		var tag, key, peer []byte
		if err := rows.Scan(&id, &tag, &key, &peer); err != nil {
			t.Fatal(err)
		}
		c, err := openConversation(r, id, tag, key, peer)
		if err != nil {
			t.Fatal(err)
		}
		convs = append(convs, c)
	}
	return r, convs
}

// derivable lists every key that the KEK and the keys on disk give: the
// KEK, the root key, every conversation key, and all their subkeys.
func derivable(kek []byte, r *root, convs []*conversation) [][]byte {
	keys := [][]byte{kek, r.key}
	for _, p := range []string{"conversation key wrap", "conversation index", "verifier"} {
		keys = append(keys, derive(r.key, p))
	}
	for _, c := range convs {
		keys = append(keys, c.key)
		for _, p := range []string{"data key wrap", "message index", "peer"} {
			keys = append(keys, derive(c.key, p))
		}
	}
	return keys
}

// shutdownDB closes what keysOnDisk opened.
func (s *Store) shutdownDB() {
	s.wconn.Close()
	s.write.Close()
	s.read.Close()
}

func TestDeleteShreds(t *testing.T) {
	s, dir, kek := newStore(t)
	alice, bob := random(32), random(32)
	keepIn, victim, keepOut, other := message(alice, "keep in"), message(alice, "victim"), message(alice, "keep out"), message(bob, "bob's")
	addIn(t, s, keepIn)
	addOut(t, s, victim)
	addOut(t, s, keepOut)
	addIn(t, s, other)

	aliceID := s.byPeer[string(alice)].id
	oldDataKey := row(t, s, `SELECT key FROM messages WHERE seq = ?`, victim.Seq)
	oldConvKey := row(t, s, `SELECT key FROM conversations WHERE id = ?`, aliceID)
	oldRoot := bytes.Clone(s.root.key)
	before := t.TempDir()
	copyDir(t, dir, before)

	if err := s.Delete(victim.Seq); err != nil {
		t.Fatal(err)
	}

	// Gone from every view.
	if _, err := s.Get(victim.Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if _, err := s.ByID(victim.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByID after Delete: %v", err)
	}
	ms := listAll(t, s)
	if len(ms) != 3 || ms[0].Seq != keepIn.Seq || ms[1].Seq != keepOut.Seq || ms[2].Seq != other.Seq {
		t.Fatalf("List after Delete: %v", ms)
	}
	equal(t, ms[0], keepIn)
	if out, _ := s.Outbox(); len(out) != 1 || out[0].Seq != keepOut.Seq {
		t.Errorf("Outbox after Delete: %v", out)
	}
	if err := s.Delete(victim.Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}

	// The conversation's re-keyed messages still work: dedup, status, ByID.
	again := *keepIn
	if dup, err := s.AddIncoming(&again); err != nil || !dup {
		t.Errorf("re-adding a kept message: dup %v, %v", dup, err)
	}
	if _, err := s.SetStatus(alice, keepOut.ID, delivery.Sent); err != nil {
		t.Errorf("SetStatus after re-keying: %v", err)
	}
	if m, err := s.ByID(keepOut.ID); err != nil || m.Status != delivery.Sent {
		t.Errorf("ByID after re-keying: %v, %v", m, err)
	}
	if sig, _ := s.LastSigned(alice); !bytes.Equal(sig, keepOut.Signed) {
		t.Errorf("LastSigned after Delete = %q", sig)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Nothing the directory now holds opens the old keys, even with the KEK.
	r, convs := keysOnDisk(t, dir, kek)
	if bytes.Equal(r.key, oldRoot) {
		t.Fatal("the root key did not change")
	}
	if _, err := r.unwrapConversation(aliceID, oldConvKey); err == nil {
		t.Error("the current root key opens the old conversation key")
	}
	if len(convs) != 2 {
		t.Fatalf("%d conversations on disk, want 2", len(convs))
	}
	for i, k := range derivable(kek, r, convs) {
		if _, err := newAEAD(bytes.Clone(k)).Open(nil, nil, oldDataKey, aad("data key", victim.Seq)); err == nil {
			t.Errorf("key %d opens the deleted message's data key", i)
		}
		if _, err := newAEAD(bytes.Clone(k)).Open(nil, nil, oldConvKey, aad("conversation key", uint64(aliceID))); err == nil {
			t.Errorf("key %d opens the old conversation key", i)
		}
	}

	// What the package doc says is not promised: a copy taken before the
	// deletion still opens it with the KEK.
	old := open(t, before, kek, Options{})
	if m, err := old.Get(victim.Seq); err != nil || !bytes.Equal(m.Body, victim.Body) {
		t.Errorf("the copy from before: %v, %v", m, err)
	}

	// The new state survives a restart.
	s = open(t, dir, kek, Options{})
	if ms := listAll(t, s); len(ms) != 3 {
		t.Errorf("%d messages after restart, want 3", len(ms))
	}
}

func TestDeleteLastMessageOfConversation(t *testing.T) {
	s, _, _ := newStore(t)
	alice, bob := random(32), random(32)
	only := message(alice, "only")
	addIn(t, s, only)
	addIn(t, s, message(bob, "bob"))
	if err := s.Delete(only.Seq); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.read.QueryRow(`SELECT count(*) FROM conversations`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d conversations left (%v), want 1", n, err)
	}
	if sig, err := s.LastSigned(alice); sig != nil || err != nil {
		t.Errorf("LastSigned = %q, %v", sig, err)
	}
	addIn(t, s, message(alice, "a new start"))
}

func TestDeleteConversation(t *testing.T) {
	s, dir, kek := newStore(t)
	alice, bob := random(32), random(32)
	in, out, kept := message(alice, "in"), message(alice, "out"), message(bob, "kept")
	addIn(t, s, in)
	addOut(t, s, out)
	addIn(t, s, kept)
	aliceID := s.byPeer[string(alice)].id
	oldConvKey := row(t, s, `SELECT key FROM conversations WHERE id = ?`, aliceID)
	oldDataKey := row(t, s, `SELECT key FROM messages WHERE seq = ?`, in.Seq)

	deleted, err := s.DeleteConversation(alice)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []uint64{in.Seq, out.Seq}) {
		t.Errorf("DeleteConversation deleted %v, want %v", deleted, []uint64{in.Seq, out.Seq})
	}
	if ms := listAll(t, s); len(ms) != 1 || ms[0].Seq != kept.Seq {
		t.Errorf("List after DeleteConversation: %v", ms)
	}
	if o, _ := s.Outbox(); len(o) != 0 {
		t.Errorf("outbox after DeleteConversation: %v", o)
	}
	if sig, _ := s.LastSigned(alice); sig != nil {
		t.Errorf("LastSigned after DeleteConversation = %q", sig)
	}
	if _, err := s.SetStatus(alice, out.ID, delivery.Sent); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetStatus after DeleteConversation: %v", err)
	}
	if _, err := s.DeleteConversation(alice); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteConversation: %v, want ErrNotFound", err)
	}
	// Its deduplication entries went with it.
	again := *in
	again.Seq = 0
	if dup, err := s.AddIncoming(&again); err != nil || dup {
		t.Errorf("a redelivered message after DeleteConversation: dup %v, %v", dup, err)
	}
	s.Close()

	r, convs := keysOnDisk(t, dir, kek)
	if _, err := r.unwrapConversation(aliceID, oldConvKey); err == nil {
		t.Error("the current root key opens the deleted conversation's key")
	}
	for i, k := range derivable(kek, r, convs) {
		if _, err := newAEAD(bytes.Clone(k)).Open(nil, nil, oldDataKey, aad("data key", in.Seq)); err == nil {
			t.Errorf("key %d opens a deleted message's data key", i)
		}
	}
}

func TestConcurrentDeletes(t *testing.T) {
	s, dir, kek := newStore(t)
	peers := [][]byte{random(32), random(32), random(32)}
	var all []*Message
	for i := range 60 {
		m := message(peers[i%3], "m")
		addIn(t, s, m)
		all = append(all, m)
	}
	gen := s.root.gen
	var wg sync.WaitGroup
	for _, m := range all[:30] {
		wg.Go(func() {
			if err := s.Delete(m.Seq); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		for range 30 {
			addIn(t, s, message(peers[0], "meanwhile"))
		}
	})
	wg.Wait()
	if ms := listAll(t, s); len(ms) != 60 {
		t.Errorf("%d messages, want 60", len(ms))
	}
	t.Logf("30 deletions took %d root key rotations", s.root.gen-gen)
	s.Close()
	s = open(t, dir, kek, Options{})
	ms := listAll(t, s)
	if len(ms) != 60 || ms[0].Seq != all[30].Seq {
		t.Errorf("after restart: %d messages from %d", len(ms), ms[0].Seq)
	}
}

// TestInterruptedRotation puts root.key in the state a crash in the middle
// of a deletion leaves: both root keys. Open keeps the one the database
// names and drops the other.
func TestInterruptedRotation(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{})
	a, b := message(random(32), "a"), message(random(32), "b")
	addIn(t, s, a)
	addIn(t, s, b)
	before := &root{gen: s.root.gen, key: bytes.Clone(s.root.key)}
	if err := s.Delete(a.Seq); err != nil {
		t.Fatal(err)
	}
	after := &root{gen: s.root.gen, key: bytes.Clone(s.root.key)}
	s.Close()
	files := &Store{dir: dir, kek: kek}

	for _, tc := range []struct {
		name  string
		roots []*root
	}{
		{"crash after the commit", []*root{before, after}},
		{"crash before the commit", []*root{after, {gen: after.gen + 1, key: random(32)}}},
	} {
		if err := files.writeRootFile(tc.roots...); err != nil {
			t.Fatal(err)
		}
		s := open(t, dir, kek, Options{})
		if ms := listAll(t, s); len(ms) != 1 || ms[0].Seq != b.Seq {
			t.Errorf("%s: List = %v", tc.name, ms)
		}
		s.Close()
		keys, err := readRootFile(filepath.Join(dir, rootName), kek)
		if err != nil || len(keys) != 1 || !bytes.Equal(keys[after.gen], after.key) {
			t.Errorf("%s: root.key holds %d keys (%v), want the current one alone", tc.name, len(keys), err)
		}
	}
}

// TestFailedDeleteChangesNothing makes the rotation fail (root.key can't be
// written) and checks that the deletion changed nothing and the store goes
// on working.
func TestFailedDeleteChangesNothing(t *testing.T) {
	s, dir, kek := newStore(t)
	peer := random(32)
	m, other := message(peer, "m"), message(peer, "other")
	addIn(t, s, m)
	addIn(t, s, other)
	obstacle := filepath.Join(dir, rootName+".new")
	if err := os.MkdirAll(filepath.Join(obstacle, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	gen := s.root.gen
	if err := s.Delete(m.Seq); err == nil {
		t.Fatal("Delete with root.key unwritable: no error")
	}
	if s.root.gen != gen {
		t.Errorf("root generation %d after a failed rotation, want %d", s.root.gen, gen)
	}
	if got, err := s.Get(m.Seq); err != nil || !bytes.Equal(got.Body, m.Body) {
		t.Errorf("after a failed Delete: %v, %v", got, err)
	}
	again := *m
	if dup, err := s.AddIncoming(&again); err != nil || !dup {
		t.Errorf("dedup after a failed Delete: %v, %v", dup, err)
	}
	addIn(t, s, message(peer, "after"))

	if err := os.RemoveAll(obstacle); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(m.Seq); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, kek, Options{})
	if ms := listAll(t, s); len(ms) != 2 || ms[0].Seq != other.Seq {
		t.Errorf("after restart: %v", ms)
	}
}
