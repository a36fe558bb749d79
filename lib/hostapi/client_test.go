package hostapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/hostapi/hostapitest"
	"smvs/lib/wire"
)

var bobKey = bytes.Repeat([]byte{0xb0}, wire.KeySize)

func dial(t *testing.T, path string) *hostapi.Client {
	t.Helper()
	c, err := hostapi.Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func text(to, body string) *hostapi.Submit {
	return &hostapi.Submit{To: to, Kind: wire.KindText, Body: []byte(body)}
}

func TestDialNotRunning(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	if _, err := hostapi.Dial(context.Background(), missing); !errors.Is(err, hostapi.ErrHostNotRunning) {
		t.Errorf("no socket: %v", err)
	}

	// A socket file left by a host that died: connections are refused.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	_, err = hostapi.Dial(context.Background(), stale)
	if !errors.Is(err, hostapi.ErrHostNotRunning) {
		t.Errorf("stale socket: %v", err)
	}
	if err != nil && !bytes.Contains([]byte(err.Error()), []byte(stale)) {
		t.Errorf("the error does not name the socket: %v", err)
	}
}

func TestSubmitAndStatus(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	c := dial(t, h.Path())
	ctx := context.Background()

	first, err := c.Submit(ctx, text("bob", "one"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Name != "bob" || !bytes.Equal(first.Recipient, bobKey) || len(first.ID) != wire.MessageIDSize {
		t.Errorf("result %+v", first)
	}
	// A refusal leaves the connection usable.
	var hostErr *hostapi.Error
	if _, err := c.Submit(ctx, text("carol", "x")); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrUnknownRecipient {
		t.Errorf("unknown recipient: %v", err)
	}
	// So does a request the host would refuse, which is not sent.
	if _, err := c.Submit(ctx, &hostapi.Submit{To: "bob", Kind: wire.KindReceipt}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("a receipt: %v", err)
	}
	second, err := c.Submit(ctx, text("bob", "two"))
	if err != nil || second.Seq <= first.Seq {
		t.Fatalf("second submit: %+v, %v", second, err)
	}
	subs := h.Submitted()
	if len(subs) != 2 || subs[0].Conn != subs[1].Conn || string(subs[1].Submit.Body) != "two" {
		t.Errorf("submitted %+v", subs)
	}

	it, err := c.Status(ctx, first.ID, 0)
	if err != nil || it.Status != delivery.Queued || it.Seq != first.Seq {
		t.Errorf("status now: %+v, %v", it, err)
	}
	// Waiting: the status comes when it is final.
	go func() {
		time.Sleep(50 * time.Millisecond)
		h.SetStatus(first.ID, delivery.Delivered)
	}()
	it, err = c.Status(ctx, first.ID, 10*time.Second)
	if err != nil || it.Status != delivery.Delivered {
		t.Errorf("status after waiting: %+v, %v", it, err)
	}
	// ... or when the wait is over.
	start := time.Now()
	it, err = c.Status(ctx, second.ID, 100*time.Millisecond)
	if err != nil || it.Status != delivery.Queued || time.Since(start) < 100*time.Millisecond {
		t.Errorf("status after a wait in vain: %+v, %v", it, err)
	}
	if _, err := c.Status(ctx, make([]byte, wire.MessageIDSize), 0); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrNotFound {
		t.Errorf("unknown id: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	h.LimitBody(1000)
	c := dial(t, h.Path())
	ctx := context.Background()

	// Over the body limit but not the frame limit: refused, and the
	// connection stays usable.
	var hostErr *hostapi.Error
	if _, err := c.Submit(ctx, text("bob", string(make([]byte, 2000)))); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrTooLarge {
		t.Fatalf("over the body limit: %v", err)
	}
	if _, err := c.Submit(ctx, text("bob", "small")); err != nil {
		t.Fatal(err)
	}

	// So large the host refuses the frame before reading it and closes the
	// connection while the client is still writing: its answer is read.
	big := &hostapi.Submit{To: "bob", Kind: wire.KindFile, Body: make([]byte, 8<<20)}
	if _, err := c.Submit(ctx, big); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrTooLarge {
		t.Fatalf("over the frame limit: %v", err)
	}
	if _, err := c.Submit(ctx, text("bob", "small")); err == nil {
		t.Error("the connection is still used after the host closed it")
	}
}

func TestList(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	carol := bytes.Repeat([]byte{0xca}, wire.KeySize)
	h.Receive(bobKey, wire.KindText, "", "", []byte("hi"))
	h.Receive(carol, wire.KindText, "", "", []byte("hello"))
	h.Receive(bobKey, wire.KindFile, "application/pdf", "r.pdf", []byte("%PDF"))

	// The history, then io.EOF when the host closes the connection.
	c := dial(t, h.Path())
	s, err := c.List(context.Background(), &hostapi.List{After: 1})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for {
		e, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Item.Seq)
	}
	if len(seqs) != 2 || seqs[0] != 2 || seqs[1] != 3 {
		t.Errorf("history after 1: seqs %v", seqs)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("after the end: %v", err)
	}
	s.Close()
	if _, err := c.Submit(context.Background(), text("bob", "x")); err == nil {
		t.Error("the client made a request on a connection a List took")
	}

	// Following one peer: history, live, then what happens.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err = dial(t, h.Path()).List(ctx, &hostapi.List{Peer: "bob", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []hostapi.EventKind{hostapi.EventMessage, hostapi.EventMessage, hostapi.EventLive, hostapi.EventMessage, hostapi.EventStatus}
	for i, kind := range want {
		if i == 3 {
			h.Receive(carol, wire.KindText, "", "", []byte("not bob"))
			sent := h.Receive(bobKey, wire.KindText, "", "", []byte("live"))
			h.SetStatus(sent.ID, delivery.Received)
		}
		e, err := s.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if e.Kind != kind || (i == 3 && string(e.Item.Body) != "live") {
			t.Fatalf("event %d: %+v, want kind %d", i, e, kind)
		}
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
}

func TestHostGoesAway(t *testing.T) {
	h := hostapitest.Start(t)
	s, err := dial(t, h.Path()).List(context.Background(), &hostapi.List{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if e, err := s.Next(); err != nil || e.Kind != hostapi.EventLive {
		t.Fatalf("first event: %+v, %v", e, err)
	}
	c := dial(t, h.Path())
	h.Stop()
	if _, err := s.Next(); err == nil || err == io.EOF {
		t.Errorf("following a host that stopped: %v", err)
	}
	_, err = c.Submit(context.Background(), text("bob", "x"))
	if err == nil {
		t.Fatal("submit to a host that stopped")
	}
	if _, again := c.Status(context.Background(), make([]byte, 16), 0); again != err {
		t.Errorf("a broken client's next request: %v, want %v", again, err)
	}
	if _, err := hostapi.Dial(context.Background(), h.Path()); !errors.Is(err, hostapi.ErrHostNotRunning) {
		t.Errorf("dial a stopped host: %v", err)
	}
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	dial(t, h.Path())
}

func TestContext(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	c := dial(t, h.Path())
	sent, err := c.Submit(context.Background(), text("bob", "x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Status(ctx, sent.ID, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("status past the deadline: %v", err)
	}
	if _, err := c.Submit(context.Background(), text("bob", "y")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after an interrupted request: %v", err)
	}
}

// fakeHost answers every request on one connection with resp.
func fakeHost(t *testing.T, resp *hostapi.Response) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			if _, err := hostapi.ReadRequest(conn, hostapi.MaxFrame); err != nil {
				return
			}
			if resp == nil || hostapi.WriteResponse(conn, resp) != nil {
				return
			}
		}
	}()
	return path
}

func TestProtocolErrors(t *testing.T) {
	ctx := context.Background()
	wrong := &hostapi.Response{Status: &hostapi.Item{Seq: 1, ID: make([]byte, 16), Status: delivery.Queued}}
	if _, err := dial(t, fakeHost(t, wrong)).Submit(ctx, text("bob", "x")); !errors.Is(err, hostapi.ErrProtocol) {
		t.Errorf("submit answered with a status: %v", err)
	}
	if s, err := dial(t, fakeHost(t, wrong)).List(ctx, &hostapi.List{}); err != nil {
		t.Error(err)
	} else if _, err := s.Next(); !errors.Is(err, hostapi.ErrProtocol) {
		t.Errorf("list answered with a status: %v", err)
	}
	// Closed without an answer.
	_, err := dial(t, fakeHost(t, nil)).Submit(ctx, text("bob", "x"))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("no answer: %v", err)
	}
	// A following stream the host closes has not ended: it broke.
	if s, err := dial(t, fakeHost(t, nil)).List(ctx, &hostapi.List{Follow: true}); err != nil {
		t.Error(err)
	} else if _, err := s.Next(); err == nil || err == io.EOF {
		t.Errorf("follow closed by the host: %v", err)
	}
}
