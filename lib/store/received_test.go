package store

import (
	"strings"
	"testing"
	"time"

	"smvs/lib/delivery"
)

// checkReceived checks what Received counts for each peer, and the total.
func checkReceived(t *testing.T, s *Store, want map[string]int64) {
	t.Helper()
	var total int64
	for peer, n := range want {
		if got := s.Received([]byte(peer)); got != n {
			t.Errorf("Received(%x) = %d, want %d", peer[:4], got, n)
		}
		total += n
	}
	if got := s.ReceivedTotal(); got != total {
		t.Errorf("ReceivedTotal = %d, want %d", got, total)
	}
}

// TestReceived checks the bytes counted for each peer's received messages:
// a message received counts about its size (body and signed bytes), one
// sent counts nothing, a deletion of any kind gives back exactly what the
// message counted, a change to a head changes nothing, and the counts
// are the same after a restart.
func TestReceived(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{})
	alice, bob, carol := random(32), random(32), random(32)
	checkReceived(t, s, map[string]int64{string(alice): 0})

	big := message(alice, strings.Repeat("x", 100_000))
	addIn(t, s, big)
	one := s.Received(alice)
	if size := int64(len(big.Body) + len(big.Signed)); one < size+rowOverhead || one > size+rowOverhead+256 {
		t.Fatalf("a message of %d bytes (body and signed) counts %d", size, one)
	}
	small := message(alice, "hello")
	addIn(t, s, small)
	two := s.Received(alice)
	if two <= one {
		t.Fatalf("a second message counts %d, the first alone %d", two, one)
	}
	// Sent messages and received messages of others are not alice's.
	addOut(t, s, message(alice, strings.Repeat("y", 50_000)))
	fromBob := message(bob, "from bob")
	addIn(t, s, fromBob)
	bobs := s.Received(bob)
	addOut(t, s, message(carol, "to carol"))
	checkReceived(t, s, map[string]int64{string(alice): two, string(bob): bobs, string(carol): 0})
	// A duplicate changes nothing; nor do read marks and warnings, which
	// rewrite the head.
	if dup, err := s.AddIncoming(&Message{ID: small.ID, Peer: alice, Sent: small.Sent, Kind: small.Kind,
		Body: []byte("other"), Signed: []byte("other")}); err != nil || !dup {
		t.Fatalf("AddIncoming again: dup %v, %v", dup, err)
	}
	if _, err := s.MarkRead([]uint64{big.Seq, small.Seq}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddWarning(small.Seq, delivery.WarnGap); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, s, map[string]int64{string(alice): two, string(bob): bobs, string(carol): 0})

	// Restarted, the counts are read again from the messages.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, kek, Options{})
	checkReceived(t, s, map[string]int64{string(alice): two, string(bob): bobs, string(carol): 0})

	// Deleting the big one gives back what it counted.
	if err := s.Delete(big.Seq); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, s, map[string]int64{string(alice): two - one, string(bob): bobs, string(carol): 0})
	// Deleting sent messages gives back nothing.
	sent := listAll(t, s)
	var outs []uint64
	for _, m := range sent {
		if m.Direction == delivery.Out {
			outs = append(outs, m.Seq)
		}
	}
	if deleted, err := s.DeleteMessages(outs); err != nil || len(deleted) != len(outs) {
		t.Fatalf("DeleteMessages(%v) = %v, %v", outs, deleted, err)
	}
	checkReceived(t, s, map[string]int64{string(alice): two - one, string(bob): bobs, string(carol): 0})
	// A whole conversation goes with what it counted.
	if _, err := s.DeleteConversation(bob); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, s, map[string]int64{string(alice): two - one, string(bob): 0})
	// A message from bob again counts in a new conversation.
	addIn(t, s, message(bob, "from bob"))
	bobs = s.Received(bob)
	if bobs == 0 {
		t.Fatal("a message from bob after his conversation was deleted counts nothing")
	}

	// An imported received message counts; DeleteBefore and DeleteAll
	// give back.
	imported := message(carol, "imported")
	imported.Direction, imported.Status, imported.Stored = delivery.In, delivery.Received, 1_700_000_000_000
	if dup, err := s.Import(imported); err != nil || dup {
		t.Fatalf("Import: dup %v, %v", dup, err)
	}
	carols := s.Received(carol)
	if carols == 0 {
		t.Fatal("an imported received message counts nothing")
	}
	checkReceived(t, s, map[string]int64{string(alice): two - one, string(bob): bobs, string(carol): carols})
	if _, err := s.DeleteBefore(carol, time.UnixMilli(1_700_000_000_001)); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, s, map[string]int64{string(alice): two - one, string(bob): bobs, string(carol): 0})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, kek, Options{})
	checkReceived(t, s, map[string]int64{string(alice): two - one, string(bob): bobs, string(carol): 0})
	if _, err := s.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, s, map[string]int64{string(alice): 0, string(bob): 0, string(carol): 0})
}

// TestReceivedExpired checks that an expiry gives back what the expired
// message counted.
func TestReceivedExpired(t *testing.T) {
	s, _, _ := newStore(t)
	peer := random(32)
	keep := message(peer, "kept")
	addIn(t, s, keep)
	kept := s.Received(peer)
	m := message(peer, "expires")
	m.Expires = 1_700_000_000_500
	addIn(t, s, m)
	if s.Received(peer) <= kept {
		t.Fatal("the expiring message counts nothing")
	}
	if deleted, err := s.DeleteExpired(time.UnixMilli(1_700_000_001_000)); err != nil || len(deleted) != 1 {
		t.Fatalf("DeleteExpired = %v, %v", deleted, err)
	}
	checkReceived(t, s, map[string]int64{string(peer): kept})
}

// BenchmarkOpen10k opens a store of 10,000 messages, which counts the
// received ones (loadReceived) by decrypting every head.
func BenchmarkOpen10k(b *testing.B) {
	dir, kek := b.TempDir(), random(32)
	s := open(b, dir, kek, Options{})
	fill(b, s, [][]byte{random(32), random(32)}, 10_000, 0)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := Open(dir, [][]byte{kek}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
