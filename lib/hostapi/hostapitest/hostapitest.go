// Package hostapitest is a fake host for testing devices: it answers the
// hostapi protocol on a unix socket, as smvs-hostd does, and keeps messages
// in memory. It delivers nothing; a test says what happens to a message
// (SetStatus) and what arrives (Receive). It can be stopped and started
// again on the same socket, keeping its messages, as a host restarts.
//
// A Host is safe for concurrent use.
package hostapitest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// Host is a fake host.
type Host struct {
	path string

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool
	down     chan struct{} // closed by Stop
	changed  chan struct{} // closed and replaced whenever log grows
	items    []*hostapi.Item
	log      []hostapi.Event // every message and status change, in order
	contacts map[string][]byte
	claims   map[string]string // by hex key: the name a stranger's record claims
	refuse   map[string]*hostapi.Error
	submits  []Submitted
	nconns   int
	deliver  time.Duration
	maxBody  int
	calls    callState
	history  historyState
	seq      uint64            // the last seq given
	bodies   map[uint64][]byte // streamed bodies, by seq
	wg       sync.WaitGroup
}

// Submitted is a message a device submitted. Submit.Body holds its body,
// streamed (Submit.Stream) or not.
type Submitted struct {
	Conn   int // which connection it came on, counting from 1
	Submit hostapi.Submit
	Item   hostapi.Item
}

// Start starts a fake host on a socket in a temporary directory of t's,
// and stops it when the test ends.
func Start(t testing.TB) *Host {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 80 { // a unix socket path has room for about 100 bytes
		var err error
		if dir, err = os.MkdirTemp("", "smvs"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	h := &Host{
		path:     filepath.Join(dir, "host.sock"),
		changed:  make(chan struct{}),
		contacts: map[string][]byte{},
		claims:   map[string]string{},
		refuse:   map[string]*hostapi.Error{},
		bodies:   map[uint64][]byte{},
	}
	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h
}

// Path returns the path of the host's socket.
func (h *Host) Path() string { return h.path }

// Restart starts the host again after Stop, on the same socket, with the
// same messages.
func (h *Host) Restart() error {
	ln, err := net.Listen("unix", h.path)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.ln, h.conns, h.down = ln, map[net.Conn]bool{}, make(chan struct{})
	h.mu.Unlock()
	h.wg.Add(1)
	go h.serve(ln)
	return nil
}

// Stop stops the host as a crash would: it stops listening (and removes the
// socket) and drops every connection, answered or not. It waits for its
// goroutines to end.
func (h *Host) Stop() {
	h.mu.Lock()
	if h.ln == nil {
		h.mu.Unlock()
		return
	}
	h.ln.Close()
	h.ln = nil
	close(h.down)
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// AddContact makes name resolve to key, as the host's contacts file would.
func (h *Host) AddContact(name string, key []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.contacts[name] = key
}

// Claim makes the peer with key, if it is no contact, claim name, as a
// host tells devices the name of a stranger's record (Item.ClaimedName).
func (h *Host) Claim(key []byte, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claims[hex.EncodeToString(key)] = name
}

// claimed is the name peer claims, if it is no contact (name is its
// contact name). h.mu is held.
func (h *Host) claimed(peer []byte, name string) string {
	if name != "" {
		return ""
	}
	return h.claims[hex.EncodeToString(peer)]
}

// Refuse makes the host answer a submit to the recipient to with e.
func (h *Host) Refuse(to string, e *hostapi.Error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refuse[to] = e
}

// DeliverAfter makes every message submitted from now on delivered d after
// it was submitted; 0 leaves them queued.
func (h *Host) DeliverAfter(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deliver = d
}

// LimitBody makes the host refuse a body larger than n bytes, as
// smvs-hostd does with its message size limit; a request frame much larger
// than that it refuses before reading it, and closes the connection.
func (h *Host) LimitBody(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maxBody = n
}

// Submitted returns the messages devices submitted, in order.
func (h *Host) Submitted() []Submitted {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Submitted(nil), h.submits...)
}

// WaitSubmitted waits up to timeout for n messages to have been submitted,
// and returns those there are.
func (h *Host) WaitSubmitted(n int, timeout time.Duration) []Submitted {
	deadline := time.Now().Add(timeout)
	for {
		h.mu.Lock()
		got, changed := len(h.submits), h.changed
		h.mu.Unlock()
		left := time.Until(deadline)
		if got >= n || left <= 0 {
			return h.Submitted()
		}
		select {
		case <-changed:
		case <-time.After(left):
		}
	}
}

// Receive stores an incoming message from the key from, as if the host had
// received it, and returns it. While the host is stopped, the message is
// there when it starts again.
func (h *Host) Receive(from []byte, kind wire.Kind, contentType, fileName string, body []byte) *hostapi.Item {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now().UnixMilli()
	it := h.add(&hostapi.Item{
		Direction: delivery.In, Peer: bytes.Clone(from), Sent: now, Stored: now,
		Kind: kind, ContentType: contentType, FileName: fileName, Body: bytes.Clone(body), Status: delivery.Received,
	})
	return clone(it, true)
}

// Add stores it as it is but for its Seq and ID (and PeerName, if it has
// none), which the host gives it, and returns it so.
func (h *Host) Add(it hostapi.Item) *hostapi.Item {
	h.mu.Lock()
	defer h.mu.Unlock()
	return clone(h.add(clone(&it, true)), true)
}

// SetStatus changes the delivery status of the message with the given id.
func (h *Host) SetStatus(id []byte, s delivery.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setStatus(id, s)
}

func (h *Host) setStatus(id []byte, s delivery.Status) {
	for _, it := range h.items {
		if bytes.Equal(it.ID, id) {
			it.Status = s
			h.notify(hostapi.Event{Kind: hostapi.EventStatus, Item: clone(it, false)})
			return
		}
	}
}

// add gives it a seq, an id and, if it has none, its peer's contact name;
// keeps it and tells followers. h.mu is held.
func (h *Host) add(it *hostapi.Item) *hostapi.Item {
	if it.PeerName == "" {
		for name, key := range h.contacts {
			if bytes.Equal(key, it.Peer) {
				it.PeerName = name
			}
		}
	}
	if it.ClaimedName == "" {
		it.ClaimedName = h.claimed(it.Peer, it.PeerName)
	}
	h.seq++
	it.Seq = h.seq
	it.ID = make([]byte, wire.MessageIDSize)
	rand.Read(it.ID)
	if len(it.Body) > hostapi.StreamThreshold {
		h.bodies[it.Seq], it.Body, it.Size = it.Body, nil, int64(len(it.Body))
	}
	h.items = append(h.items, it)
	h.notify(hostapi.Event{Kind: hostapi.EventMessage, Item: clone(it, true)})
	return it
}

func (h *Host) notify(e hostapi.Event) {
	h.log = append(h.log, e)
	close(h.changed)
	h.changed = make(chan struct{})
}

func clone(it *hostapi.Item, body bool) *hostapi.Item {
	c := *it
	c.ID, c.Peer = bytes.Clone(it.ID), bytes.Clone(it.Peer)
	c.Body = nil
	if body {
		c.Body = bytes.Clone(it.Body)
	}
	return &c
}

func (h *Host) serve(ln net.Listener) {
	defer h.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		if h.ln != ln {
			h.mu.Unlock()
			conn.Close()
			return
		}
		h.nconns++
		h.conns[conn] = true
		n, down := h.nconns, h.down
		h.mu.Unlock()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.handle(conn, n, down)
			conn.Close()
			h.mu.Lock()
			delete(h.conns, conn)
			h.mu.Unlock()
		}()
	}
}

// handle answers the requests of one connection.
func (h *Host) handle(conn net.Conn, n int, down chan struct{}) {
	for {
		h.mu.Lock()
		limit := hostapi.MaxFrame
		if h.maxBody > 0 {
			limit = h.maxBody + 64<<10
		}
		h.mu.Unlock()
		req, err := hostapi.ReadRequest(conn, limit)
		switch {
		case errors.Is(err, wire.ErrTooLarge):
			hostapi.WriteResponse(conn, &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrTooLarge, Message: "the request is larger than this host's limit"}})
			return
		case errors.Is(err, wire.ErrMalformed):
			hostapi.WriteResponse(conn, &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrBadRequest, Message: err.Error()}})
			return
		case err != nil:
			return
		}
		var resp *hostapi.Response
		switch req.Op {
		case hostapi.OpDelete, hostapi.OpImport, hostapi.OpFingerprint, hostapi.OpExpiry:
			resp = h.historyOp(req)
		case hostapi.OpSubmit:
			if req.Submit.Stream {
				if e := h.readStreamed(conn, req.Submit); e != nil {
					hostapi.WriteResponse(conn, e)
					return
				}
			}
			resp = h.submit(req.Submit, n)
		case hostapi.OpBody:
			if !h.sendBody(conn, req.Body.Seq) {
				return
			}
			continue
		case hostapi.OpStatus:
			resp = h.status(req.Status, down)
		case hostapi.OpList:
			h.list(conn, req.List, down)
			return
		case hostapi.OpCall:
			h.call(conn, req.Call, n, down)
			return
		}
		if resp == nil || hostapi.WriteResponse(conn, resp) != nil {
			return
		}
	}
}

func (h *Host) submit(s *hostapi.Submit, n int) *hostapi.Response {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.refuse[s.To]; e != nil {
		return &hostapi.Response{Err: e}
	}
	if h.maxBody > 0 && len(s.Body) > h.maxBody {
		return &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrTooLarge, Message: "the message is larger than this host's limit"}}
	}
	key, name := h.resolve(s.To)
	if key == nil {
		return &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrUnknownRecipient, Message: "unknown recipient " + s.To}}
	}
	now := time.Now().UnixMilli()
	it := h.add(&hostapi.Item{
		Direction: delivery.Out, Peer: key, PeerName: name, Sent: now, Stored: now,
		Kind: s.Kind, ContentType: s.ContentType, FileName: s.FileName, Body: bytes.Clone(s.Body),
		Expires: s.Expires, Status: delivery.Queued,
	})
	h.submits = append(h.submits, Submitted{Conn: n, Submit: *s, Item: *clone(it, true)})
	if d := h.deliver; d > 0 {
		id := it.ID
		time.AfterFunc(d, func() { h.SetStatus(id, delivery.Delivered) })
	}
	return &hostapi.Response{Sent: &hostapi.SubmitResult{Seq: it.Seq, ID: bytes.Clone(it.ID), Recipient: key, Name: name}}
}

// resolve finds the key of a contact name or an smvs1… key. h.mu is held.
func (h *Host) resolve(to string) (key []byte, name string) {
	if k, ok := h.contacts[to]; ok {
		return bytes.Clone(k), to
	}
	if pk, err := identity.ParsePublicKey(to); err == nil && pk.Kind() == identity.KindIdentity {
		for n, k := range h.contacts {
			if bytes.Equal(k, pk.Bytes()) {
				return bytes.Clone(k), n
			}
		}
		return bytes.Clone(pk.Bytes()), ""
	}
	return nil, ""
}

func (h *Host) status(s *hostapi.Status, down chan struct{}) *hostapi.Response {
	deadline := time.Now().Add(time.Duration(s.Wait) * time.Millisecond)
	for {
		h.mu.Lock()
		var found *hostapi.Item
		for _, it := range append(h.items, h.history.requests...) {
			if bytes.Equal(it.ID, s.ID) {
				found = clone(it, false)
			}
		}
		changed := h.changed
		h.mu.Unlock()
		if found == nil {
			return &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrNotFound, Message: "no such message"}}
		}
		left := time.Until(deadline)
		// A delete request is answered when the peer's host honoured it
		// (Sent): no receipt follows.
		if found.Status.Final() || (found.Kind == wire.KindDelete && found.Status == delivery.Sent) || left <= 0 {
			return &hostapi.Response{Status: found}
		}
		select {
		case <-changed:
		case <-time.After(left):
		case <-down:
			return nil
		}
	}
}

// list sends the history l selects; with Follow, then EventLive and what
// happens next until the connection or the host goes down; without, it
// returns, and the connection is closed.
func (h *Host) list(conn net.Conn, l *hostapi.List, down chan struct{}) {
	h.mu.Lock()
	var peer []byte
	if l.Peer != "" {
		if peer, _ = h.resolve(l.Peer); peer == nil {
			h.mu.Unlock()
			hostapi.WriteResponse(conn, &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrUnknownRecipient, Message: "unknown contact " + l.Peer}})
			return
		}
	}
	var history []*hostapi.Item
	for _, it := range h.items {
		if it.Seq > l.After && it.Sent >= l.Since && (peer == nil || bytes.Equal(it.Peer, peer)) {
			c := clone(it, true)
			if !l.Signed {
				c.Signed = nil
			}
			history = append(history, c)
		}
	}
	next, changed := len(h.log), h.changed
	h.mu.Unlock()

	for _, it := range history {
		if hostapi.WriteResponse(conn, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventMessage, Item: it}}) != nil {
			return
		}
	}
	if !l.Follow {
		return
	}
	if hostapi.WriteResponse(conn, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventLive}}) != nil {
		return
	}
	for {
		select {
		case <-changed:
		case <-down:
			return
		}
		h.mu.Lock()
		events := append([]hostapi.Event(nil), h.log[next:]...)
		next, changed = len(h.log), h.changed
		h.mu.Unlock()
		for _, e := range events {
			if peer != nil && e.Item != nil && !bytes.Equal(e.Item.Peer, peer) {
				continue
			}
			if hostapi.WriteResponse(conn, &hostapi.Response{Event: &e}) != nil {
				return
			}
		}
	}
}
