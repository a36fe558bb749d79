package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/identity"
	"smvs/lib/seal"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// Every message this host sends to a peer's host starts here: a device's
// message (submit), a receipt, a delete request and a call signal are
// each sealed to the record resolveCurrent finds. All but call signals
// then go into the outbox through enqueue, for the deliverer to send;
// a call signal is sent at once (callHub.send), or not at all.

// resolveCurrent resolves a peer with lookup, and once more, fresh, if the
// record it found has a KEM key that expired: the record may have been
// renewed since it was cached.
func (h *Host) resolveCurrent(lookup func(fresh bool) (*contacts.Resolved, error)) (*contacts.Resolved, error) {
	res, err := lookup(false)
	if err == nil && res.Record != nil && !h.now().Before(time.UnixMilli(res.Record.KEM.Expires)) {
		res, err = lookup(true)
	}
	return res, err
}

// peerRecord resolves the peer key to the record to seal to, which has a
// host address.
func (h *Host) peerRecord(ctx context.Context, peer identity.PublicKey) (*contacts.Resolved, error) {
	return withHost(h.resolveCurrent(func(fresh bool) (*contacts.Resolved, error) { return h.peers.byKey(ctx, peer, fresh) }))
}

// withHost passes on a resolved peer that has a record and a host
// address to send to, and errNoHost for one that hasn't.
func withHost(res *contacts.Resolved, err error) (*contacts.Resolved, error) {
	if err == nil && (res.Record == nil || res.Host() == "") {
		err = errNoHost
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// sealChained seals m to the peer key's record, carrying the
// conversation's chain hash: m is signed while the conversation's chain is
// held, so messages to one peer chain one after another, and sealed (the
// costly HPKE part) after it is released, so they seal in parallel, with
// no second signature (which may be a round trip to the agent). The
// caller stores it in its turn (turn.wait, then turn.done once queued),
// so that the peer gets them in the order they chain.
func (h *Host) sealChained(key identity.PublicKey, rec *wire.Record, m *wire.Message, now time.Time) (*seal.Sealed, *turn, error) {
	m.Sender, m.Recipient, m.KEMKeyID = h.me.Bytes(), bytes.Clone(rec.Identity), bytes.Clone(rec.KEM.ID)
	if len(m.ID) == 0 {
		m.ID = make([]byte, wire.MessageIDSize)
		rand.Read(m.ID)
	}
	hash, done, t, err := h.chains.next(key)
	if err != nil {
		return nil, nil, err
	}
	m.Chain = hash
	signed, err := wire.SignMessage(h.keys.Signer(), m)
	done(signed)
	if err != nil {
		t.done()
		return nil, nil, err
	}
	sealed, err := seal.SealSigned(rec, m, signed, now)
	if err != nil {
		t.done()
		return nil, nil, err
	}
	return sealed, t, nil
}

// seal seals m to the peer's record, unchained: a receipt, a call
// signal, a delete request.
func (h *Host) seal(rec *wire.Record, m *wire.Message, now time.Time) (*seal.Sealed, error) {
	return seal.Seal(h.keys.Signer(), rec, m, now)
}

// sendUnchained seals a message of kind with body to peer's record rec
// and puts it in the outbox, and returns its id. Such messages (receipts,
// delete requests) are the hosts' business, not part of the conversation:
// they carry no chain hash and are stored without their signed bytes, so
// the next message's chain hash does not cover them and they leave no
// link.
func (h *Host) sendUnchained(peer identity.PublicKey, rec *wire.Record, kind wire.Kind, body []byte) ([]byte, error) {
	now := h.now()
	m := &wire.Message{Sent: now.UnixMilli(), Kind: kind, Body: body}
	sealed, err := h.seal(rec, m, now)
	if err != nil {
		return nil, fmt.Errorf("sealing a %s message: %w", kind, err)
	}
	sm := &store.Message{
		ID: m.ID, Peer: peer.Bytes(), Direction: delivery.Out, Status: delivery.Queued,
		Sent: m.Sent, Kind: m.Kind, Body: m.Body,
	}
	if err := h.enqueue(sm, sealed.Envelope, nil); err != nil {
		return nil, fmt.Errorf("storing a %s message: %w", kind, err)
	}
	return m.ID, nil
}

// enqueue stores outgoing message sm with its envelope in the outbox,
// durably, and hands it to the deliverer. queued, if not nil, is called
// once it is queued in the store, before it is durable
// (store.AddOutgoingQueued).
func (h *Host) enqueue(sm *store.Message, envelope []byte, queued func()) error {
	until := time.Now().Add(h.cfg.RetryFor)
	if err := h.store.AddOutgoingQueued(sm, envelope, until, queued); err != nil {
		return err
	}
	h.out.add(&store.Outgoing{Seq: sm.Seq, Peer: sm.Peer, ID: sm.ID, Kind: sm.Kind, Envelope: envelope,
		Size: sm.Size, Next: time.Now(), Until: until, Stored: time.UnixMilli(sm.Stored)})
	return nil
}
