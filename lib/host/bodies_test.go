package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"smvs/lib/blob"
	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/seal"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// storedBody reads message seq's streamed body as a device does.
func storedBody(t *testing.T, u *user, seq uint64) []byte {
	t.Helper()
	r, size, e := u.host.openBody(seq)
	if e != nil {
		t.Fatalf("openBody(%d): %v", seq, e.Message)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil || int64(len(data)) != size {
		t.Fatalf("body of %d bytes, read %d: %v", size, len(data), err)
	}
	return data
}

// TestStreamedMessage: a body over the inline limit goes as sealed chunks
// beside its envelope, rests once as a blob at both ends, is receipted,
// and reads back whole; the stores hold no plaintext of it.
func TestStreamedMessage(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir)
	// A large message's receipt goes at once, not with others' after
	// the delay.
	bob.cfg.ReceiptDelay = time.Hour
	bob.start()
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key()})
	body := make([]byte, 5<<20+12345)
	rand.Read(body)
	ad := alice.device()
	r, err := ad.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: "bob", Kind: wire.KindFile, Body: body}})
	if err != nil {
		t.Fatal(err)
	}
	if s := ad.status(r.Sent.ID, waitFor); s != delivery.Delivered {
		t.Fatalf("status %v\n%s\n%s", s, alice.log, bob.log)
	}
	got := bob.incoming(alice)
	if len(got) != 1 || got[0].Size != int64(len(body)) || got[0].Body != nil {
		t.Fatalf("bob holds %+v", got)
	}
	if !bytes.Equal(storedBody(t, bob, got[0].Seq), body) {
		t.Fatal("bob's copy of the body differs")
	}
	if !bytes.Equal(storedBody(t, alice, r.Sent.Seq), body) {
		t.Fatal("alice's copy of the body differs")
	}
	// alice's host sent the body ahead of its message, as it sealed it;
	// the delivery found it all there.
	n := blob.Chunks(int64(len(body)))
	if !bob.logHas("receiving a body ahead of its message") || !bob.logHas(fmt.Sprintf(`msg="receiving a body" from_chunk=%d chunks=%d`, n, n)) {
		t.Errorf("the body was not pushed ahead:\n%s", bob.log)
	}
	// One blob each, of the sealed size, and nothing readable.
	for _, u := range []*user{alice, bob} {
		files, _ := filepath.Glob(filepath.Join(u.cfg.DataDir, "*", "blobs", "*"))
		if len(files) == 0 {
			files, _ = filepath.Glob(filepath.Join(u.cfg.DataDir, "blobs", "*"))
		}
		if len(files) != 1 {
			t.Fatalf("%s has %d blobs", u.name, len(files))
		}
		data, _ := os.ReadFile(files[0])
		if int64(len(data)) != blob.SealedSize(int64(len(body))) || bytes.Contains(data, body[:64]) {
			t.Errorf("%s's blob: %d bytes, or holds plaintext", u.name, len(data))
		}
	}
	// Deleted, it goes at both... at least here.
	if _, err := bob.host.store.DeleteMessages([]uint64{got[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(bob.cfg.DataDir, "blobs", "*")); len(files) != 0 {
		t.Errorf("the blob outlived its message: %v", files)
	}
}

// streamedEnvelope seals a text message from p to u with a streamed body
// of content, sealed under a new key; it returns the envelope and the
// sealed chunks.
func streamedEnvelope(t testing.TB, p *peer, u *user, content []byte) ([]byte, []byte) {
	t.Helper()
	key := make([]byte, blob.KeySize)
	rand.Read(key)
	var sealed bytes.Buffer
	sum := blob.NewHash()
	w, _ := blob.NewWriter(io.MultiWriter(&sealed, sum), key)
	w.Write(content)
	w.Close()
	rec, err := wire.VerifyRecord(u.host.Record())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s, err := seal.Seal(p.id.Signer(), rec, &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindFile,
		Stream: &wire.BodyStream{Key: key, Size: int64(len(content)), Hash: sum.Sum(nil)}}, now)
	if err != nil {
		t.Fatal(err)
	}
	return s.Envelope, sealed.Bytes()
}

// sendStreamed delivers a streamed message as p: the request, then the
// chunks from where bob's host asks, cut after cut frames if cut >= 0.
// It returns the answer (nil if cut) and the chunk bob's host asked from.
func sendStreamed(t testing.TB, c *transport.Conn, envelope, chunks []byte, cut int, beforeCut ...func()) (*wire.HostResponse, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var from uint64
	errCut := errors.New("cut")
	data, err := c.Exchange(ctx, (&wire.HostRequest{Op: wire.OpDeliverStream, Envelope: envelope}).Encode(),
		func(s *transport.Stream) ([]byte, error) {
			first, err := s.ReadFrame()
			if err != nil {
				return nil, err
			}
			resp, err := wire.DecodeHostResponse(first)
			if err != nil || resp.Status != wire.StatusSendBody {
				return first, err
			}
			from = resp.From
			rest := chunks[from*blob.SealedChunkSize:]
			for i := 0; len(rest) > 0; i++ {
				if i == cut {
					for _, f := range beforeCut {
						f()
					}
					return nil, errCut
				}
				n := min(len(rest), frameChunks*blob.SealedChunkSize)
				if err := s.WriteFrame(rest[:n]); err != nil {
					return nil, err
				}
				rest = rest[n:]
			}
			return nil, nil
		})
	if errors.Is(err, errCut) {
		return nil, from
	}
	if err != nil {
		t.Fatalf("streamed delivery: %v", err)
	}
	resp, err := wire.DecodeHostResponse(data)
	if err != nil {
		t.Fatal(err)
	}
	return resp, from
}

// holdsFrames reports whether u's host holds a partial body of at least
// frames full frames.
func holdsFrames(u *user, frames int) bool {
	files, _ := filepath.Glob(filepath.Join(u.cfg.DataDir, "partial", "*"))
	for _, f := range files {
		if info, err := os.Stat(f); err == nil && info.Size() >= int64(frames*frameSize) {
			return true
		}
	}
	return false
}

// streamedFromContact starts bob's host and makes alice, a peer in his
// contacts, with a body of 4 frames sealed to him: its content, its
// envelope and its sealed chunks.
func streamedFromContact(t *testing.T) (bob *user, alice *peer, content, envelope, chunks []byte) {
	bob = newUser(t, "bob").start()
	alice = newPeer(t)
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key()})
	content = make([]byte, 3*frameChunks*blob.ChunkSize+100) // 4 frames
	rand.Read(content)
	envelope, chunks = streamedEnvelope(t, alice, bob, content)
	return bob, alice, content, envelope, chunks
}

// TestStreamedResume: a transfer cut in the middle resumes where it
// stopped, for a contact, even across a restart of the receiving host;
// a stranger's starts again; a body that does not match its signed hash
// is refused and nothing is kept.
func TestStreamedResume(t *testing.T) {
	bob, alice, content, envelope, chunks := streamedFromContact(t)

	c := alice.conn(bob, transport.Config{})
	// The cut comes once bob's host holds the first 2 frames: data in
	// flight when a stream is reset is lost.
	held := func(frames int) func() {
		return func() {
			eventually(t, "bob's host to hold the frames sent", func() bool { return holdsFrames(bob, frames) })
		}
	}
	if resp, from := sendStreamed(t, c, envelope, chunks, 2, held(2)); resp != nil || from != 0 {
		t.Fatalf("first attempt: %+v from %d", resp, from)
	}
	// bob's host keeps what came once it sees the reset.
	eventually(t, "bob's host to keep the partial body", func() bool {
		files, _ := filepath.Glob(filepath.Join(bob.cfg.DataDir, "partial", "*.state"))
		return len(files) == 1
	})
	bob.stop()
	bob.start()
	c = alice.conn(bob, transport.Config{})
	resp, from := sendStreamed(t, c, envelope, chunks, -1)
	if resp == nil || resp.Status != wire.StatusStored || from != 2*frameChunks {
		t.Fatalf("resumed: %+v from chunk %d, want stored from %d\n%s", resp, from, 2*frameChunks, bob.log)
	}
	got := bob.incoming(&user{id: alice.id})
	if len(got) != 1 || !bytes.Equal(storedBody(t, bob, got[0].Seq), content) {
		t.Fatalf("bob holds %d messages, or the body differs", len(got))
	}
	// Again: a duplicate, answered before any chunk.
	if resp, _ := sendStreamed(t, c, envelope, chunks, -1); resp == nil || resp.Status != wire.StatusDuplicate {
		t.Fatalf("again: %+v", resp)
	}

	// A stranger's cut transfer is not kept.
	carol := newPeer(t)
	envelope, chunks = streamedEnvelope(t, carol, bob, content)
	cc := carol.conn(bob, transport.Config{})
	sendStreamed(t, cc, envelope, chunks, 1)
	eventually(t, "bob's host to drop the stranger's partial body", func() bool {
		files, _ := filepath.Glob(filepath.Join(bob.cfg.DataDir, "partial", "*"))
		return len(files) == 0
	})
	if resp, from := sendStreamed(t, cc, envelope, chunks, -1); resp == nil || resp.Status != wire.StatusStored || from != 0 {
		t.Fatalf("the stranger's again: %+v from %d", resp, from)
	}

	// A body whole in partial/ (pushed ahead of its message, or a crash
	// just after its last sync) is asked for from its end: nothing more.
	content2 := bytes.Repeat([]byte{7}, len(content))
	envelope, chunks = streamedEnvelope(t, alice, bob, content2)
	opened, err := seal.Open(bob.keys, envelope, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key := partialKey(alice.key(), opened.Message.ID)
	p, err := bob.host.store.OpenPartial(key[:], blob.SealedChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	p.Append(chunks)
	sum := blob.NewHash()
	sum.Write(chunks)
	if err := bob.host.syncPartial(p, sum); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if resp, from := sendStreamed(t, c, envelope, chunks, -1); resp == nil || resp.Status != wire.StatusStored || from != uint64(len(chunks)/blob.SealedChunkSize) {
		t.Fatalf("a body whole in partial/: %+v from %d", resp, from)
	}

	// Chunks that are not the signed ones.
	envelope, chunks = streamedEnvelope(t, alice, bob, content)
	chunks = bytes.Clone(chunks)
	chunks[len(chunks)-1] ^= 1
	if resp, _ := sendStreamed(t, c, envelope, chunks, -1); resp == nil || resp.Status != wire.StatusInvalid {
		t.Fatalf("altered chunk: %+v", resp)
	}
	if files, _ := filepath.Glob(filepath.Join(bob.cfg.DataDir, "partial", "*")); len(files) != 0 {
		t.Errorf("partial bodies left: %v", files)
	}
}

// TestStreamedTakeOver: a new attempt at a body whose last attempt stalls
// (its sender's host died with the connection open, as far as QUIC can
// tell for a minute) cuts it and resumes where it stopped, at once.
func TestStreamedTakeOver(t *testing.T) {
	bob, alice, content, envelope, chunks := streamedFromContact(t)

	// The first attempt sends 2 frames, then not a byte more, its stream
	// left open.
	stalled, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	c := alice.conn(bob, transport.Config{})
	go c.Exchange(context.Background(), (&wire.HostRequest{Op: wire.OpDeliverStream, Envelope: envelope}).Encode(),
		func(s *transport.Stream) ([]byte, error) {
			defer close(stalled)
			if first, err := s.ReadFrame(); err != nil || !bytes.Equal(first, (&wire.HostResponse{Status: wire.StatusSendBody}).Encode()) {
				return nil, fmt.Errorf("bob's host answered %x, %v", first, err)
			}
			for i := range 2 {
				if err := s.WriteFrame(chunks[i*frameSize : (i+1)*frameSize]); err != nil {
					return nil, err
				}
			}
			for deadline := time.Now().Add(waitFor); time.Now().Before(deadline) && !holdsFrames(bob, 2); {
				time.Sleep(10 * time.Millisecond)
			}
			stalled <- struct{}{}
			<-release
			return nil, errors.New("stalled")
		})
	select {
	case <-stalled:
	case <-time.After(waitFor):
		t.Fatal("the first attempt never began")
	}
	resp, from := sendStreamed(t, alice.conn(bob, transport.Config{}), envelope, chunks, -1)
	if resp == nil || resp.Status != wire.StatusStored || from != 2*frameChunks {
		t.Fatalf("the new attempt: %+v from chunk %d, want stored from %d\n%s", resp, from, 2*frameChunks, bob.log)
	}
	got := bob.incoming(&user{id: alice.id})
	if len(got) != 1 || !bytes.Equal(storedBody(t, bob, got[0].Seq), content) {
		t.Fatalf("bob holds %d messages, or the body differs", len(got))
	}
}

// BenchmarkStreamedDelivery measures a streamed body's transfer alone:
// a 64 MiB body from a peer to bob's host, until stored.
//
//	go test -run '^$' -bench StreamedDelivery -benchtime 5x ./lib/host
func BenchmarkStreamedDelivery(b *testing.B) {
	bob := newUser(b, "bob")
	bob.cfg.Log = nil
	bob.cfg.MaxMessage = 1 << 30
	bob.start()
	alice := newPeer(b)
	bob.addContact(contacts.Contact{Name: "alice", Key: alice.key()})
	content := make([]byte, 64<<20)
	c := alice.conn(bob, transport.Config{})
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		b.StopTimer()
		rand.Read(content[:64])
		envelope, chunks := streamedEnvelope(b, alice, bob, content)
		b.StartTimer()
		if resp, _ := sendStreamed(b, c, envelope, chunks, -1); resp == nil || resp.Status != wire.StatusStored {
			b.Fatalf("%+v", resp)
		}
	}
}
