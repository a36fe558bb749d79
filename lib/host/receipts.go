package host

import (
	"context"
	"sync"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// receiptBatcher collects the ids of messages stored from each peer and
// sends them back as one receipt per Config.ReceiptDelay or
// wire.MaxReceiptIDs ids, whichever comes first, so a flood of messages
// costs few receipts. It is safe for concurrent use.
type receiptBatcher struct {
	h *Host

	mu      sync.Mutex
	closed  bool
	pending map[identity.PublicKey]*receiptBatch
	sending sync.WaitGroup
}

type receiptBatch struct {
	ids   [][]byte
	timer *time.Timer
}

func newReceiptBatcher(h *Host) *receiptBatcher {
	return &receiptBatcher{h: h, pending: make(map[identity.PublicKey]*receiptBatch)}
}

// add queues a receipt for message id from peer.
func (b *receiptBatcher) add(peer identity.PublicKey, id []byte) { b.queue(peer, id, false) }

// addNow queues a receipt for message id from peer and sends what is
// queued for peer at once: for a large message, which came alone and
// took long, a wait for others to share its receipt is only a delay.
func (b *receiptBatcher) addNow(peer identity.PublicKey, id []byte) { b.queue(peer, id, true) }

func (b *receiptBatcher) queue(peer identity.PublicKey, id []byte, now bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	batch := b.pending[peer]
	if batch == nil {
		batch = new(receiptBatch)
		batch.timer = time.AfterFunc(b.h.cfg.ReceiptDelay, func() { b.flush(peer, batch) })
		b.pending[peer] = batch
	}
	batch.ids = append(batch.ids, id)
	if now || len(batch.ids) >= wire.MaxReceiptIDs {
		batch.timer.Stop()
		b.take(peer, batch)
	}
}

// flush sends batch, unless it was sent already.
func (b *receiptBatcher) flush(peer identity.PublicKey, batch *receiptBatch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending[peer] == batch && !b.closed {
		b.take(peer, batch)
	}
}

// take removes batch from the pending ones and sends it. b.mu is held.
func (b *receiptBatcher) take(peer identity.PublicKey, batch *receiptBatch) {
	delete(b.pending, peer)
	b.sending.Go(func() { b.h.sendReceipt(b.h.ctx, peer, batch.ids) })
}

// close stops collecting, queues every batch collected so far in the
// outbox (until ctx ends), and waits for the receipts being queued.
func (b *receiptBatcher) close(ctx context.Context) {
	b.mu.Lock()
	b.closed = true
	batches := b.pending
	b.pending = nil
	b.mu.Unlock()
	for peer, batch := range batches {
		batch.timer.Stop()
		b.sending.Go(func() { b.h.sendReceipt(ctx, peer, batch.ids) })
	}
	b.sending.Wait()
}

// sendReceipt seals a receipt of ids to peer and puts it in the outbox.
func (h *Host) sendReceipt(ctx context.Context, peer identity.PublicKey, ids [][]byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resolveTimeout)
	defer cancel()
	res, err := h.peerRecord(ctx, peer)
	if err != nil {
		h.log.Info("no receipt sent: the sender's record was not found")
		h.log.Debug("no receipt sent", "peer", peer, "err", err)
		return
	}
	if _, err := h.sendUnchained(peer, res.Record, wire.KindReceipt, (&wire.Receipt{IDs: ids}).Encode()); err != nil {
		h.log.Warn("no receipt sent", "err", err)
	}
}
