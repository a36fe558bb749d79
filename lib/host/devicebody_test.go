package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// bigBody is a body over the streaming threshold, not a whole number of
// BodyParts nor of sealed chunks.
func bigBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// readBody reads the streamed body of seq through c, checking the size
// announced.
func readBody(t *testing.T, c *hostapi.Client, seq uint64) []byte {
	t.Helper()
	r, size, err := c.Body(testCtx(t), seq)
	if err != nil {
		t.Fatalf("Body(%d): %v", seq, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || int64(len(got)) != size {
		t.Fatalf("Body(%d): %d bytes of %d, %v", seq, len(got), size, err)
	}
	return got
}

// TestStreamedSubmitAndBody checks a body streamed from alice's device to
// bob's: stored streamed on both hosts, listed with its size and no body,
// and read back whole with op 13 on the connection that goes on, by the
// socket's owner and by a remote device over QUIC.
func TestStreamedSubmitAndBody(t *testing.T) {
	alice, bob := pairUp(t, nil)
	body := bigBody(3<<20 + 12345)
	c := alice.owner()
	ctx := testCtx(t)
	res, err := c.SubmitStream(ctx, &hostapi.Submit{To: "bob", Kind: wire.KindFile, FileName: "big.bin"}, bytes.NewReader(body), nil)
	if err != nil {
		t.Fatalf("streamed submit: %v\n%s", err, alice.log)
	}
	it, err := c.Status(ctx, res.ID, waitFor)
	if err != nil || it.Status != delivery.Delivered || it.Size != int64(len(body)) || len(it.Body) != 0 {
		t.Fatalf("status %+v, %v\nalice's log:\n%s\nbob's log:\n%s", it, err, alice.log, bob.log)
	}
	if got := readBody(t, c, res.Seq); !bytes.Equal(got, body) {
		t.Errorf("alice's copy: %d bytes differ", len(got))
	}
	if _, err := c.Status(ctx, res.ID, 0); err != nil {
		t.Errorf("a request after the body: %v", err)
	}

	var seq uint64
	bs, err := bob.owner().List(ctx, &hostapi.List{})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	for e, err := bs.Next(); err != io.EOF; e, err = bs.Next() {
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == hostapi.EventMessage {
			if e.Item.Size != int64(len(body)) || len(e.Item.Body) != 0 || e.Item.FileName != "big.bin" {
				t.Fatalf("bob's item: size %d, %d bytes of body", e.Item.Size, len(e.Item.Body))
			}
			seq = e.Item.Seq
		}
	}
	if got := readBody(t, bob.owner(), seq); !bytes.Equal(got, body) {
		t.Errorf("bob's copy: %d bytes differ", len(got))
	}

	// A linked remote device does the same over QUIC.
	phone := newDeviceKey(t)
	if _, err := bob.owner().Devices(ctx, &hostapi.DevicesRequest{Action: hostapi.DevicesAdd, Name: "phone", Key: phone.Public().Bytes()}); err != nil {
		t.Fatal(err)
	}
	rc := bob.remote(phone)
	if got := readBody(t, rc, seq); !bytes.Equal(got, body) {
		t.Errorf("bob's copy over QUIC: %d bytes differ", len(got))
	}
	back := bigBody(2<<20 + 1)
	if _, err := rc.SubmitStream(ctx, &hostapi.Submit{To: "alice", Kind: wire.KindFile}, bytes.NewReader(back), nil); err != nil {
		t.Fatalf("a streamed submit over QUIC: %v\n%s", err, bob.log)
	}
	// Refused before the body's end, on either kind of connection: the
	// device gets the host's error, not a broken pipe.
	for name, dev := range map[string]*hostapi.Client{"socket": bob.owner(), "QUIC": bob.remote(phone)} {
		var hostErr *hostapi.Error
		_, err := dev.SubmitStream(ctx, &hostapi.Submit{To: "nobody", Kind: wire.KindFile}, bytes.NewReader(bigBody(8<<20)), nil)
		if !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrUnknownRecipient {
			t.Errorf("%s: a streamed submit to nobody: %v", name, err)
		}
	}
	eventually(t, "alice has bob's streamed message", func() bool {
		in := alice.incoming(bob)
		return len(in) == 1 && in[0].Size == int64(len(back))
	})

	// A message whose body came with its item has no streamed body; the
	// connection goes on.
	small := alice.device().send("bob", "small")
	var hostErr *hostapi.Error
	if _, _, err := c.Body(ctx, small.Seq); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrNotFound {
		t.Errorf("the body of an inline message: %v", err)
	}
	if _, _, err := c.Body(ctx, 1<<40); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrNotFound {
		t.Errorf("the body of no message: %v", err)
	}
	if got := readBody(t, c, res.Seq); !bytes.Equal(got, body) {
		t.Errorf("after the refusals: %d bytes differ", len(got))
	}
}

// TestStreamedSubmitBroken checks that a streamed submit that ends before
// its last BodyPart, sends something else among them, or passes the
// host's limit stores nothing, and that the host closes the connection.
func TestStreamedSubmitBroken(t *testing.T) {
	alice := newUser(t, "alice")
	alice.cfg.MaxMessage = 4 << 20
	alice.start()
	bob := newUser(t, "bob").start()
	alice.addContact(contactOf(bob, "bob"))

	submit := &hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: "bob", Kind: wire.KindFile, Stream: true}}
	part := bigBody(hostapi.MaxBodyPart)
	for name, rest := range map[string]func(d *device){
		"cut off": func(d *device) {
			hostapi.WriteBodyPart(d.c, part)
			hostapi.WriteBodyPart(d.c, part[:1000])
			d.c.(interface{ CloseWrite() error }).CloseWrite()
		},
		"a request among the parts": func(d *device) {
			hostapi.WriteBodyPart(d.c, part)
			hostapi.WriteRequest(d.c, &hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{}})
		},
	} {
		d := alice.device()
		if err := hostapi.WriteRequest(d.c, submit); err != nil {
			t.Fatal(err)
		}
		rest(d)
		var hostErr *hostapi.Error
		if _, err := d.read(); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrBadRequest {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := d.read(); err == nil {
			t.Errorf("%s: the connection went on", name)
		}
	}

	// Over the limit: refused once past it, nothing stored.
	c := alice.owner()
	var hostErr *hostapi.Error
	_, err := c.SubmitStream(testCtx(t), &hostapi.Submit{To: "bob", Kind: wire.KindFile}, bytes.NewReader(bigBody(6<<20)), nil)
	if !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrTooLarge {
		t.Errorf("over the limit: %v", err)
	}

	// A device that leaves in the middle.
	ctx, cancel := context.WithCancel(testCtx(t))
	slow := io.MultiReader(bytes.NewReader(part), readerFunc(func([]byte) (int, error) {
		cancel()
		time.Sleep(100 * time.Millisecond)
		return 0, io.ErrUnexpectedEOF
	}))
	if _, err := alice.owner().SubmitStream(ctx, &hostapi.Submit{To: "bob", Kind: wire.KindFile}, slow, nil); err == nil {
		t.Error("a submit whose device left succeeded")
	}

	time.Sleep(200 * time.Millisecond) // let the host see the connections end
	if ms := alice.messages(); len(ms) != 0 {
		t.Errorf("alice's host stored %d messages from broken submits", len(ms))
	}
	// And it still takes messages.
	alice.device().send("bob", "still here")
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestStreamedSubmitShutdown checks that a host that stops closes a
// connection still sending a body, at once and storing nothing.
func TestStreamedSubmitShutdown(t *testing.T) {
	alice := newUser(t, "alice").start()
	bob := newUser(t, "bob").start()
	alice.addContact(contactOf(bob, "bob"))

	sent, release := make(chan struct{}), make(chan struct{})
	stalled := io.MultiReader(bytes.NewReader(bigBody(2<<20)), readerFunc(func([]byte) (int, error) {
		close(sent)
		<-release
		return 0, io.EOF
	}))
	done := make(chan error, 1)
	c := alice.owner()
	go func() {
		_, err := c.SubmitStream(testCtx(t), &hostapi.Submit{To: "bob", Kind: wire.KindFile}, stalled, nil)
		done <- err
	}()
	<-sent
	start := time.Now()
	alice.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the host took %v to stop", d)
	}
	close(release)
	if err := <-done; err == nil {
		t.Error("the submit the host cut off succeeded")
	}
	alice.start()
	if ms := alice.messages(); len(ms) != 0 {
		t.Errorf("%d messages stored", len(ms))
	}
}
