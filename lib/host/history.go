package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// conversationKey returns the peer a device names by a contact name or
// an smvs1 key, as List, Delete, Fingerprint and Expiry name it.
func (h *Host) conversationKey(name string) (identity.PublicKey, *hostapi.Error) {
	key, err := h.names.key(name)
	if err != nil {
		return identity.PublicKey{}, &hostapi.Error{
			Code: hostapi.ErrUnknownRecipient, Message: fmt.Sprintf("no contact %q", name),
			Hint: "give a contact's name or an smvs1 key"}
	}
	return key, nil
}

// deleted tells the deliverer and the following devices that messages
// seqs were deleted. Every deletion comes here once the store has done it.
func (h *Host) deleted(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	h.out.drop(seqs)
	h.deletions.publish(seqs)
}

// sentMessage is a message this user sent that a deletion may ask its
// peer's host to delete too.
type sentMessage struct {
	peer identity.PublicKey
	id   []byte
}

// deleteMessages answers an OpDelete: it deletes what d names and, with
// ForEveryone, asks the peers' hosts to delete their copies of the
// messages this user sent among them. Those hosts are looked up first: if
// one can't be, nothing is deleted.
func (h *Host) deleteMessages(ctx context.Context, d *hostapi.Delete) (*hostapi.DeleteResult, *hostapi.Error) {
	var key identity.PublicKey
	var peer []byte // nil for every conversation
	if d.Peer != "" {
		var e *hostapi.Error
		if key, e = h.conversationKey(d.Peer); e != nil {
			return nil, e
		}
		peer = key.Bytes()
	}
	var seqs []uint64 // with Seqs, those to delete
	sent := make(map[uint64]sentMessage)
	var err error
	if len(d.Seqs) > 0 {
		seqs, err = h.deletable(d.Seqs, sent)
	} else if d.ForEveryone {
		err = h.sentIn(key, peer, sent)
	}
	if err != nil {
		return nil, h.storeError("read the messages to delete", err)
	}
	if !d.ForEveryone {
		clear(sent)
	}
	records := make(map[identity.PublicKey]*wire.Record)
	for _, s := range sent {
		if records[s.peer] != nil {
			continue
		}
		res, err := h.peerRecord(ctx, s.peer)
		if err != nil {
			h.log.Debug("no record to ask for a deletion", "peer", s.peer, "err", err)
			return nil, &hostapi.Error{
				Code: hostapi.ErrUnavailable,
				Message: fmt.Sprintf("no record of %s could be found to ask its host to delete its copies; nothing was deleted",
					h.describePeer(s.peer)),
				Hint: "try again when its host or a directory can be reached, or delete on this host only"}
		}
		records[s.peer] = res.Record
	}

	var deleted []uint64
	switch {
	case len(d.Seqs) > 0:
		deleted, err = h.store.DeleteMessages(seqs)
	case d.Before != 0:
		deleted, err = h.store.DeleteBefore(peer, time.UnixMilli(d.Before))
	case peer != nil:
		deleted, err = h.store.DeleteConversation(peer)
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		h.chains.forget(key)
	default:
		deleted, err = h.store.DeleteAll()
		h.chains.forgetAll()
	}
	if err != nil {
		return nil, h.storeError("delete the messages", err)
	}
	h.deleted(deleted)
	h.log.Info("messages deleted", "messages", len(deleted), "for_everyone", d.ForEveryone)
	r := &hostapi.DeleteResult{Deleted: len(deleted), Missing: missing(d.Seqs, deleted)}
	if r.Requests, err = h.askPeers(deleted, sent, records); err != nil {
		e := h.storeError("ask for the deletion", err)
		e.Message = fmt.Sprintf("deleted %d messages here, but could not ask every peer's host to delete its copies: %s",
			len(deleted), e.Message)
		return nil, e
	}
	return r, nil
}

// describePeer names peer for a device: by its name, else its key.
func (h *Host) describePeer(peer identity.PublicKey) string {
	if name := h.peerName(peer.Bytes()); name != "" {
		return fmt.Sprintf("%q", name)
	}
	return peer.String()
}

// deletable returns those of seqs that are messages a device sees, and
// adds those this user sent to sent.
func (h *Host) deletable(seqs []uint64, sent map[uint64]sentMessage) ([]uint64, error) {
	var found []uint64
	for _, seq := range seqs {
		m, err := h.store.Head(seq)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !visible(m) {
			continue
		}
		found = append(found, seq)
		if m.Direction == delivery.Out {
			if key, err := identity.NewPublicKey(identity.KindIdentity, m.Peer); err == nil {
				sent[seq] = sentMessage{peer: key, id: m.ID}
			}
		}
	}
	return found, nil
}

// sentIn adds to sent the messages this user sent in the conversation
// with key (whose bytes are peer) or, with peer nil, in every
// conversation.
func (h *Host) sentIn(key identity.PublicKey, peer []byte, sent map[uint64]sentMessage) error {
	if peer == nil {
		return h.sentAll(sent)
	}
	links, err := h.store.Links(peer)
	if err != nil {
		return err
	}
	for _, l := range links {
		if l.Direction == delivery.Out && !l.Deleted {
			sent[l.Seq] = sentMessage{peer: key, id: l.ID}
		}
	}
	return nil
}

// sentAll adds to sent the messages this user sent, in every
// conversation. The store lists conversations only by their messages, so
// this reads them all.
func (h *Host) sentAll(sent map[uint64]sentMessage) error {
	for after := uint64(0); ; {
		page, err := h.store.List(after, listPage)
		if err != nil {
			return err
		}
		for _, m := range page {
			after = m.Seq
			if m.Direction != delivery.Out || !visible(m) {
				continue
			}
			if key, err := identity.NewPublicKey(identity.KindIdentity, m.Peer); err == nil {
				sent[m.Seq] = sentMessage{peer: key, id: m.ID}
			}
		}
		if len(page) < listPage {
			return nil
		}
	}
}

// missing returns those of asked that are not in deleted.
func missing(asked, deleted []uint64) []uint64 {
	gone := make(map[uint64]bool, len(deleted))
	for _, seq := range deleted {
		gone[seq] = true
	}
	var out []uint64
	for _, seq := range asked {
		if !gone[seq] {
			gone[seq] = true // once
			out = append(out, seq)
		}
	}
	return out
}

// askPeers asks each peer's host to delete its copies of the messages
// this user sent among those deleted: one delete request per
// wire.MaxDeleteIDs of them, sealed to records and delivered through the
// outbox like any message.
func (h *Host) askPeers(deleted []uint64, sent map[uint64]sentMessage, records map[identity.PublicKey]*wire.Record) ([]*hostapi.PeerDeletion, error) {
	ids := make(map[identity.PublicKey][][]byte)
	for _, seq := range deleted {
		if s, ok := sent[seq]; ok {
			ids[s.peer] = append(ids[s.peer], s.id)
		}
	}
	peers := make([]identity.PublicKey, 0, len(ids))
	for p := range ids {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b identity.PublicKey) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	var asked []*hostapi.PeerDeletion
	for _, p := range peers {
		for chunk := range slices.Chunk(ids[p], wire.MaxDeleteIDs) {
			id, err := h.sendUnchained(p, records[p], wire.KindDelete, (&wire.DeleteRequest{IDs: chunk}).Encode())
			if err != nil {
				return asked, err
			}
			asked = append(asked, &hostapi.PeerDeletion{
				Peer: p.Bytes(), PeerName: h.peerName(p.Bytes()), ClaimedName: h.claimedName(p.Bytes()), ID: id, Messages: len(chunk)})
		}
	}
	return asked, nil
}

// importMessages answers an OpImport: it checks every item, then stores
// those the host does not have.
func (h *Host) importMessages(im *hostapi.Import) (*hostapi.ImportResult, *hostapi.Error) {
	ms := make([]*store.Message, len(im.Items))
	signed := make([]*wire.Message, len(im.Items))
	for i, it := range im.Items {
		var err error
		if ms[i], signed[i], err = h.importable(it); err != nil {
			return nil, badRequest(fmt.Errorf("message %d of the import: %w", i+1, err))
		}
	}
	r := new(hostapi.ImportResult)
	expiring := false
	for i, m := range ms {
		dup, err := h.store.Import(m)
		if err != nil {
			e := h.storeError("import the messages", err)
			e.Message = fmt.Sprintf("imported %d of %d messages: %s", r.Added, len(ms), e.Message)
			return nil, e
		}
		if dup {
			r.Present++
			continue
		}
		r.Added++
		expiring = expiring || m.Expires != 0
		if signed[i] != nil {
			key, _ := identity.NewPublicKey(identity.KindIdentity, m.Peer)
			h.chains.imported(key, m.Seq, m.Direction, signed[i], wire.ChainHash(m.Signed))
		}
	}
	if expiring {
		h.sweepSoon()
	}
	h.log.Info("messages imported", "added", r.Added, "present", r.Present)
	return r, nil
}

// importable checks an item of an import and returns the message to
// store, and the signed message it carries, verified, if it has one.
func (h *Host) importable(it *hostapi.Item) (*store.Message, *wire.Message, error) {
	key, err := identity.NewPublicKey(identity.KindIdentity, it.Peer)
	if err != nil {
		return nil, nil, fmt.Errorf("its peer: %w", err)
	}
	if len(it.ID) != wire.MessageIDSize {
		return nil, nil, fmt.Errorf("its id is %d bytes, want %d", len(it.ID), wire.MessageIDSize)
	}
	if it.Kind != wire.KindText && it.Kind != wire.KindFile {
		return nil, nil, fmt.Errorf("a %s message, not a text or a file", it.Kind)
	}
	if it.Size > 0 {
		// Its body is not in the item; an import holds only what is.
		return nil, nil, errors.New("a message with a streamed body, which an import can't carry")
	}
	status := it.Status
	switch {
	case it.Direction == delivery.In:
		status = delivery.Received
	case it.Direction != delivery.Out:
		return nil, nil, fmt.Errorf("direction %d", it.Direction)
	case status == delivery.Queued:
		status = delivery.Failed // it was never sent from this host
	case status != delivery.Sent && status != delivery.Delivered && status != delivery.Failed && status != delivery.Refused:
		return nil, nil, fmt.Errorf("a sent message with status %s", status)
	}
	m := &store.Message{
		ID: it.ID, Peer: key.Bytes(), Direction: it.Direction, Status: status, Sent: it.Sent, Stored: it.Stored,
		Kind: it.Kind, ContentType: it.ContentType, FileName: it.FileName, Body: it.Body, Expires: it.Expires,
		Signed: it.Signed, Read: it.Read && it.Direction == delivery.In, Warnings: it.Warnings,
	}
	if len(it.Signed) == 0 {
		return m, nil, nil
	}
	sm, err := wire.VerifyMessage(it.Signed)
	if err != nil {
		return nil, nil, fmt.Errorf("its signed message: %w", err)
	}
	if sm.Stream != nil {
		return nil, nil, errors.New("its signed message has a streamed body, which an import can't carry")
	}
	from, to := h.me.Bytes(), key.Bytes()
	if it.Direction == delivery.In {
		from, to = to, from
	}
	switch {
	case !bytes.Equal(sm.Sender, from) || !bytes.Equal(sm.Recipient, to):
		return nil, nil, errors.New("its signed message is not between this user and its peer, in its direction")
	case !bytes.Equal(sm.ID, it.ID) || sm.Kind != it.Kind || sm.Sent != it.Sent:
		return nil, nil, errors.New("its signed message has another id, kind or time")
	case !bytes.Equal(sm.Body, it.Body) || sm.ContentType != it.ContentType || sm.FileName != it.FileName:
		return nil, nil, errors.New("its signed message has other content")
	}
	return m, sm, nil
}

// fingerprint answers an OpFingerprint.
func (h *Host) fingerprint(f *hostapi.Fingerprint) (*hostapi.FingerprintResult, *hostapi.Error) {
	key, e := h.conversationKey(f.Peer)
	if e != nil {
		return nil, e
	}
	until := f.Until
	if until == 0 {
		until = h.now().UnixMilli()
	}
	links, err := h.store.Links(key.Bytes())
	if err != nil {
		return nil, h.storeError("read the conversation", err)
	}
	var hashes [][]byte
	for _, l := range links {
		if l.Sent <= until {
			hashes = append(hashes, l.Hash)
		}
	}
	return &hostapi.FingerprintResult{
		Peer: key.Bytes(), PeerName: h.peerName(key.Bytes()), ClaimedName: h.claimedName(key.Bytes()), Until: until, Messages: len(hashes),
		Hash: wire.TranscriptFingerprint(hashes),
	}, nil
}

// expiry answers an OpExpiry.
func (h *Host) expiry(x *hostapi.Expiry) (*hostapi.ExpiryResult, *hostapi.Error) {
	key, e := h.conversationKey(x.Peer)
	if e != nil {
		return nil, e
	}
	r := &hostapi.ExpiryResult{Peer: key.Bytes(), PeerName: h.peerName(key.Bytes()), ClaimedName: h.claimedName(key.Bytes())}
	if !x.Set {
		after, err := h.store.ExpireAfter(key.Bytes())
		if err != nil {
			return nil, h.storeError("read the conversation's expiry", err)
		}
		r.After = after.Milliseconds()
		return r, nil
	}
	was, err := h.store.SetExpireAfter(key.Bytes(), time.Duration(x.After)*time.Millisecond)
	if err != nil {
		return nil, h.storeError("set the conversation's expiry", err)
	}
	r.After, r.Was = x.After, was.Milliseconds()
	h.log.Info("conversation's default expiry set", "after", time.Duration(x.After)*time.Millisecond)
	return r, nil
}
