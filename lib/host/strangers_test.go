package host

import (
	"strings"
	"testing"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// TestStrangersShareRate: many fresh keys, each well under its own rate,
// together hit the one rate strangers share and are told so as busy
// (retry later), while a contact, and the strangers' own rate untouched,
// still gets every message through.
func TestStrangersShareRate(t *testing.T) {
	bob := newUser(t, "")
	// One a minute after a burst of 5: however slow the machine, the loop
	// ends long before that refills much.
	const rate, burst = 1.0 / 60, 5
	bob.cfg.StrangerRate, bob.cfg.StrangerBurst = rate, burst
	bob.start()
	friend := newPeer(t)
	bob.addContact(contacts.Contact{Name: "friend", Key: friend.key()})
	fc := friend.conn(bob, transport.Config{})

	const strangers = 24
	stored, busy := 0, 0
	start := time.Now()
	for i := range strangers {
		p := newPeer(t)
		c := p.conn(bob, transport.Config{})
		r := p.deliver(c, p.seal(bob, "hello from a fresh key", time.Now()))
		c.Close() // under the host's cap on connections from one address
		switch {
		case r.Status == wire.StatusStored:
			stored++
		case r.Status == wire.StatusBusy && strings.Contains(r.Message, "too many deliveries from strangers"):
			busy++
		default:
			t.Fatalf("stranger %d: %v %q", i, r.Status, r.Message)
		}
		// The contact gets through all along.
		if r := friend.deliver(fc, friend.seal(bob, "from a contact", time.Now())); r.Status != wire.StatusStored {
			t.Fatalf("the contact, after %d strangers: %v %q", i+1, r.Status, r.Message)
		}
	}
	took := time.Since(start)
	t.Logf("of %d fresh keys, %d stored and %d refused as busy in %v", strangers, stored, busy, took)
	if most := burst + 1 + int(took.Seconds()*rate); stored > most || stored+busy != strangers {
		t.Errorf("of %d fresh keys in %v, %d stored (at most %d) and %d refused as busy", strangers, took, stored, most, busy)
	}
	if !bob.logHas("too many deliveries from strangers") {
		t.Errorf("no log line:\n%s", bob.log)
	}
	if n := len(bob.incoming(&user{id: friend.id})); n != strangers {
		t.Errorf("bob has %d messages from the contact, want %d", n, strangers)
	}
}

// TestSharedLimit checks the in-flight cap and the bucket of a shared
// limit, and that a nil one limits nothing.
func TestSharedLimit(t *testing.T) {
	l := newSharedLimit(1000, 1000, 2)
	for range 2 {
		if ok, over := l.begin(); !ok {
			t.Fatalf("refused under the cap: %s", over)
		}
	}
	if ok, over := l.begin(); ok || !strings.Contains(over, "in flight") {
		t.Fatalf("a third in flight: %v %q", ok, over)
	}
	l.end()
	if ok, _ := l.begin(); !ok {
		t.Fatal("refused after one ended")
	}
	l = newSharedLimit(0.001, 2, 100)
	for range 2 {
		if ok, _ := l.begin(); !ok {
			t.Fatal("refused within the burst")
		}
		l.end()
	}
	if ok, over := l.begin(); ok || !strings.Contains(over, "a second") {
		t.Fatalf("past the burst: %v %q", ok, over)
	}
	var off *sharedLimit = newSharedLimit(NoLimit, 0, 0)
	for range 100 {
		if ok, _ := off.begin(); !ok {
			t.Fatal("no limit refused")
		}
	}
	off.end()
}

// strangerMessage is the body strangers send in TestStrangerQuota: 4 KiB,
// which the store counts about twice (body and signed bytes).
var strangerMessage = strings.Repeat("s", 4<<10)

// fill has p deliver strangerMessage until bob refuses one, at most max
// times, and returns how many were stored and the refusal.
func fill(t *testing.T, bob *user, p *peer, c *transport.Conn, max int) (int, *wire.HostResponse) {
	t.Helper()
	for i := range max {
		r := p.deliver(c, p.seal(bob, strangerMessage, time.Now()))
		if r.Status != wire.StatusStored {
			return i, r
		}
	}
	t.Fatalf("%d messages of %d bytes stored, none refused", max, len(strangerMessage))
	return 0, nil
}

// TestStrangerQuota: a stranger past its own quota is refused with
// StatusQuota and a reason, while a contact is not; strangers together
// stop at the total; deleting a stranger's messages frees its quota; and
// a stranger who becomes a contact no longer counts, for itself or for the
// total.
func TestStrangerQuota(t *testing.T) {
	bob := newUser(t, "")
	bob.cfg.StrangerKeyQuota, bob.cfg.StrangerQuota = 40<<10, 100<<10
	bob.start()
	friend := newPeer(t)
	bob.addContact(contacts.Contact{Name: "friend", Key: friend.key()})

	// carol, a stranger, fills her own quota: 40 KiB is about 8 of these,
	// each counted once (its signed bytes hold the body) with its row.
	carol := newPeer(t)
	cc := carol.conn(bob, transport.Config{})
	n, r := fill(t, bob, carol, cc, 20)
	if n < 6 || n > 9 || r.Status != wire.StatusQuota || !strings.Contains(r.Message, "not a contact") {
		t.Fatalf("carol: %d stored, then %v %q", n, r.Status, r.Message)
	}
	if held := bob.host.store.Received(carol.key().Bytes()); held > 40<<10 {
		t.Errorf("carol holds %d bytes, over her quota of %d", held, 40<<10)
	}
	// A contact is never counted: 100 KiB is more than all strangers may
	// hold.
	fc := friend.conn(bob, transport.Config{})
	for i := range 12 {
		if r := friend.deliver(fc, friend.seal(bob, strings.Repeat("f", 8<<10), time.Now())); r.Status != wire.StatusStored {
			t.Fatalf("the contact's message %d: %v %q", i, r.Status, r.Message)
		}
	}

	// Strangers together stop at 100 KiB: dave fills his, erin stops
	// short of hers.
	dave, erin := newPeer(t), newPeer(t)
	dc, ec := dave.conn(bob, transport.Config{}), erin.conn(bob, transport.Config{})
	if _, r := fill(t, bob, dave, dc, 20); r.Status != wire.StatusQuota || !strings.Contains(r.Message, "not a contact") {
		t.Fatalf("dave: %v %q", r.Status, r.Message)
	}
	n, r = fill(t, bob, erin, ec, 20)
	if r.Status != wire.StatusQuota || !strings.Contains(r.Message, "too much stored from strangers") {
		t.Fatalf("erin, after %d: %v %q", n, r.Status, r.Message)
	}
	if held := bob.host.strangersHeld(); held > 100<<10 {
		t.Errorf("strangers hold %d bytes, over their quota of %d", held, 100<<10)
	}
	if !bob.logHas("over the quota for strangers") {
		t.Errorf("no log line:\n%s", bob.log)
	}
	// A contact still gets through.
	if r := friend.deliver(fc, friend.seal(bob, "still here", time.Now())); r.Status != wire.StatusStored {
		t.Fatalf("the contact, with strangers over quota: %v %q", r.Status, r.Message)
	}

	// Deleting carol's messages, as smvs-rm does, frees her quota and
	// the total.
	var seqs []uint64
	for _, m := range bob.incoming(&user{id: carol.id}) {
		seqs = append(seqs, m.Seq)
	}
	if _, err := bob.device().do(&hostapi.Request{Op: hostapi.OpDelete, Delete: &hostapi.Delete{Seqs: seqs}}); err != nil {
		t.Fatalf("deleting carol's messages: %v", err)
	}
	if held := bob.host.store.Received(carol.key().Bytes()); held != 0 {
		t.Fatalf("carol holds %d bytes after her messages were deleted", held)
	}
	if r := carol.deliver(cc, carol.seal(bob, strangerMessage, time.Now())); r.Status != wire.StatusStored {
		t.Fatalf("carol, after her messages were deleted: %v %q", r.Status, r.Message)
	}

	// dave becomes a contact: at once he is past his old quota, and what
	// he holds no longer counts for strangers, so erin gets through too.
	bob.addContact(contacts.Contact{Name: "dave", Key: dave.key()})
	for range 6 {
		if r := dave.deliver(dc, dave.seal(bob, strangerMessage, time.Now())); r.Status != wire.StatusStored {
			t.Fatalf("dave, a contact, past his old quota: %v %q", r.Status, r.Message)
		}
	}
	if r := erin.deliver(ec, erin.seal(bob, strangerMessage, time.Now())); r.Status != wire.StatusStored {
		t.Fatalf("erin, once dave no longer counts: %v %q", r.Status, r.Message)
	}
}

// TestStrangerLimitsOff: NoLimit turns each limit off, and zero takes the
// default. With no quota for each key, one stranger goes on to the total.
func TestStrangerLimitsOff(t *testing.T) {
	cfg := newUser(t, "").cfg
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.StrangerRate != DefaultStrangerRate || cfg.StrangerBurst != DefaultStrangerBurst ||
		cfg.StrangerStreams != DefaultStrangerStreams || cfg.StrangerQuota != DefaultStrangerQuota ||
		cfg.StrangerKeyQuota != DefaultStrangerKeyQuota {
		t.Errorf("defaults: %+v", cfg)
	}
	if newSharedLimit(NoLimit, 0, 0) != nil {
		t.Error("a shared limit of rate NoLimit limits")
	}
	q := newStrangerQuota(NoLimit, NoLimit)
	huge := func() int64 { return 1 << 50 }
	if ok, over := q.reserve(newPeer(t).key(), 1<<40, huge, huge); !ok {
		t.Errorf("no quota refused: %s", over)
	}
	cfg.StrangerRate = -2
	if err := cfg.setDefaults(); err == nil {
		t.Error("a stranger rate of -2 taken")
	}

	bob := newUser(t, "")
	bob.cfg.StrangerKeyQuota, bob.cfg.StrangerQuota = NoLimit, 60<<10
	bob.start()
	carol := newPeer(t)
	n, r := fill(t, bob, carol, carol.conn(bob, transport.Config{}), 20)
	if n < 5 || r.Status != wire.StatusQuota || !strings.Contains(r.Message, "too much stored from strangers") {
		t.Fatalf("carol, with no quota for each key: %d stored, then %v %q", n, r.Status, r.Message)
	}
}

// TestStrangerQuotaSender: the sending host marks a message the peer's
// host refused for its strangers' quota refused, and logs why.
func TestStrangerQuotaSender(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir)
	bob.cfg.StrangerKeyQuota = 1 // nothing from a stranger fits
	bob.start()
	d := alice.device()
	if s := d.status(d.send("bob", "hello").ID, waitFor); s != delivery.Refused {
		t.Fatalf("a message over the peer's quota for strangers: %v, want refused", s)
	}
	if !alice.logHas("its quota is full", "not a contact") {
		t.Errorf("alice's log does not say why:\n%s", alice.log)
	}
	// Once bob adds alice, she gets through.
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key()})
	if s := d.status(d.send("bob", "hello again").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("to bob, who added alice: %v", s)
	}
}
