package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/seal"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// statuses follows u's messages and returns a channel of the statuses the
// message with id goes through, as the device sees them.
func (u *user) statuses(id func() []byte) <-chan delivery.Status {
	u.t.Helper()
	d := u.device()
	if err := hostapi.WriteRequest(d.c, &hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{Follow: true}}); err != nil {
		u.t.Fatal(err)
	}
	for {
		r, err := d.read()
		if err != nil {
			u.t.Fatalf("follow: %v", err)
		}
		if r.Event.Kind == hostapi.EventLive {
			break
		}
	}
	out := make(chan delivery.Status, 16)
	go func() {
		defer close(out)
		for {
			r, err := d.read()
			if err != nil {
				return
			}
			if it := r.Event.Item; it != nil && bytes.Equal(it.ID, id()) {
				out <- it.Status
			}
		}
	}()
	return out
}

func TestDeliverThroughDirectory(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()

	var sent *hostapi.SubmitResult
	ready := make(chan struct{})
	seen := alice.statuses(func() []byte { <-ready; return sent.ID })
	sent = alice.device().send("bob", "hi bob")
	close(ready)
	if sent.Name != "bob" || !bytes.Equal(sent.Recipient, bob.key().Bytes()) {
		t.Errorf("submit result %+v", sent)
	}

	eventually(t, "bob's host to store the message", func() bool { return len(bob.incoming(alice)) == 1 })
	m := bob.incoming(alice)[0]
	if string(m.Body) != "hi bob" || !bytes.Equal(m.ID, sent.ID) || m.Status != delivery.Received || m.Kind != wire.KindText {
		t.Errorf("bob stored %+v", m)
	}

	// The device sees the message go Queued (or already Sent), then Sent,
	// then Delivered, and never back.
	var got []delivery.Status
	timeout := time.After(waitFor)
	for len(got) == 0 || got[len(got)-1] != delivery.Delivered {
		select {
		case s := <-seen:
			got = append(got, s)
		case <-timeout:
			t.Fatalf("statuses seen: %v, want up to delivered", got)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("statuses went %v", got)
		}
	}
	if got[0] != delivery.Queued && got[0] != delivery.Sent {
		t.Errorf("first status %v", got[0])
	}
	if s := alice.device().status(sent.ID, 0); s != delivery.Delivered {
		t.Errorf("status %v, want delivered", s)
	}
	// bob has no contact for alice: devices get the name of her record,
	// as a claim.
	lister := bob.device()
	if r, err := lister.do(&hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{}}); err != nil ||
		r.Event.Item.PeerName != "" || r.Event.Item.ClaimedName != "alice" {
		t.Errorf("bob's list: %+v, %v", r, err)
	}
	// The history ends with a live event, then the host closes.
	if r, err := lister.read(); err != nil || r.Event.Kind != hostapi.EventLive {
		t.Errorf("after the history: %+v, %v; want the live event", r, err)
	}
	if r, err := lister.read(); err == nil {
		t.Errorf("after the live event: %+v; want the connection closed", r)
	}
	// The contact was pinned on first use, as smvs-register pins.
	f, err := contacts.Load(contacts.Path(alice.home))
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := f.Lookup("bob"); !ok || c.Key != bob.key() {
		t.Errorf("contacts: %q", f.Format())
	}
	// Receipts are the hosts' business: devices never see them.
	for _, u := range []*user{alice, bob} {
		all, _ := u.host.store.List(0, 100)
		for _, m := range u.messages() {
			if m.Kind == wire.KindReceipt {
				t.Errorf("%s's device list holds a receipt", u.name)
			}
		}
		if u == bob && len(all) == len(u.messages()) {
			t.Error("bob's store holds no receipt sent")
		}
	}
	for _, u := range []*user{alice, bob} {
		if log := u.log.String(); strings.Contains(log, "hi bob") || strings.Contains(log, bob.key().String()) && !strings.Contains(log, "level=DEBUG") {
			t.Errorf("%s's log holds content or keys:\n%s", u.name, log)
		}
	}
}

func TestDeliverWithoutDirectory(t *testing.T) {
	alice := newUser(t, "").start()
	bob := newUser(t, "").start()
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Host: bob.host.Addr().String()})
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key(), Host: alice.host.Addr().String()})

	d := alice.device()
	sent := d.send("bob", "no directory")
	if s := d.status(sent.ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v, want delivered", s)
	}
	if ms := bob.incoming(alice); len(ms) != 1 || string(ms[0].Body) != "no directory" {
		t.Fatalf("bob stored %v", ms)
	}
	// By key too.
	sent = d.send(bob.key().String(), "by key")
	if s := d.status(sent.ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v, want delivered", s)
	}
	// bob's device lists alice's messages under her contact name.
	r, err := bob.device().do(&hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{Peer: "alice"}})
	if err != nil || r.Event.Item.PeerName != "alice" || string(r.Event.Item.Body) != "no directory" {
		t.Fatalf("bob's list: %+v, %v", r, err)
	}
}

func TestPeerDownThenUp(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	bob.stop()

	d := alice.device()
	var ids [][]byte
	for i := range 5 {
		ids = append(ids, d.send("bob", "while you were out "+string(rune('a'+i))).ID)
	}
	time.Sleep(50 * time.Millisecond) // a few failed attempts
	if s := d.status(ids[0], 0); s != delivery.Queued {
		t.Errorf("status with bob down: %v, want queued", s)
	}

	bob.start()
	for _, id := range ids {
		if s := d.status(id, waitFor); s != delivery.Delivered {
			t.Fatalf("status %v, want delivered", s)
		}
	}
	got := bob.incoming(alice)
	if len(got) != len(ids) {
		t.Fatalf("bob stored %d messages, want %d", len(got), len(ids))
	}
	// Each arrived once, in the order sent.
	for i, m := range got {
		if !bytes.Equal(m.ID, ids[i]) {
			t.Errorf("message %d stored out of order", i)
		}
	}
}

func TestOutboxSurvivesRestart(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	bob.stop()
	id := alice.device().send("bob", "kept").ID
	alice.stop()
	bob.start()
	alice.start()
	if s := alice.device().status(id, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v, want delivered", s)
	}
	if ms := bob.incoming(alice); len(ms) != 1 || string(ms[0].Body) != "kept" {
		t.Fatalf("bob stored %v", ms)
	}
}

func TestDuplicateStoredOnce(t *testing.T) {
	bob := newUser(t, "").start()
	carol := newPeer(t)
	c := carol.conn(bob, transport.Config{})
	env := carol.seal(bob, "once", time.Now())
	if r := carol.deliver(c, env); r.Status != wire.StatusStored {
		t.Fatalf("first delivery: %v", r.Status)
	}
	if r := carol.deliver(c, env); r.Status != wire.StatusDuplicate {
		t.Fatalf("second delivery: %v", r.Status)
	}
	if n := len(bob.messages()); n != 1 {
		t.Fatalf("bob stored %d messages", n)
	}
}

func TestRefusals(t *testing.T) {
	bob := newUser(t, "")
	bob.cfg.MaxMessage = 4096
	bob.start()
	dave := newUser(t, "").start()
	carol, mallory := newPeer(t), newPeer(t)
	cfg := transport.Config{}
	now := time.Now()

	// An envelope sealed for someone else.
	if r := carol.deliver(carol.conn(dave, cfg), carol.seal(bob, "for bob", now)); r.Status != wire.StatusWrongHost {
		t.Errorf("envelope for another recipient: %v", r.Status)
	}
	// An envelope relayed by another key than its sender's.
	if r := mallory.deliver(mallory.conn(bob, cfg), carol.seal(bob, "relayed", now)); r.Status != wire.StatusWrongHost {
		t.Errorf("relayed envelope: %v", r.Status)
	}
	// Too large for bob's limit.
	if r := carol.deliver(carol.conn(bob, cfg), carol.seal(bob, strings.Repeat("x", 5000), now)); r.Status != wire.StatusTooLarge {
		t.Errorf("large envelope: %v", r.Status)
	}
	// A tampered envelope.
	env := carol.seal(bob, "tampered", now)
	env[len(env)-1] ^= 1
	if r := carol.deliver(carol.conn(bob, cfg), env); r.Status != wire.StatusInvalid {
		t.Errorf("tampered envelope: %v", r.Status)
	}

	// Blocked: the connection is closed when the handshake completes,
	// before anything is read, opened or stored.
	bob.writeFile(BlockedFile, "# people I don't want to hear from\n"+carol.key().String()+" carol\n")
	if err := carol.refused(bob, carol.seal(bob, "let me in", now)); !errors.Is(err, transport.ErrRefused) || !strings.Contains(err.Error(), "blocked") {
		t.Errorf("blocked sender: %v, want ErrRefused saying blocked", err)
	}
	// Allow-only: a stranger is refused, a listed key accepted.
	os.Remove(bob.home + "/" + BlockedFile)
	bob.writeFile(AllowedFile, mallory.key().String()+"\n")
	if err := carol.refused(bob, carol.seal(bob, "stranger", now)); !errors.Is(err, transport.ErrRefused) || !strings.Contains(err.Error(), "not on the allow list") {
		t.Errorf("stranger in allow-only mode: %v, want ErrRefused", err)
	}
	if len(bob.messages()) != 0 {
		t.Fatalf("bob stored %d messages from refused deliveries", len(bob.messages()))
	}
	if r := mallory.deliver(mallory.conn(bob, cfg), mallory.seal(bob, "friend", now)); r.Status != wire.StatusStored {
		t.Errorf("allowed sender: %v", r.Status)
	}
	// The allow list is read again when it changes.
	bob.writeFile(AllowedFile, mallory.key().String()+"\n"+carol.key().String()+"  # carol, after all\n")
	if r := carol.deliver(carol.conn(bob, cfg), carol.seal(bob, "stranger no more", now)); r.Status != wire.StatusStored {
		t.Errorf("newly allowed sender: %v", r.Status)
	}
	if n := len(bob.messages()); n != 2 {
		t.Errorf("bob stored %d messages, want 2", n)
	}
	if !bob.logHas("connection refused by policy", "policy: blocked", "delivery refused: too large") {
		t.Errorf("bob's log lacks the refusals:\n%s", bob.log)
	}
}

// refused delivers envelope to u on a new connection and returns the
// error of a request u's host did not answer.
func (p *peer) refused(u *user, envelope []byte) error {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_, err := p.conn(u, transport.Config{}).Request(ctx, (&wire.HostRequest{Op: wire.OpDeliver, Envelope: envelope}).Encode())
	return err
}

func TestPinnedKeyMismatch(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	mallory := newUser(t, "mallory", dir).start()
	// alice pinned bob, but his address now leads to mallory's host.
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Host: mallory.host.Addr().String()})

	d := alice.device()
	id := d.send("bob", "for bob's eyes").ID
	eventually(t, "a refused handshake", func() bool { return alice.logHas("presents another key") })
	if s := d.status(id, 0); s != delivery.Queued {
		t.Errorf("status %v, want queued", s)
	}
	if len(mallory.messages()) != 0 || len(bob.messages()) != 0 {
		t.Error("a message arrived")
	}

	// A directory that serves another key for a pinned name is refused.
	carol := newUser(t, "carol", dir).start()
	alice.addContact(contacts.Contact{Name: "carol", Key: bob.key()})
	_, err := d.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: "carol", Kind: wire.KindText, Body: []byte("x")}})
	var e *hostapi.Error
	if !errors.As(err, &e) || e.Code != hostapi.ErrKeyChanged || !strings.Contains(e.Message, carol.key().String()) ||
		!strings.Contains(e.Hint, "smvs-register verify carol") {
		t.Errorf("changed key: %v", err)
	}
}

func TestSubmitErrors(t *testing.T) {
	alice := newUser(t, "")
	alice.cfg.MaxMessage = 1000
	alice.start()
	d := alice.device()
	for _, tt := range []struct {
		to, body string
		code     hostapi.ErrorCode
		message  string
	}{
		{"nobody", "x", hostapi.ErrUnknownRecipient, `unknown recipient "nobody"`},
		{newPeer(t).key().String(), "x", hostapi.ErrUnknownRecipient, "unknown recipient"},
		{"bad name!", "x", hostapi.ErrUnknownRecipient, "invalid name"},
		{"nobody", strings.Repeat("x", 1001), hostapi.ErrTooLarge, "the message is too large: 1001 bytes, over this host's limit of 1000 bytes"},
		// Over the frame limit too: skipped unread, and the connection goes on.
		{"nobody", strings.Repeat("x", 200<<10), hostapi.ErrTooLarge, "over this host's limit of 1000 bytes"},
	} {
		_, err := d.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: tt.to, Kind: wire.KindText, Body: []byte(tt.body)}})
		var e *hostapi.Error
		if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Message, tt.message) {
			t.Errorf("submit to %q: %v, want code %d and %q", tt.to, err, tt.code, tt.message)
		}
	}
	if _, err := d.do(&hostapi.Request{Op: hostapi.OpStatus, Status: &hostapi.Status{ID: make([]byte, 16)}}); err == nil {
		t.Error("status of an unknown id answered")
	}
	if len(alice.messages()) != 0 {
		t.Error("refused submits stored messages")
	}
}

func TestManyMessagesFewReceipts(t *testing.T) {
	alice := newUser(t, "").start()
	bob := newUser(t, "")
	// Long enough that a loaded machine, which spreads the 200 arrivals
	// over seconds, still batches them.
	bob.cfg.ReceiptDelay = 500 * time.Millisecond
	bob.start()
	alice.addContact(contacts.Contact{Name: "bob", Key: bob.key(), Host: bob.host.Addr().String()})
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key(), Host: alice.host.Addr().String()})

	const n = 200
	ids := make(chan []byte, n)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			d := alice.device()
			for range n / 8 {
				r, err := d.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: "bob", Kind: wire.KindText, Body: []byte("flood")}})
				if err != nil {
					errs <- err
					return
				}
				ids <- r.Sent.ID
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(ids)
	d := alice.device()
	for id := range ids {
		if s := d.status(id, waitFor); s != delivery.Delivered {
			t.Fatalf("status %v, want delivered", s)
		}
	}
	all, _ := bob.host.store.List(0, 10*n)
	receipts := len(all) - len(bob.messages())
	if len(bob.messages()) != n || receipts == 0 || receipts > n/4 {
		t.Errorf("bob stored %d messages and sent %d receipts", len(bob.messages()), receipts)
	}
}

func TestShutdown(t *testing.T) {
	alice := newUser(t, "").start()
	sock := alice.cfg.Socket
	follow := alice.device()
	if err := hostapi.WriteRequest(follow.c, &hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{Follow: true}}); err != nil {
		t.Fatal(err)
	}
	if r, err := follow.read(); err != nil || r.Event.Kind != hostapi.EventLive {
		t.Fatalf("follow: %+v, %v", r, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := alice.host.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	alice.stopped = true
	if _, err := follow.read(); err == nil {
		t.Error("a follower got more after the shutdown")
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is still there: %v", err)
	}
	if !alice.logHas("msg=stopping", "msg=stopped") {
		t.Errorf("log:\n%s", alice.log)
	}
	// It starts again on the same data and socket.
	alice.start()
}

func TestSocketInUse(t *testing.T) {
	alice := newUser(t, "").start()
	other := newUser(t, "")
	other.cfg.Socket = alice.cfg.Socket
	if _, err := Start(other.cfg); !errors.Is(err, ErrSocketInUse) {
		t.Fatalf("second host on the socket: %v", err)
	}
	// A stale socket file from a crash is replaced: make one that nothing
	// answers on.
	alice.stop()
	stale := newUser(t, "")
	stale.cfg.Socket = alice.cfg.Socket
	os.Remove(stale.cfg.Socket)
	ln, err := listenUnixNoUnlink(stale.cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := os.Stat(stale.cfg.Socket); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	stale.start()
	// And a file that is not a socket is left alone.
	os.WriteFile(stale.cfg.Socket+"x", []byte("precious"), 0o600)
	notSock := newUser(t, "")
	notSock.cfg.Socket = stale.cfg.Socket + "x"
	if _, err := Start(notSock.cfg); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("start over a regular file: %v", err)
	}
}

// listenUnixNoUnlink makes a socket file at path that stays when the
// listener closes, as one left by a host that crashed does.
func listenUnixNoUnlink(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

func TestPipelinedInOrder(t *testing.T) {
	alice := newUser(t, "").start()
	bob := newUser(t, "").start()
	alice.addContact(contactOf(bob, "bob"))
	bob.addContact(contactOf(alice, "alice"))
	d := alice.device()
	const n = 300
	var ids [][]byte
	for i := range n {
		ids = append(ids, d.send("bob", fmt.Sprintf("line %d", i)).ID)
	}
	eventually(t, "every message to arrive", func() bool { return len(bob.incoming(alice)) == n })
	for i, m := range bob.incoming(alice) {
		if !bytes.Equal(m.ID, ids[i]) {
			t.Fatalf("message %d is %q: out of order", i, m.Body)
		}
	}
}

// TestStoredAfterTheOneBefore: a message whose sender says the one before
// it is still on its way (wire.HostRequest.After) waits for it, however
// long past reorderWait, and is stored after it; one whose predecessor
// does not come within afterWait is answered busy and not stored, and so
// is one its sender gave up.
func TestStoredAfterTheOneBefore(t *testing.T) {
	bob := newUser(t, "bob").start()
	carol := newPeer(t)
	c := carol.conn(bob, transport.Config{})
	deliverAfter := func(ctx context.Context, s *seal.Sealed, after []byte) (*wire.HostResponse, error) {
		data, err := c.Request(ctx, (&wire.HostRequest{Op: wire.OpDeliver, Envelope: s.Envelope, After: after}).Encode())
		if err != nil {
			return nil, err
		}
		return wire.DecodeHostResponse(data)
	}
	m1 := &wire.Message{ID: newID(), Body: []byte("first")}
	s1 := carol.sealMessage(bob, m1)
	s2 := carol.sealMessage(bob, &wire.Message{ID: newID(), Chain: wire.ChainHash(s1.Signed), Body: []byte("second")})
	answer := make(chan *wire.HostResponse, 1)
	go func() {
		r, err := deliverAfter(testCtx(t), s2, m1.ID)
		if err != nil {
			t.Error(err)
		}
		answer <- r
	}()
	time.Sleep(3 * reorderWait)
	if n := len(bob.messages()); n != 0 {
		t.Fatalf("the second message was stored before the first (%d stored)", n)
	}
	carol.deliver(c, s1.Envelope)
	if r := <-answer; r == nil || r.Status != wire.StatusStored {
		t.Fatalf("the second message: %+v", r)
	}
	if got := bodies(bob.conversation(carol.key().String())); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("stored %q", got)
	}

	const wait = time.Second
	bob.host.chains.afterWait.Store(int64(wait))
	lost := newID()
	s3 := carol.sealMessage(bob, &wire.Message{ID: newID(), Chain: bytes.Repeat([]byte{1}, wire.HashSize), Body: []byte("after one lost")})
	if r, err := deliverAfter(testCtx(t), s3, lost); err != nil || r.Status != wire.StatusBusy {
		t.Fatalf("a message after one that never came: %+v, %v; want busy", r, err)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), wait/4)
	defer cancel()
	if _, err := deliverAfter(ctx, s3, lost); err == nil {
		t.Fatal("the request given up was answered")
	}
	time.Sleep(wait)
	if got := bodies(bob.conversation(carol.key().String())); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("stored %q, want nothing more", got)
	}
}
