package host

import (
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
