package host

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

func TestDeviceGarbage(t *testing.T) {
	alice := newUser(t, "").start()
	bob := newUser(t, "").start()
	carol := newPeer(t)
	if r := carol.deliver(carol.conn(alice, transport.Config{}), carol.seal(alice, "before", time.Now())); r.Status != wire.StatusStored {
		t.Fatal(r.Status)
	}
	before := len(alice.messages())

	frame := func(payload []byte) []byte { return wire.AppendFrame(nil, payload) }
	huge := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	for name, junk := range map[string][]byte{
		"not CBOR":          frame([]byte("hello, host")),
		"empty frame":       {0, 0, 0, 0},
		"huge frame":        huge,
		"truncated frame":   {0, 0, 1, 0, 1, 2},
		"unknown op":        frame(wire.Marshal(&hostapi.Request{V: hostapi.Version, Op: 9, Status: &hostapi.Status{ID: make([]byte, 16)}})),
		"response as a req": frame(wire.Marshal(&hostapi.Response{V: hostapi.Version, Err: &hostapi.Error{Code: 1, Message: "x"}})),
		"bad version":       frame(wire.Marshal(&hostapi.Request{V: 7, Op: hostapi.OpList, List: &hostapi.List{}})),
		"receipt submit": frame(wire.Marshal(&hostapi.Request{V: hostapi.Version, Op: hostapi.OpSubmit,
			Submit: &hostapi.Submit{To: bob.key().String(), Kind: wire.KindReceipt, Body: []byte("x")}})),
	} {
		c, err := net.Dial("unix", alice.cfg.Socket)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(junk)
		if name == "truncated frame" {
			c.(*net.UnixConn).CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(waitFor))
		_, err = hostapi.ReadResponse(c, hostapi.MaxFrame)
		var e *hostapi.Error
		if errors.As(err, &e) {
			if e.Code != hostapi.ErrBadRequest {
				t.Errorf("%s: answered %v", name, e)
			}
			_, err = hostapi.ReadResponse(c, hostapi.MaxFrame)
		}
		// After garbage, the host closes the connection.
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Errorf("%s: after the answer: %v, want the connection closed", name, err)
		}
		c.Close()
	}

	// The host still serves, and nothing stored changed.
	alice.addContact(contactOf(bob, "bob"))
	d := alice.device()
	id := d.send("bob", "still here").ID
	eventually(t, "the message to be sent", func() bool { return d.status(id, 0) == delivery.Sent })
	if n := len(alice.messages()); n != before+1 {
		t.Errorf("alice has %d messages, want %d", n, before+1)
	}
}

func TestPeerGarbage(t *testing.T) {
	bob := newUser(t, "").start()
	carol := newPeer(t)
	c := carol.conn(bob, transport.Config{MaxFrame: 64 << 20})
	for name, req := range map[string][]byte{
		"not CBOR":           []byte("GET / HTTP/1.1\r\n\r\n"),
		"an envelope alone":  carol.seal(bob, "x", time.Now()),
		"a record op + junk": append((&wire.HostRequest{Op: wire.OpRecord}).Encode(), 0),
		"empty envelope":     wire.Marshal(&struct{ V, Op uint64 }{1, 1}),
		"garbage envelope":   (&wire.HostRequest{Op: wire.OpDeliver, Envelope: []byte("sealed? no")}).Encode(),
	} {
		if r := carol.request(c, req); r.Status != wire.StatusInvalid {
			t.Errorf("%s: %v", name, r.Status)
		}
	}
	// A frame over bob's limit is refused from its header: the stream is
	// reset, the connection carries on.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Request(ctx, make([]byte, DefaultMaxMessage/2+envelopeOverhead+DefaultMaxMessage/2+1)); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("oversized frame: %v", err)
	}
	// A stream that is not frames at all.
	s, err := c.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	if _, err := s.ReadFrame(); err == nil {
		t.Error("an empty stream was answered")
	}
	s.Close()

	if r := carol.deliver(c, carol.seal(bob, "after the garbage", time.Now())); r.Status != wire.StatusStored {
		t.Errorf("delivery after garbage: %v", r.Status)
	}
	if n := len(bob.messages()); n != 1 {
		t.Errorf("bob stored %d messages, want 1", n)
	}
	// The record op answers with bob's record.
	r := carol.request(c, (&wire.HostRequest{Op: wire.OpRecord}).Encode())
	if rec, err := wire.VerifyRecord(r.Record); err != nil || string(rec.Identity) != string(bob.key().Bytes()) {
		t.Errorf("record: %v", err)
	}
}

func TestPeerRateLimit(t *testing.T) {
	bob := newUser(t, "")
	bob.cfg.PeerRate, bob.cfg.PeerBurst = 1, 3
	bob.start()
	carol := newPeer(t)
	c := carol.conn(bob, transport.Config{})
	busy := 0
	for range 6 {
		if r := carol.deliver(c, carol.seal(bob, "spam", time.Now())); r.Status == wire.StatusBusy {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("%d of 6 deliveries refused as busy, want at least 2", busy)
	}
	if !bob.logHas("peer over its limits") {
		t.Errorf("no log line:\n%s", bob.log)
	}
	// Another peer has its own bucket.
	dave := newPeer(t)
	if r := dave.deliver(dave.conn(bob, transport.Config{}), dave.seal(bob, "hi", time.Now())); r.Status != wire.StatusStored {
		t.Errorf("another peer: %v", r.Status)
	}
}
