package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"smvs/lib/blob"
	"smvs/lib/delivery"
	"smvs/lib/identity"
	"smvs/lib/seal"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// serveHostStream serves a stream a peer host opened: one request and its
// answer or, for a streamed delivery (op 5, or op 3 or 4 passing one on),
// the request, the body that follows it, and the answer (PROTOCOL.md
// 23.5). The transport has proved the peer's key.
func (h *Host) serveHostStream(ctx context.Context, peer identity.PublicKey, s *transport.Stream) {
	data, err := s.ReadRequest()
	if err != nil {
		h.log.Debug("peer request", "peer", peer, "err", err)
		return
	}
	if !streamed(data) {
		transport.Answer(ctx, peer, s, data, h.serveHost)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.Context(), cancel)
	defer stop()
	if resp := h.handleHost(ctx, peer, data, s); resp != nil {
		s.WriteFrame(resp.Encode())
	}
}

// streamed reports whether a request is a streamed delivery, or passes
// one on, and so carries more than its frame.
func streamed(data []byte) bool {
	switch op := wire.PeekHostOp(data); op {
	case wire.OpDeliverStream, wire.OpPushBody:
		return true
	case wire.OpForward, wire.OpRelayed:
		req, err := wire.DecodeHostRequest(data)
		if err != nil {
			return false
		}
		op = wire.PeekHostOp(req.Request)
		return op == wire.OpDeliverStream || op == wire.OpPushBody
	}
	return false
}

// serveHost answers one request of a peer host that carries nothing more.
// The answer is always a HostResponse, never an error, so the peer learns
// why it was refused.
func (h *Host) serveHost(ctx context.Context, peer identity.PublicKey, data []byte) ([]byte, error) {
	return h.handleHost(ctx, peer, data, nil).Encode(), nil
}

// handleHost answers one request; ctx ends when the peer gives it up.
// The relay's requests passed on from others (OpRelayed) are answered as
// those others'; its own user's go as any peer's. s is the stream of a
// streamed delivery, whose body follows the request; nil otherwise. The
// answer is nil if the stream was cut before one.
func (h *Host) handleHost(ctx context.Context, peer identity.PublicKey, data []byte, s *transport.Stream) *wire.HostResponse {
	if r := h.cfg.Relay; r != nil && peer == r.Key {
		if req, err := wire.DecodeHostRequest(data); err == nil && req.Op == wire.OpRelayed {
			return h.relayed(ctx, req, s)
		}
	}
	return h.handleRequest(ctx, peer, data, false, s)
}

// handleRequest answers a request of peer's host, which came through
// this host's relay if relayed (and may not ask for more relaying).
func (h *Host) handleRequest(ctx context.Context, peer identity.PublicKey, data []byte, relayed bool, s *transport.Stream) *wire.HostResponse {
	resp, delivery := h.answerRequest(ctx, peer, data, relayed, s)
	switch {
	case resp == nil || !delivery:
	case len(resp.Results) > 0:
		for _, r := range resp.Results {
			h.metrics.answered(r.Status)
		}
	default:
		h.metrics.answered(resp.Status)
	}
	return resp
}

// answerRequest is handleRequest without the counting: it also reports
// whether the request delivered messages, or may have (it was refused
// before it was read).
func (h *Host) answerRequest(ctx context.Context, peer identity.PublicKey, data []byte, relayed bool, s *transport.Stream) (_ *wire.HostResponse, delivery bool) {
	if ok, over := h.limits.begin(peer); !ok {
		h.logBusy(peer, over)
		return &wire.HostResponse{Status: wire.StatusBusy, Message: over}, true
	}
	defer h.limits.end(peer)

	if v, why := h.policy.check(peer); v != accept {
		h.log.Info("delivery refused by policy", "reason", why)
		h.log.Debug("delivery refused by policy", "peer", peer, "reason", why)
		if v == unknown {
			return &wire.HostResponse{Status: wire.StatusBusy, Message: why}, true
		}
		return &wire.HostResponse{Status: wire.StatusRefused, Message: why}, true
	}
	// After the policy, so that blocked keys don't spend the strangers'
	// budget; contacts and the user's own key never touch it.
	if h.isStranger(peer) {
		if ok, over := h.strangers.begin(); !ok {
			h.logBusy(peer, over)
			return &wire.HostResponse{Status: wire.StatusBusy, Message: over}, true
		}
		defer h.strangers.end()
	}
	req, err := wire.DecodeHostRequest(data)
	if err == nil && req.Op == wire.OpDeliverBatch && h.cfg.refuseBatches {
		err = errors.New("unknown op")
	}
	if err != nil {
		h.log.Info("delivery refused: malformed request")
		h.log.Debug("malformed request", "peer", peer, "err", err)
		return &wire.HostResponse{Status: wire.StatusInvalid, Message: "malformed request"}, true
	}
	switch {
	case req.Op == wire.OpRecord:
		return &wire.HostResponse{Status: wire.StatusStored, Record: h.Record()}, false
	case req.Op == wire.OpForward && !relayed:
		return h.forward(ctx, peer, req, s), false
	case req.Op == wire.OpForward, req.Op == wire.OpRelayed:
		h.log.Info("delivery refused: a relayed request from a host that is not this host's relay, or relayed twice")
		return &wire.HostResponse{Status: wire.StatusWrongHost, Message: "this host takes relayed requests only from its relay, once"}, false
	}
	if (req.Op == wire.OpDeliverStream || req.Op == wire.OpPushBody) != (s != nil) {
		return &wire.HostResponse{Status: wire.StatusInvalid, Message: "a streamed delivery comes on a stream of its own"}, req.Op != wire.OpPushBody
	}
	if req.Op == wire.OpPushBody {
		status, msg := h.receivePush(peer, req, s)
		if status == 0 {
			return nil, false
		}
		return &wire.HostResponse{Status: status, Message: msg}, false
	}
	if req.Op == wire.OpDeliverBatch {
		return h.receiveBatch(ctx, peer, req), true
	}
	status, msg := h.receive(ctx, peer, req, s)
	if status == 0 {
		return nil, true // the body's transfer was cut
	}
	return &wire.HostResponse{Status: status, Message: msg}, true
}

// receiveBatch answers an OpDeliverBatch (PROTOCOL.md 19.10): each of its
// deliveries as if it came alone. The afters keep each conversation's order (19.6).
// A batch costs the peer's limits a token for each delivery.
func (h *Host) receiveBatch(ctx context.Context, peer identity.PublicKey, req *wire.HostRequest) *wire.HostResponse {
	extra := len(req.Batch) - 1
	if ok, over := h.limits.charge(peer, extra); !ok {
		h.logBusy(peer, over)
		return &wire.HostResponse{Status: wire.StatusBusy, Message: over}
	}
	if h.isStranger(peer) {
		if ok, over := h.strangers.charge(extra); !ok {
			h.logBusy(peer, over)
			return &wire.HostResponse{Status: wire.StatusBusy, Message: over}
		}
	}
	results := make([]wire.BatchResult, len(req.Batch))
	ds := make([]*opened, len(req.Batch))
	// First every envelope opens, on every core; then the messages are
	// taken all at once.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(req.Batch)) {
		wg.Go(func() {
			for i := range next {
				it := req.Batch[i]
				var st wire.HostStatus
				ds[i], st, results[i].Message = h.open(peer, &wire.HostRequest{Op: wire.OpDeliver, Envelope: it.Envelope, After: it.After})
				results[i].Status = st
			}
		})
	}
	for i := range req.Batch {
		next <- i
	}
	close(next)
	wg.Wait()
	// The store is held until every message is queued (or refused), so
	// that they commit in one transaction; not for long, though, if one
	// waits for a message that is not in the batch (19.6).
	release := h.store.Hold()
	defer time.AfterFunc(batchHold, release).Stop()
	var queued sync.WaitGroup
	for i, d := range ds {
		if d == nil {
			continue
		}
		queued.Add(1)
		d.queued = sync.OnceFunc(queued.Done)
		wg.Go(func() {
			results[i].Status, results[i].Message = h.take(ctx, peer, d, nil)
			d.queued()
		})
	}
	queued.Wait()
	release()
	wg.Wait()
	h.log.Debug("a batch of deliveries", "peer", peer, "deliveries", len(req.Batch))
	return &wire.HostResponse{Status: wire.StatusStored, Results: results}
}

// receive checks, opens and stores the envelope of a delivery from peer,
// and with s, the body that follows it (PROTOCOL.md 23.5). Status 0 means
// the stream was cut before an answer.
func (h *Host) receive(ctx context.Context, peer identity.PublicKey, req *wire.HostRequest, s *transport.Stream) (wire.HostStatus, string) {
	d, status, msg := h.open(peer, req)
	if d == nil {
		return status, msg
	}
	return h.take(ctx, peer, d, s)
}

// opened is a delivery whose envelope opened.
type opened struct {
	*seal.Opened
	req *wire.HostRequest
	now time.Time // the host's clock when it opened
	// queued, if not nil, is called once its message is queued in the
	// store (receiveBatch).
	queued func()
}

// open checks the envelope of a delivery from peer and opens it (steps
// 5–10 of PROTOCOL.md 19.5): nil, with the answer, if it is refused.
func (h *Host) open(peer identity.PublicKey, req *wire.HostRequest) (*opened, wire.HostStatus, string) {
	envelope := req.Envelope
	if int64(len(envelope)) > h.cfg.MaxMessage+envelopeOverhead {
		h.log.Info("delivery refused: too large", "bytes", len(envelope))
		return nil, wire.StatusTooLarge, fmt.Sprintf("over this host's limit of %d bytes", h.cfg.MaxMessage)
	}
	env, err := wire.DecodeEnvelope(envelope)
	if err != nil {
		h.log.Info("delivery refused: malformed envelope")
		return nil, wire.StatusInvalid, "malformed envelope"
	}
	switch {
	case !bytes.Equal(env.Sender, peer.Bytes()):
		h.log.Info("delivery refused: the envelope's sender is not the connection's key")
		return nil, wire.StatusWrongHost, "the envelope's sender is not the connection's key"
	case !bytes.Equal(env.Recipient, h.me.Bytes()):
		h.log.Info("delivery refused: the envelope is for another recipient")
		return nil, wire.StatusWrongHost, "not for this host's user"
	}
	now := h.now()
	o, err := seal.OpenEnvelope(h.keys, env, now)
	switch {
	case errors.Is(err, seal.ErrUnknownKEMKey), errors.Is(err, seal.ErrExpiredKEMKey):
		h.log.Info("delivery refused: sealed to a KEM key this host no longer has")
		return nil, wire.StatusStaleKEMKey, "sealed to a KEM key this host no longer has: look the record up again"
	case errors.Is(err, seal.ErrWrongRecipient):
		return nil, wire.StatusWrongHost, "not for this host's user"
	case err != nil:
		h.log.Info("delivery refused: the envelope does not open or verify")
		h.log.Debug("envelope does not open", "peer", peer, "err", err)
		return nil, wire.StatusInvalid, "the envelope does not open or verify"
	}
	m := o.Message
	if (m.Stream != nil) != (req.Op == wire.OpDeliverStream) {
		h.log.Info("delivery refused: a streamed body not streamed, or the reverse")
		return nil, wire.StatusInvalid, "a message with a streamed body comes with op 5, and only such a message"
	}
	size := int64(len(m.Body))
	if m.Stream != nil {
		size = m.Stream.Size
	}
	if size > h.cfg.MaxMessage {
		h.log.Info("delivery refused: too large", "bytes", size)
		return nil, wire.StatusTooLarge, fmt.Sprintf("over this host's limit of %d bytes", h.cfg.MaxMessage)
	}
	return &opened{Opened: o, req: req, now: now}, 0, ""
}

// take acts on an opened delivery from peer by its kind (steps 11–14 of
// PROTOCOL.md 19.5).
func (h *Host) take(ctx context.Context, peer identity.PublicKey, d *opened, s *transport.Stream) (wire.HostStatus, string) {
	m := d.Message
	switch m.Kind {
	case wire.KindReceipt:
		return h.receiveReceipt(peer, m)
	case wire.KindDelete:
		return h.receiveDelete(peer, m)
	case wire.KindCall:
		return h.calls.receive(peer, m)
	case wire.KindText, wire.KindFile:
		return h.receiveMessage(ctx, peer, d, s)
	}
	h.log.Info("delivery refused: unsupported kind", "kind", m.Kind)
	return wire.StatusInvalid, fmt.Sprintf("this host does not take %s messages", m.Kind)
}

// receiveMessage checks a text or file message from peer against the
// conversation's chain, and stores it unless it has it already; it is
// stored after the message the sender says it sent before this one and
// has no answer for yet (wire.HostRequest.After).
func (h *Host) receiveMessage(ctx context.Context, peer identity.PublicKey, d *opened, s *transport.Stream) (wire.HostStatus, string) {
	opened, after, now := d.Opened, d.req.After, d.now
	m := opened.Message
	// Pipelined messages are stored in the order they were sent, the
	// device sees the sender's name with the first one, and one from a
	// contact's new key joins the conversation once it moved there.
	h.peers.learnName(h.ctx, peer)
	h.peers.rot.settle(peer)
	reserved := false
	var body *store.BlobFile
	if m.Stream != nil {
		if h.hasIncoming(peer, m.ID) {
			h.receipts.add(peer, m.ID)
			return wire.StatusDuplicate, ""
		}
		if h.isStranger(peer) {
			cost := strangerCost(blob.SealedSize(m.Stream.Size), len(opened.Signed), len(m.FileName)+len(m.ContentType))
			if st, msg, ok := h.reserveStranger(peer, cost); !ok {
				return st, msg
			}
			defer h.strangerQuota.release(peer, cost)
			reserved = true
		}
		var st wire.HostStatus
		var msg string
		if body, st, msg = h.receiveBody(peer, m, s); body == nil {
			return st, msg
		}
		defer func() {
			if body != nil {
				body.Drop()
			}
		}()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(h.ctx, cancel)
	defer stop()
	came, err := h.chains.awaitIncoming(ctx, peer, after)
	if err == nil && !came {
		// Still on its way, after a long while (lost and retransmitted
		// many times, or its sender's host sends it again later): this
		// one goes again after it, rather than be stored before it.
		h.log.Debug("delivery postponed: the message before it has not come", "peer", peer)
		return wire.StatusBusy, "the message sent before this one has not come yet"
	}
	hash := wire.ChainHash(opened.Signed)
	var a admission
	if err == nil {
		a, err = h.chains.admit(ctx, peer, m, hash)
	}
	switch {
	case h.ctx.Err() != nil:
		// Stopping while it waited for the message it names: the sender
		// delivers both again, to the host started again.
		return wire.StatusBusy, "the host is stopping"
	case ctx.Err() != nil:
		return wire.StatusBusy, "the sender gave the delivery up" // not read
	case err != nil:
		h.log.Error("reading a conversation's chain", "err", err)
		return wire.StatusInternal, "the host could not store the message"
	}
	switch {
	case a.duplicate:
		// Stored before, and maybe deleted since: it stays so. The
		// receipt goes again, as the first may have been lost.
		if a.resigned != 0 {
			if err := h.store.RehashLink(a.resigned, hash); err != nil && !errors.Is(err, store.ErrNotFound) {
				h.log.Error("recording a message signed anew", "seq", a.resigned, "err", err)
			}
		}
		h.receipts.add(peer, m.ID)
		h.log.Debug("duplicate delivery", "peer", peer)
		return wire.StatusDuplicate, ""
	case a.changed != 0:
		h.changedMessage(peer, a.changed)
		return wire.StatusDuplicate, ""
	}
	expires, err := h.incomingExpiry(peer, m, now)
	if err != nil {
		h.log.Error("reading a conversation's expiry", "err", err)
		return wire.StatusInternal, "the host could not store the message"
	}
	sm := &store.Message{
		ID: m.ID, Peer: peer.Bytes(), Direction: delivery.In, Status: delivery.Received,
		Sent: m.Sent, Kind: m.Kind, ContentType: m.ContentType, FileName: m.FileName,
		Body: m.Body, Expires: expires, Signed: opened.Signed, Warnings: a.warnings,
	}
	if body != nil {
		sm.Size, sm.Blob = m.Stream.Size, body.Name()
	}
	if !reserved && h.isStranger(peer) {
		cost := strangerCost(0, len(opened.Signed), len(m.FileName)+len(m.ContentType))
		if st, msg, ok := h.reserveStranger(peer, cost); !ok {
			return st, msg
		}
		defer h.strangerQuota.release(peer, cost)
	}
	dup, err := h.store.AddIncomingQueued(sm, func() {
		h.chains.queued(peer, m, hash)
		if d.queued != nil {
			d.queued()
		}
	})
	if err == nil && !dup {
		body = nil // the store keeps it
	}
	if err != nil {
		h.chains.unqueued(peer, m, hash)
	}
	switch {
	case errors.Is(err, store.ErrQuota):
		h.log.Warn("delivery refused: disk quota full", "quota", h.cfg.Quota)
		return wire.StatusQuota, "the host's disk quota is full"
	case err != nil:
		h.log.Error("storing a delivery", "err", err)
		return wire.StatusInternal, "the host could not store the message"
	}
	if m.Stream != nil {
		h.receipts.addNow(peer, m.ID)
	} else {
		h.receipts.add(peer, m.ID)
	}
	if dup {
		h.log.Debug("duplicate delivery", "peer", peer)
		return wire.StatusDuplicate, ""
	}
	h.chains.stored(peer, sm.Seq, m, hash)
	h.logWarnings(peer, sm.Seq, a.warnings)
	if expires != 0 {
		h.sweepSoon()
	}
	h.log.Debug("stored", "peer", peer, "bytes", len(m.Body))
	return wire.StatusStored, ""
}

// incomingExpiry returns when message m from peer, arriving now, is to be
// deleted: its own expiry, or sooner the conversation's default expiry
// after it was sent (or arrived, if the sender's clock is ahead).
func (h *Host) incomingExpiry(peer identity.PublicKey, m *wire.Message, now time.Time) (int64, error) {
	after, err := h.store.ExpireAfter(peer.Bytes())
	if err != nil || after <= 0 {
		return m.Expires, err
	}
	e := min(m.Sent, now.UnixMilli()) + after.Milliseconds()
	if m.Expires != 0 {
		e = min(e, m.Expires)
	}
	return e, nil
}

// changedMessage records that peer sent message seq again with other
// content: the message stored stays as it is, and is marked changed.
func (h *Host) changedMessage(peer identity.PublicKey, seq uint64) {
	err := h.store.AddWarning(seq, delivery.WarnChanged)
	if err != nil && !errors.Is(err, store.ErrNotFound) { // not found: deleted since
		h.log.Error("recording a changed message", "seq", seq, "err", err)
	}
	h.logWarnings(peer, seq, []delivery.Warning{delivery.WarnChanged})
}

// warningText is what the log says of each warning.
var warningText = map[delivery.Warning]string{
	delivery.WarnGap:     "conversation integrity: a message before this one never arrived",
	delivery.WarnFork:    "conversation integrity: the sender sent another message after the same one",
	delivery.WarnChanged: "conversation integrity: the sender sent this message again with other content; the first one is kept",
}

// logWarnings logs what message seq from peer revealed about its
// conversation's chain.
func (h *Host) logWarnings(peer identity.PublicKey, seq uint64, ws []delivery.Warning) {
	for _, w := range ws {
		h.log.Warn(warningText[w], "warning", w.String(), "seq", seq)
	}
	if len(ws) > 0 {
		h.log.Debug("conversation integrity: the message's sender", "seq", seq, "peer", peer)
	}
}

// receiveDelete honours or refuses a peer's request to delete its
// messages, by the user's policy (Config.PeerDeletes). The request is not
// stored, and gets no receipt: the answer says what became of it.
func (h *Host) receiveDelete(peer identity.PublicKey, m *wire.Message) (wire.HostStatus, string) {
	r, err := wire.DecodeDeleteRequest(m.Body)
	if err != nil {
		h.log.Info("delivery refused: malformed delete request")
		return wire.StatusInvalid, "malformed delete request"
	}
	if h.cfg.PeerDeletes == PeerDeletesNone {
		h.log.Info("delete request refused by policy", "policy", h.cfg.PeerDeletes, "ids", len(r.IDs))
		h.log.Debug("delete request refused by policy", "peer", peer)
		return wire.StatusRefused, "this host's user does not take delete requests"
	}
	links, err := h.store.Links(peer.Bytes())
	if err != nil {
		h.log.Error("reading a conversation for a delete request", "err", err)
		return wire.StatusInternal, "the host could not read the conversation"
	}
	asked := make(map[string]bool, len(r.IDs))
	for _, id := range r.IDs {
		asked[string(id)] = true
	}
	var seqs []uint64
	for _, l := range links {
		switch {
		case !asked[string(l.ID)]:
		case l.Direction == delivery.Out:
			h.log.Info("delete request refused: it names messages this user sent", "ids", len(r.IDs))
			h.log.Debug("delete request refused", "peer", peer)
			return wire.StatusRefused, "a delete request may name only messages its sender sent"
		case !l.Deleted:
			seqs = append(seqs, l.Seq)
		}
	}
	if len(seqs) > 0 {
		deleted, err := h.store.DeleteMessages(seqs)
		if errors.Is(err, store.ErrQuota) {
			h.log.Warn("delete request not honoured: disk quota full", "quota", h.cfg.Quota)
			return wire.StatusQuota, "the host's disk quota is full"
		}
		if err != nil {
			h.log.Error("deleting messages a peer asked to delete", "err", err)
			return wire.StatusInternal, "the host could not delete the messages"
		}
		h.deleted(deleted)
		seqs = deleted
	}
	h.log.Info("delete request honoured", "ids", len(r.IDs), "deleted", len(seqs))
	h.log.Debug("delete request honoured", "peer", peer)
	return wire.StatusStored, ""
}

// receiveReceipt marks the messages a peer's receipt names Delivered.
func (h *Host) receiveReceipt(peer identity.PublicKey, m *wire.Message) (wire.HostStatus, string) {
	r, err := wire.DecodeReceipt(m.Body)
	if err != nil {
		h.log.Info("delivery refused: malformed receipt")
		return wire.StatusInvalid, "malformed receipt"
	}
	// A receipt from a key this host has no conversation with may come
	// from a contact's new key (the look-up moves the conversation to it),
	// and one from a key whose conversation moved, from its old key
	// (the messages it names are under the key they moved to now).
	if !h.store.Has(peer.Bytes()) {
		h.peers.learnName(h.ctx, peer)
	}
	h.peers.rot.settle(peer)
	to := h.peers.rot.final(peer)
	// All at once, so that the store commits them together.
	errs := make([]error, len(r.IDs))
	var wg sync.WaitGroup
	for i, id := range r.IDs {
		wg.Go(func() { _, errs[i] = h.store.SetStatus(to.Bytes(), id, delivery.Delivered) })
	}
	wg.Wait()
	for _, err := range errs {
		// ErrNotFound is a message deleted since, or never sent to this peer.
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Error("recording a receipt", "err", err)
			return wire.StatusInternal, "the host could not record the receipt"
		}
	}
	h.log.Debug("receipt", "peer", peer, "ids", len(r.IDs))
	return wire.StatusStored, ""
}

// logBusy logs a refusal for being over a peer limit: at most one a
// second at the info level, so a flood does not flood the log too.
func (h *Host) logBusy(peer identity.PublicKey, over string) {
	now := time.Now().UnixNano()
	if last := h.busyLogged.Load(); now-last > int64(time.Second) && h.busyLogged.CompareAndSwap(last, now) {
		h.log.Info("delivery refused: peer over its limits", "reason", over)
	}
	h.log.Debug("delivery refused: peer over its limits", "peer", peer, "reason", over)
}

// reserveStranger reserves cost bytes of the strangers' quota for a
// message from peer, or returns the status that refuses it.
func (h *Host) reserveStranger(peer identity.PublicKey, cost int64) (wire.HostStatus, string, bool) {
	held := func() int64 { return h.store.Received(peer.Bytes()) }
	if ok, over := h.strangerQuota.reserve(peer, cost, held, h.strangersHeld); !ok {
		h.log.Info("delivery refused: over the quota for strangers", "bytes", cost, "reason", over)
		h.log.Debug("delivery refused: over the quota for strangers", "peer", peer)
		return wire.StatusQuota, over, false
	}
	return 0, "", true
}

// hasIncoming reports whether the store holds a message from peer with id.
func (h *Host) hasIncoming(peer identity.PublicKey, id []byte) bool {
	m, err := h.store.ByID(id)
	return err == nil && m.Direction == delivery.In && bytes.Equal(m.Peer, peer.Bytes())
}
