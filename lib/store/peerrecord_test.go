package store

import (
	"bytes"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

func wantRecord(t *testing.T, s *Store, peer, want []byte) {
	t.Helper()
	got, err := s.PeerRecord(peer)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("PeerRecord = %q, %v; want %q", got, err, want)
	}
}

// TestPeerRecord checks that a peer's record is kept with its
// conversation: through restarts and the re-keying a deletion does, and
// gone with the conversation.
func TestPeerRecord(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{})
	bob, carol := random(32), random(32)
	if err := s.SetPeerRecord(bob, []byte("bob's record")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("with no conversation: %v, want ErrNotFound", err)
	}
	wantRecord(t, s, bob, nil)

	first, second := message(bob, "first"), message(bob, "second")
	addOut(t, s, first)
	addOut(t, s, second)
	addOut(t, s, message(carol, "hi carol"))
	wantRecord(t, s, bob, nil)
	for _, r := range []string{"bob's record, seq 1", "bob's record, seq 2"} {
		if err := s.SetPeerRecord(bob, []byte(r)); err != nil {
			t.Fatal(err)
		}
		wantRecord(t, s, bob, []byte(r))
	}
	if err := s.SetPeerRecord(carol, []byte("carol's record")); err != nil {
		t.Fatal(err)
	}

	// Deleting a message re-keys the conversation and rotates the root.
	if err := s.Delete(first.Seq); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, s, bob, []byte("bob's record, seq 2"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, kek, Options{})
	wantRecord(t, s, bob, []byte("bob's record, seq 2"))
	wantRecord(t, s, carol, []byte("carol's record"))

	if _, err := s.DeleteConversation(bob); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, s, bob, nil)
	addOut(t, s, message(bob, "again"))
	wantRecord(t, s, bob, nil)
	wantRecord(t, s, carol, []byte("carol's record"))
}

// TestMigrateToPeerRecords checks that a store made before records were
// kept opens, keeps its messages and keeps records from then on.
func TestMigrateToPeerRecords(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{})
	bob := random(32)
	m := message(bob, "from before")
	addOut(t, s, m)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, dbName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(undoLinks, `ALTER TABLE conversations DROP COLUMN record`, `PRAGMA user_version = 1`) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s = open(t, dir, kek, Options{})
	if got, err := s.Get(m.Seq); err != nil || string(got.Body) != "from before" {
		t.Fatalf("after the migration: %v, %v", got, err)
	}
	if err := s.SetPeerRecord(bob, []byte("bob's record")); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, s, bob, []byte("bob's record"))
}
