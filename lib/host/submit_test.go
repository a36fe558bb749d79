package host

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// TestConcurrentSubmitsChainInOrder: messages many devices submit at once
// to one peer are stored in the order they chain, so the peer's host
// finds each one's predecessor before it and warns of no gap, and none
// waits for one that comes later.
func TestConcurrentSubmitsChainInOrder(t *testing.T) {
	alice := newUser(t, "alice").start()
	bob := newUser(t, "bob").start()
	alice.addContact(contactOf(bob, "bob"))
	bob.addContact(contactOf(alice, "alice"))
	const senders, each = 16, 10
	var wg sync.WaitGroup
	for s := range senders {
		d := alice.device()
		wg.Go(func() {
			for i := range each {
				d.send("bob", fmt.Sprintf("%d-%d", s, i))
			}
		})
	}
	wg.Wait()
	eventually(t, "bob to hold every message", func() bool { return len(bob.incoming(alice)) == senders*each })
	var prev []byte
	for _, m := range alice.messages() {
		if m.Direction != delivery.Out || m.Kind != wire.KindText {
			continue
		}
		sm, err := wire.VerifyMessage(m.Signed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sm.Chain, prev) {
			t.Fatalf("message %d does not chain to the one stored before it", m.Seq)
		}
		prev = wire.ChainHash(m.Signed)
	}
	for _, m := range bob.incoming(alice) {
		if len(m.Warnings) > 0 {
			t.Errorf("bob's message %d has warnings %v", m.Seq, m.Warnings)
		}
	}
}
