package store

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestMove: a store in use stays where it is; a closed one moves whole
// and opens at its new place.
func TestMove(t *testing.T) {
	s, dir, kek := newStore(t)
	to := filepath.Join(filepath.Dir(dir), "moved")
	if !Exists(dir) || Exists(to) || Exists(filepath.Join(dir, "nothing")) {
		t.Fatal("Exists is wrong before the move")
	}
	if err := Move(dir, to); !errors.Is(err, ErrInUse) || Exists(to) {
		t.Fatalf("moving a store in use: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Move(dir, to); err != nil {
		t.Fatal(err)
	}
	if Exists(dir) || !Exists(to) {
		t.Fatal("not moved")
	}
	open(t, to, kek, Options{})
}
