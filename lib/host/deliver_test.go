package host

import (
	"bytes"
	"net"
	"slices"
	"testing"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// queued returns how many deliveries to u's peer are under way, and how
// many wait in its queue.
func (u *user) queued(peer *user) (inflight, pending int) {
	d := u.host.out
	d.mu.Lock()
	defer d.mu.Unlock()
	if q := d.queues[peer.key()]; q != nil {
		return len(q.flying), len(q.pending)
	}
	return 0, 0
}

// TestHoldEndsDeliveriesInFlight: a hold (a rotation re-sealing a peer's
// entries) does not wait for a delivery stuck on an address that no longer
// answers; it ends it and puts it back, and it goes once released.
func TestHoldEndsDeliveriesInFlight(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key()})
	d := alice.device()
	if s := d.status(d.send("bob", "first").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("the first message: %v, want delivered", s)
	}
	bob.stop()
	// bob's address swallows every packet: a delivery there waits for its
	// handshake to time out (10 s).
	hole, err := net.ListenPacket("udp", bob.cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	id := d.send("bob", "stuck").ID
	eventually(t, "the delivery to bob to be under way", func() bool {
		n, _ := alice.queued(bob)
		return n > 0
	})

	release := alice.host.out.hold(bob.key())
	if n, pending := alice.queued(bob); n != 0 || pending != 1 {
		t.Errorf("after the hold: %d deliveries under way, %d waiting; want 0 and the one put back", n, pending)
	}
	if alice.logHas("timed out") {
		t.Errorf("the hold waited for the handshake to time out:\n%s", alice.log)
	}
	hole.Close()
	release()
	bob.start()
	if s := d.status(id, waitFor); s != delivery.Delivered {
		t.Fatalf("the message held: %v, want delivered\nalice's log:\n%s", s, alice.log)
	}
}

func TestQueueTakesInOrder(t *testing.T) {
	now := time.Now()
	entry := func(seq uint64, in time.Duration) *store.Outgoing {
		return &store.Outgoing{Seq: seq, Next: now.Add(in)}
	}
	seqs := func(os []*store.Outgoing) []uint64 {
		var out []uint64
		for _, o := range os {
			out = append(out, o.Seq)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		pending  []*store.Outgoing
		inflight int
		window   int
		start    []uint64
		left     []uint64
		wait     time.Duration
	}{
		{"all due", []*store.Outgoing{entry(1, 0), entry(2, 0), entry(3, 0)}, 0, 64, []uint64{1, 2, 3}, nil, time.Hour},
		{"the window", []*store.Outgoing{entry(1, 0), entry(2, 0), entry(3, 0)}, 1, 2, []uint64{1}, []uint64{2, 3}, time.Hour},
		// An entry backing off holds those after it, due or not: the
		// peer's host would get them before it.
		{"an older one not due", []*store.Outgoing{entry(1, 0), entry(2, time.Second), entry(3, 0)}, 0, 64, []uint64{1}, []uint64{2, 3}, time.Second},
		{"the oldest not due", []*store.Outgoing{entry(1, 2*time.Second), entry(2, 0)}, 0, 64, nil, []uint64{1, 2}, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &peerQueue{pending: tc.pending, flying: make(map[uint64]flight)}
			for i := range tc.inflight {
				q.flying[uint64(100+i)] = flight{entry(uint64(100+i), 0), func() {}}
			}
			start, wait := q.take(now, tc.window)
			if !slices.Equal(seqs(start), tc.start) || !slices.Equal(seqs(q.pending), tc.left) || wait != tc.wait {
				t.Errorf("take: started %v, left %v, wait %v; want %v, %v, %v", seqs(start), seqs(q.pending), wait, tc.start, tc.left, tc.wait)
			}
		})
	}
}

// TestQueueAfter: a delivery names the newest older text or file message
// in flight or queued to the same peer; receipts and the like are not
// stored as messages of the conversation, and are never named.
func TestQueueAfter(t *testing.T) {
	entry := func(seq uint64, kind wire.Kind) *store.Outgoing {
		return &store.Outgoing{Seq: seq, Kind: kind, ID: []byte{byte(seq)}}
	}
	q := &peerQueue{flying: map[uint64]flight{
		1: {entry(1, wire.KindText), func() {}},
		3: {entry(3, wire.KindReceipt), func() {}},
	}, pending: []*store.Outgoing{entry(5, wire.KindFile), entry(7, wire.KindText), entry(9, wire.KindDelete)}}
	for seq, want := range map[uint64][]byte{1: nil, 2: {1}, 5: {1}, 7: {5}, 9: {7}, 11: {7}} {
		if got := q.after(seq); !bytes.Equal(got, want) {
			t.Errorf("after(%d) = %v, want %v", seq, got, want)
		}
	}
}
