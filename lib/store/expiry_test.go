package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

func wantNext(t *testing.T, s *Store, want int64) {
	t.Helper()
	at, ok := s.NextExpiry()
	switch {
	case want == 0 && ok:
		t.Errorf("NextExpiry = %v, want none", at)
	case want != 0 && (!ok || at.UnixMilli() != want):
		t.Errorf("NextExpiry = %v, %v, want %d", at.UnixMilli(), ok, want)
	}
}

func TestExpiry(t *testing.T) {
	s, dir, kek := newStore(t)
	alice, bob := random(32), random(32)
	wantNext(t, s, 0)
	base := int64(1_900_000_000_000)
	var ms []*Message
	for i, at := range []int64{base + 3000, base + 1000, 0, base + 2000, base + 1000, base + 5000} {
		m := chained(t, [][]byte{alice, bob}[i%2], "m", nil)
		m.Expires = at
		if i == 1 {
			addOut(t, s, m)
		} else {
			addIn(t, s, m)
		}
		ms = append(ms, m)
	}
	wantNext(t, s, base+1000)
	if n := count(t, s, `SELECT count(*) FROM expiring`); n != 5 {
		t.Errorf("%d rows in expiring, want 5", n)
	}

	gen := s.root.gen
	if seqs, err := s.DeleteExpired(time.UnixMilli(base + 999)); err != nil || seqs != nil {
		t.Errorf("DeleteExpired before any is due = %v, %v", seqs, err)
	}
	if s.root.gen != gen {
		t.Error("DeleteExpired with nothing due rotated the root key")
	}
	seqs, err := s.DeleteExpired(time.UnixMilli(base + 1000))
	if err != nil || !slices.Equal(seqs, []uint64{ms[1].Seq, ms[4].Seq}) {
		t.Errorf("DeleteExpired = %v, %v, want %d and %d", seqs, err, ms[1].Seq, ms[4].Seq)
	}
	if o, _ := s.Outbox(); len(o) != 0 {
		t.Errorf("an expired message's outbox entry is left: %v", o)
	}
	wantNext(t, s, base+2000)
	if err := s.Delete(ms[3].Seq); err != nil {
		t.Fatal(err)
	}
	wantNext(t, s, base+3000)
	if n := count(t, s, `SELECT count(*) FROM expiring`); n != 2 {
		t.Errorf("%d rows in expiring, want 2", n)
	}

	s.Close()
	s = open(t, dir, kek, Options{})
	wantNext(t, s, base+3000)
	wantLinks(t, s, bob, []*Message{ms[1], ms[3], ms[5]}, ms[1].Seq, ms[3].Seq)
	seqs, err = s.DeleteExpired(time.UnixMilli(base + 10_000))
	if err != nil || !slices.Equal(seqs, []uint64{ms[0].Seq, ms[5].Seq}) {
		t.Errorf("DeleteExpired = %v, %v, want %d and %d", seqs, err, ms[0].Seq, ms[5].Seq)
	}
	wantNext(t, s, 0)
	if left := listAll(t, s); len(left) != 1 || left[0].Seq != ms[2].Seq {
		t.Errorf("left: %v, want message %d", left, ms[2].Seq)
	}
	wantLinks(t, s, bob, []*Message{ms[1], ms[3], ms[5]}, ms[1].Seq, ms[3].Seq, ms[5].Seq)
}

// TestExpiryHeap checks the heap against a sorted list through random
// additions and removals.
func TestExpiryHeap(t *testing.T) {
	e := newExpiries()
	live := make(map[uint64]int64)
	for i := range 2000 {
		seq := uint64(i + 1)
		at := int64(random(1)[0])
		e.update([]expiry{{at: at, seq: seq}}, nil)
		live[seq] = at
		if i%3 == 0 {
			victim := uint64(int(random(1)[0])%(i+1) + 1)
			e.update(nil, []Change{{Seq: victim, Deleted: true}})
			delete(live, victim)
		}
	}
	for _, now := range []int64{-1, 0, 17, 128, 255} {
		var want []uint64
		for seq, at := range live {
			if at <= now {
				want = append(want, seq)
			}
		}
		slices.Sort(want)
		if got := e.due(now); !slices.Equal(got, want) {
			t.Errorf("due(%d): %d seqs, want %d", now, len(got), len(want))
		}
	}
	least := int64(1 << 62)
	for _, at := range live {
		least = min(least, at)
	}
	if at, ok := e.next(); !ok || at != least {
		t.Errorf("next = %d, %v, want %d", at, ok, least)
	}
}

func TestExpireAfter(t *testing.T) {
	s, dir, kek := newStore(t)
	alice, bob := random(32), random(32)
	wantAfter := func(peer []byte, want time.Duration) {
		t.Helper()
		if got, err := s.ExpireAfter(peer); err != nil || got != want {
			t.Errorf("ExpireAfter = %v, %v, want %v", got, err, want)
		}
	}
	wantAfter(alice, 0)
	if was, err := s.SetExpireAfter(bob, 0); err != nil || was != 0 || len(s.byPeer) != 0 {
		t.Errorf("SetExpireAfter(0) on no conversation = %v, %v, %d conversations", was, err, len(s.byPeer))
	}
	if was, err := s.SetExpireAfter(alice, time.Hour); err != nil || was != 0 {
		t.Errorf("SetExpireAfter = %v, %v", was, err)
	}
	wantAfter(alice, time.Hour)
	if was, err := s.SetExpireAfter(alice, 90*time.Second); err != nil || was != time.Hour {
		t.Errorf("SetExpireAfter = %v, %v, want it to replace 1h", was, err)
	}
	for _, bad := range []time.Duration{-time.Second, time.Microsecond, 367 * 24 * time.Hour} {
		if _, err := s.SetExpireAfter(alice, bad); err == nil {
			t.Errorf("SetExpireAfter(%v): no error", bad)
		}
	}
	// A conversation with a default and no message is kept when its last
	// message goes, and its default is re-keyed with it.
	m := message(alice, "m")
	addIn(t, s, m)
	addIn(t, s, message(alice, "other"))
	if err := s.Delete(m.Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteMessages([]uint64{m.Seq + 1}); err != nil {
		t.Fatal(err)
	}
	wantAfter(alice, 90*time.Second)
	s.Close()
	s = open(t, dir, kek, Options{})
	wantAfter(alice, 90*time.Second)
	if was, err := s.SetExpireAfter(alice, 0); err != nil || was != 90*time.Second {
		t.Errorf("SetExpireAfter(0) = %v, %v", was, err)
	}
	wantAfter(alice, 0)
	if _, err := s.DeleteConversation(alice); err != nil {
		t.Fatal(err)
	}
	wantAfter(alice, 0)
	// A conversation that moves to another key takes its default along,
	// whatever was read of the other's before.
	carol, dave := random(32), random(32)
	if _, err := s.SetExpireAfter(carol, time.Minute); err != nil {
		t.Fatal(err)
	}
	addIn(t, s, message(dave, "d"))
	wantAfter(carol, time.Minute)
	wantAfter(dave, 0)
	if _, err := s.MovePeer(carol, dave, 0); err != nil {
		t.Fatal(err)
	}
	wantAfter(dave, time.Minute)
	if _, err := s.ExpireAfter(alice[:4]); err == nil {
		t.Error("ExpireAfter with a short key: no error")
	}
}

func TestImport(t *testing.T) {
	s, _, _ := newStore(t)
	alice := random(32)
	in := chained(t, alice, "in", nil)
	in.Direction, in.Status, in.Stored, in.Read = delivery.In, delivery.Received, 1_700_000_000_500, true
	in.Warnings = []delivery.Warning{delivery.WarnGap}
	out := chained(t, alice, "out", wire.ChainHash(in.Signed))
	out.Direction, out.Status, out.Stored, out.Expires = delivery.Out, delivery.Delivered, 1_700_000_000_600, 1_900_000_000_000
	changes, stop := s.Subscribe()
	defer stop()
	for _, m := range []*Message{in, out} {
		if dup, err := s.Import(m); err != nil || dup {
			t.Fatalf("Import: dup %v, %v", dup, err)
		}
		if c := <-changes; c != (Change{Seq: m.Seq}) {
			t.Errorf("change %+v, want a new message %d", c, m.Seq)
		}
	}
	for _, m := range []*Message{in, out} {
		got, err := s.Get(m.Seq)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, got, m)
		if got.Read != m.Read || !slices.Equal(got.Warnings, m.Warnings) {
			t.Errorf("imported %+v, want %+v", got, m)
		}
	}
	wantLinks(t, s, alice, []*Message{in, out})
	wantNext(t, s, out.Expires)
	if o, _ := s.Outbox(); len(o) != 0 {
		t.Errorf("Import put %v in the outbox", o)
	}

	// Importing again changes nothing, nor does importing what was deleted.
	if err := s.Delete(in.Seq); err != nil {
		t.Fatal(err)
	}
	<-changes
	for _, m := range []*Message{in, out} {
		again := *m
		again.Seq = 0
		if dup, err := s.Import(&again); err != nil || !dup || again.Seq != 0 {
			t.Errorf("importing message %d again: dup %v, %v, seq %d", m.Seq, dup, err, again.Seq)
		}
	}
	select {
	case c := <-changes:
		t.Errorf("a duplicate import made a change: %+v", c)
	default:
	}
	if ms := listAll(t, s); len(ms) != 1 {
		t.Errorf("%d messages, want 1", len(ms))
	}
	// An incoming message redelivered after its deletion is stored again,
	// as the package doc says; an import is not a delivery.
	again := *in
	again.Seq, again.Direction, again.Status = 0, 0, 0
	addIn(t, s, &again)

	now := message(alice, "stored now")
	now.Direction, now.Status = delivery.In, delivery.Received
	if dup, err := s.Import(now); err != nil || dup || now.Stored == 0 {
		t.Errorf("Import with no Stored: dup %v, %v, stored %d", dup, err, now.Stored)
	}
	for _, bad := range []struct {
		dir delivery.Direction
		st  delivery.Status
	}{{delivery.Out, delivery.Queued}, {delivery.In, delivery.Sent}, {delivery.Out, delivery.Received}, {0, delivery.Received}, {delivery.In, 0}} {
		m := message(alice, "bad")
		m.Direction, m.Status = bad.dir, bad.st
		if _, err := s.Import(m); err == nil {
			t.Errorf("Import of direction %d, status %s: no error", bad.dir, bad.st)
		}
	}
}

// TestFailedCommitLeavesExpiry checks that the heap changes only with a
// commit: a deletion whose rotation fails, and messages that don't fit
// the quota, leave it as the tables are.
func TestFailedCommitLeavesExpiry(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{Quota: 256 << 10})
	peer := random(32)
	m := chained(t, peer, "m", nil)
	m.Expires = 1_900_000_000_000
	addIn(t, s, m)
	obstacle := filepath.Join(dir, rootName+".new")
	if err := os.MkdirAll(filepath.Join(obstacle, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteExpired(time.UnixMilli(m.Expires)); err == nil {
		t.Fatal("DeleteExpired with root.key unwritable: no error")
	}
	wantNext(t, s, m.Expires)
	if err := os.RemoveAll(obstacle); err != nil {
		t.Fatal(err)
	}

	big := 0
	for ; big < 100; big++ {
		n := message(peer, string(random(16<<10)))
		n.Expires = 1_800_000_000_000
		if _, err := s.AddIncoming(n); errors.Is(err, ErrQuota) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if big == 100 {
		t.Fatal("the quota was never reached")
	}
	if n := count(t, s, `SELECT count(*) FROM expiring`); n != big+1 || s.expiry.Len() != n {
		t.Errorf("%d marks in expiring, %d in the heap, want %d", n, s.expiry.Len(), big+1)
	}
	seqs, err := s.DeleteExpired(time.UnixMilli(m.Expires))
	if err != nil || len(seqs) != big+1 {
		t.Errorf("DeleteExpired = %d, %v, want %d", len(seqs), err, big+1)
	}
	wantNext(t, s, 0)
}
