package hostapitest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// historyState is what the fake host keeps for deletion, import,
// fingerprints and expiry. Guarded by Host.mu.
type historyState struct {
	deletes  []hostapi.Delete
	imports  [][]*hostapi.Item
	requests []*hostapi.Item // the delete requests to peers' hosts, by their ids
	answer   delivery.Status
	expiry   map[string]int64 // by the peer's key in hexadecimal
	refuse   map[hostapi.Op]*hostapi.Error
}

// RefuseOp makes the host answer every request of op with e, as a host
// that does not serve it (or not to this device) would; nil serves it
// again.
func (h *Host) RefuseOp(op hostapi.Op, e *hostapi.Error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.history.refuse == nil {
		h.history.refuse = map[hostapi.Op]*hostapi.Error{}
	}
	h.history.refuse[op] = e
}

// AnswerDeletions makes every delete request to a peer's host made from
// now on end with status s at once (Sent: honoured, Refused, Failed); 0,
// the default, leaves them queued.
func (h *Host) AnswerDeletions(s delivery.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history.answer = s
}

// Deletes returns the delete requests devices made, in order.
func (h *Host) Deletes() []hostapi.Delete {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.history.deletes)
}

// Imports returns the items of each import request devices made, in
// order.
func (h *Host) Imports() [][]*hostapi.Item {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.history.imports)
}

// Items returns the messages the host holds, in order.
func (h *Host) Items() []*hostapi.Item {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*hostapi.Item, len(h.items))
	for i, it := range h.items {
		out[i] = clone(it, true)
	}
	return out
}

// SetExpiry sets the default expiry of the conversation with key, as if a
// device had.
func (h *Host) SetExpiry(key []byte, after time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setExpiry(key, after.Milliseconds())
}

func (h *Host) setExpiry(key []byte, ms int64) {
	if h.history.expiry == nil {
		h.history.expiry = map[string]int64{}
	}
	h.history.expiry[hex.EncodeToString(key)] = ms
}

// historyOp answers OpDelete, OpImport, OpFingerprint and OpExpiry.
func (h *Host) historyOp(req *hostapi.Request) *hostapi.Response {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.history.refuse[req.Op]; e != nil {
		return &hostapi.Response{Err: e}
	}
	switch req.Op {
	case hostapi.OpDelete:
		return h.delete(req.Delete)
	case hostapi.OpImport:
		return h.importItems(req.Import.Items)
	case hostapi.OpFingerprint:
		return h.fingerprint(req.Fingerprint)
	}
	return h.expiry(req.Expiry)
}

func unknownPeer(peer string) *hostapi.Response {
	return &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrUnknownRecipient, Message: "unknown contact " + peer}}
}

// delete deletes what d selects and tells followers. h.mu is held.
func (h *Host) delete(d *hostapi.Delete) *hostapi.Response {
	h.history.deletes = append(h.history.deletes, *d)
	var peer []byte
	if d.Peer != "" {
		if peer, _ = h.resolve(d.Peer); peer == nil {
			return unknownPeer(d.Peer)
		}
	}
	res := &hostapi.DeleteResult{}
	gone := map[uint64]bool{}
	for _, seq := range d.Seqs {
		if slices.ContainsFunc(h.items, func(it *hostapi.Item) bool { return it.Seq == seq }) {
			gone[seq] = true
		} else {
			res.Missing = append(res.Missing, seq)
		}
	}
	var kept, deleted []*hostapi.Item
	for _, it := range h.items {
		inPeer := peer == nil || bytes.Equal(it.Peer, peer)
		if gone[it.Seq] || (d.All && inPeer) || (d.Before != 0 && inPeer && it.Sent < d.Before) {
			deleted = append(deleted, it)
		} else {
			kept = append(kept, it)
		}
	}
	h.items = kept
	res.Deleted = len(deleted)
	var seqs []uint64
	for _, it := range deleted {
		seqs = append(seqs, it.Seq)
	}
	for part := range slices.Chunk(seqs, hostapi.MaxDeleteSeqs) {
		h.notify(hostapi.Event{Kind: hostapi.EventDeleted, Deleted: part})
	}
	if d.ForEveryone {
		res.Requests = h.askPeers(deleted)
	}
	return &hostapi.Response{Deleted: res}
}

// askPeers makes a delete request to each peer of the messages sent among
// deleted. h.mu is held.
func (h *Host) askPeers(deleted []*hostapi.Item) []*hostapi.PeerDeletion {
	var out []*hostapi.PeerDeletion
	for _, it := range deleted {
		if it.Direction != delivery.Out {
			continue
		}
		i := slices.IndexFunc(out, func(p *hostapi.PeerDeletion) bool { return bytes.Equal(p.Peer, it.Peer) })
		if i < 0 {
			id := make([]byte, wire.MessageIDSize)
			rand.Read(id)
			out = append(out, &hostapi.PeerDeletion{Peer: bytes.Clone(it.Peer), PeerName: it.PeerName, ClaimedName: it.ClaimedName, ID: id})
			i = len(out) - 1
		}
		out[i].Messages++
	}
	now := time.Now().UnixMilli()
	for _, p := range out {
		status := delivery.Queued
		if h.history.answer != 0 {
			status = h.history.answer
		}
		h.history.requests = append(h.history.requests, &hostapi.Item{
			ID: bytes.Clone(p.ID), Direction: delivery.Out, Peer: bytes.Clone(p.Peer), PeerName: p.PeerName,
			Sent: now, Stored: now, Kind: wire.KindDelete, Status: status,
		})
	}
	return out
}

// importItems adds the items the host does not have. h.mu is held.
func (h *Host) importItems(items []*hostapi.Item) *hostapi.Response {
	h.history.imports = append(h.history.imports, items)
	res := &hostapi.ImportResult{}
	for _, it := range items {
		if slices.ContainsFunc(h.items, func(have *hostapi.Item) bool {
			return bytes.Equal(have.Peer, it.Peer) && have.Direction == it.Direction && bytes.Equal(have.ID, it.ID)
		}) {
			res.Present++
			continue
		}
		c := clone(it, true)
		h.seq++
		c.Seq = h.seq
		h.items = append(h.items, c)
		h.notify(hostapi.Event{Kind: hostapi.EventMessage, Item: clone(c, true)})
		res.Added++
	}
	return &hostapi.Response{Imported: res}
}

// fingerprint hashes the ids of the conversation's messages: the fake has
// no chain hashes. h.mu is held.
func (h *Host) fingerprint(f *hostapi.Fingerprint) *hostapi.Response {
	peer, name := h.resolve(f.Peer)
	if peer == nil {
		return unknownPeer(f.Peer)
	}
	until := f.Until
	if until == 0 {
		until = time.Now().UnixMilli()
	}
	var ids [][]byte
	for _, it := range h.items {
		if bytes.Equal(it.Peer, peer) && it.Sent <= until {
			ids = append(ids, it.ID)
		}
	}
	return &hostapi.Response{Fingerprint: &hostapi.FingerprintResult{
		Peer: peer, PeerName: name, ClaimedName: h.claimed(peer, name), Until: until, Messages: len(ids), Hash: wire.TranscriptFingerprint(ids),
	}}
}

// expiry reads or sets a conversation's default expiry. h.mu is held.
func (h *Host) expiry(e *hostapi.Expiry) *hostapi.Response {
	peer, name := h.resolve(e.Peer)
	if peer == nil {
		return unknownPeer(e.Peer)
	}
	res := &hostapi.ExpiryResult{Peer: peer, PeerName: name, ClaimedName: h.claimed(peer, name), After: h.history.expiry[hex.EncodeToString(peer)]}
	if e.Set {
		res.Was, res.After = res.After, e.After
		h.setExpiry(peer, e.After)
	}
	return &hostapi.Response{Expiry: res}
}
