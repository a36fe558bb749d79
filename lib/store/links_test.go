package store

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// undoLinks takes a database back to before schema step 3 (links, expiry),
// as a store made before it has it.
var undoLinks = []string{
	`DROP INDEX messages_blob`, `ALTER TABLE messages DROP COLUMN blob`, `ALTER TABLE messages DROP COLUMN blobsize`,
	`DROP TABLE links`, `DROP TABLE expiring`, `ALTER TABLE conversations DROP COLUMN expire`,
	`ALTER TABLE root DROP COLUMN unlinked`, `PRAGMA user_version = 2`,
}

// chained makes a text message with peer whose signed bytes are a real
// signed wire.Message carrying prev as its chain hash, signed by a new key.
func chained(t testing.TB, peer []byte, body string, prev []byte) *Message {
	t.Helper()
	m := message(peer, body)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire.Message{Sender: pub, Recipient: peer, KEMKeyID: random(wire.KEMKeyIDSize), ID: m.ID, Chain: prev,
		Sent: m.Sent, Kind: wire.KindText, Body: m.Body}
	if m.Signed, err = wire.SignMessage(priv, w); err != nil {
		t.Fatal(err)
	}
	return m
}

func links(t *testing.T, s *Store, peer []byte) []Link {
	t.Helper()
	ls, err := s.Links(peer)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// wantLinks checks the links of the conversation with peer: one for each
// of ms, in order, deleted as deleted says.
func wantLinks(t *testing.T, s *Store, peer []byte, ms []*Message, deleted ...uint64) {
	t.Helper()
	got := links(t, s, peer)
	if len(got) != len(ms) {
		t.Fatalf("%d links, want %d: %+v", len(got), len(ms), got)
	}
	for i, m := range ms {
		l := got[i]
		w, err := wire.DecodeSigned(m.Signed)
		if err != nil {
			t.Fatal(err)
		}
		wm, err := wire.DecodeMessage(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		if l.Seq != m.Seq || l.Direction != m.Direction || !bytes.Equal(l.ID, m.ID) || l.Sent != m.Sent ||
			!bytes.Equal(l.Hash, wire.ChainHash(m.Signed)) || !bytes.Equal(l.Prev, wm.Chain) ||
			l.Deleted != slices.Contains(deleted, m.Seq) {
			t.Errorf("link %d = %+v, want message %d (deleted: %v)", i, l, m.Seq, deleted)
		}
	}
}

func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.read.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLinks(t *testing.T) {
	s, dir, kek := newStore(t)
	alice, bob := random(32), random(32)
	first := chained(t, alice, "first", nil)
	addIn(t, s, first)
	second := chained(t, alice, "second", wire.ChainHash(first.Signed))
	addOut(t, s, second)
	receipt := chained(t, alice, "a receipt", nil)
	receipt.Kind = wire.KindReceipt
	addIn(t, s, receipt)
	addIn(t, s, message(alice, "signed bytes that don't decode"))
	unsigned := message(alice, "no signed bytes")
	unsigned.Signed = nil
	addIn(t, s, unsigned)
	third := chained(t, alice, "third", wire.ChainHash(second.Signed))
	addIn(t, s, third)
	addIn(t, s, chained(t, bob, "bob's", nil))

	wantLinks(t, s, alice, []*Message{first, second, third})
	if ls := links(t, s, random(32)); ls != nil {
		t.Errorf("links of no conversation: %v", ls)
	}
	if _, err := s.Links(alice[:5]); err == nil {
		t.Error("Links with a short key: no error")
	}

	// A deletion keeps the link, re-sealed under the conversation's new key.
	aliceID := s.byPeer[string(alice)].id
	oldLink := row(t, s, `SELECT data FROM links WHERE seq = ?`, third.Seq)
	oldConv := s.byPeer[string(alice)]
	oldLinkAEAD := oldConv.link
	if err := s.Delete(second.Seq); err != nil {
		t.Fatal(err)
	}
	wantLinks(t, s, alice, []*Message{first, second, third}, second.Seq)
	newLink := row(t, s, `SELECT data FROM links WHERE seq = ?`, third.Seq)
	if bytes.Equal(oldLink, newLink) {
		t.Error("the link was not re-sealed when its conversation was re-keyed")
	}
	if oldLinkAEAD != nil {
		if _, err := oldLinkAEAD.Open(nil, nil, newLink, aad("link", third.Seq)); err == nil {
			t.Error("the old conversation key opens a re-sealed link")
		}
	}
	if _, err := s.DeleteMessages([]uint64{first.Seq, third.Seq}); err != nil {
		t.Fatal(err)
	}
	// The conversation is kept, for its links, though it has no message
	// left with a link.
	if err := s.Delete(receipt.Seq); err != nil {
		t.Fatal(err)
	}
	ms := listAll(t, s)
	if len(ms) != 3 {
		t.Errorf("%d messages left, want 3", len(ms))
	}
	for _, m := range ms[:2] {
		if err := s.Delete(m.Seq); err != nil {
			t.Fatal(err)
		}
	}
	wantLinks(t, s, alice, []*Message{first, second, third}, first.Seq, second.Seq, third.Seq)
	s.Close()
	s = open(t, dir, kek, Options{})
	wantLinks(t, s, alice, []*Message{first, second, third}, first.Seq, second.Seq, third.Seq)
	if s.byPeer[string(alice)].id != aliceID {
		t.Error("the conversation changed its id")
	}

	// A whole conversation leaves nothing.
	if _, err := s.DeleteConversation(alice); err != nil {
		t.Fatal(err)
	}
	if ls := links(t, s, alice); ls != nil {
		t.Errorf("links after DeleteConversation: %v", ls)
	}
	if n := count(t, s, `SELECT count(*) FROM links WHERE conv = ?`, aliceID); n != 0 {
		t.Errorf("%d links rows after DeleteConversation", n)
	}
	if n := count(t, s, `SELECT count(*) FROM links`); n != 1 {
		t.Errorf("%d links rows, want bob's", n)
	}
	if _, err := s.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"links", "messages", "conversations", "expiring", "outbox"} {
		if n := count(t, s, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%d rows in %s after DeleteAll", n, table)
		}
	}
}

// TestBackfill opens a store made before links and expiry marks: its
// messages get theirs, once.
func TestBackfill(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{})
	alice := random(32)
	first := chained(t, alice, "first", nil)
	addIn(t, s, first)
	second := chained(t, alice, "second", wire.ChainHash(first.Signed))
	second.Expires = 1_900_000_000_000
	addOut(t, s, second)
	addIn(t, s, message(alice, "no link"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, dbName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range undoLinks {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	for range 2 {
		s = open(t, dir, kek, Options{})
		wantLinks(t, s, alice, []*Message{first, second})
		if at, ok := s.NextExpiry(); !ok || at.UnixMilli() != second.Expires {
			t.Errorf("NextExpiry = %v, %v, want %d", at, ok, second.Expires)
		}
		if n := count(t, s, `SELECT unlinked FROM root`); n != 0 {
			t.Errorf("root.unlinked = %d after Open", n)
		}
		s.Close()
	}
}

func TestDeletesPublish(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{Now: func() time.Time { return now }})
	alice, bob := random(32), random(32)
	var ms []*Message
	for i := range 12 {
		m := chained(t, [][]byte{alice, bob}[i%2], "m", nil)
		m.Sent = now.UnixMilli()
		if i == 6 {
			m.Expires = now.UnixMilli() + 1000
		}
		addIn(t, s, m)
		ms = append(ms, m)
		if i == 2 {
			now = now.Add(time.Hour)
		}
	}
	changes, stop := s.Subscribe()
	defer stop()
	want := func(what string, seqs []uint64, err error, wantSeqs ...uint64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !slices.Equal(seqs, wantSeqs) {
			t.Errorf("%s deleted %v, want %v", what, seqs, wantSeqs)
		}
		for _, seq := range wantSeqs {
			select {
			case c := <-changes:
				if c != (Change{Seq: seq, Deleted: true}) {
					t.Errorf("%s: change %+v, want message %d deleted", what, c, seq)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no change for message %d", what, seq)
			}
		}
	}
	err := s.Delete(ms[0].Seq)
	want("Delete", []uint64{ms[0].Seq}, err, ms[0].Seq)
	seqs, err := s.DeleteMessages([]uint64{ms[3].Seq, ms[0].Seq, 1 << 40, ms[1].Seq})
	want("DeleteMessages", seqs, err, ms[1].Seq, ms[3].Seq)
	// Sent is the same for all; Stored was an hour earlier for the first three.
	seqs, err = s.DeleteBefore(alice, now.Add(-time.Minute))
	want("DeleteBefore", seqs, err, ms[2].Seq)
	seqs, err = s.DeleteExpired(now.Add(time.Second))
	want("DeleteExpired", seqs, err, ms[6].Seq)
	seqs, err = s.DeleteConversation(bob)
	want("DeleteConversation", seqs, err, ms[5].Seq, ms[7].Seq, ms[9].Seq, ms[11].Seq)
	seqs, err = s.DeleteAll()
	want("DeleteAll", seqs, err, ms[4].Seq, ms[8].Seq, ms[10].Seq)
	seqs, err = s.DeleteAll()
	want("DeleteAll again", seqs, err)
}

func TestDeleteBefore(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{Now: func() time.Time { return now }})
	alice, bob := random(32), random(32)
	old := chained(t, alice, "sent long ago", nil)
	old.Sent = now.Add(-48 * time.Hour).UnixMilli()
	addIn(t, s, old)
	recent := chained(t, alice, "recent", wire.ChainHash(old.Signed))
	recent.Sent = now.UnixMilli()
	addOut(t, s, recent)
	bobs := message(bob, "bob's")
	bobs.Sent = old.Sent
	addIn(t, s, bobs)
	cut := now.Add(-time.Hour)

	seqs, err := s.DeleteBefore(alice, cut)
	if err != nil || !slices.Equal(seqs, []uint64{old.Seq}) {
		t.Errorf("DeleteBefore(alice) = %v, %v, want [%d]", seqs, err, old.Seq)
	}
	if seqs, err := s.DeleteBefore(random(32), cut); err != nil || seqs != nil {
		t.Errorf("DeleteBefore(no conversation) = %v, %v", seqs, err)
	}
	if seqs, err := s.DeleteBefore(alice[:3], cut); err == nil {
		t.Errorf("DeleteBefore(a short key) = %v, no error", seqs)
	}
	wantLinks(t, s, alice, []*Message{old, recent}, old.Seq)
	if seqs, err := s.DeleteBefore(nil, cut); err != nil || !slices.Equal(seqs, []uint64{bobs.Seq}) {
		t.Errorf("DeleteBefore(nil) = %v, %v, want [%d]", seqs, err, bobs.Seq)
	}
	if seqs, err := s.DeleteBefore(nil, now.Add(time.Millisecond)); err != nil || !slices.Equal(seqs, []uint64{recent.Seq}) {
		t.Errorf("DeleteBefore(nil, later) = %v, %v, want [%d]", seqs, err, recent.Seq)
	}
	if o, _ := s.Outbox(); len(o) != 0 {
		t.Errorf("outbox after DeleteBefore: %v", o)
	}
	wantLinks(t, s, alice, []*Message{old, recent}, old.Seq, recent.Seq)
}

func TestAddWarning(t *testing.T) {
	s, _, _ := newStore(t)
	m := chained(t, random(32), "m", nil)
	addIn(t, s, m)
	changes, stop := s.Subscribe()
	defer stop()
	for _, w := range []delivery.Warning{delivery.WarnGap, delivery.WarnFork, delivery.WarnGap} {
		if err := s.AddWarning(m.Seq, w); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if c := <-changes; c != (Change{Seq: m.Seq, Status: true}) {
			t.Errorf("change %+v, want a status change of %d", c, m.Seq)
		}
	}
	select {
	case c := <-changes:
		t.Errorf("a repeated warning made a change: %+v", c)
	default:
	}
	for _, get := range []func(uint64) (*Message, error){s.Get, s.Head} {
		got, err := get(m.Seq)
		if err != nil || !slices.Equal(got.Warnings, []delivery.Warning{delivery.WarnGap, delivery.WarnFork}) {
			t.Errorf("warnings %v, %v", got, err)
		}
	}
	if ms := listAll(t, s); len(ms[0].Warnings) != 2 {
		t.Errorf("List: warnings %v", ms[0].Warnings)
	}
	if err := s.AddWarning(m.Seq+1, delivery.WarnGap); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddWarning to no message: %v", err)
	}
	if err := s.AddWarning(m.Seq, 0); err == nil {
		t.Error("AddWarning(0): no error")
	}
}

// A message re-sealed to the peer's new KEM key is signed anew (the
// signature covers the key id): its link takes the new chain hash, which is
// the one the peer holds.
func TestReplaceEnvelopeMovesTheLink(t *testing.T) {
	s, _, _ := newStore(t)
	bob := random(32)
	m := chained(t, bob, "hello", nil)
	if err := s.AddOutgoing(m, []byte("envelope"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	resealed := chained(t, bob, "hello", nil)
	resealed.Seq, resealed.Direction, resealed.ID, resealed.Sent = m.Seq, delivery.Out, m.ID, m.Sent
	if err := s.ReplaceEnvelope(m.Seq, []byte("envelope 2"), resealed.Signed); err != nil {
		t.Fatal(err)
	}
	wantLinks(t, s, bob, []*Message{resealed})
}

// TestResignedLinksKeepTheirHashes: a message signed anew keeps the
// hashes it had (Link.Was), at most maxWas of them, oldest first, across
// a reopen, whether its sender re-sealed it (ReplaceEnvelope) or its
// receiver got it again (RehashLink).
func TestResignedLinksKeepTheirHashes(t *testing.T) {
	s, dir, kek := newStore(t)
	bob := random(32)
	out := chained(t, bob, "hello", nil)
	if err := s.AddOutgoing(out, []byte("envelope"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte // every hash out had, in order
	hashes = append(hashes, wire.ChainHash(out.Signed))
	for range maxWas + 2 {
		again := chained(t, bob, "hello", nil)
		if err := s.ReplaceEnvelope(out.Seq, []byte("envelope again"), again.Signed); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, wire.ChainHash(again.Signed))
	}
	in := chained(t, bob, "hi", wire.ChainHash(out.Signed))
	in.Direction, in.Status = delivery.In, delivery.Received
	if _, err := s.AddIncoming(in); err != nil {
		t.Fatal(err)
	}
	anew := random(wire.HashSize)
	if err := s.RehashLink(in.Seq, anew); err != nil {
		t.Fatal(err)
	}
	if err := s.RehashLink(in.Seq, anew); err != nil { // again: nothing changes
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		got := links(t, s, bob)
		if len(got) != 2 {
			t.Fatalf("%d links, want 2", len(got))
		}
		last := len(hashes) - 1
		if o := got[0]; !bytes.Equal(o.Hash, hashes[last]) || !slices.EqualFunc(o.Was, hashes[last-maxWas:last], bytes.Equal) {
			t.Errorf("sent message's link: hash %x, was %x; want %x, was the %d before it", o.Hash, o.Was, hashes[last], maxWas)
		}
		if i := got[1]; !bytes.Equal(i.Hash, anew) || len(i.Was) != 1 || !bytes.Equal(i.Was[0], wire.ChainHash(in.Signed)) ||
			!bytes.Equal(i.Prev, wire.ChainHash(out.Signed)) {
			t.Errorf("received message's link: hash %x, was %x, prev %x; want %x, was its first hash", i.Hash, i.Was, i.Prev, anew)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, dir, kek, Options{}))

	s2, _, _ := newStore(t)
	if err := s2.RehashLink(12345, anew); !errors.Is(err, ErrNotFound) {
		t.Errorf("RehashLink of no message: %v, want ErrNotFound", err)
	}
	if err := s2.RehashLink(1, anew[:5]); err == nil {
		t.Error("RehashLink took a 5-byte hash")
	}
}

func TestLinkValidateWas(t *testing.T) {
	l := &link{Direction: delivery.In, ID: random(wire.MessageIDSize), Hash: random(wire.HashSize)}
	l.Was = [][]byte{random(wire.HashSize)}
	if err := l.Validate(); err != nil {
		t.Errorf("a link with one earlier hash: %v", err)
	}
	l.Was = [][]byte{random(3)}
	if err := l.Validate(); err == nil {
		t.Error("a link with a 3-byte earlier hash validated")
	}
	l.Was = make([][]byte, maxWas+1)
	for i := range l.Was {
		l.Was[i] = random(wire.HashSize)
	}
	if err := l.Validate(); err == nil {
		t.Errorf("a link with %d earlier hashes validated", len(l.Was))
	}
}
