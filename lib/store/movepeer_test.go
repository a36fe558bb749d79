package store

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"smvs/lib/delivery"
)

// TestMovePeer: bob rotates from a to c after c already wrote once; the
// conversation with a moves to c whole (messages in seq order, outbox,
// links, received bytes, default expiry), a message both hold stays once,
// the newest message is marked, nothing is left of a, and it all holds
// after a restart.
func TestMovePeer(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{})
	a, c, other := random(32), random(32), random(32)

	m1 := chained(t, a, "one", nil)
	addIn(t, s, m1)
	m2 := chained(t, a, "two", nil)
	addOut(t, s, m2)
	addIn(t, s, message(other, "elsewhere"))
	m3 := chained(t, c, "three", nil)
	addIn(t, s, m3)
	// The same message again, from the old key, after the new one.
	again := *m3
	again.Peer, again.Seq, again.Stored, again.Direction, again.Status = a, 0, 0, 0, 0
	addIn(t, s, &again)
	m4 := chained(t, a, "four", nil)
	addOut(t, s, m4)
	if _, err := s.SetExpireAfter(a, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := s.Received(a) + s.Received(c)
	total := s.ReceivedTotal()
	oneCopy := s.Received(c) // again, kept once, costs what m3 does

	marked, err := s.MovePeer(a, c, delivery.WarnRotated)
	if err != nil {
		t.Fatal(err)
	}
	if marked != m4.Seq {
		t.Errorf("marked %d, want the newest, %d", marked, m4.Seq)
	}
	check := func(s *Store) {
		t.Helper()
		all, err := s.List(0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, m := range all {
			if bytes.Equal(m.Peer, a) {
				t.Errorf("message %d is still with the old key", m.Seq)
			}
			if bytes.Equal(m.Peer, c) {
				seqs = append(seqs, m.Seq)
			}
		}
		if want := []uint64{m1.Seq, m2.Seq, m3.Seq, m4.Seq}; !slices.Equal(seqs, want) {
			t.Errorf("the conversation with c holds %v, want %v", seqs, want)
		}
		got, err := s.Get(m4.Seq)
		if err != nil || !slices.Contains(got.Warnings, delivery.WarnRotated) || string(got.Body) != "four" {
			t.Errorf("the newest message: %+v, %v", got, err)
		}
		out, err := s.Outbox()
		if err != nil || len(out) != 2 || out[0].Seq != m2.Seq || out[1].Seq != m4.Seq || !bytes.Equal(out[0].Peer, c) {
			t.Errorf("outbox %+v, %v", out, err)
		}
		wantLinks(t, s, c, []*Message{m1, m2, m3, m4})
		if ls := links(t, s, a); len(ls) != 0 {
			t.Errorf("links left with the old key: %+v", ls)
		}
		if after, err := s.ExpireAfter(c); err != nil || after != time.Hour {
			t.Errorf("default expiry %v, %v", after, err)
		}
		if s.Received(a) != 0 || s.Received(c) != before-oneCopy || s.ReceivedTotal() != total-oneCopy {
			t.Errorf("received: a %d, c %d (want %d), total %d (want %d)", s.Received(a), s.Received(c), before-oneCopy,
				s.ReceivedTotal(), total-oneCopy)
		}
	}
	check(s)
	if _, err := s.MovePeer(a, c, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("moving again: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, dir, kek, Options{}))
}

// TestMovePeerToNew: with no conversation with the new key yet, the move
// makes one; a conversation with no message moves unmarked.
func TestMovePeerToNew(t *testing.T) {
	s, _, _ := newStore(t)
	a, b, c, d := random(32), random(32), random(32), random(32)
	m := chained(t, a, "hi", nil)
	addIn(t, s, m)
	if marked, err := s.MovePeer(a, b, delivery.WarnRotated); err != nil || marked != m.Seq {
		t.Fatalf("MovePeer: %d, %v", marked, err)
	}
	if got, err := s.Get(m.Seq); err != nil || !bytes.Equal(got.Peer, b) {
		t.Errorf("moved message: %+v, %v", got, err)
	}
	if _, err := s.SetExpireAfter(c, time.Minute); err != nil {
		t.Fatal(err)
	}
	if marked, err := s.MovePeer(c, d, delivery.WarnRotated); err != nil || marked != 0 {
		t.Errorf("moving an empty conversation: %d, %v", marked, err)
	}
	if after, err := s.ExpireAfter(d); err != nil || after != time.Minute {
		t.Errorf("default expiry %v, %v", after, err)
	}
}
