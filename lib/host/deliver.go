package host

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"smvs/lib/blob"
	"smvs/lib/delivery"
	"smvs/lib/identity"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// deliverer sends the outbox's envelopes to the peers' hosts. Each peer
// with envelopes to send has a queue and a goroutine that has up to
// deliveryRequests requests and deliveryWindow envelopes in flight at
// once, oldest first: what waits for a request to end goes in batches
// after it. While the peer's host fails, the queue backs off and probes
// with one envelope at a time.
//
// Each delivery of a text or file message names the one before it that
// is still in flight or queued (wire.HostRequest.After), which the peer's
// host stores first, however the network reorders them. When a delivery
// fails, those after it in flight are ended and put back, to go again
// after it.
type deliverer struct {
	h      *Host
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	stopped bool
	queues  map[identity.PublicKey]*peerQueue
	wg      sync.WaitGroup
}

// flight is a delivery in flight.
type flight struct {
	o      *store.Outgoing
	cancel context.CancelFunc
}

type peerQueue struct {
	key      identity.PublicKey
	pending  []*store.Outgoing // not in flight, by Seq
	flying   map[uint64]flight // in flight, by Seq
	held     int               // holds (hold): no delivery starts while there is one
	requests int               // requests in flight
	failures int               // consecutive failures of the peer's host
	noBatch  bool              // the peer's host refused a batch (an older host): one envelope a request
	retryAt  time.Time         // no delivery starts before then
	wake     chan struct{}
	// attempts is the context of the deliveries started now; hold
	// cancels it (abort) and makes another.
	attempts context.Context
	abort    context.CancelFunc
}

func newDeliverer(h *Host) *deliverer {
	ctx, cancel := context.WithCancel(h.ctx)
	return &deliverer{h: h, ctx: ctx, cancel: cancel, queues: make(map[identity.PublicKey]*peerQueue)}
}

// depth returns how many entries the outbox holds, and when the oldest of
// them was queued.
func (d *deliverer) depth() (n int, oldest time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	see := func(o *store.Outgoing) {
		if n++; n == 1 || o.Stored.Before(oldest) {
			oldest = o.Stored
		}
	}
	for _, q := range d.queues {
		for _, o := range q.pending {
			see(o)
		}
		for _, f := range q.flying {
			see(f.o)
		}
	}
	return n, oldest
}

// add queues an outbox entry for delivery.
func (d *deliverer) add(o *store.Outgoing) {
	key, err := identity.NewPublicKey(identity.KindIdentity, o.Peer)
	if err != nil {
		d.h.log.Error("outbox entry with a bad peer key", "seq", o.Seq)
		return
	}
	// An entry's next attempt is on the real clock, which the host's
	// protocol clock (the store's) may be ahead of in tests: one further
	// off than any backoff is due now.
	if now := time.Now(); o.Next.After(now.Add(d.h.cfg.BackoffMax)) {
		o.Next = now
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	q := d.queue(key)
	q.insert(o)
	q.signal()
}

// queue returns key's queue, making it (and its goroutine) if there is
// none; d.mu is held and d is not stopped.
func (d *deliverer) queue(key identity.PublicKey) *peerQueue {
	q := d.queues[key]
	if q == nil {
		q = &peerQueue{key: key, wake: make(chan struct{}, 1), flying: make(map[uint64]flight)}
		q.attempts, q.abort = context.WithCancel(d.ctx)
		d.queues[key] = q
		d.wg.Go(func() { d.run(q) })
	}
	return q
}

// holdPoll is how often hold looks whether the deliveries in flight ended.
const holdPoll = 5 * time.Millisecond

// hold stops deliveries to keys from starting and ends those in flight,
// so that the caller may re-seal their outbox entries; release lets them
// go on. A delivery ended so is put back, to be tried again after: it
// would likely go to a key or an address that is no more (a rotation),
// and the caller should not wait for its timeouts. An attempt the peer's
// host had taken goes again, which it answers as a duplicate. hold gives
// up waiting when the deliverer stops.
func (d *deliverer) hold(keys ...identity.PublicKey) (release func()) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return func() {}
	}
	queues := make([]*peerQueue, 0, len(keys))
	for _, k := range keys {
		q := d.queue(k)
		q.held++
		q.abort()
		q.attempts, q.abort = context.WithCancel(d.ctx)
		queues = append(queues, q)
	}
	d.mu.Unlock()
	release = func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, q := range queues {
			q.held--
			q.signal()
		}
	}
	for {
		d.mu.Lock()
		busy := false
		for _, q := range queues {
			busy = busy || len(q.flying) > 0
		}
		d.mu.Unlock()
		if !busy {
			return release
		}
		select {
		case <-d.ctx.Done():
			return release
		case <-time.After(holdPoll):
		}
	}
}

// wake has the entries queued for key, if any, tried now rather than when
// their backoff ends: key's host just connected to this one, so it is up,
// and can be reached over that connection even behind a NAT.
func (d *deliverer) wake(key identity.PublicKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queues[key]
	if q == nil {
		return
	}
	now := time.Now()
	if q.retryAt.After(now) {
		q.retryAt = now
	}
	for _, o := range q.pending {
		if o.Next.After(now) {
			o.Next = now
		}
	}
	q.signal()
}

// replace puts the re-sealed entries os in their queues (by Peer) in
// place of what any queue held for the same messages, due now: they go
// to a new key.
func (d *deliverer) replace(os []*store.Outgoing) {
	seqs := make([]uint64, len(os))
	now := time.Now()
	for i, o := range os {
		seqs[i] = o.Seq
		o.Next = now
	}
	d.drop(seqs)
	for _, o := range os {
		d.add(o)
	}
}

// fly puts the entries of unit in flight, ended by cancel. d.mu is held.
func (q *peerQueue) fly(unit []*store.Outgoing, cancel context.CancelFunc) {
	for _, o := range unit {
		q.flying[o.Seq] = flight{o, cancel}
	}
}

func (q *peerQueue) insert(o *store.Outgoing) {
	i, _ := slices.BinarySearchFunc(q.pending, o.Seq, func(p *store.Outgoing, seq uint64) int { return cmp.Compare(p.Seq, seq) })
	q.pending = slices.Insert(q.pending, i, o)
}

// take takes from the pending entries those to start now, oldest first,
// while fewer than window are in flight, and none before an older one is
// due: the peer's host takes a conversation in the order it was sent. It
// returns them, and how long until the first one left is due (an hour if
// none is waiting for its time). d.mu is held; the caller adds them to
// q.flying.
func (q *peerQueue) take(now time.Time, window int) (start []*store.Outgoing, wait time.Duration) {
	wait = time.Hour
	kept, due := q.pending[:0], true
	for _, o := range q.pending {
		switch {
		case !due || len(q.flying)+len(start) >= window:
			kept = append(kept, o)
		case o.Next.After(now):
			wait = min(wait, o.Next.Sub(now))
			kept, due = append(kept, o), false
		default:
			start = append(start, o)
		}
	}
	clear(q.pending[len(kept):])
	q.pending = kept
	return start, wait
}

// after returns the id of the newest text or file message to q's peer
// older than seq that is in flight or queued: the one a delivery of seq
// is to be stored after (wire.HostRequest.After). d.mu is held.
func (q *peerQueue) after(seq uint64) []byte {
	var newest *store.Outgoing
	consider := func(o *store.Outgoing) {
		if o.Seq < seq && (o.Kind == wire.KindText || o.Kind == wire.KindFile) && (newest == nil || o.Seq > newest.Seq) {
			newest = o
		}
	}
	for _, f := range q.flying {
		consider(f.o)
	}
	for _, o := range q.pending {
		if o.Seq >= seq {
			break
		}
		consider(o)
	}
	if newest == nil {
		return nil
	}
	return newest.ID
}

// abortAfter ends the deliveries in flight of entries newer than seq,
// which are put back: seq failed, and they go again after it. d.mu is
// held.
func (q *peerQueue) abortAfter(seq uint64) {
	for s, f := range q.flying {
		if s > seq {
			f.cancel()
		}
	}
}

func (q *peerQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// drop forgets the entries of messages seqs, which were deleted, outbox
// entries and all. An attempt in flight finds its entry gone and ends.
func (d *deliverer) drop(seqs []uint64) {
	gone := make(map[uint64]bool, len(seqs))
	for _, seq := range seqs {
		gone[seq] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.queues {
		n := len(q.pending)
		q.pending = slices.DeleteFunc(q.pending, func(o *store.Outgoing) bool { return gone[o.Seq] })
		if len(q.pending) != n {
			q.signal()
		}
	}
}

// stop cancels the deliveries in flight and waits for every queue's
// goroutine. What was not delivered stays in the outbox.
func (d *deliverer) stop() {
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

// run serves q until it is empty or the deliverer stops.
func (d *deliverer) run(q *peerQueue) {
	var attempts sync.WaitGroup
	defer attempts.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		if d.stopped {
			d.mu.Unlock()
			return
		}
		if len(q.pending) == 0 && len(q.flying) == 0 && q.held == 0 {
			delete(d.queues, q.key)
			q.abort()
			d.mu.Unlock()
			return
		}
		now := time.Now()
		wait := time.Hour
		var start []*store.Outgoing
		switch {
		case q.held > 0:
			// Its entries are being re-sealed: release signals.
		case now.Before(q.retryAt):
			wait = q.retryAt.Sub(now)
		case q.requests >= deliveryRequests:
			// What comes meanwhile goes in a batch: attempt signals.
		default:
			window := deliveryWindow
			if q.failures > 0 {
				window = 1 // probe the peer's host with one envelope
			}
			start, wait = q.take(now, window)
		}
		failures := q.failures
		units := batches(start, q.noBatch)
		ctxs, afters := make([]context.Context, len(units)), make([][][]byte, len(units))
		for i, u := range units {
			var cancel context.CancelFunc
			ctxs[i], cancel = context.WithCancel(q.attempts)
			q.fly(u, cancel)
		}
		q.requests += len(units)
		for i, u := range units {
			for _, o := range u {
				afters[i] = append(afters[i], q.after(o.Seq))
			}
		}
		d.mu.Unlock()

		for i, u := range units {
			attempts.Go(func() { d.attempt(ctxs[i], q, u, afters[i], failures) })
		}
		timer.Reset(wait)
		select {
		case <-q.wake:
		case <-timer.C:
		case <-d.ctx.Done():
			return
		}
	}
}

// outcome is what became of one delivery attempt.
type outcome int

const (
	delivered outcome = iota // accepted, or given up: the entry left the outbox
	retry                    // the peer's host failed: back off
	canceled                 // the host is stopping
	dropped                  // the message was deleted meanwhile, outbox entry and all
	resealing                // its conversation's entries are being re-signed (a rotation), or were held (hold): try again after
)

// resealWait is when an entry put back for resealing is tried again at the
// earliest; the queue is held by then.
const resealWait = 50 * time.Millisecond

// batches splits the entries to start into the units that go in one
// request each: runs of small envelopes without a streamed body, up to
// wire.MaxBatch of them and batchBytes together, in their order. Any
// other entry goes alone, as does every entry with noBatch.
func batches(start []*store.Outgoing, noBatch bool) [][]*store.Outgoing {
	batchable := func(o *store.Outgoing) bool {
		return !noBatch && o.Size == 0 && len(o.Envelope) <= batchBytes/2
	}
	var units [][]*store.Outgoing
	size := 0
	for _, o := range start {
		if n := len(units); n > 0 && batchable(o) {
			if last := units[n-1]; batchable(last[0]) && len(last) < wire.MaxBatch && size+len(o.Envelope) <= batchBytes {
				units[n-1], size = append(last, o), size+len(o.Envelope)
				continue
			}
		}
		units, size = append(units, []*store.Outgoing{o}), len(o.Envelope)
	}
	return units
}

// attempt delivers the entries of unit once, within ctx, in one request,
// each to be stored after the message whose id is its after, and puts
// each back in q unless it left the outbox. failures is q's count of
// failures when the attempt began: the attempts of one round that fail
// together count as one failure.
func (d *deliverer) attempt(ctx context.Context, q *peerQueue, unit []*store.Outgoing, afters [][]byte, failures int) {
	for i, result := range d.deliver(ctx, q, unit, afters, failures > 0) {
		d.settle(q, unit[i], result, failures)
	}
	d.mu.Lock()
	q.requests--
	d.mu.Unlock()
	q.signal()
}

// settle acts on the outcome of an attempt to deliver o: it records a
// failure, and puts o back in q unless it left the outbox.
func (d *deliverer) settle(q *peerQueue, o *store.Outgoing, result outcome, failures int) {
	if result == retry {
		// Recorded before o is back in the queue, where another attempt
		// could take it.
		d.mu.Lock()
		q.abortAfter(o.Seq)
		if q.failures <= failures {
			q.failures = failures + 1
			q.retryAt = time.Now().Add(d.backoff(q.failures))
		}
		next := q.retryAt
		d.mu.Unlock()
		o.Attempts++
		o.Next = next
		switch err := d.h.store.OutboxRetry(o.Seq, o.Attempts, o.Next); {
		case errors.Is(err, store.ErrNotFound):
			result = dropped
		case err != nil && !errors.Is(err, store.ErrClosed):
			d.h.log.Error("recording a retry", "seq", o.Seq, "err", err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := q.flying[o.Seq]; ok {
		f.cancel()
		delete(q.flying, o.Seq)
	}
	switch result {
	case delivered:
		q.failures, q.retryAt = 0, time.Time{}
	case retry:
		q.insert(o)
	case resealing:
		o.Next = time.Now().Add(resealWait)
		q.insert(o)
	}
	q.signal()
}

// backoff returns the delay after the nth failure in a row: exponential
// from BackoffMin to BackoffMax, with jitter of up to half of it.
func (d *deliverer) backoff(n int) time.Duration {
	delay := d.h.cfg.BackoffMax
	if n < 32 {
		delay = min(delay, d.h.cfg.BackoffMin<<(n-1))
	}
	return delay/2 + rand.N(delay/2+1)
}

// deliver sends the entries of unit to the peer's host once, in one
// request, within attempt, and acts on the answer to each: one entry
// alone as an OpDeliver (OpDeliverStream with a streamed body), several
// as an OpDeliverBatch.
func (d *deliverer) deliver(attempt context.Context, q *peerQueue, unit []*store.Outgoing, afters [][]byte, fresh bool) []outcome {
	h := d.h
	outs := make([]outcome, len(unit))
	var send []int // the entries that go: indexes in unit
	var size int64
	for i, o := range unit {
		if then, ok := d.notNow(q.key, o); ok {
			outs[i] = then
			continue
		}
		send = append(send, i)
		size += int64(len(o.Envelope))
		if o.Size > 0 {
			size += blob.SealedSize(o.Size)
		}
	}
	if len(send) == 0 {
		return outs
	}
	all := func(then func(o *store.Outgoing) outcome) []outcome {
		for _, i := range send {
			outs[i] = then(unit[i])
		}
		return outs
	}
	ctx, cancel := context.WithTimeout(attempt, requestTimeout(size))
	defer cancel()
	res, err := withHost(h.peers.byKey(ctx, q.key, fresh))
	if err != nil {
		if then, ok := d.ended(attempt); ok {
			return all(func(*store.Outgoing) outcome { return then })
		}
		// The peer may have rotated: its old key's record is gone.
		h.metrics.failed(failUnresolved, len(send))
		h.peers.rot.follow(q.key)
		h.log.Info("delivery postponed: the peer's record was not found")
		h.log.Debug("peer not resolved", "peer", q.key, "err", err)
		return all(func(*store.Outgoing) outcome { return retry })
	}
	rt := routeOf(res)
	req, more := d.request(ctx, unit, afters, send)
	data, err := h.exchange(ctx, q.key, rt, req.Encode(), more)
	if err != nil {
		if then, ok := d.ended(attempt); ok {
			return all(func(*store.Outgoing) outcome { return then })
		}
		reason, then := d.failed(q.key, rt, err)
		h.metrics.failed(reason, len(send))
		return all(func(o *store.Outgoing) outcome { return then(o) })
	}
	resp, err := wire.DecodeHostResponse(data)
	switch {
	case err != nil:
		h.log.Info("delivery postponed: the peer's host answered garbage")
		h.metrics.failed(failBadAnswer, len(send))
		return all(func(*store.Outgoing) outcome { return retry })
	case req.Op == wire.OpDeliverBatch && resp.Status == wire.StatusInvalid:
		// A host that does not take batches (an older one): the entries go
		// one a request from now on.
		d.mu.Lock()
		q.noBatch = true
		d.mu.Unlock()
		h.log.Info("the peer's host takes no batches: delivering one envelope a request")
		return all(func(*store.Outgoing) outcome { return resealing })
	case req.Op != wire.OpDeliverBatch || resp.Status != wire.StatusStored:
		return all(func(o *store.Outgoing) outcome { return d.answered(q.key, o, resp.Status, resp.Message) })
	case len(resp.Results) != len(send):
		h.log.Info("delivery postponed: the peer's host answered garbage")
		h.metrics.failed(failBadAnswer, len(send))
		return all(func(*store.Outgoing) outcome { return retry })
	}
	for k, i := range send {
		outs[i] = d.answered(q.key, unit[i], resp.Results[k].Status, resp.Results[k].Message)
	}
	return outs
}

// notNow tells whether entry o to key is not to be sent now, and what
// became of it then.
func (d *deliverer) notNow(key identity.PublicKey, o *store.Outgoing) (outcome, bool) {
	h := d.h
	if !time.Now().Before(o.Until) {
		h.log.Warn("message given up: not delivered in time", "seq", o.Seq, "retried_for", h.cfg.RetryFor)
		h.metrics.failed(failExpired, 1)
		return d.done(o, delivery.Failed), true
	}
	if moved, then := h.peers.rot.movedTo(key); moved {
		// The peer rotated away from key and its conversation moved:
		// this entry goes to the new key, re-sealed.
		return then, true
	}
	if h.signedBefore(o.Envelope) && h.peers.rot.reseal(key, ownRotation) {
		// Sealed before this host's identity rotated: the entries to key
		// are re-signed by the current key, in order, before any goes.
		return resealing, true
	}
	return 0, false
}

// request returns the request that delivers the entries send of unit,
// and what follows it on its stream (a streamed body), if anything.
func (d *deliverer) request(ctx context.Context, unit []*store.Outgoing, afters [][]byte, send []int) (*wire.HostRequest, func(*transport.Stream) ([]byte, error)) {
	if len(send) == 1 {
		o := unit[send[0]]
		req := &wire.HostRequest{Op: wire.OpDeliver, Envelope: o.Envelope, After: afters[send[0]]}
		if o.Size == 0 {
			return req, nil
		}
		req.Op = wire.OpDeliverStream
		d.h.pushed(ctx, o.ID) // the body may be on its way already
		return req, d.h.sendBody(o)
	}
	req := &wire.HostRequest{Op: wire.OpDeliverBatch}
	for _, i := range send {
		req.Batch = append(req.Batch, wire.BatchItem{Envelope: unit[i].Envelope, After: afters[i]})
	}
	return req, nil
}

// ended tells what became of an attempt that failed as its context
// ended: the host is stopping, or the queue was held.
func (d *deliverer) ended(attempt context.Context) (outcome, bool) {
	switch {
	case d.ctx.Err() != nil:
		return canceled, true
	case attempt.Err() != nil:
		return resealing, true
	}
	return 0, false
}

// failed tells why a request to key's host at rt failed with err (a
// failUnreachable…), and what becomes of each of its entries.
func (d *deliverer) failed(key identity.PublicKey, rt route, err error) (string, func(o *store.Outgoing) outcome) {
	h := d.h
	var mismatch *transport.KeyMismatchError
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		return failTooLarge, func(o *store.Outgoing) outcome {
			h.log.Warn("message given up: too large for the peer's host", "seq", o.Seq, "bytes", len(o.Envelope))
			return d.done(o, delivery.Failed)
		}
	case errors.Is(err, transport.ErrRefused):
		// The peer's host refused this host's key when the handshake
		// completed: its user's block or allow list.
		h.log.Warn("message refused by the peer's host: its user's policy refused it", "reason", err)
		return failRefused, func(o *store.Outgoing) outcome { return d.done(o, delivery.Refused) }
	case errors.As(err, &mismatch):
		// The peer's host may have rotated its key: a key of its
		// record's chain.
		h.peers.rot.follow(key)
		h.log.Warn("delivery postponed: the host at the peer's address presents another key")
		h.log.Debug("peer host key mismatch", "peer", key, "addr", rt.String(), "got", mismatch.Got)
		return failKeyMismatch, func(*store.Outgoing) outcome { return retry }
	}
	h.log.Info("delivery postponed: the peer's host did not answer")
	h.log.Debug("delivery failed", "peer", key, "addr", rt.String(), "err", err)
	return failUnreachable, func(*store.Outgoing) outcome { return retry }
}

// answered acts on the peer's host's answer to the delivery of o to key.
func (d *deliverer) answered(key identity.PublicKey, o *store.Outgoing, status wire.HostStatus, message string) outcome {
	h := d.h
	switch status {
	case wire.StatusStored, wire.StatusDuplicate:
		h.log.Debug("delivered", "peer", key, "seq", o.Seq, "status", status)
		return d.done(o, delivery.Sent)
	case wire.StatusStaleKEMKey:
		h.metrics.failed(failStaleKEM, 1)
		// The peer rotated its KEM key: the entries to key are re-sealed
		// to its record's new one, in order, before any goes again.
		if h.peers.rot.reseal(key, staleKEM) {
			return resealing
		}
		h.log.Info("delivery postponed: the peer's host no longer has the KEM key its record names")
		return retry
	case wire.StatusBusy, wire.StatusInternal:
		reason := failBusy
		if status == wire.StatusInternal {
			reason = failInternal
		}
		h.metrics.failed(reason, 1)
		h.log.Info("delivery postponed", "status", status)
		return retry
	case wire.StatusRefused:
		h.metrics.failed(failRefused, 1)
		h.log.Warn("message refused by the peer's host: its user's policy refused it",
			"seq", o.Seq, "status", status, "reason", message)
		return d.done(o, delivery.Refused)
	case wire.StatusQuota:
		h.metrics.failed(failQuota, 1)
		// Its user's limit, as a policy is: the disk quota, or what it
		// takes from senders not in its contacts. Sending again won't help
		// until they delete some or add this user.
		h.log.Warn("message refused by the peer's host: its quota is full",
			"seq", o.Seq, "status", status, "reason", message)
		return d.done(o, delivery.Refused)
	}
	h.metrics.failed(failRejected, 1)
	h.log.Warn("message refused by the peer's host", "seq", o.Seq, "status", status, "reason", message)
	return d.done(o, delivery.Failed)
}

// requestTimeout bounds the delivery of an envelope and body of n bytes.
func requestTimeout(n int64) time.Duration {
	return requestBase + time.Duration(n/requestRate)*time.Second
}

// done takes o out of the outbox with status st.
func (d *deliverer) done(o *store.Outgoing, st delivery.Status) outcome {
	if err := d.h.store.OutboxDone(o.Seq, st); err != nil {
		switch {
		case errors.Is(err, store.ErrClosed):
			return canceled
		case errors.Is(err, store.ErrNotFound):
			return dropped
		}
		d.h.log.Error("recording a delivery", "seq", o.Seq, "err", err)
		return retry
	}
	d.h.metrics.left(st)
	return delivered
}

// storedMessage returns outgoing message seq as it was signed, and its
// signed bytes: from them (so it keeps its chain hash), or, for a receipt
// or a delete request, which are stored without them, from its fields.
func (h *Host) storedMessage(seq uint64) (*wire.Message, []byte, error) {
	m, err := h.store.Get(seq)
	if err != nil {
		return nil, nil, err
	}
	if len(m.Signed) > 0 {
		wm, err := wire.VerifyMessage(m.Signed)
		return wm, m.Signed, err
	}
	return &wire.Message{
		ID: m.ID, Sent: m.Sent, Kind: m.Kind, ContentType: m.ContentType, FileName: m.FileName,
		Body: m.Body, Expires: m.Expires,
	}, nil, nil
}
