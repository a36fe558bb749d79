package host

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// relayWorld is alice, bob, whose host is reached only through carol's
// host (his record names it), and carol, who relays for him.
func relayWorld(t *testing.T) (alice, bob, carol *user) {
	t.Helper()
	dir := newDirectory(t, nil)
	alice = newUser(t, "alice", dir)
	bob = newUser(t, "bob", dir)
	carol = newUser(t, "carol", dir)
	carol.cfg.RelayFor = []identity.PublicKey{bob.key()}
	carol.start()
	bob.cfg.Relay = &Relay{Key: carol.key(), Addr: carol.host.Addr().String()}
	bob.start()
	alice.start()
	return alice, bob, carol
}

func TestRelayDelivers(t *testing.T) {
	alice, bob, carol := relayWorld(t)

	rec, err := wire.VerifyRecord(bob.host.Record())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Host != carol.host.Addr().String() || !bytes.Equal(rec.Via, carol.key().Bytes()) {
		t.Fatalf("bob's record gives host %q via %x, want carol's address and key", rec.Host, rec.Via)
	}
	r, err := bob.host.CheckReach(t.Context())
	if err != nil || !r.Reachable || r.Relay == "" {
		t.Fatalf("bob's reach check: %+v, %v", r, err)
	}

	// bob's own address is in no record: the message can only go through
	// carol's host, and his receipt comes back directly.
	d := alice.device()
	sent := d.send("bob", "through carol")
	if s := d.status(sent.ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v, want delivered\nalice's log:\n%s\ncarol's log:\n%s", s, alice.log, carol.log)
	}
	if ms := bob.incoming(alice); len(ms) != 1 || string(ms[0].Body) != "through carol" {
		t.Fatalf("bob stored %v", ms)
	}
	if ms := carol.incoming(alice); len(ms) != 0 {
		t.Fatalf("carol stored %d messages of alice's", len(ms))
	}
	// bob answers, as to anyone.
	bob.device().send("alice", "hi alice")
	eventually(t, "alice to get bob's reply", func() bool { return len(alice.incoming(bob)) == 1 })
}

// TestRelayStreams: a streamed body goes through the relay frame by frame,
// and the relay keeps none of it.
func TestRelayStreams(t *testing.T) {
	alice, bob, carol := relayWorld(t)
	bob.addContact(contactOf(alice, "alice"))
	body := bytes.Repeat([]byte("relayed body "), 300000) // 3.9 MB
	d := alice.device()
	r, err := d.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: "bob", Kind: wire.KindFile, Body: body}})
	if err != nil {
		t.Fatal(err)
	}
	if s := d.status(r.Sent.ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v, want delivered\ncarol's log:\n%s", s, carol.log)
	}
	ms := bob.incoming(alice)
	if len(ms) != 1 || ms[0].Size != int64(len(body)) || !bytes.Equal(storedBody(t, bob, ms[0].Seq), body) {
		t.Fatalf("bob stored %d messages, or another body", len(ms))
	}
	if files, _ := filepath.Glob(filepath.Join(carol.cfg.DataDir, "*", "*")); len(files) != 0 {
		for _, f := range files {
			if strings.Contains(f, "blobs") || strings.Contains(f, "partial") {
				t.Errorf("the relay kept %s", f)
			}
		}
	}
}

func TestRelayRefuses(t *testing.T) {
	alice, bob, carol := relayWorld(t)
	mallory := newPeer(t)
	inner := (&wire.HostRequest{Op: wire.OpDeliver, Envelope: mallory.seal(bob, "hi", time.Now())}).Encode()

	// Only bob's relay may pass requests on to him.
	c := mallory.conn(bob, transport.Config{})
	resp := mallory.request(c, (&wire.HostRequest{Op: wire.OpRelayed, Peer: alice.key().Bytes(), Request: inner}).Encode())
	if resp.Status != wire.StatusWrongHost {
		t.Errorf("a relayed request from another host than bob's relay: %v, want wrong host", resp.Status)
	}
	// carol relays for bob only.
	c = mallory.conn(carol, transport.Config{})
	resp = mallory.request(c, forwardRequest(alice.key(), inner))
	if resp.Status != wire.StatusBusy || !strings.Contains(resp.Message, "does not relay") {
		t.Errorf("a request to forward to a host carol does not relay for: %v %q, want busy", resp.Status, resp.Message)
	}
	// A request forwarded twice is refused by bob's host.
	resp = mallory.request(c, forwardRequest(bob.key(), forwardRequest(bob.key(), inner)))
	if resp.Status != wire.StatusWrongHost {
		t.Errorf("a request forwarded twice: %v, want wrong host", resp.Status)
	}
	// What carol passes on is mallory's: an envelope mallory signed goes
	// in, and one claiming to be alice's is refused as from the wrong host.
	resp = mallory.request(c, forwardRequest(bob.key(), inner))
	if resp.Status != wire.StatusStored {
		t.Errorf("mallory's message through carol: %v %q, want stored", resp.Status, resp.Message)
	}
	if ms := bob.incoming(alice); len(ms) != 0 {
		t.Errorf("bob stored %d messages as alice's", len(ms))
	}
	sealedByAlice := alice.id.Public() // not mallory's key
	env, err := wire.DecodeEnvelope(mallory.seal(bob, "as alice", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	env.Sender = sealedByAlice.Bytes()
	resp = mallory.request(c, forwardRequest(bob.key(), (&wire.HostRequest{Op: wire.OpDeliver, Envelope: env.Encode()}).Encode()))
	if resp.Status != wire.StatusWrongHost {
		t.Errorf("an envelope naming alice as its sender, through carol from mallory: %v, want wrong host", resp.Status)
	}
}

// TestRelayReconnects: bob's host connects to its relay again when the
// relay restarts, and messages go through it again.
func TestRelayReconnects(t *testing.T) {
	alice, bob, carol := relayWorld(t)
	d := alice.device()
	if s := d.status(d.send("bob", "one").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v, want delivered", s)
	}
	carol.stop()
	carol.start()
	eventually(t, "bob's host to connect to carol's again", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), reachTimeout)
		defer cancel()
		return bob.host.checkRelay(ctx) == nil
	})
	// bob's host stays connected to alice's after the receipt: drop it,
	// so that the next message has to take the relay.
	if c := alice.host.ln.ConnFrom(bob.key(), silentAfter); c != nil {
		c.Close()
	}
	if s := d.status(d.send("bob", "two").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v after carol's host restarted, want delivered\ncarol's log:\n%s", s, carol.log)
	}
}
