package host

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// queuedWhileDown makes alice and bob contacts, has alice send bob n
// messages, all but the first while his host is down, starts it again, and
// checks that he holds them once each, in order, without a warning.
func queuedWhileDown(t *testing.T, alice, bob *user, n int) {
	t.Helper()
	alice.addContact(contactOf(bob, "bob"))
	bob.addContact(contactOf(alice, "alice"))
	d := alice.device()
	d.send("bob", "0") // alice's host learns bob's record
	bob.stop()
	for i := 1; i < n; i++ {
		d.send("bob", fmt.Sprint(i))
	}
	bob.start()
	eventually(t, "bob to hold every message", func() bool { return len(bob.incoming(alice)) == n })
	for i, m := range bob.incoming(alice) {
		if string(m.Body) != fmt.Sprint(i) || len(m.Warnings) > 0 {
			t.Fatalf("bob's message %d is %q with warnings %v, want %d", i, m.Body, m.Warnings, i)
		}
	}
}

// TestBatchedDeliveries: what queued for bob while his host was down goes
// in batches once it is back, and is stored once each, in the order it
// was sent, without a warning.
func TestBatchedDeliveries(t *testing.T) {
	alice := newUser(t, "alice").start()
	bob := newUser(t, "bob").start()
	queuedWhileDown(t, alice, bob, 150)
	if !bob.logHas(`msg="a batch of deliveries"`) {
		t.Errorf("no batch came:\n%s", bob.log)
	}
	eventually(t, "every message to be delivered", func() bool {
		for _, m := range alice.messages() {
			if m.Direction == delivery.Out && m.Kind == wire.KindText && m.Status != delivery.Delivered {
				return false
			}
		}
		return true
	})
}

// TestBatchRefused: a host that answers a batch as malformed (one from
// before batches) gets the same messages one a request, in order.
func TestBatchRefused(t *testing.T) {
	alice := newUser(t, "alice").start()
	bob := newUser(t, "bob")
	bob.cfg.refuseBatches = true
	bob.start()
	queuedWhileDown(t, alice, bob, 20)
	if !alice.logHas("the peer's host takes no batches") || !bob.logHas("delivery refused: malformed request") {
		t.Errorf("no batch was refused:\nalice:\n%s\nbob:\n%s", alice.log, bob.log)
	}
	if bob.logHas(`msg="a batch of deliveries"`) {
		t.Errorf("bob took a batch:\n%s", bob.log)
	}
}

// TestBatchAnswersEach: a batch's deliveries are answered each as it would
// be alone: stored, a duplicate, and one that does not open.
func TestBatchAnswersEach(t *testing.T) {
	bob := newUser(t, "bob").start()
	carol := newPeer(t)
	now := time.Now()
	first, second := carol.seal(bob, "one", now), carol.seal(bob, "two", now)
	garbage := slices.Clone(second)
	garbage[len(garbage)-1] ^= 1
	resp := carol.request(carol.conn(bob, transport.Config{}), (&wire.HostRequest{Op: wire.OpDeliverBatch, Batch: []wire.BatchItem{
		{Envelope: first}, {Envelope: garbage}, {Envelope: second}, {Envelope: first},
	}}).Encode())
	if resp.Status != wire.StatusStored || len(resp.Results) != 4 {
		t.Fatalf("answer %+v", resp)
	}
	got := []wire.HostStatus{resp.Results[0].Status, resp.Results[1].Status, resp.Results[2].Status, resp.Results[3].Status}
	// The two copies of the first go at once: either is the one stored.
	if got[1] != wire.StatusInvalid || got[2] != wire.StatusStored ||
		!slices.Contains(got, wire.StatusDuplicate) || got[0] == got[3] || !slices.Contains([]wire.HostStatus{wire.StatusStored, wire.StatusDuplicate}, got[0]) {
		t.Errorf("results %v, want one of the first's copies stored and the other a duplicate, invalid, stored", got)
	}
	var bodies []string
	for _, m := range bob.messages() {
		bodies = append(bodies, string(m.Body))
	}
	slices.Sort(bodies)
	if !slices.Equal(bodies, []string{"one", "two"}) {
		t.Errorf("bob holds %q", bodies)
	}
}

// TestBatchCostsEachDelivery: a batch takes a token of the peer's rate for
// each delivery in it, so batches are no way round the limit.
func TestBatchCostsEachDelivery(t *testing.T) {
	bob := newUser(t, "bob")
	bob.cfg.PeerRate, bob.cfg.PeerBurst = 1, 8
	bob.start()
	carol := newPeer(t)
	c := carol.conn(bob, transport.Config{})
	batch := func(n int) *wire.HostResponse {
		req := &wire.HostRequest{Op: wire.OpDeliverBatch}
		for i := range n {
			req.Batch = append(req.Batch, wire.BatchItem{Envelope: carol.seal(bob, fmt.Sprint(i), time.Now())})
		}
		return carol.request(c, req.Encode())
	}
	if r := batch(12); r.Status != wire.StatusBusy || r.Results != nil {
		t.Errorf("a batch of 12 over a burst of 8: %+v, want busy", r)
	}
	if r := batch(6); r.Status != wire.StatusStored || len(r.Results) != 6 {
		t.Errorf("a batch of 6: %+v, want stored", r)
	}
	if r := batch(4); r.Status != wire.StatusBusy {
		t.Errorf("a batch of 4 with 1 token left: %+v, want busy", r)
	}
	if n := len(bob.messages()); n != 6 {
		t.Errorf("bob holds %d messages, want 6", n)
	}
}

// TestBatches: the deliverer puts small envelopes in batches in their
// order, and a streamed body, or a large envelope, alone.
func TestBatches(t *testing.T) {
	small := func(seq uint64) *store.Outgoing { return &store.Outgoing{Seq: seq, Envelope: make([]byte, 2000)} }
	streamed := &store.Outgoing{Seq: 3, Envelope: make([]byte, 2000), Size: 5 << 20}
	large := &store.Outgoing{Seq: 5, Envelope: make([]byte, batchBytes/2+1)}
	var start []*store.Outgoing
	start = append(start, small(1), small(2), streamed, small(4), large, small(6))
	for seq := uint64(7); seq < 7+wire.MaxBatch+1; seq++ {
		start = append(start, small(seq))
	}
	if got, want := unitSizes(t, batches(start, false)), []int{2, 1, 1, 1, wire.MaxBatch, 2}; !slices.Equal(got, want) {
		t.Errorf("units of %v, want %v", got, want)
	}
	for _, n := range unitSizes(t, batches(start, true)) {
		if n != 1 {
			t.Fatalf("a batch for a peer that takes none")
		}
	}
	// batchBytes bounds a batch.
	var big []*store.Outgoing
	for seq := range uint64(10) {
		big = append(big, &store.Outgoing{Seq: seq, Envelope: make([]byte, batchBytes/4)})
	}
	if got := unitSizes(t, batches(big, false)); !slices.Equal(got, []int{4, 4, 2}) {
		t.Errorf("units of %v, want 4, 4, 2", got)
	}
}

// unitSizes returns the sizes of units, after checking that they hold
// their entries in order.
func unitSizes(t *testing.T, units [][]*store.Outgoing) (n []int) {
	t.Helper()
	var seqs []uint64
	for _, u := range units {
		n = append(n, len(u))
		for _, o := range u {
			seqs = append(seqs, o.Seq)
		}
	}
	if !slices.IsSorted(seqs) {
		t.Errorf("entries out of order: %v", seqs)
	}
	return n
}
