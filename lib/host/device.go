package host

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// deviceServer serves the device protocol (package hostapi) on the unix
// socket, to the owner's local devices, and on QUIC streams, to remote
// devices presenting a linked device key: requests one after another on a
// connection, each answered with one response, except List, which streams
// events and ends the connection (at once without Follow; when the device
// leaves with it).
type deviceServer struct {
	h     *Host
	sock  *socket
	reg   *registry
	limit int           // the largest request frame
	ready chan struct{} // closed by start: remote devices wait for it

	mu         sync.Mutex
	closed     bool
	conns      map[*deviceConn]struct{}
	lastSeen   map[identity.PublicKey]time.Time
	pairing    map[identity.PublicKey]bool // unlinked device keys with a stream open
	wg         sync.WaitGroup
	acceptDone chan struct{}
}

// deviceConn is one device connection. It is busy while a Submit is being
// handled: a stopping host lets that finish and answer.
type deviceConn struct {
	c    net.Conn
	busy bool
	// device is a remote device's key, and qc its QUIC connection; the
	// zero key is the unix socket, which only the owner can open.
	device identity.PublicKey
	qc     *transport.Conn
	// limit is the largest request frame the connection may send;
	// pairing marks a remote device that is not linked yet (see
	// serveRemote).
	limit   int
	pairing bool
}

func (dc *deviceConn) remote() bool { return !dc.device.IsZero() }

// listPage is how many messages a List reads from the store at once.
const listPage = 256

// maxStatusWait bounds a Status request's wait.
const maxStatusWait = 24 * time.Hour

// newDeviceServer returns a device server for sock and the devices of
// reg; start begins serving.
func newDeviceServer(h *Host, sock *socket, reg *registry) *deviceServer {
	return &deviceServer{
		h: h, sock: sock, reg: reg, limit: int(min(h.cfg.MaxMessage, hostapi.MaxBodyLimit)) + 64<<10, ready: make(chan struct{}),
		conns: make(map[*deviceConn]struct{}), lastSeen: make(map[identity.PublicKey]time.Time),
		pairing:    make(map[identity.PublicKey]bool),
		acceptDone: make(chan struct{}),
	}
}

// start begins serving the socket and remote devices.
func (s *deviceServer) start() {
	close(s.ready)
	go s.accept()
}

// add registers dc, unless the host is stopping.
func (s *deviceServer) add(dc *deviceConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[dc] = struct{}{}
	if dc.remote() && !dc.pairing { // a flood of fresh keys must not grow the map
		s.lastSeen[dc.device] = s.h.now()
	}
	s.wg.Add(1)
	return true
}

// The limits of a remote device that is not linked: it may only redeem a
// pairing code, so it gets one stream at a time, one request of at most
// pairingFrame bytes on it, and buffers to match.
const (
	pairingFrame  = 4 << 10
	pairingBuffer = 4 << 10
	deviceBuffer  = 64 << 10
)

// serveRemote serves a remote device's stream, once the host has started.
// A device that is not linked may only link itself: its stream carries one
// request of at most pairingFrame bytes and is closed once answered (kept,
// with a linked device's limits, if the request linked it), and a second
// stream while one is open is refused at once.
func (s *deviceServer) serveRemote(device identity.PublicKey, st *transport.Stream) {
	select {
	case <-s.ready:
	case <-s.h.ctx.Done():
		return
	}
	dc := &deviceConn{c: st.NetConn(), device: device, qc: st.Conn(), limit: s.limit}
	if s.notLinked(device) != nil {
		if !s.beginPairing(device) {
			w := bufio.NewWriterSize(dc.c, pairingBuffer)
			s.respond(w, &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrUnavailable,
				Message: "this device is not linked to the host, and may have only one stream open at a time",
				Hint:    "link it with smvs-device link and a pairing code, one at a time"}})
			dc.c.Close()
			return
		}
		defer s.endPairing(device)
		dc.limit, dc.pairing = pairingFrame, true
	}
	if !s.add(dc) {
		dc.c.Close()
		return
	}
	s.serve(dc)
}

// beginPairing takes the one stream an unlinked device key may have open.
func (s *deviceServer) beginPairing(device identity.PublicKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pairing[device] {
		return false
	}
	s.pairing[device] = true
	return true
}

func (s *deviceServer) endPairing(device identity.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pairing, device)
}

// goOn reports whether dc may make another request after one was
// answered: an unlinked device only if that request linked it, from when
// on it has a linked device's limits.
func (s *deviceServer) goOn(dc *deviceConn) bool {
	if !dc.pairing {
		return true
	}
	if s.notLinked(dc.device) != nil {
		return false
	}
	s.mu.Lock()
	dc.pairing, dc.limit = false, s.limit
	s.lastSeen[dc.device] = s.h.now()
	s.mu.Unlock()
	return true
}

// revoked closes every connection of a device just revoked: its QUIC
// connection with CodeRevoked, so the device learns why.
func (s *deviceServer) revoked(device identity.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for dc := range s.conns {
		if dc.device == device {
			dc.qc.CloseWithError(transport.CodeRevoked, "this device was revoked by its owner")
			dc.c.Close()
		}
	}
}

// connected returns how many connections device has open, and when it
// last made one since the host started.
func (s *deviceServer) connected(device identity.PublicKey) (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for dc := range s.conns {
		if dc.device == device {
			n++
		}
	}
	return n, s.lastSeen[device]
}

func (s *deviceServer) accept() {
	defer close(s.acceptDone)
	for {
		c, err := s.sock.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			s.h.log.Error("accepting a device", "err", err)
			time.Sleep(100 * time.Millisecond) // out of file descriptors, say: don't spin
			continue
		}
		dc := &deviceConn{c: c, limit: s.limit}
		if !s.add(dc) {
			c.Close()
			continue
		}
		go s.serve(dc)
	}
}

// close stops accepting devices and closes every connection but those in
// the middle of a Submit, which close once they have answered. (A
// streamed Submit still reading its body is not busy yet: closing its
// connection cuts the body, and nothing is stored.)
func (s *deviceServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.sock.ln.Close()
	for dc := range s.conns {
		if !dc.busy {
			dc.c.Close()
		}
	}
}

// wait waits for every connection to end.
func (s *deviceServer) wait() {
	select {
	case <-s.ready:
		<-s.acceptDone
	default: // never started
	}
	s.wg.Wait()
}

// open returns how many device connections are open.
func (s *deviceServer) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// begin marks dc busy if busy is set, and reports whether the host still
// serves.
func (s *deviceServer) begin(dc *deviceConn, busy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	dc.busy = busy
	return !s.closed
}

func (s *deviceServer) serve(dc *deviceConn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, dc)
		s.mu.Unlock()
		dc.c.Close()
		s.wg.Done()
	}()
	size := deviceBuffer
	if dc.pairing {
		size = pairingBuffer
	}
	br := bufio.NewReaderSize(dc.c, size)
	w := bufio.NewWriterSize(dc.c, size)
	for {
		req, e, keep := s.read(br, dc)
		if req == nil {
			if e != nil {
				s.h.log.Info("device request refused", "code", e.Code)
				s.respond(w, &hostapi.Response{Err: e})
			}
			if keep && s.begin(dc, false) && s.goOn(dc) {
				continue
			}
			return
		}
		streamed := req.Op == hostapi.OpSubmit && req.Submit.Stream
		if e := s.authorize(dc, req.Op); e != nil {
			s.h.log.Info("device request refused", "device", dc.device, "code", e.Code)
			if !s.respond(w, &hostapi.Response{Err: e}) || streamed || !s.goOn(dc) {
				return
			}
			continue
		}
		// A streamed submit is busy only once its body is in (streamedSubmit).
		if !s.begin(dc, req.Op == hostapi.OpSubmit && !streamed) {
			return
		}
		switch req.Op {
		case hostapi.OpDevices:
			if !s.respond(w, s.manage(req.Devices)) {
				return
			}
		case hostapi.OpLink:
			if !s.respond(w, s.link(dc, req.Link)) {
				return
			}
		case hostapi.OpRead:
			if !s.respond(w, s.markRead(req.Read)) {
				return
			}
		case hostapi.OpDelete:
			r, e := s.h.deleteMessages(s.h.ctx, req.Delete)
			if !s.respond(w, &hostapi.Response{Deleted: r, Err: e}) {
				return
			}
		case hostapi.OpImport:
			r, e := s.h.importMessages(req.Import)
			if !s.respond(w, &hostapi.Response{Imported: r, Err: e}) {
				return
			}
		case hostapi.OpFingerprint:
			r, e := s.h.fingerprint(req.Fingerprint)
			if !s.respond(w, &hostapi.Response{Fingerprint: r, Err: e}) {
				return
			}
		case hostapi.OpExpiry:
			r, e := s.h.expiry(req.Expiry)
			if !s.respond(w, &hostapi.Response{Expiry: r, Err: e}) {
				return
			}
		case hostapi.OpBody:
			if !s.sendBody(w, req.Body.Seq) {
				return
			}
		case hostapi.OpSubmit:
			if streamed {
				if !s.streamedSubmit(br, w, dc, req.Submit) {
					return
				}
				break
			}
			r, e := s.h.submit(s.h.ctx, req.Submit, nil)
			if e != nil {
				s.h.log.Info("submit refused", "code", e.Code)
				s.h.log.Debug("submit refused", "err", e.Message)
			}
			if !s.respond(w, &hostapi.Response{Sent: r, Err: e}) {
				return
			}
		case hostapi.OpPublish:
			r, e := s.h.publish(s.h.ctx, req.Publish)
			if !s.respond(w, &hostapi.Response{Published: r, Err: e}) {
				return
			}
		case hostapi.OpStatus:
			if !s.respond(w, s.status(req.Status)) {
				return
			}
		case hostapi.OpList:
			s.list(br, w, req.List)
			return
		case hostapi.OpCall:
			s.call(br, w, req.Call)
			return
		case hostapi.OpSignal:
			s.respond(w, &hostapi.Response{Err: badRequest(errors.New("a call signal outside a call stream"))})
			return
		}
		if !s.begin(dc, false) || !s.goOn(dc) {
			return
		}
	}
}

// streamedSubmit answers a Submit with Stream, whose body follows as
// BodyParts (PROTOCOL.md 23.6): s.h.submit reads them as it seals, and
// the answer comes once they are all in and the message stored. It
// reports whether the connection goes on: not after a refusal before the
// body's end, as the parts still coming can't be told from requests
// without reading them all.
func (s *deviceServer) streamedSubmit(br *bufio.Reader, w *bufio.Writer, dc *deviceConn, sub *hostapi.Submit) bool {
	body := &deviceBody{BodyReader: hostapi.NewBodyReader(br, s.h.cfg.MaxMessage), s: s, dc: dc}
	r, e := s.h.submit(s.h.ctx, sub, body)
	if body.err != nil {
		// The body's own failure is what to tell, whatever submit made
		// of it.
		r, e = nil, body.failure()
	}
	if e == nil && !body.Done() {
		s.h.log.Error("a streamed submit was stored before its body's end")
		r, e = nil, &hostapi.Error{Code: hostapi.ErrInternal, Message: "the host did not read the whole body"}
	}
	if e != nil {
		s.h.log.Info("submit refused", "code", e.Code, "streamed", body.N())
		s.h.log.Debug("submit refused", "err", e.Message)
	}
	return s.respond(w, &hostapi.Response{Sent: r, Err: e}) && body.Done()
}

// deviceBody is the body of a streamed Submit as s.h.submit reads it. At
// its end it marks the connection busy, so that a stopping host lets the
// submit finish and answer, or, if the host is stopping already, fails,
// so that nothing is stored.
type deviceBody struct {
	*hostapi.BodyReader
	s   *deviceServer
	dc  *deviceConn
	err error
}

// errStopping is a streamed body's error when the host stops before its end.
var errStopping = errors.New("the host is shutting down")

func (b *deviceBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.BodyReader.Read(p)
	if err == io.EOF && !b.s.begin(b.dc, true) {
		err = errStopping
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// failure is the device's error for b.err.
func (b *deviceBody) failure() *hostapi.Error {
	switch {
	case errors.Is(b.err, wire.ErrTooLarge):
		return b.s.h.tooLarge(b.N())
	case errors.Is(b.err, errStopping), b.s.h.ctx.Err() != nil:
		return &hostapi.Error{Code: hostapi.ErrUnavailable, Message: "the host is shutting down", Hint: "try again later"}
	}
	return badRequest(fmt.Errorf("the message's body: %w", b.err))
}

// sendBody answers an OpBody: the BodyInfo, then the body in BodyParts
// of up to hostapi.MaxBodyPart bytes, then the empty one. It reports
// whether the connection goes on: not if the body failed to read (a blob
// the disk changed) or came out another size than announced, which ends
// the connection before the empty part, so the device can't take a
// partial body for the whole.
func (s *deviceServer) sendBody(w *bufio.Writer, seq uint64) bool {
	rc, size, e := s.h.openBody(seq)
	if e != nil {
		return s.respond(w, &hostapi.Response{Err: e})
	}
	defer rc.Close()
	if !s.write(w, &hostapi.Response{BodyInfo: &hostapi.BodyInfo{Size: size}}) {
		return false
	}
	buf := make([]byte, hostapi.MaxBodyPart)
	var sent int64
	for {
		n, err := io.ReadFull(rc, buf)
		if n > 0 {
			if hostapi.WriteBodyPart(w, buf[:n]) != nil {
				return false
			}
			sent += int64(n)
		}
		switch {
		case (err == io.EOF || err == io.ErrUnexpectedEOF) && sent == size:
			return hostapi.WriteBodyPart(w, nil) == nil && w.Flush() == nil
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			s.h.log.Error("a streamed body is not the size stored", "seq", seq, "size", size, "read", sent)
			w.Flush()
			return false
		case err != nil:
			s.h.log.Error("reading a streamed body", "seq", seq, "err", err)
			w.Flush()
			return false
		}
	}
}

// read reads dc's next request. With no request, it returns the error to
// answer (if any) and whether the connection can go on. A frame over the
// host's limit but within the protocol's is skipped and answered
// ErrTooLarge, so the device learns why; anything else that is not a
// request ends the connection, as does any frame over an unlinked
// device's limit: skipping it would cost the host the bytes.
func (s *deviceServer) read(br *bufio.Reader, dc *deviceConn) (*hostapi.Request, *hostapi.Error, bool) {
	hdr, err := br.Peek(wire.FrameHeaderSize)
	if err != nil {
		if len(hdr) == 0 { // the device left between requests, or the host is stopping
			return nil, nil, false
		}
		return nil, badRequest(fmt.Errorf("frame header: %w", wire.ErrTruncated)), false
	}
	if n := int64(binary.BigEndian.Uint32(hdr)); n > int64(dc.limit) {
		if dc.pairing {
			return nil, badRequest(fmt.Errorf("frame: %w: %d bytes, over the %d an unlinked device may send", wire.ErrTooLarge, n, dc.limit)), false
		}
		if n > hostapi.MaxFrame {
			return nil, badRequest(fmt.Errorf("frame: %w: %d bytes", wire.ErrTooLarge, n)), false
		}
		if _, err := io.CopyN(io.Discard, br, wire.FrameHeaderSize+n); err != nil {
			return nil, nil, false
		}
		return nil, s.h.tooLarge(n), true
	}
	req, err := hostapi.ReadRequest(br, dc.limit)
	if err != nil {
		return nil, badRequest(err), false
	}
	return req, nil, true
}

func badRequest(err error) *hostapi.Error {
	return &hostapi.Error{Code: hostapi.ErrBadRequest, Message: "bad request: " + err.Error()}
}

// respond writes r and flushes; it reports whether that worked.
func (s *deviceServer) respond(w *bufio.Writer, r *hostapi.Response) bool {
	return s.write(w, r) && w.Flush() == nil
}

func (s *deviceServer) write(w *bufio.Writer, r *hostapi.Response) bool {
	return hostapi.WriteResponse(w, r) == nil
}

// item is m as a device sees it, with its body if body is set.
func (s *deviceServer) item(m *store.Message, body bool) *hostapi.Item {
	it := &hostapi.Item{
		Seq: m.Seq, ID: m.ID, Direction: m.Direction, Peer: m.Peer,
		PeerName: s.h.peerName(m.Peer), ClaimedName: s.h.claimedName(m.Peer),
		Sent: m.Sent, Stored: m.Stored, Kind: m.Kind, ContentType: m.ContentType, FileName: m.FileName,
		Expires: m.Expires, Status: m.Status, Read: m.Read, Warnings: m.Warnings,
	}
	if body && m.Size == 0 {
		it.Body = m.Body
	}
	it.Size = m.Size
	return it
}

// peerName is what devices are told a peer is called: the user's own name
// for it in the contacts file, or "". A name from a record is only a
// claim (claimedName): anyone may register "frank" in a directory while
// the user's contact frank is someone else.
func (h *Host) peerName(peer []byte) string { return h.names.name(peer) }

// claimedName is the name of the verified record of a peer that is no
// contact, if the host has seen one; devices show it marked as claimed.
func (h *Host) claimedName(peer []byte) string {
	if h.peerName(peer) != "" {
		return ""
	}
	if key, err := identity.NewPublicKey(identity.KindIdentity, peer); err == nil {
		return h.peers.recordName(key)
	}
	return ""
}

// visible reports whether devices list m: texts and files. Receipts and
// delete requests are the hosts' business.
func visible(m *store.Message) bool { return m.Kind == wire.KindText || m.Kind == wire.KindFile }

// status answers a Status request, waiting for a final status if asked.
// A delete request a device asked for has a status too: its answer.
func (s *deviceServer) status(st *hostapi.Status) *hostapi.Response {
	m, err := s.h.store.ByID(st.ID)
	if err == nil && m.Kind == wire.KindReceipt {
		err = store.ErrNotFound
	}
	if err != nil {
		return &hostapi.Response{Err: s.lookupError(st.ID, err)}
	}
	if st.Wait > 0 && !final(m) {
		m = s.waitFinal(m, time.Duration(min(st.Wait, maxStatusWait.Milliseconds()))*time.Millisecond)
	}
	return &hostapi.Response{Status: s.item(m, false)}
}

// final reports whether m's status will not change any more: a final
// status, or sent for a delete request, which gets no receipt.
func final(m *store.Message) bool {
	return m.Status.Final() || m.Kind == wire.KindDelete && m.Status == delivery.Sent
}

func (s *deviceServer) lookupError(id []byte, err error) *hostapi.Error {
	if errors.Is(err, store.ErrNotFound) {
		return &hostapi.Error{Code: hostapi.ErrNotFound, Message: fmt.Sprintf("no message with id %x", id)}
	}
	if errors.Is(err, store.ErrClosed) {
		return &hostapi.Error{Code: hostapi.ErrUnavailable, Message: "the host is shutting down", Hint: "try again later"}
	}
	s.h.log.Error("reading a message", "err", err)
	return &hostapi.Error{Code: hostapi.ErrInternal, Message: "the host could not read the message"}
}

// waitFinal waits up to wait for m's status to become final, and returns
// m as it is then.
func (s *deviceServer) waitFinal(m *store.Message, wait time.Duration) *store.Message {
	ch, unsubscribe := s.h.store.Subscribe()
	defer func() { unsubscribe() }()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	check := true // the status may have changed before the subscription
	for {
		if check {
			if now, err := s.h.store.Head(m.Seq); err == nil {
				m = now
			}
			if final(m) {
				return m
			}
		}
		select {
		case c, ok := <-ch:
			if !ok { // overflow (or the store closed): subscribe again and look
				if s.h.ctx.Err() != nil {
					return m
				}
				ch, unsubscribe = s.h.store.Subscribe()
				check = true
				continue
			}
			check = c.Seq == m.Seq && c.Status
		case <-timer.C:
			return m
		case <-s.h.ctx.Done():
			return m
		}
	}
}

// listFilter is what a List asks for.
type listFilter struct {
	peer   []byte // nil for every conversation
	since  int64
	signed bool // each message with its signed bytes
}

func (f listFilter) match(m *store.Message) bool {
	return visible(m) && (f.peer == nil || bytes.Equal(m.Peer, f.peer)) && m.Sent >= f.since
}

// list streams a List: the history after its cursor, then, with Follow, a
// Live event and every new message, status change and deletion until the
// device leaves or the host stops.
func (s *deviceServer) list(br *bufio.Reader, w *bufio.Writer, l *hostapi.List) {
	f := listFilter{since: l.Since, signed: l.Signed}
	if l.Peer != "" {
		key, e := s.h.conversationKey(l.Peer)
		if e != nil {
			s.respond(w, &hostapi.Response{Err: e})
			return
		}
		f.peer = key.Bytes()
	}
	var ch <-chan store.Change
	var dels *deletionSub
	unsubscribe := func() {}
	if l.Follow {
		// Subscribe before reading the history, so nothing falls between.
		var undelete func()
		dels, undelete = s.h.deletions.subscribe()
		defer undelete()
		ch, unsubscribe = s.h.store.Subscribe()
	}
	defer func() { unsubscribe() }()

	open := make(map[uint64]delivery.Status) // sent messages shown with a status that will change
	cursor, ok := s.sendAfter(w, l.After, f, open)
	if !ok {
		return
	}
	// EventLive ends the history, so a device can tell it from a broken
	// connection; without Follow the host then closes.
	if !s.respond(w, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventLive}}) || !l.Follow {
		w.Flush()
		return
	}
	gone := make(chan struct{})
	go func() {
		// The device sends nothing more: anything, or the end, means it left.
		br.ReadByte()
		close(gone)
	}()
	changed := make(map[uint64]struct{}) // messages whose status or read mark changed
	for {
		var news, overflow bool
		select {
		case <-gone:
			return
		case <-s.h.ctx.Done():
			return
		case <-dels.wake:
		case c, ok := <-ch:
			if !ok {
				overflow = true
				break
			}
			// Take every change waiting, to answer them in one write.
			for more := true; more; {
				switch {
				case c.Deleted: // told by s.h.deletions, which loses none
				case c.Status:
					changed[c.Seq] = struct{}{}
				default:
					news = true
				}
				select {
				case c, more = <-ch:
					overflow = overflow || !more
				default:
					more = false
				}
			}
		}
		if overflow {
			// Changes were lost: subscribe again, then look at everything
			// that may have changed.
			if s.h.ctx.Err() != nil {
				return
			}
			ch, unsubscribe = s.h.store.Subscribe()
			news = true
			for seq := range open {
				changed[seq] = struct{}{}
			}
		}
		if news {
			if cursor, ok = s.sendAfter(w, cursor, f, open); !ok {
				return
			}
		}
		deleted, complete := s.h.deletions.take(dels)
		if !complete {
			s.respond(w, &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrUnavailable,
				Message: "more messages were deleted at once than this device could be told of",
				Hint:    "list the history again"}})
			return
		}
		if !s.sendDeleted(w, deleted, cursor, open, changed) || !s.sendChanged(w, changed, cursor, f, open) || w.Flush() != nil {
			return
		}
	}
}

// sendDeleted sends the deletion of those of seqs (sorted) up to cursor,
// in events of at most hostapi.MaxDeleteSeqs, and forgets them.
func (s *deviceServer) sendDeleted(w *bufio.Writer, seqs []uint64, cursor uint64, open map[uint64]delivery.Status, changed map[uint64]struct{}) bool {
	for i, seq := range seqs {
		if seq > cursor { // never shown
			seqs = seqs[:i]
			break
		}
		delete(open, seq)
		delete(changed, seq)
	}
	for chunk := range slices.Chunk(seqs, hostapi.MaxDeleteSeqs) {
		if !s.write(w, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventDeleted, Deleted: chunk}}) {
			return false
		}
	}
	return true
}

// sendChanged sends the new status of the messages shown whose status or
// read mark (or warnings) changed.
func (s *deviceServer) sendChanged(w *bufio.Writer, changed map[uint64]struct{}, cursor uint64, f listFilter, open map[uint64]delivery.Status) bool {
	for seq := range changed {
		delete(changed, seq)
		if seq > cursor { // not shown yet: it will be, as it is then
			continue
		}
		m, err := s.h.store.Head(seq)
		if err != nil || !f.match(m) {
			continue
		}
		was, inOpen := open[seq]
		switch {
		case inOpen && m.Status == was:
			continue
		case inOpen && m.Status.Final():
			delete(open, seq)
		case inOpen:
			open[seq] = m.Status
		case m.Direction != delivery.In:
			// A sent message shown with its final status: nothing
			// changes it any more.
			continue
		}
		if !s.write(w, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventStatus, Item: s.item(m, false)}}) {
			return false
		}
	}
	return true
}

// sendAfter sends every message after cursor that f matches, and returns
// the new cursor and whether the device is still there.
func (s *deviceServer) sendAfter(w *bufio.Writer, cursor uint64, f listFilter, open map[uint64]delivery.Status) (uint64, bool) {
	for {
		page, err := s.h.store.List(cursor, listPage)
		if err != nil {
			s.respond(w, &hostapi.Response{Err: s.lookupError(nil, err)})
			return cursor, false
		}
		for _, m := range page {
			cursor = m.Seq
			if !f.match(m) {
				continue
			}
			if m.Direction == delivery.Out && !m.Status.Final() {
				open[m.Seq] = m.Status
			}
			it := s.item(m, true)
			if f.signed {
				it.Signed = m.Signed
			}
			if !s.write(w, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventMessage, Item: it}}) {
				return cursor, false
			}
		}
		if len(page) < listPage {
			return cursor, true
		}
	}
}
