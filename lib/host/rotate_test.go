package host

import (
	"bytes"
	"context"
	"testing"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/identity"
	"smvs/lib/record"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// contactOf is a contact line for u's key and host under name.
func contactOf(u *user, name string) contacts.Contact {
	return contacts.Contact{Name: name, Key: u.key(), Host: u.host.Addr().String()}
}

func TestKEMRotation(t *testing.T) {
	clk := new(clock)
	dir := newDirectory(t, clk)
	bob := newUser(t, "bob", dir)
	bob.cfg.Now = clk.Now
	bob.start()
	oldRec, err := wire.VerifyRecord(bob.host.Record())
	if err != nil {
		t.Fatal(err)
	}
	carol := newPeer(t)
	old := carol.seal(bob, "sealed to the old key", clk.Now())

	// Nothing to do while the key has more than the grace period left.
	if rotated, _, _ := bob.host.checkKEM(false); rotated {
		t.Fatal("rotated a fresh key")
	}
	// 24 days on, the 30-day key has 6 left: a new key, saved and published.
	clk.advance(24 * 24 * time.Hour)
	bob.host.maintain(context.Background())
	newRec, err := wire.VerifyRecord(bob.host.Record())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(newRec.KEM.ID, oldRec.KEM.ID) || newRec.Seq <= oldRec.Seq {
		t.Fatalf("record after rotation: KEM %x seq %d, was %x seq %d", newRec.KEM.ID, newRec.Seq, oldRec.KEM.ID, oldRec.Seq)
	}
	published, err := record.Current(context.Background(), bob.cfg.Directories, bob.key())
	if err != nil || published == nil || !bytes.Equal(published.KEM.ID, newRec.KEM.ID) {
		t.Fatalf("the directory serves %+v, %v", published, err)
	}
	saved, err := identity.ReadFile(bob.idPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Destroy()
	if k, err := saved.CurrentKEM(clk.Now()); err != nil || !bytes.Equal(k.ID(), newRec.KEM.ID) {
		t.Fatalf("saved identity's KEM key: %v", err)
	}
	if _, err := saved.KEMKey(oldRec.KEM.ID, clk.Now()); err != nil {
		t.Fatalf("the saved identity lost the old key within its grace: %v", err)
	}

	// Within the grace period the old key still opens.
	c := carol.conn(bob, transport.Config{})
	if r := carol.deliver(c, old); r.Status != wire.StatusStored {
		t.Fatalf("old envelope within grace: %v", r.Status)
	}
	if r := carol.deliver(c, carol.seal(bob, "to the new key", clk.Now())); r.Status != wire.StatusStored {
		t.Fatalf("new envelope: %v", r.Status)
	}
	// After it, the old key is destroyed and its envelopes are stale.
	clk.advance(7 * 24 * time.Hour)
	bob.host.maintain(context.Background())
	if r := carol.deliver(c, old); r.Status != wire.StatusStaleKEMKey {
		t.Fatalf("old envelope after grace: %v", r.Status)
	}
	if !bob.logHas("msg=\"new KEM key\"", "msg=\"destroyed expired KEM keys\"") {
		t.Errorf("log:\n%s", bob.log)
	}
}

func TestResealAfterStaleKEMKey(t *testing.T) {
	alice := newUser(t, "").start()
	bob := newUser(t, "").start()
	alice.addContact(contactOf(bob, "bob"))
	bob.addContact(contactOf(alice, "alice"))
	d := alice.device()
	if s := d.status(d.send("bob", "first").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v", s)
	}
	// bob's host loses the KEM key alice's cached record names (as if
	// rotated with no grace), and makes a new record.
	now := bob.host.now()
	if _, err := bob.keys.RotateKEM(now, identity.DefaultKEMLifetime, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.keys.PruneKEM(now.Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.host.refreshRecord(context.Background(), publishRequest{}); err != nil {
		t.Fatal(err)
	}

	id := d.send("bob", "second").ID
	if s := d.status(id, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v, want delivered", s)
	}
	if !alice.logHas("re-sealed to the peer's new KEM key") {
		t.Errorf("alice's log:\n%s", alice.log)
	}
	if n := len(bob.incoming(alice)); n != 2 {
		t.Errorf("bob stored %d messages", n)
	}
	// Both know the re-sealed message by its new hash: the next message
	// chains to it with no gap, and the fingerprints agree.
	if s := d.status(d.send("bob", "third").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v", s)
	}
	for body, w := range bob.warnings() {
		if len(w) > 0 {
			t.Errorf("bob's %q has warnings %v", body, w)
		}
	}
	if a, b := alice.fingerprint("bob", 0), bob.fingerprint("alice", 0); !bytes.Equal(a.Hash, b.Hash) || a.Messages != 3 {
		t.Errorf("fingerprints after a re-seal: %+v and %+v", a, b)
	}
}
