package main

import (
	"container/heap"
	"math/rand/v2"
	"time"
)

// Params is the impairment of one direction.
type Params struct {
	Delay time.Duration // added to every packet
	// Jitter moves the delay within Delay ± Jitter: from one uniformly
	// drawn value to the next over 4×Jitter each time, never faster, so
	// that packets keep their order at any rate.
	Jitter time.Duration
	// Loss, Reorder and Duplicate are percentages of the packets that arrive.
	Loss, Reorder, Duplicate float64
	// ReorderBy is how much longer than its delay a reordered packet is
	// held, so that the packets after it pass it.
	ReorderBy time.Duration
	// Limit is how many packets may be held at once; more are dropped.
	Limit int
}

// Counters is what a Link did. Packets dropped because of a partition are
// counted as Partitioned, not Lost; Overflow counts those dropped by Limit.
type Counters struct {
	In          uint64 `json:"in"`
	Out         uint64 `json:"out"`
	Lost        uint64 `json:"lost"`
	Partitioned uint64 `json:"partitioned"`
	Overflow    uint64 `json:"overflow"`
	Duplicated  uint64 `json:"duplicated"`
	Reordered   uint64 `json:"reordered"`
}

// A Link impairs the packets of one direction: Arrive takes a packet in,
// Due gives back the packets whose time has come. Without reordering a Link
// is first in, first out: jitter changes when packets leave, never their
// order (netem's jitter reorders; here reordering is a setting of its own).
// A Link is unsafe for concurrent use.
type Link struct {
	params      Params
	rng         *rand.Rand
	partitioned bool
	held        packetHeap
	seq         uint64    // orders packets released at the same instant
	lastInOrder time.Time // release of the latest packet not held back
	wander      wander
	counters    Counters
}

// wander is the jitter's part of the delay: a line from (from, fromValue)
// to (to, toValue), drawn anew when time passes to.
type wander struct {
	from, to           time.Time
	fromValue, toValue time.Duration
}

// NewLink returns a Link with params whose random choices follow seed.
func NewLink(params Params, seed uint64) *Link {
	return &Link{params: params, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// SetParams changes the impairment of the packets that arrive from now on.
func (l *Link) SetParams(p Params) { l.params = p }

// Params returns the impairment in force.
func (l *Link) Params() Params { return l.params }

// SetPartitioned drops every packet that arrives from now on (true), or
// stops doing so. Packets already held still leave when due, as those
// already on the wire when a cable is cut.
func (l *Link) SetPartitioned(on bool) { l.partitioned = on }

// Partitioned reports whether the link drops everything.
func (l *Link) Partitioned() bool { return l.partitioned }

// Counters returns what the link did so far.
func (l *Link) Counters() Counters { return l.counters }

// Held returns how many packets wait to leave.
func (l *Link) Held() int { return len(l.held) }

// Arrive takes in packet pkt at time now. The Link keeps pkt.
func (l *Link) Arrive(now time.Time, pkt []byte) {
	l.counters.In++
	p := l.params
	switch {
	case l.partitioned:
		l.counters.Partitioned++
		return
	case l.chance(p.Loss):
		l.counters.Lost++
		return
	case len(l.held) >= p.Limit:
		l.counters.Overflow++
		return
	}
	release := now.Add(l.delay(now))
	if l.chance(p.Reorder) {
		release = release.Add(p.ReorderBy)
		l.counters.Reordered++
	} else {
		if release.Before(l.lastInOrder) {
			release = l.lastInOrder
		}
		l.lastInOrder = release
	}
	l.hold(release, pkt)
	if l.chance(p.Duplicate) && len(l.held) < p.Limit {
		l.hold(release, append([]byte(nil), pkt...))
		l.counters.Duplicated++
	}
}

// delay returns the delay of a packet arriving at now, never below zero.
func (l *Link) delay(now time.Time) time.Duration {
	j := l.params.Jitter
	if j <= 0 {
		return l.params.Delay
	}
	draw := func() time.Duration { return time.Duration(l.rng.Int64N(int64(2*j)+1)) - j }
	w := &l.wander
	period := 4 * j // the delay changes at most half as fast as time: no overtaking
	if w.to.IsZero() || now.Sub(w.to) >= period {
		*w = wander{from: now, to: now.Add(period), fromValue: draw(), toValue: draw()}
	}
	for now.After(w.to) {
		*w = wander{from: w.to, to: w.to.Add(period), fromValue: w.toValue, toValue: draw()}
	}
	span := w.to.Sub(w.from)
	d := w.fromValue + time.Duration(float64(w.toValue-w.fromValue)*float64(now.Sub(w.from))/float64(span))
	return max(l.params.Delay+d, 0)
}

// chance reports true with a probability of percent/100.
func (l *Link) chance(percent float64) bool {
	return percent > 0 && l.rng.Float64()*100 < percent
}

func (l *Link) hold(release time.Time, pkt []byte) {
	l.seq++
	heap.Push(&l.held, heldPacket{release: release, seq: l.seq, data: pkt})
}

// Due removes and returns, in the order they leave, the packets due at now.
func (l *Link) Due(now time.Time) [][]byte {
	var out [][]byte
	for len(l.held) > 0 && !l.held[0].release.After(now) {
		out = append(out, heap.Pop(&l.held).(heldPacket).data)
	}
	l.counters.Out += uint64(len(out))
	return out
}

// Next returns when the next packet is due, and false if none is held.
func (l *Link) Next() (time.Time, bool) {
	if len(l.held) == 0 {
		return time.Time{}, false
	}
	return l.held[0].release, true
}

type heldPacket struct {
	release time.Time
	seq     uint64
	data    []byte
}

// packetHeap is a min-heap of packets by release time, then arrival.
type packetHeap []heldPacket

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if !h[i].release.Equal(h[j].release) {
		return h[i].release.Before(h[j].release)
	}
	return h[i].seq < h[j].seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(heldPacket)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}
