package host

import (
	"fmt"
	"sync"
	"time"

	"smvs/lib/identity"
)

// peerLimits bounds what each peer key may ask of the host: a token bucket
// of deliveries (rate a second on average, burst at once) and a number of
// deliveries in flight at once. It is safe for concurrent use.
type peerLimits struct {
	rate    float64
	burst   float64
	streams int

	mu        sync.Mutex
	peers     map[identity.PublicKey]*peerLimit
	lastSweep time.Time
}

type peerLimit struct {
	tokens   float64
	last     time.Time
	inflight int
}

// sweepEvery is how often idle peers are forgotten, so that the map stays
// as small as the set of active peers.
const sweepEvery = time.Minute

func newPeerLimits(rate float64, burst, streams int) *peerLimits {
	return &peerLimits{
		rate: rate, burst: float64(max(burst, 1)), streams: streams,
		peers: make(map[identity.PublicKey]*peerLimit), lastSweep: time.Now(),
	}
}

// begin takes a token and a place in flight for peer. It reports false,
// and what was over, when either limit is reached; otherwise the caller
// calls end when the delivery is over.
func (l *peerLimits) begin(peer identity.PublicKey) (ok bool, over string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > sweepEvery {
		l.sweep(now)
	}
	p := l.peers[peer]
	if p == nil {
		p = &peerLimit{tokens: l.burst, last: now}
		l.peers[peer] = p
	}
	p.tokens = min(l.burst, p.tokens+now.Sub(p.last).Seconds()*l.rate)
	p.last = now
	switch {
	case p.inflight >= l.streams:
		return false, "too many deliveries in flight"
	case p.tokens < 1:
		return false, "too many deliveries a second"
	}
	p.tokens--
	p.inflight++
	return true, ""
}

// charge takes n more tokens from peer's bucket, which begin took one
// from: the rest of a batch's deliveries. It reports false, and what was
// over, when the bucket has not that many, and then takes none.
func (l *peerLimits) charge(peer identity.PublicKey, n int) (ok bool, over string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.peers[peer]
	if p == nil || p.tokens < float64(n) {
		return false, "too many deliveries a second"
	}
	p.tokens -= float64(n)
	return true, ""
}

// end gives back peer's place in flight.
func (l *peerLimits) end(peer identity.PublicKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.peers[peer]; p != nil {
		p.inflight--
	}
}

// sweep forgets peers with nothing in flight whose bucket has refilled.
func (l *peerLimits) sweep(now time.Time) {
	l.lastSweep = now
	for k, p := range l.peers {
		if p.inflight == 0 && p.tokens+now.Sub(p.last).Seconds()*l.rate >= l.burst {
			delete(l.peers, k)
		}
	}
}

// sharedLimit is one token bucket and one cap on deliveries in flight for a
// whole class of peers: the strangers (keys not in the contacts), whose
// keys cost nothing to make, so that a flood of fresh keys gets no more
// than one busy stranger would. A nil sharedLimit limits nothing. It is
// safe for concurrent use.
type sharedLimit struct {
	rate    float64
	burst   float64
	streams int

	mu sync.Mutex
	b  peerLimit
}

// newSharedLimit returns a shared limit, or nil if rate is 0 (no limit).
func newSharedLimit(rate float64, burst, streams int) *sharedLimit {
	if rate <= 0 {
		return nil
	}
	b := float64(max(burst, 1))
	return &sharedLimit{rate: rate, burst: b, streams: max(streams, 1), b: peerLimit{tokens: b, last: time.Now()}}
}

// begin takes a token and a place in flight, as peerLimits.begin does.
func (l *sharedLimit) begin() (ok bool, over string) {
	if l == nil {
		return true, ""
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.tokens = min(l.burst, l.b.tokens+now.Sub(l.b.last).Seconds()*l.rate)
	l.b.last = now
	switch {
	case l.b.inflight >= l.streams:
		return false, "too many deliveries from strangers in flight"
	case l.b.tokens < 1:
		return false, "too many deliveries from strangers a second"
	}
	l.b.tokens--
	l.b.inflight++
	return true, ""
}

// charge takes n more tokens, as peerLimits.charge does.
func (l *sharedLimit) charge(n int) (ok bool, over string) {
	if l == nil {
		return true, ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.tokens < float64(n) {
		return false, "too many deliveries from strangers a second"
	}
	l.b.tokens -= float64(n)
	return true, ""
}

// end gives back a place in flight.
func (l *sharedLimit) end() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.inflight--
}

// strangerQuota bounds the bytes the store holds of messages received from
// strangers: all of them together (total) and each stranger's key (perKey);
// 0 is no bound. It counts what the store counts (store.Received) plus
// what deliveries in flight may add, which they reserve, so that strangers
// delivering at once can't together go past it. It is safe for concurrent
// use.
type strangerQuota struct {
	total, perKey int64

	mu       sync.Mutex
	reserved int64                        // by all deliveries in flight
	byKey    map[identity.PublicKey]int64 // by each key's
}

func newStrangerQuota(total, perKey int64) *strangerQuota {
	return &strangerQuota{total: max(total, 0), perKey: max(perKey, 0), byKey: make(map[identity.PublicKey]int64)}
}

// reserve reserves n bytes for a message from stranger peer, which holds
// held bytes, while strangers together hold all. It reports false, and
// which bound is over, if storing the message could go past one; else the
// caller calls release(peer, n) once the message is stored or not.
func (q *strangerQuota) reserve(peer identity.PublicKey, n int64, held, all func() int64) (ok bool, over string) {
	if q.total == 0 && q.perKey == 0 {
		return true, ""
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.perKey > 0 && held()+q.byKey[peer]+n > q.perKey:
		return false, fmt.Sprintf("too much stored from this sender, who is not a contact of this host's user: its limit is %d bytes until they delete some or add the sender", q.perKey)
	case q.total > 0 && all()+q.reserved+n > q.total:
		return false, fmt.Sprintf("too much stored from strangers (senders not in this host's user's contacts): their limit is %d bytes until the user deletes some or adds the sender", q.total)
	}
	q.reserved += n
	q.byKey[peer] += n
	return true, ""
}

// release gives back what reserve reserved.
func (q *strangerQuota) release(peer identity.PublicKey, n int64) {
	if q.total == 0 && q.perKey == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reserved -= n
	if q.byKey[peer] -= n; q.byKey[peer] <= 0 {
		delete(q.byKey, peer)
	}
}

// strangerCost is what a message reserves of the strangers' quota before
// it is stored: about what the store will count for it (its signed bytes,
// which hold an inline body, and a streamed body's blob, encrypted, and
// its row), a little more rather than less.
func strangerCost(blobSize int64, signed, meta int) int64 {
	return blobSize + int64(signed+meta) + 1024
}

// isStranger reports whether peer is a stranger: neither a contact (in the
// contacts file, read again when it changes) nor this host's own user.
func (h *Host) isStranger(peer identity.PublicKey) bool {
	return peer != h.me && !h.names.isContact(peer)
}

// isContact reports whether key is a contact's. A miss looks at the file
// again (a stat, unless it changed), as key does: a sender the user just
// added must not be refused as a stranger for up to namesRecheck.
func (n *contactNames) isContact(key identity.PublicKey) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.load()
	if _, ok := n.names[key]; ok {
		return true
	}
	n.checked = time.Time{}
	n.load()
	_, ok := n.names[key]
	return ok
}

// strangersHeld returns the bytes the store counts for the messages of
// every stranger: all the received bytes less those of the contacts and
// of the user, so that a stranger who became a contact no longer counts,
// and the sum costs a look-up per contact rather than one per stranger.
func (h *Host) strangersHeld() int64 {
	keys := h.names.contactKeys()
	known := make([][]byte, 0, len(keys)+1)
	known = append(known, h.me.Bytes())
	for _, k := range keys {
		known = append(known, k.Bytes())
	}
	return h.store.ReceivedExcept(known)
}

// contactKeys returns the keys of the contacts, each once.
func (n *contactNames) contactKeys() []identity.PublicKey {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.load()
	keys := make([]identity.PublicKey, 0, len(n.names))
	for k := range n.names {
		keys = append(keys, k)
	}
	return keys
}
