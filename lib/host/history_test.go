package host

import (
	"bytes"
	"crypto/rand"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/hostapi"
	"smvs/lib/seal"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// pairUp starts alice's and bob's hosts, each with the other in its
// contacts file; setup, if not nil, changes bob's configuration first.
func pairUp(t *testing.T, setup func(*Config)) (alice, bob *user) {
	t.Helper()
	alice = newUser(t, "alice").start()
	bob = newUser(t, "bob")
	if setup != nil {
		setup(&bob.cfg)
	}
	bob.start()
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Host: bob.host.Addr().String()})
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key(), Host: alice.host.Addr().String()})
	return alice, bob
}

// sendAll sends bodies from u to peer, and waits until each is delivered.
func (u *user) sendAll(to string, bodies ...string) []*hostapi.SubmitResult {
	u.t.Helper()
	d := u.device()
	var sent []*hostapi.SubmitResult
	for _, b := range bodies {
		sent = append(sent, d.send(to, b))
	}
	for _, s := range sent {
		if st := d.status(s.ID, waitFor); st != hostapi.Delivered {
			u.t.Fatalf("%s's message to %s: %v, want delivered", u.name, to, st)
		}
	}
	return sent
}

// follower is a device following a host's history.
type follower struct {
	t *testing.T
	s *hostapi.Stream
}

func (u *user) follow(l *hostapi.List) *follower {
	u.t.Helper()
	l.Follow = true
	s, err := u.owner().List(testCtx(u.t), l)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { s.Close() })
	f := &follower{t: u.t.(*testing.T), s: s}
	f.next(func(ev *hostapi.Event) bool { return ev.Kind == hostapi.EventLive })
	return f
}

// next returns the next event that match accepts, skipping others.
func (f *follower) next(match func(*hostapi.Event) bool) *hostapi.Event {
	f.t.Helper()
	for {
		ev, err := f.s.Next()
		if err != nil {
			f.t.Fatalf("following: %v", err)
		}
		if match(ev) {
			return ev
		}
	}
}

// deleted reads deletion events until they have named every one of want,
// and fails if they name others.
func (f *follower) deleted(want []uint64) {
	f.t.Helper()
	var got []uint64
	for len(got) < len(want) {
		ev := f.next(func(ev *hostapi.Event) bool { return ev.Kind == hostapi.EventDeleted })
		got = append(got, ev.Deleted...)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		f.t.Fatalf("deletion events named %v, want %v", got, want)
	}
}

func seqsOf(ms []*store.Message) []uint64 {
	var seqs []uint64
	for _, m := range ms {
		seqs = append(seqs, m.Seq)
	}
	return seqs
}

// sealMessage signs m as p, with Sent now and kind text unless m says
// otherwise, and seals it to u's current record.
func (p *peer) sealMessage(u *user, m *wire.Message) *seal.Sealed {
	p.t.Helper()
	rec, err := wire.VerifyRecord(u.host.Record())
	if err != nil {
		p.t.Fatal(err)
	}
	if m.Sent == 0 {
		m.Sent = time.Now().UnixMilli()
	}
	if m.Kind == 0 {
		m.Kind = wire.KindText
	}
	s, err := seal.Seal(p.id, rec, m, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// deliverMessage seals m as p, delivers it to u's host, and fails the test
// unless the answer is want.
func (p *peer) deliverMessage(c *transport.Conn, u *user, m *wire.Message, want wire.HostStatus) *seal.Sealed {
	p.t.Helper()
	s := p.sealMessage(u, m)
	if r := p.deliver(c, s.Envelope); r.Status != want {
		p.t.Fatalf("delivery of %q: %v (%s), want %v", m.Body, r.Status, r.Message, want)
	}
	return s
}

func newID() []byte {
	id := make([]byte, wire.MessageIDSize)
	rand.Read(id)
	return id
}

func TestDeleteReachesFollowers(t *testing.T) {
	bob := newUser(t, "bob").start()
	carol := newPeer(t)
	bob.addContact(contacts.Contact{Name: "carol", Key: carol.key()})
	dave := newPeer(t)
	cc, dc := carol.conn(bob, transport.Config{}), dave.conn(bob, transport.Config{})
	hourAgo := time.Now().Add(-time.Hour).UnixMilli()
	carol.deliverMessage(cc, bob, &wire.Message{Body: []byte("old"), Sent: hourAgo}, wire.StatusStored)
	for _, b := range []string{"one", "two", "three"} {
		carol.deliverMessage(cc, bob, &wire.Message{Body: []byte(b)}, wire.StatusStored)
	}
	dave.deliverMessage(dc, bob, &wire.Message{Body: []byte("dave's")}, wire.StatusStored)
	all := bob.messages()
	if len(all) != 5 {
		t.Fatalf("bob holds %d messages, want 5", len(all))
	}
	everyone := bob.follow(&hostapi.List{})
	carolOnly := bob.follow(&hostapi.List{Peer: "carol"})
	owner := bob.owner()

	// One message, and a sequence number with none.
	r, err := owner.Delete(testCtx(t), &hostapi.Delete{Seqs: []uint64{all[1].Seq, 9999}})
	if err != nil || r.Deleted != 1 || !slices.Equal(r.Missing, []uint64{9999}) || len(r.Requests) != 0 {
		t.Fatalf("deleting a message: %+v, %v", r, err)
	}
	everyone.deleted([]uint64{all[1].Seq})
	carolOnly.deleted([]uint64{all[1].Seq})

	// Before a time: only the message sent an hour ago.
	r, err = owner.Delete(testCtx(t), &hostapi.Delete{Peer: "carol", Before: time.Now().Add(-time.Minute).UnixMilli()})
	if err != nil || r.Deleted != 1 {
		t.Fatalf("deleting before a time: %+v, %v", r, err)
	}
	everyone.deleted([]uint64{all[0].Seq})
	carolOnly.deleted([]uint64{all[0].Seq})

	// The conversation with carol.
	r, err = owner.Delete(testCtx(t), &hostapi.Delete{Peer: "carol", All: true})
	if err != nil || r.Deleted != 2 {
		t.Fatalf("deleting a conversation: %+v, %v", r, err)
	}
	everyone.deleted([]uint64{all[2].Seq, all[3].Seq})
	carolOnly.deleted([]uint64{all[2].Seq, all[3].Seq})
	if links, err := bob.host.store.Links(carol.key().Bytes()); err != nil || len(links) != 0 {
		t.Errorf("carol's conversation left links %v, %v", links, err)
	}

	// Everything.
	r, err = owner.Delete(testCtx(t), &hostapi.Delete{All: true})
	if err != nil || r.Deleted != 1 {
		t.Fatalf("deleting everything: %+v, %v", r, err)
	}
	everyone.deleted([]uint64{all[4].Seq})
	if ms := bob.messages(); len(ms) != 0 {
		t.Errorf("bob still holds %d messages", len(ms))
	}
	// A device listing now gets nothing.
	s, err := owner.List(testCtx(t), &hostapi.List{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := s.Next(); err != io.EOF {
		t.Errorf("listing after deleting everything: %+v, %v; want the end", ev, err)
	}

	// A peer that does not resolve.
	if _, err := bob.owner().Delete(testCtx(t), &hostapi.Delete{Peer: "nobody", All: true}); hostCode(err) != hostapi.ErrUnknownRecipient {
		t.Errorf("deleting the conversation with nobody: %v", err)
	}
}

func TestDeleteMoreThanASubscriberHolds(t *testing.T) {
	bob := newUser(t, "bob").start()
	carol := newPeer(t)
	const n = 3 * hostapi.MaxDeleteSeqs // a store subscriber falls behind at 1024
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := &store.Message{ID: newID(), Peer: carol.key().Bytes(), Sent: time.Now().UnixMilli(), Kind: wire.KindText, Body: []byte{byte(i)}}
			if _, err := bob.host.store.AddIncoming(m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seqs := seqsOf(bob.messages())
	f := bob.follow(&hostapi.List{})
	r, err := bob.owner().Delete(testCtx(t), &hostapi.Delete{All: true})
	if err != nil || r.Deleted != n {
		t.Fatalf("deleting everything: %+v, %v", r, err)
	}
	f.deleted(seqs)
}

func TestDeleteForEveryone(t *testing.T) {
	alice, bob := pairUp(t, nil)
	sent := alice.sendAll("bob", "one", "two")
	bob.sendAll("alice", "bob's")
	eventually(t, "alice to store bob's message", func() bool { return len(alice.incoming(bob)) == 1 })
	atBob := bob.incoming(alice)
	bobSees := bob.follow(&hostapi.List{})

	// alice deletes her first message for everyone: bob's host honours it.
	r, err := alice.owner().Delete(testCtx(t), &hostapi.Delete{Seqs: []uint64{sent[0].Seq}, ForEveryone: true})
	if err != nil || r.Deleted != 1 || len(r.Requests) != 1 {
		t.Fatalf("delete for everyone: %+v, %v", r, err)
	}
	req := r.Requests[0]
	if !bytes.Equal(req.Peer, bob.key().Bytes()) || req.PeerName != "bob" || req.Messages != 1 {
		t.Errorf("request %+v", req)
	}
	if st := alice.device().status(req.ID, waitFor); st != hostapi.Sent {
		t.Fatalf("the delete request's status: %v, want sent", st)
	}
	bobSees.deleted([]uint64{atBob[0].Seq})
	if got := bob.incoming(alice); len(got) != 1 || !bytes.Equal(got[0].ID, sent[1].ID) {
		t.Errorf("bob holds %d of alice's messages after her deletion, want the second", len(got))
	}
	if !bob.logHas("delete request honoured", "deleted=1") {
		t.Errorf("bob's log:\n%s", bob.log)
	}

	// Deleting everything for everyone asks only for alice's own message,
	// and bob's message at bob stays.
	r, err = alice.owner().Delete(testCtx(t), &hostapi.Delete{All: true, ForEveryone: true})
	if err != nil || r.Deleted < 2 || len(r.Requests) != 1 || r.Requests[0].Messages != 1 {
		t.Fatalf("delete everything for everyone: %+v, %v", r, err)
	}
	if st := alice.device().status(r.Requests[0].ID, waitFor); st != hostapi.Sent {
		t.Fatalf("the delete request's status: %v, want sent", st)
	}
	eventually(t, "bob's host to delete alice's second message", func() bool { return len(bob.incoming(alice)) == 0 })
	if ms := bob.messages(); len(ms) != 1 || string(ms[0].Body) != "bob's" {
		t.Errorf("bob holds %d messages, want his own", len(ms))
	}
	// Devices never list delete requests.
	for _, m := range alice.messages() {
		t.Errorf("alice's devices list %s message %d", m.Kind, m.Seq)
	}
}

func TestPeerDeletesRefused(t *testing.T) {
	alice, bob := pairUp(t, func(c *Config) { c.PeerDeletes = PeerDeletesNone })
	sent := alice.sendAll("bob", "keep this")
	r, err := alice.owner().Delete(testCtx(t), &hostapi.Delete{Seqs: []uint64{sent[0].Seq}, ForEveryone: true})
	if err != nil || r.Deleted != 1 || len(r.Requests) != 1 {
		t.Fatalf("delete for everyone: %+v, %v", r, err)
	}
	if st := alice.device().status(r.Requests[0].ID, waitFor); st != hostapi.Refused {
		t.Fatalf("the delete request's status: %v, want refused", st)
	}
	if len(bob.incoming(alice)) != 1 || !bob.logHas("delete request refused by policy", "policy=none") {
		t.Errorf("bob deleted the message, or did not log the refusal:\n%s", bob.log)
	}
}

func TestPeerDeletesOnlyTheirOwn(t *testing.T) {
	alice, bob := pairUp(t, nil)
	alices := alice.sendAll("bob", "alice's")
	bobs := bob.sendAll("alice", "bob's")
	// alice's software asks bob's host to delete bob's message, then
	// that and her own together: both refused, nothing deleted.
	as := &peer{t: t, id: alice.id}
	c := as.conn(bob, transport.Config{})
	for _, ids := range [][][]byte{{bobs[0].ID}, {alices[0].ID, bobs[0].ID}} {
		body := (&wire.DeleteRequest{IDs: ids}).Encode()
		as.deliverMessage(c, bob, &wire.Message{Kind: wire.KindDelete, Body: body}, wire.StatusRefused)
	}
	if ms := bob.messages(); len(ms) != 2 {
		t.Errorf("bob holds %d messages, want 2", len(ms))
	}
	// Ids of nothing are ignored, and a request is idempotent.
	body := (&wire.DeleteRequest{IDs: [][]byte{alices[0].ID, newID()}}).Encode()
	for range 2 {
		as.deliverMessage(c, bob, &wire.Message{Kind: wire.KindDelete, Body: body}, wire.StatusStored)
	}
	if ms := bob.messages(); len(ms) != 1 || string(ms[0].Body) != "bob's" {
		t.Errorf("bob holds %d messages, want his own", len(ms))
	}
	// A request is never stored.
	all, _ := bob.host.store.List(0, 100)
	for _, m := range all {
		if m.Kind == wire.KindDelete {
			t.Errorf("bob stored a delete request as message %d", m.Seq)
		}
	}
}
