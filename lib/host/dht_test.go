package host

import (
	"context"
	"errors"
	"testing"
	"time"

	"smvs/lib/bep44"
	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/dht"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// dhtNetwork starts a private DHT of n nodes on 127.0.0.1, stopped when
// the test ends, and returns the nodes and their addresses.
func dhtNetwork(t testing.TB, n int) ([]*dht.Node, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := dht.StartLocal(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, node := range nodes {
		t.Cleanup(node.Close)
		addrs = append(addrs, node.Addr().String())
	}
	return nodes, addrs
}

// dhtUser is a user whose host uses only the DHT: no directory at all.
func dhtUser(t *testing.T, name string, boot []string) *user {
	u := newUser(t, name)
	u.cfg.DHT = DHTOnly
	u.cfg.DHTNode = dht.Config{Listen: "127.0.0.1:0", Bootstrap: boot}
	return u
}

// TestDHTOnly sends between two hosts with no directory: each finds the
// other's host through the DHT by key alone. bob's host moves to another
// port and republishes; alice's next message follows him there.
func TestDHTOnly(t *testing.T) {
	_, boot := dhtNetwork(t, 8)
	alice := dhtUser(t, "", boot).start()
	bob := dhtUser(t, "", boot).start()
	// Contacts by key only: no host= for either.
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key()})
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key()})
	eventually(t, "both published", func() bool {
		return alice.logHas("published the record's pointer in the DHT") && bob.logHas("published the record's pointer in the DHT")
	})

	d := alice.device()
	if s := d.status(d.send("bob", "through the DHT").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v, want delivered\n%s", s, alice.log)
	}
	b := bob.device()
	if s := b.status(b.send("alice", "and back").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("bob's reply: status %v", s)
	}

	// bob moves: another port, a new record, a new pointer.
	old := bob.host.Addr().String()
	bob.stop()
	bob.log.reset()
	bob.cfg.Listen = "127.0.0.1:0"
	bob.start()
	if bob.host.Addr().String() == old {
		t.Fatal("bob's host did not move")
	}
	eventually(t, "bob republished", func() bool { return bob.logHas("published the record's pointer in the DHT") })
	if s := d.status(d.send("bob", "where are you now?").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("after bob moved: status %v\n%s", s, alice.log)
	}
	if ms := bob.incoming(alice); len(ms) != 2 || string(ms[1].Body) != "where are you now?" {
		t.Fatalf("bob has %d messages from alice", len(ms))
	}
}

// TestDHTRefusesWrongRecord checks that a record the item does not name
// is refused: a pointer (signed by bob's key, so the DHT takes it) whose
// hash is not that of the record bob's host serves, as a host serving
// another record than its owner published would look; and a pointer to a
// host that is not bob's.
func TestDHTRefusesWrongRecord(t *testing.T) {
	nodes, boot := dhtNetwork(t, 8)
	alice := dhtUser(t, "", boot).start()
	bob := dhtUser(t, "", boot).start()
	eventually(t, "bob published", func() bool { return bob.logHas("published the record's pointer in the DHT") })
	bob.host.selfMu.Lock()
	rec := bob.host.self
	bob.host.selfMu.Unlock()

	// A pointer with seq above the record's and another hash.
	p := wire.PointTo(rec, []byte("another record"))
	p.RecordSeq = rec.Seq + 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := nodes[3].Publish(ctx, bob.keys.Signer(), []byte(wire.DHTSalt), int64(p.RecordSeq), bep44.String(p.Encode())); err != nil {
		t.Fatal(err)
	}
	_, err := dhtDirectory{alice.host.peers}.LookupKey(ctx, bob.key())
	if !errors.Is(err, wire.ErrDHTMismatch) {
		t.Fatalf("a record other than the item names: %v", err)
	}

	// An item whose seq is not its pointer's record seq.
	p = wire.PointTo(rec, nil)
	p.RecordSeq = rec.Seq + 4
	if _, err := nodes[4].Publish(ctx, bob.keys.Signer(), []byte(wire.DHTSalt), int64(rec.Seq+3), bep44.String(p.Encode())); err != nil {
		t.Fatal(err)
	}
	if _, err := (dhtDirectory{alice.host.peers}).LookupKey(ctx, bob.key()); !errors.Is(err, wire.ErrDHTMismatch) {
		t.Fatalf("an item and a pointer of other seqs: %v", err)
	}

	// A pointer to another user's host: it can't prove bob's key.
	carol := newUser(t, "").start()
	p = wire.PointTo(rec, nil)
	p.Host, p.RecordSeq = carol.host.Addr().String(), rec.Seq+5
	if _, err := nodes[5].Publish(ctx, bob.keys.Signer(), []byte(wire.DHTSalt), int64(p.RecordSeq), bep44.String(p.Encode())); err != nil {
		t.Fatal(err)
	}
	if _, err := (dhtDirectory{alice.host.peers}).LookupKey(ctx, bob.key()); !errors.As(err, new(*transport.KeyMismatchError)) {
		t.Fatalf("a host that is not bob's: %v", err)
	}
}

// TestDHTRollback checks that a record from the DHT older than one alice
// saw is refused as a rollback, as from a directory: her contacts file
// says she saw bob's record at a higher sequence number.
func TestDHTRollback(t *testing.T) {
	_, boot := dhtNetwork(t, 8)
	alice := dhtUser(t, "", boot).start()
	bob := dhtUser(t, "", boot).start()
	eventually(t, "bob published", func() bool { return bob.logHas("published the record's pointer in the DHT") })
	bob.host.selfMu.Lock()
	seq := bob.host.self.Seq
	bob.host.selfMu.Unlock()
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Seq: seq + 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := alice.host.peers.resolve(ctx, "bob", true)
	if !errors.As(err, new(*contacts.RollbackError)) {
		t.Fatalf("a record older than one seen: %v", err)
	}
	// At the sequence number seen, it is taken.
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Seq: seq})
	if res, err := alice.host.peers.resolve(ctx, "bob", true); err != nil || res.Directory != "the DHT" {
		t.Fatalf("the record seen: %+v, %v", res, err)
	}
}
