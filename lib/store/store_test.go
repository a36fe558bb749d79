package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// open opens a store in dir, closed at the end of the test.
func open(t testing.TB, dir string, kek []byte, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, [][]byte{kek}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) (*Store, string, []byte) {
	dir, kek := t.TempDir(), random(32)
	return open(t, dir, kek, Options{}), dir, kek
}

// message makes a text message with peer, a random id and body.
func message(peer []byte, body string) *Message {
	return &Message{
		ID: random(16), Peer: peer, Sent: 1_700_000_000_000, Kind: wire.KindText,
		ContentType: "text/plain", Body: []byte(body), Signed: []byte("signed(" + body + ")"),
	}
}

func addIn(t testing.TB, s *Store, m *Message) {
	t.Helper()
	dup, err := s.AddIncoming(m)
	if err != nil || dup {
		t.Fatalf("AddIncoming: dup %v, %v", dup, err)
	}
}

func addOut(t testing.TB, s *Store, m *Message) {
	t.Helper()
	if err := s.AddOutgoing(m, []byte("envelope of "+string(m.Body)), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("AddOutgoing: %v", err)
	}
}

// equal compares what a stored message should keep of the one added.
func equal(t *testing.T, got, want *Message) {
	t.Helper()
	if got.Seq != want.Seq || !bytes.Equal(got.ID, want.ID) || !bytes.Equal(got.Peer, want.Peer) ||
		got.Direction != want.Direction || got.Status != want.Status || got.Sent != want.Sent ||
		got.Stored != want.Stored || got.Kind != want.Kind || got.ContentType != want.ContentType ||
		got.FileName != want.FileName || !bytes.Equal(got.Body, want.Body) || got.Expires != want.Expires ||
		!bytes.Equal(got.Signed, want.Signed) {
		t.Errorf("stored message\n got %+v\nwant %+v", got, want)
	}
}

func listAll(t *testing.T, s *Store) []*Message {
	t.Helper()
	ms, err := s.List(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestAddGetList(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_123)
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{Now: func() time.Time { return now }})
	alice, bob := random(32), random(32)

	in := message(alice, "hello from alice")
	in.Kind, in.FileName, in.ContentType, in.Expires = wire.KindFile, "notes.txt", "text/plain", 1_900_000_000_000
	addIn(t, s, in)
	out := message(bob, "hello bob")
	addOut(t, s, out)
	empty := message(alice, "")
	empty.Body, empty.Signed = nil, nil
	addIn(t, s, empty)

	if in.Seq != 1 || out.Seq != 2 || empty.Seq != 3 {
		t.Errorf("seqs %d %d %d, want 1 2 3", in.Seq, out.Seq, empty.Seq)
	}
	if in.Stored != now.UnixMilli() || in.Direction != delivery.In || in.Status != delivery.Received {
		t.Errorf("AddIncoming set %d %v %v", in.Stored, in.Direction, in.Status)
	}
	if out.Direction != delivery.Out || out.Status != delivery.Queued {
		t.Errorf("AddOutgoing set %v %v", out.Direction, out.Status)
	}
	for _, m := range []*Message{in, out, empty} {
		got, err := s.Get(m.Seq)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, got, m)
	}
	ms := listAll(t, s)
	if len(ms) != 3 {
		t.Fatalf("List: %d messages, want 3", len(ms))
	}
	equal(t, ms[1], out)
	ms, err := s.List(1, 1)
	if err != nil || len(ms) != 1 || ms[0].Seq != 2 {
		t.Errorf("List(1, 1) = %v, %v; want message 2", ms, err)
	}
	if ms, err := s.List(3, 10); err != nil || len(ms) != 0 {
		t.Errorf("List(3, 10) = %v, %v; want nothing", ms, err)
	}
	if _, err := s.Get(4); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(4): %v, want ErrNotFound", err)
	}
	if _, err := s.Get(0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(0): %v, want ErrNotFound", err)
	}
	if _, err := s.List(0, 0); err == nil {
		t.Error("List with limit 0: no error")
	}
}

func TestByIDAndLastSigned(t *testing.T) {
	s, _, _ := newStore(t)
	alice, bob := random(32), random(32)
	if sig, err := s.LastSigned(alice); err != nil || sig != nil {
		t.Errorf("LastSigned with no conversation = %q, %v", sig, err)
	}
	first := message(alice, "one")
	addOut(t, s, first)
	in := message(alice, "two")
	addIn(t, s, in)
	addOut(t, s, message(bob, "to bob"))
	for range 300 { // more conversations than one ByID query covers
		addIn(t, s, message(random(32), "x"))
	}

	got, err := s.ByID(first.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *first
	want.Body, want.Signed = nil, nil // a head: the signed bytes may hold the body
	equal(t, got, &want)
	if got, err := s.ByID(in.ID); err != nil || got.Seq != in.Seq || got.Direction != delivery.In {
		t.Errorf("ByID of an incoming message: %+v, %v", got, err)
	}
	// A received message that copies a sent one's id does not hide it.
	copied := message(bob, "copy")
	copied.ID = first.ID
	addIn(t, s, copied)
	if got, err := s.ByID(first.ID); err != nil || got.Seq != first.Seq {
		t.Errorf("ByID of a sent id a peer copied: %+v, %v", got, err)
	}
	if _, err := s.ByID(random(16)); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByID of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.ByID(random(15)); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("ByID of a short id: %v, want a bad input error", err)
	}

	sig, err := s.LastSigned(alice)
	if err != nil || !bytes.Equal(sig, in.Signed) {
		t.Errorf("LastSigned = %q, %v; want %q", sig, err, in.Signed)
	}
	unsigned := message(alice, "no signature")
	unsigned.Signed = nil
	addIn(t, s, unsigned)
	if sig, _ := s.LastSigned(alice); !bytes.Equal(sig, in.Signed) {
		t.Errorf("LastSigned after an unsigned message = %q; want %q", sig, in.Signed)
	}
}

// TestNothingInPlaintext adds messages carrying a marker in every field and
// looks for the markers, the peer keys and the message ids in every file of
// the store, with the WAL in use and after Close.
func TestNothingInPlaintext(t *testing.T) {
	s, dir, _ := newStore(t)
	const marker = "MARKER-7f3a9c"
	alice, bob := random(32), random(32)
	var ids [][]byte
	for i := range 20 {
		in := message(alice, fmt.Sprintf("%s body %d", marker, i))
		in.Kind, in.ContentType, in.FileName = wire.KindFile, marker+"/type", marker+".txt"
		in.Signed = []byte(marker + " signed")
		addIn(t, s, in)
		out := message(bob, marker+" to bob")
		out.FileName = marker + ".out"
		if err := s.AddOutgoing(out, []byte(marker+" envelope"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetStatus(bob, out.ID, delivery.Sent); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID, out.ID)
	}
	if err := s.SetPeerRecord(bob, []byte(marker+" record")); err != nil {
		t.Fatal(err)
	}
	needles := append([][]byte{[]byte(marker), alice, bob}, ids...)

	check := func(when string) {
		t.Helper()
		n := 0
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			n++
			for i, needle := range needles {
				if bytes.Contains(data, needle) {
					t.Errorf("%s: %s contains needle %d (%x)", when, d.Name(), i, needle)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 2 {
			t.Fatalf("%s: only %d files in the store", when, n)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, dbName+"-wal")); err != nil {
		t.Fatalf("no WAL while open: %v", err)
	}
	check("open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed")
}

func TestFileModes(t *testing.T) {
	s, dir, _ := newStore(t)
	addIn(t, s, message(random(32), "x"))
	sub := filepath.Join(dir, "new")
	open(t, sub, random(32), Options{})
	if fi, err := os.Stat(sub); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("created directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		fi, _ := e.Info()
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", e.Name(), fi.Mode())
		}
	}
}

func TestDedupConcurrent(t *testing.T) {
	s, _, _ := newStore(t)
	m := message(random(32), "once")
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for range 16 {
		wg.Go(func() {
			c := *m
			dup, err := s.AddIncoming(&c)
			if err != nil {
				t.Error(err)
				return
			}
			if !dup {
				mu.Lock()
				stored++
				mu.Unlock()
			} else if c.Seq != 0 {
				t.Error("a duplicate got a Seq")
			}
		})
	}
	wg.Wait()
	if stored != 1 {
		t.Errorf("%d of 16 stored, want 1", stored)
	}
	if ms := listAll(t, s); len(ms) != 1 {
		t.Errorf("%d messages stored, want 1", len(ms))
	}
	// The same id from another peer, or in the other direction, is another message.
	other := *m
	other.Peer = random(32)
	addIn(t, s, &other)
	mine := *m
	mine.Seq, mine.Direction, mine.Status = 0, 0, 0
	addOut(t, s, &mine)
	if err := s.AddOutgoing(&mine, []byte("e"), time.Now().Add(time.Hour)); err == nil {
		t.Error("AddOutgoing with an id already used: no error")
	}
}

func TestRestart(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s, err := Open(dir, [][]byte{kek}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	alice := random(32)
	var added []*Message
	for i := range 5 {
		m := message(alice, fmt.Sprint("message ", i))
		addIn(t, s, m)
		added = append(added, m)
	}
	out := message(alice, "out")
	addOut(t, s, out)
	added = append(added, out)
	if err := s.Delete(out.Seq); err != nil { // the newest: its Seq must not come back
		t.Fatal(err)
	}
	added = added[:5]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s = open(t, dir, kek, Options{})
	ms := listAll(t, s)
	if len(ms) != len(added) {
		t.Fatalf("%d messages after restart, want %d", len(ms), len(added))
	}
	for i := range ms {
		equal(t, ms[i], added[i])
	}
	if dup, err := s.AddIncoming(message(alice, "x")); err != nil || dup {
		t.Fatal(dup, err)
	}
	again := *added[2]
	if dup, err := s.AddIncoming(&again); err != nil || !dup {
		t.Errorf("re-adding after restart: dup %v, %v; want a duplicate", dup, err)
	}
	next := message(alice, "next")
	addIn(t, s, next)
	if next.Seq != out.Seq+2 {
		t.Errorf("Seq after restart %d, want %d", next.Seq, out.Seq+2)
	}
}

// snapshot maps every file in dir to a hash of its content.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	files := make(map[string][32]byte)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = sha256.Sum256(data)
	}
	return files
}

func TestWrongKey(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s, err := Open(dir, [][]byte{kek}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := message(random(32), "secret")
	addIn(t, s, m)
	s.Close()

	before := snapshot(t, dir)
	wrong := bytes.Clone(kek)
	wrong[0] ^= 1
	if _, err := Open(dir, [][]byte{wrong}, Options{}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with a wrong key: %v, want ErrWrongKey", err)
	}
	if after := snapshot(t, dir); !maps(before, after) {
		t.Errorf("a wrong key changed the directory:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := Open(dir, [][]byte{kek[:31]}, Options{}); err == nil {
		t.Error("Open with a 31-byte key: no error")
	}
	s = open(t, dir, kek, Options{})
	if got, err := s.Get(m.Seq); err != nil || !bytes.Equal(got.Body, m.Body) {
		t.Errorf("after the wrong key: %v, %v", got, err)
	}
}

func maps(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestMissingOrForeignRootKey(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s, err := Open(dir, [][]byte{kek}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	addIn(t, s, message(random(32), "x"))
	s.Close()

	other, otherKEK := t.TempDir(), random(32)
	o, err := Open(other, [][]byte{otherKEK}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	data, err := os.ReadFile(filepath.Join(other, rootName))
	if err != nil {
		t.Fatal(err)
	}
	mine, err := os.ReadFile(filepath.Join(dir, rootName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rootName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, [][]byte{otherKEK}, Options{}); err == nil || errors.Is(err, ErrWrongKey) {
		t.Errorf("Open with another store's root.key: %v, want a clear error", err)
	}
	if err := os.Remove(filepath.Join(dir, rootName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, [][]byte{kek}, Options{}); err == nil {
		t.Error("Open without root.key: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, rootName), mine, 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, dir, kek, Options{})
}

func TestInUse(t *testing.T) {
	_, dir, kek := newStore(t)
	if _, err := Open(dir, [][]byte{kek}, Options{}); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open of one directory: %v, want it refused", err)
	}
}

func TestBadInput(t *testing.T) {
	s, _, _ := newStore(t)
	peer := random(32)
	for _, tc := range []struct {
		name string
		edit func(*Message)
	}{
		{"short id", func(m *Message) { m.ID = m.ID[:15] }},
		{"no id", func(m *Message) { m.ID = nil }},
		{"short peer", func(m *Message) { m.Peer = m.Peer[:31] }},
		{"no kind", func(m *Message) { m.Kind = 0 }},
		{"long content type", func(m *Message) { m.ContentType = string(make([]byte, 256)) }},
		{"long file name", func(m *Message) { m.FileName = string(make([]byte, 256)) }},
		{"negative time", func(m *Message) { m.Sent = -1 }},
		{"negative expiry", func(m *Message) { m.Expires = -1 }},
		{"wrong direction", func(m *Message) { m.Direction = delivery.Out }},
		{"wrong status", func(m *Message) { m.Status = delivery.Delivered }},
	} {
		m := message(peer, tc.name)
		tc.edit(m)
		if _, err := s.AddIncoming(m); err == nil {
			t.Errorf("AddIncoming with %s: no error", tc.name)
		}
	}
	if _, err := s.AddIncoming(nil); err == nil {
		t.Error("AddIncoming(nil): no error")
	}
	m := message(peer, "x")
	if err := s.AddOutgoing(m, nil, time.Now()); err == nil {
		t.Error("AddOutgoing without an envelope: no error")
	}
	if err := s.AddOutgoing(m, []byte("e"), time.Time{}); err == nil {
		t.Error("AddOutgoing without a deadline: no error")
	}
	if _, err := s.SetStatus(peer, m.ID, delivery.Received); err == nil {
		t.Error("SetStatus to Received: no error")
	}
	if err := s.OutboxDone(1, delivery.Delivered); err == nil {
		t.Error("OutboxDone as Delivered: no error")
	}
	if err := s.OutboxRetry(1, -1, time.Now()); err == nil {
		t.Error("OutboxRetry with -1 attempts: no error")
	}
	if _, err := s.DeleteConversation(peer[:5]); err == nil {
		t.Error("DeleteConversation with a short key: no error")
	}
	if ms := listAll(t, s); len(ms) != 0 {
		t.Errorf("bad input stored %d messages", len(ms))
	}
}

func TestStatus(t *testing.T) {
	s, _, _ := newStore(t)
	bob := random(32)
	m := message(bob, "x")
	addOut(t, s, m)
	changes, cancel := s.Subscribe()
	defer cancel()

	steps := []struct {
		set, want delivery.Status
	}{
		{delivery.Sent, delivery.Sent},
		{delivery.Sent, delivery.Sent},
		{delivery.Delivered, delivery.Delivered},
		{delivery.Sent, delivery.Delivered}, // never backwards
		{delivery.Failed, delivery.Delivered},
	}
	for _, st := range steps {
		got, err := s.SetStatus(bob, m.ID, st.set)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != st.want || got.Body != nil || got.Signed != nil || got.Seq != m.Seq {
			t.Errorf("SetStatus(%s) = %+v, want status %s without body", st.set, got, st.want)
		}
	}
	if got, _ := s.Get(m.Seq); got.Status != delivery.Delivered {
		t.Errorf("stored status %s, want delivered", got.Status)
	}
	// Two status changes, so two changes.
	for range 2 {
		if c := <-changes; c != (Change{Seq: m.Seq, Status: true}) {
			t.Errorf("change %+v", c)
		}
	}
	select {
	case c := <-changes:
		t.Errorf("a change that changed nothing was published: %+v", c)
	default:
	}

	if _, err := s.SetStatus(random(32), m.ID, delivery.Sent); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetStatus for an unknown peer: %v", err)
	}
	if _, err := s.SetStatus(bob, random(16), delivery.Sent); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetStatus for an unknown id: %v", err)
	}
	in := message(bob, "incoming")
	addIn(t, s, in)
	if _, err := s.SetStatus(bob, in.ID, delivery.Delivered); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetStatus of an incoming message: %v, want ErrNotFound", err)
	}

	failed := message(bob, "y")
	addOut(t, s, failed)
	if err := s.OutboxDone(failed.Seq, delivery.Failed); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SetStatus(bob, failed.ID, delivery.Delivered); got.Status != delivery.Failed {
		t.Errorf("Failed became %s", got.Status)
	}

	refused := message(bob, "z")
	addOut(t, s, refused)
	if err := s.OutboxDone(refused.Seq, delivery.Refused); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SetStatus(bob, refused.ID, delivery.Delivered); got.Status != delivery.Refused {
		t.Errorf("Refused became %s", got.Status)
	}
	if got, err := s.Get(refused.Seq); err != nil || got.Status != delivery.Refused {
		t.Errorf("a refused message reads back as %v, %v", got, err)
	}
}

func TestOutbox(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{Now: func() time.Time { return now }})
	bob, carol := random(32), random(32)
	until := now.Add(24 * time.Hour)
	a, b := message(bob, "a"), message(carol, "b")
	if err := s.AddOutgoing(a, []byte("envelope a"), until); err != nil {
		t.Fatal(err)
	}
	if err := s.AddOutgoing(b, []byte("envelope b"), until); err != nil {
		t.Fatal(err)
	}
	addIn(t, s, message(bob, "incoming"))

	out, err := s.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	want := []*Outgoing{
		{Seq: a.Seq, Peer: bob, ID: a.ID, Envelope: []byte("envelope a"), Next: now, Until: until},
		{Seq: b.Seq, Peer: carol, ID: b.ID, Envelope: []byte("envelope b"), Next: now, Until: until},
	}
	checkOutbox(t, out, want)

	next := now.Add(time.Minute)
	if err := s.OutboxRetry(a.Seq, 3, next); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceEnvelope(a.Seq, []byte("resealed a"), []byte("resigned a")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(a.Seq); string(got.Signed) != "resigned a" {
		t.Errorf("signed after ReplaceEnvelope %q, want the new one", got.Signed)
	}
	want[0].Attempts, want[0].Next, want[0].Envelope = 3, next, []byte("resealed a")
	out, _ = s.Outbox()
	checkOutbox(t, out, want)

	if err := s.OutboxDone(b.Seq, delivery.Sent); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(b.Seq); got.Status != delivery.Sent {
		t.Errorf("status after OutboxDone %s, want sent", got.Status)
	}
	for _, err := range []error{
		s.OutboxDone(b.Seq, delivery.Sent),
		s.OutboxRetry(b.Seq, 1, next),
		s.ReplaceEnvelope(b.Seq, []byte("x"), []byte("y")),
		s.OutboxDone(99, delivery.Sent),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("after the entry is done: %v, want ErrNotFound", err)
		}
	}

	// A receipt may beat the acknowledgement: Delivered stays.
	if _, err := s.SetStatus(bob, a.ID, delivery.Delivered); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, kek, Options{})
	out, _ = s.Outbox()
	checkOutbox(t, out, want[:1])
	if err := s.OutboxDone(a.Seq, delivery.Sent); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(a.Seq); got.Status != delivery.Delivered {
		t.Errorf("status %s, want delivered", got.Status)
	}
	if out, _ := s.Outbox(); len(out) != 0 {
		t.Errorf("outbox has %d entries, want none", len(out))
	}
}

func checkOutbox(t *testing.T, got, want []*Outgoing) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("outbox has %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || !bytes.Equal(g.Peer, w.Peer) || !bytes.Equal(g.ID, w.ID) ||
			!bytes.Equal(g.Envelope, w.Envelope) || g.Attempts != w.Attempts || !g.Next.Equal(w.Next) || !g.Until.Equal(w.Until) {
			t.Errorf("outbox entry %d\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestSubscribe(t *testing.T) {
	s, _, _ := newStore(t)
	peer := random(32)
	addIn(t, s, message(peer, "before"))
	changes, cancel := s.Subscribe()

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.AddIncoming(message(peer, "x")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var seqs []uint64
	for range 160 {
		c := <-changes
		if c.Status {
			t.Errorf("unexpected status change %+v", c)
		}
		seqs = append(seqs, c.Seq)
	}
	if !slices.IsSorted(seqs) || seqs[0] != 2 || seqs[159] != 161 {
		t.Errorf("changes out of order or missing: %v", seqs)
	}
	cancel()
	cancel()
	if _, ok := <-changes; ok {
		t.Error("channel open after cancel")
	}

	// A subscriber that doesn't read falls behind and is dropped; writers
	// don't wait for it.
	slow, cancelSlow := s.Subscribe()
	defer cancelSlow()
	fast, cancelFast := s.Subscribe()
	defer cancelFast()
	done := make(chan int)
	go func() {
		n := 0
		for range fast {
			if n++; n == subscriberBuffer+10 {
				break
			}
		}
		done <- n
	}()
	for range subscriberBuffer + 10 {
		if _, err := s.AddIncoming(message(peer, "y")); err != nil {
			t.Fatal(err)
		}
	}
	if n := <-done; n != subscriberBuffer+10 {
		t.Errorf("a reading subscriber got %d changes", n)
	}
	n := 0
	for range slow {
		n++
	}
	if n != subscriberBuffer {
		t.Errorf("the slow subscriber got %d changes before its channel closed, want %d", n, subscriberBuffer)
	}
}

func TestClosed(t *testing.T) {
	s, _, _ := newStore(t)
	peer := random(32)
	m := message(peer, "x")
	addOut(t, s, m)
	changes, _ := s.Subscribe()

	// Writers racing Close either finish or get ErrClosed.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				if _, err := s.AddIncoming(message(peer, "y")); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for range changes {
	}
	_, err := s.AddIncoming(message(peer, "z"))
	errs := []error{err, s.AddOutgoing(message(peer, "z"), []byte("e"), time.Now()),
		s.OutboxDone(m.Seq, delivery.Sent), s.OutboxRetry(m.Seq, 1, time.Now()), s.ReplaceEnvelope(m.Seq, []byte("e"), []byte("s")),
		s.Delete(m.Seq)}
	_, err = s.DeleteConversation(peer)
	errs = append(errs, err)
	_, err = s.SetStatus(peer, m.ID, delivery.Sent)
	errs = append(errs, err)
	_, err = s.ByID(m.ID)
	errs = append(errs, err)
	_, err = s.Get(m.Seq)
	errs = append(errs, err)
	_, err = s.List(0, 1)
	errs = append(errs, err)
	_, err = s.LastSigned(peer)
	errs = append(errs, err)
	_, err = s.Outbox()
	errs = append(errs, err)
	_, err = s.Size()
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call %d after Close: %v, want ErrClosed", i, err)
		}
	}
	if ch, _ := s.Subscribe(); ch != nil {
		if _, ok := <-ch; ok {
			t.Error("Subscribe after Close: open channel")
		}
	}
}

func TestQuota(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	const quota = 256 << 10
	s := open(t, dir, kek, Options{Quota: quota})
	peer := random(32)
	var stored []*Message
	var err error
	for range 1000 {
		m := message(peer, string(random(8<<10)))
		if _, err = s.AddIncoming(m); err != nil {
			break
		}
		stored = append(stored, m)
	}
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("after %d messages of 8 KiB: %v, want ErrQuota", len(stored), err)
	}
	if len(stored) < 10 {
		t.Fatalf("only %d messages fit in %d bytes", len(stored), quota)
	}
	before := listAll(t, s)
	if len(before) != len(stored) {
		t.Fatalf("%d messages stored, %d acknowledged", len(before), len(stored))
	}
	// Concurrent adds at the quota: those that fail change nothing; those
	// that succeed are all there.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 8 {
		wg.Go(func() {
			m := message(peer, string(random(4<<10)))
			_, err := s.AddIncoming(m)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				stored = append(stored, m)
			case !errors.Is(err, ErrQuota):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	after := listAll(t, s)
	if len(after) != len(stored) {
		t.Fatalf("%d messages stored, %d acknowledged", len(after), len(stored))
	}
	for i := range before {
		equal(t, after[i], before[i])
	}
	if size, err := s.Size(); err != nil || size > quota+4096 {
		t.Errorf("Size = %d, %v; quota %d", size, err, quota)
	}
	// Deleting makes room again.
	for _, m := range stored[:5] {
		if err := s.Delete(m.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddIncoming(message(peer, string(random(8<<10)))); err != nil {
		t.Errorf("after deleting: %v", err)
	}
}

// Read marks apply to received messages only, once, survive a restart, and
// are published as changes.
func TestMarkRead(t *testing.T) {
	s, dir, kek := newStore(t)
	peer := random(wire.KeySize)
	in1, in2, out := message(peer, "one"), message(peer, "two"), message(peer, "mine")
	addIn(t, s, in1)
	addIn(t, s, in2)
	addOut(t, s, out)
	ch, unsubscribe := s.Subscribe()
	defer unsubscribe()
	n, err := s.MarkRead([]uint64{in1.Seq, out.Seq, 0, 99999, in1.Seq})
	if err != nil || n != 1 {
		t.Fatalf("MarkRead = %d, %v; want 1 marked", n, err)
	}
	if c := <-ch; c.Seq != in1.Seq || !c.Status || !c.Read {
		t.Fatalf("change %+v, want a read mark of %d", c, in1.Seq)
	}
	if h, err := s.Head(in1.Seq); err != nil || !h.Read || h.Body != nil || !bytes.Equal(h.ID, in1.ID) {
		t.Fatalf("Head = %+v, %v; want the read message without its body", h, err)
	}
	if n, err := s.MarkRead([]uint64{in1.Seq}); err != nil || n != 0 {
		t.Fatalf("marking again = %d, %v; want 0", n, err)
	}
	s.Close()
	s = open(t, dir, kek, Options{})
	for _, c := range []struct {
		seq  uint64
		read bool
	}{{in1.Seq, true}, {in2.Seq, false}, {out.Seq, false}} {
		m, err := s.Get(c.seq)
		if err != nil || m.Read != c.read {
			t.Fatalf("message %d: read %v, %v; want %v", c.seq, m.Read, err, c.read)
		}
	}
}

// TestHold: what is queued while the store is held commits in one
// transaction once it is released, and a hold never keeps the writer
// longer than holdMax.
func TestHold(t *testing.T) {
	s, _, _ := newStore(t)
	defer func(d time.Duration) { holdMax = d }(holdMax)
	holdMax = time.Minute // long enough for any machine: release ends it
	peer := random(32)
	before := s.commits.Load()
	release := s.Hold()
	const n = 20
	queued := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.AddOutgoingQueued(message(peer, fmt.Sprint(i)), []byte("e"), time.Now().Add(time.Hour), func() { queued <- struct{}{} }); err != nil {
				t.Error(err)
			}
		})
	}
	for range n {
		<-queued
	}
	release()
	wg.Wait()
	if got := s.commits.Load() - before; got != 1 {
		t.Errorf("%d messages queued while held took %d transactions, want 1", n, got)
	}

	holdMax = 20 * time.Millisecond
	release = s.Hold()
	defer release()
	start := time.Now()
	addOut(t, s, message(peer, "held"))
	if took := time.Since(start); took < holdMax {
		t.Errorf("a write committed %v after it came, while held: want at least %v", took, holdMax)
	}
}
