package host

import (
	"bytes"
	"crypto/rand"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
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
		if st := d.status(s.ID, waitFor); st != delivery.Delivered {
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
	s, err := seal.Seal(p.id.Signer(), rec, m, time.Now())
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
	if st := alice.device().status(req.ID, waitFor); st != delivery.Sent {
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
	if st := alice.device().status(r.Requests[0].ID, waitFor); st != delivery.Sent {
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
	if st := alice.device().status(r.Requests[0].ID, waitFor); st != delivery.Refused {
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

func TestExpiredMessagesSwept(t *testing.T) {
	c := &clock{}
	bob := newUser(t, "bob")
	bob.cfg.Now = c.Now
	bob.start()
	carol := newPeer(t)
	conn := carol.conn(bob, transport.Config{})
	f := bob.follow(&hostapi.List{})
	soon := time.Now().Add(300 * time.Millisecond).UnixMilli()
	carol.deliverMessage(conn, bob, &wire.Message{Body: []byte("brief"), Expires: soon}, wire.StatusStored)
	carol.deliverMessage(conn, bob, &wire.Message{Body: []byte("later"), Expires: time.Now().Add(time.Hour).UnixMilli()}, wire.StatusStored)
	carol.deliverMessage(conn, bob, &wire.Message{Body: []byte("never")}, wire.StatusStored)
	brief := bob.messages()[0]
	start := time.Now()
	f.deleted([]uint64{brief.Seq})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("an expired message went after %v", took)
	}
	if ms := bob.messages(); len(ms) != 2 {
		t.Fatalf("bob holds %d messages, want 2", len(ms))
	}

	// The hour passes while the host is stopped: the message is gone when
	// Start returns, before anything was served.
	bob.stop()
	c.advance(2 * time.Hour)
	bob.start()
	if ms := bob.messages(); len(ms) != 1 || string(ms[0].Body) != "never" {
		t.Errorf("after a restart past its expiry, bob holds %d messages", len(ms))
	}
	if !bob.logHas("expired messages deleted", "messages=1") {
		t.Errorf("bob's log:\n%s", bob.log)
	}
}

func TestDefaultExpiry(t *testing.T) {
	alice, bob := pairUp(t, nil)
	owner := alice.owner()
	if r, err := owner.Expiry(testCtx(t), &hostapi.Expiry{Peer: "bob"}); err != nil || r.After != 0 || !bytes.Equal(r.Peer, bob.key().Bytes()) {
		t.Fatalf("reading the default: %+v, %v", r, err)
	}
	r, err := owner.Expiry(testCtx(t), &hostapi.Expiry{Peer: "bob", Set: true, After: time.Hour.Milliseconds()})
	if err != nil || r.After != time.Hour.Milliseconds() || r.Was != 0 || r.PeerName != "bob" {
		t.Fatalf("setting the default: %+v, %v", r, err)
	}
	if r, err := bob.owner().Expiry(testCtx(t), &hostapi.Expiry{Peer: "alice", Set: true, After: time.Minute.Milliseconds()}); err != nil || r.Was != 0 {
		t.Fatalf("bob setting his default: %+v, %v", r, err)
	}
	alice.sendAll("bob", "for an hour")
	// A message with its own expiry keeps it.
	d := alice.device()
	own := time.Now().Add(10 * time.Hour).UnixMilli()
	r2, err := d.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: "bob", Kind: wire.KindText, Body: []byte("own"), Expires: own}})
	if err != nil {
		t.Fatal(err)
	}
	d.status(r2.Sent.ID, waitFor)

	out := alice.messages()
	if len(out) != 2 || out[0].Expires != out[0].Sent+time.Hour.Milliseconds() || out[1].Expires != own {
		t.Fatalf("alice's messages expire at %+v", out)
	}
	signed, err := wire.VerifyMessage(out[0].Signed)
	if err != nil || signed.Expires != out[0].Expires {
		t.Errorf("the signed message expires at %d, want %d (%v)", signed.Expires, out[0].Expires, err)
	}
	// bob's own default is shorter: it wins over both.
	in := bob.incoming(alice)
	if len(in) != 2 {
		t.Fatalf("bob holds %d messages", len(in))
	}
	for _, m := range in {
		if want := min(m.Sent, m.Stored) + time.Minute.Milliseconds(); m.Expires != want {
			t.Errorf("bob's message expires at %d, want %d", m.Expires, want)
		}
	}
	if r, err := owner.Expiry(testCtx(t), &hostapi.Expiry{Peer: "bob", Set: true}); err != nil || r.After != 0 || r.Was != time.Hour.Milliseconds() {
		t.Errorf("removing the default: %+v, %v", r, err)
	}
}

// warnings returns the warnings of the messages u's devices list, by body.
func (u *user) warnings() map[string][]delivery.Warning {
	u.t.Helper()
	s, err := u.owner().List(testCtx(u.t), &hostapi.List{})
	if err != nil {
		u.t.Fatal(err)
	}
	out := make(map[string][]delivery.Warning)
	for {
		ev, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			u.t.Fatal(err)
		}
		if ev.Kind == hostapi.EventMessage {
			out[string(ev.Item.Body)] = ev.Item.Warnings
		}
	}
}

func TestChainWarnings(t *testing.T) {
	bob := newUser(t, "bob").start()
	carol := newPeer(t)
	c := carol.conn(bob, transport.Config{})
	f := bob.follow(&hostapi.List{})
	m1 := carol.deliverMessage(c, bob, &wire.Message{ID: newID(), Body: []byte("first")}, wire.StatusStored)
	h1 := wire.ChainHash(m1.Signed)
	carol.deliverMessage(c, bob, &wire.Message{Chain: h1, Body: []byte("second")}, wire.StatusStored)
	// Another message after the first: a fork.
	carol.deliverMessage(c, bob, &wire.Message{Chain: h1, Body: []byte("forked")}, wire.StatusStored)
	// One after a message bob never had: a gap, after the reorder wait.
	missing := carol.sealMessage(bob, &wire.Message{Body: []byte("lost on the way")})
	carol.deliverMessage(c, bob, &wire.Message{Chain: wire.ChainHash(missing.Signed), Body: []byte("after a gap")}, wire.StatusStored)
	// The first again, with other content: a duplicate, and the first is
	// marked changed.
	first, err := wire.VerifyMessage(m1.Signed)
	if err != nil {
		t.Fatal(err)
	}
	carol.deliverMessage(c, bob, &wire.Message{ID: first.ID, Body: []byte("first, rewritten")}, wire.StatusDuplicate)
	ev := f.next(func(ev *hostapi.Event) bool {
		return ev.Kind == hostapi.EventStatus && string(ev.Item.ID) == string(first.ID)
	})
	if !slices.Equal(ev.Item.Warnings, []delivery.Warning{delivery.WarnChanged}) {
		t.Errorf("the status event of the changed message: %+v", ev.Item)
	}
	// An empty chain is never a gap or a fork.
	carol.deliverMessage(c, bob, &wire.Message{Body: []byte("afresh")}, wire.StatusStored)

	want := map[string][]delivery.Warning{
		"first": {delivery.WarnChanged}, "second": nil, "forked": {delivery.WarnFork},
		"after a gap": {delivery.WarnGap}, "afresh": nil,
	}
	got := bob.warnings()
	if len(got) != len(want) {
		t.Errorf("bob lists %v", got)
	}
	for body, w := range want {
		if !slices.Equal(got[body], w) {
			t.Errorf("%q has warnings %v, want %v", body, got[body], w)
		}
	}
	for _, w := range []string{"warning=gap", "warning=fork", "warning=changed"} {
		if !bob.logHas("conversation integrity", w) {
			t.Errorf("bob's log has no %s:\n%s", w, bob.log)
		}
	}
	for _, line := range strings.Split(bob.log.String(), "\n") {
		if strings.Contains(line, carol.key().String()) && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("the peer's key outside the debug level: %s", line)
		}
	}
}

func TestDeletedStaysDeleted(t *testing.T) {
	bob := newUser(t, "bob").start()
	carol := newPeer(t)
	c := carol.conn(bob, transport.Config{})
	m := carol.deliverMessage(c, bob, &wire.Message{Body: []byte("delete me")}, wire.StatusStored)
	seq := bob.messages()[0].Seq
	if r, err := bob.owner().Delete(testCtx(t), &hostapi.Delete{Seqs: []uint64{seq}}); err != nil || r.Deleted != 1 {
		t.Fatalf("delete: %+v, %v", r, err)
	}
	if r := carol.deliver(c, m.Envelope); r.Status != wire.StatusDuplicate {
		t.Errorf("the deleted message delivered again: %v", r.Status)
	}
	// Also after a restart, from the store's links.
	bob.stop()
	bob.start()
	c = carol.conn(bob, transport.Config{})
	if r := carol.deliver(c, m.Envelope); r.Status != wire.StatusDuplicate {
		t.Errorf("the deleted message delivered again after a restart: %v", r.Status)
	}
	if ms := bob.messages(); len(ms) != 0 {
		t.Errorf("bob holds %d messages", len(ms))
	}
}

// export returns what u's devices list with Signed, as an export has it.
func (u *user) export() []*hostapi.Item {
	u.t.Helper()
	s, err := u.owner().List(testCtx(u.t), &hostapi.List{Signed: true})
	if err != nil {
		u.t.Fatal(err)
	}
	var items []*hostapi.Item
	for {
		ev, err := s.Next()
		if err == io.EOF {
			return items
		}
		if err != nil {
			u.t.Fatal(err)
		}
		if ev.Kind == hostapi.EventMessage {
			items = append(items, ev.Item)
		}
	}
}

// fingerprint returns u's fingerprint of the conversation with peer.
func (u *user) fingerprint(peer string, until int64) *hostapi.FingerprintResult {
	u.t.Helper()
	r, err := u.owner().Fingerprint(testCtx(u.t), &hostapi.Fingerprint{Peer: peer, Until: until})
	if err != nil {
		u.t.Fatal(err)
	}
	return r
}

func TestFingerprint(t *testing.T) {
	alice, bob := pairUp(t, nil)
	alice.sendAll("bob", "one", "two")
	bob.sendAll("alice", "three")
	eventually(t, "alice to store bob's message", func() bool { return len(alice.incoming(bob)) == 1 })
	a, b := alice.fingerprint("bob", 0), bob.fingerprint("alice", 0)
	if !bytes.Equal(a.Hash, b.Hash) || a.Messages != 3 || b.Messages != 3 || !bytes.Equal(a.Peer, bob.key().Bytes()) || a.PeerName != "bob" {
		t.Fatalf("fingerprints of an intact conversation: %+v and %+v", a, b)
	}
	// Deleting keeps the hashes.
	if _, err := bob.owner().Delete(testCtx(t), &hostapi.Delete{Seqs: []uint64{bob.messages()[0].Seq}}); err != nil {
		t.Fatal(err)
	}
	if b2 := bob.fingerprint("alice", b.Until); !bytes.Equal(b2.Hash, b.Hash) {
		t.Errorf("a deletion changed the fingerprint")
	}

	// bob's host refuses alice's next message: it is alice's, not bob's.
	time.Sleep(2 * time.Millisecond)
	until := time.Now().UnixMilli()
	time.Sleep(2 * time.Millisecond)
	bob.writeFile(BlockedFile, alice.key().String()+"\n")
	d := alice.device()
	if st := d.status(d.send("bob", "dropped").ID, waitFor); st != delivery.Refused {
		t.Fatalf("status %v, want refused", st)
	}
	a, b = alice.fingerprint("bob", 0), bob.fingerprint("alice", 0)
	if bytes.Equal(a.Hash, b.Hash) || a.Messages != 4 || b.Messages != 3 {
		t.Errorf("fingerprints after a dropped message: %+v and %+v", a, b)
	}
	// Up to a time before it, they agree again.
	if a, b = alice.fingerprint("bob", until), bob.fingerprint("alice", until); !bytes.Equal(a.Hash, b.Hash) || a.Until != until {
		t.Errorf("fingerprints until before the dropped message: %+v and %+v", a, b)
	}
	if r, err := alice.owner().Fingerprint(testCtx(t), &hostapi.Fingerprint{Peer: "nobody"}); hostCode(err) != hostapi.ErrUnknownRecipient {
		t.Errorf("the fingerprint with nobody: %+v, %v", r, err)
	}
}

func TestImport(t *testing.T) {
	// bob looks alice up afresh each time, so his receipts find her new
	// host at once.
	alice, bob := pairUp(t, func(c *Config) { c.ResolveTTL = time.Millisecond })
	alice.sendAll("bob", "one", "two")
	bob.sendAll("alice", "three")
	eventually(t, "alice to store bob's message", func() bool { return len(alice.incoming(bob)) == 1 })
	exported := alice.export()
	if len(exported) != 3 || len(exported[0].Signed) == 0 {
		t.Fatalf("export: %+v", exported)
	}

	// alice moves to a new host, with the same identity.
	alice.stop()
	moved := newUser(t, "alice")
	moved.useIdentity(alice.id, "")
	moved.start()
	moved.addContact(contacts.Contact{Name: "bob", Key: bob.key()})
	for range 2 {
		want := hostapi.ImportResult{Added: 3}
		if moved.messages() != nil {
			want = hostapi.ImportResult{Present: 3}
		}
		r, err := moved.owner().Import(testCtx(t), exported)
		if err != nil || *r != want {
			t.Fatalf("import: %+v, %v; want %+v", r, err, want)
		}
	}
	got := moved.export()
	if len(got) != len(exported) {
		t.Fatalf("the new host lists %d messages, want %d", len(got), len(exported))
	}
	for i, it := range got {
		was := exported[i]
		it.Seq, was.Seq = 0, 0
		if !reflect.DeepEqual(it, was) {
			t.Errorf("message %d imported as %+v, want %+v", i, it, was)
		}
	}
	if a, b := moved.fingerprint("bob", 0), bob.fingerprint("alice", 0); !bytes.Equal(a.Hash, b.Hash) {
		t.Errorf("the new host's fingerprint differs from bob's")
	}
	// The conversation goes on from where it was: bob's host sees no gap.
	moved.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Host: bob.host.Addr().String()})
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key(), Host: moved.host.Addr().String()})
	moved.sendAll("bob", "from the new host")
	for body, w := range bob.warnings() {
		if len(w) > 0 {
			t.Errorf("bob's %q has warnings %v", body, w)
		}
	}
}

func TestImportRefused(t *testing.T) {
	alice, _ := pairUp(t, nil)
	alice.sendAll("bob", "one")
	items := alice.export()

	// Only the socket imports.
	laptop := newDeviceKey(t)
	if _, err := alice.owner().Devices(testCtx(t), &hostapi.DevicesRequest{Action: hostapi.DevicesAdd, Name: "laptop", Key: laptop.Public().Bytes()}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.remote(laptop).Import(testCtx(t), items); hostCode(err) != hostapi.ErrForbidden || !strings.Contains(err.Error(), "imports") {
		t.Errorf("an import from a remote device: %v", err)
	}

	// An item whose signed message does not match it, or is not between
	// this user and its peer, refuses the whole request.
	fresh := func() *hostapi.Item {
		it := *items[0]
		it.ID = newID()
		it.Signed = nil
		return &it
	}
	changed := *items[0]
	changed.Body = []byte("not what was signed")
	other := *items[0]
	other.Peer = newPeer(t).key().Bytes()
	for _, bad := range []*hostapi.Item{&changed, &other} {
		if _, err := alice.owner().Import(testCtx(t), []*hostapi.Item{fresh(), bad}); hostCode(err) != hostapi.ErrBadRequest {
			t.Errorf("importing %q: %v", bad.Body, err)
		}
	}
	if ms := alice.messages(); len(ms) != 1 {
		t.Errorf("alice holds %d messages after refused imports, want 1", len(ms))
	}
	// The item alone is fine: an export without signed bytes imports.
	if r, err := alice.owner().Import(testCtx(t), []*hostapi.Item{fresh()}); err != nil || r.Added != 1 {
		t.Errorf("importing an unsigned message: %+v, %v", r, err)
	}
}
