package call

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Limits of the reorder buffer. A missing packet is waited for this long
// (NACK asks for it again every 100 ms or so) before its frame is given up.
const (
	maxGapWait  = 250 * time.Millisecond
	maxBuffered = 1024
)

// Limits of the wait at the start of a stream. Packets that arrive before
// the opening frame's first one are held, not dropped, so that jitter
// loses nothing of the first GOP; NACK can't bring back a packet before
// the first one seen, so the wait is for reordering only.
const (
	maxOpenWait = 250 * time.Millisecond
	maxOpening  = 256 // packets
)

// frame is one whole frame (or audio packet) reassembled from RTP.
type frame struct {
	data []byte
	ts   uint32
	lost bool // frames were given up just before this one
}

// assembler turns RTP packets into whole frames in sequence order. Unlike
// pion's samplebuilder it emits a frame as soon as its last packet is in
// (no waiting for the next frame's first packet), and waits for a missing
// packet only while NACK may still bring it.
type assembler struct {
	depacketizer rtp.Depacketizer
	opens        func([]byte) bool // whether a frame can start the stream
	dropped      *atomic.Uint64    // frames given up
	buf          map[uint16]*rtp.Packet
	started      bool
	openSince    time.Time // when the first packet came, until started
	checked      uint16    // with notOpening: a whole frame held that can't start the stream
	notOpening   bool
	next         uint16    // the first packet of the next frame
	gapSince     time.Time // when the packet at next was first missed
	lost         bool      // a frame was given up since the last one out
}

// newAssembler returns an assembler whose stream starts at a whole frame
// that opens reports decodable on its own (nil: any whole frame).
func newAssembler(d rtp.Depacketizer, opens func([]byte) bool, dropped *atomic.Uint64) *assembler {
	if opens == nil {
		opens = func([]byte) bool { return true }
	}
	return &assembler{depacketizer: d, opens: opens, dropped: dropped, buf: make(map[uint16]*rtp.Packet)}
}

// giveUp notes a frame given up.
func (a *assembler) giveUp() {
	a.lost = true
	a.dropped.Add(1)
}

// before reports whether sequence number a comes before b.
func before(a, b uint16) bool { return int16(a-b) < 0 }

// push adds a packet and returns the frames it completes.
func (a *assembler) push(p *rtp.Packet, now time.Time) []frame {
	if !a.started {
		if _, dup := a.buf[p.SequenceNumber]; !dup {
			a.buf[p.SequenceNumber] = p
		}
		if a.openSince.IsZero() {
			a.openSince = now
		}
		if !a.open(now, false) {
			return nil
		}
		return a.drain(now)
	}
	if before(p.SequenceNumber, a.next) {
		return nil // late, or a duplicate
	}
	if _, dup := a.buf[p.SequenceNumber]; dup {
		return nil
	}
	a.buf[p.SequenceNumber] = p
	return a.drain(now)
}

// drain returns the frames that are whole from next on, giving up a frame
// whose missing packet was waited for long enough.
func (a *assembler) drain(now time.Time) []frame {
	var out []frame
	for {
		if f, ok := a.take(); ok {
			if f.data != nil {
				out = append(out, f)
			}
			a.gapSince = time.Time{}
			continue
		}
		if !a.hole() {
			break // the frame at next is still coming in, in order
		}
		if a.gapSince.IsZero() {
			a.gapSince = now
		}
		if now.Sub(a.gapSince) < maxGapWait && len(a.buf) < maxBuffered {
			break
		}
		if !a.skip() {
			break
		}
	}
	return out
}

// open decides where the stream starts, and reports whether it has. It
// starts at once when the earliest packet held begins a whole frame that
// decodes on its own: whatever may still come before it is not needed.
// Otherwise it waits, for at most maxOpenWait or maxOpening packets (or
// not at all when forced), for earlier packets, then starts at the
// earliest frame head held and gives up what came before (the receiver
// then waits for a keyframe).
func (a *assembler) open(now time.Time, force bool) bool {
	var lo uint16
	first := true
	for seq := range a.buf {
		if first || before(seq, lo) {
			lo, first = seq, false
		}
	}
	if first {
		return false
	}
	if a.depacketizer.IsPartitionHead(a.buf[lo].Payload) && !(a.notOpening && lo == a.checked) {
		if end, complete := a.frameEnd(lo); complete {
			if data, ok := a.unmarshal(lo, end); ok && a.opens(data) {
				a.startAt(lo)
				return true
			}
			// A whole frame stays what it is: don't look again.
			a.checked, a.notOpening = lo, true
		}
	}
	if !force && now.Sub(a.openSince) < maxOpenWait && len(a.buf) < maxOpening {
		return false
	}
	var head uint16
	found := false
	for seq, p := range a.buf {
		if (!found || before(seq, head)) && a.depacketizer.IsPartitionHead(p.Payload) {
			head, found = seq, true
		}
	}
	if !found {
		if len(a.buf) >= maxOpening {
			// Nothing to start at: begin the wait again.
			clear(a.buf)
			a.openSince, a.notOpening = time.Time{}, false
			a.giveUp()
		}
		return false
	}
	if head != lo {
		for seq := range a.buf {
			if before(seq, head) {
				delete(a.buf, seq)
			}
		}
		a.giveUp()
	}
	a.startAt(head)
	return true
}

func (a *assembler) startAt(seq uint16) {
	a.started, a.next, a.gapSince = true, seq, time.Time{}
	a.openSince, a.notOpening = time.Time{}, false
}

// take removes the frame starting at next if all its packets are in. A
// frame it cannot use it drops, returning ok with no data.
func (a *assembler) take() (frame, bool) {
	first := a.buf[a.next]
	if first == nil {
		return frame{}, false
	}
	end, complete := a.frameEnd(a.next)
	if !complete {
		return frame{}, false
	}
	data, ok := a.unmarshal(a.next, end)
	for i := a.next; ; i++ {
		delete(a.buf, i)
		if i == end {
			break
		}
	}
	a.next = end + 1
	if !ok {
		a.giveUp()
		return frame{}, true
	}
	f := frame{data: data, ts: first.Timestamp, lost: a.lost}
	a.lost = false
	return f, true
}

// frameEnd finds the last packet of the frame starting at start, and
// whether all its packets are in. A frame ends at a partition tail (the
// marker bit), or just before a packet of another timestamp.
func (a *assembler) frameEnd(start uint16) (end uint16, complete bool) {
	first := a.buf[start]
	for i := start; ; i++ {
		p := a.buf[i]
		if p == nil {
			return 0, false
		}
		if p.Timestamp != first.Timestamp {
			return i - 1, true
		}
		if a.depacketizer.IsPartitionTail(p.Marker, p.Payload) {
			return i, true
		}
		if uint16(i-start) >= maxBuffered {
			return 0, false
		}
	}
}

// unmarshal joins the payloads of the packets from start to end, leaving
// them held; ok is false for a frame that does not begin at a partition
// head, or that does not depacketize.
func (a *assembler) unmarshal(start, end uint16) (data []byte, ok bool) {
	if !a.depacketizer.IsPartitionHead(a.buf[start].Payload) {
		return nil, false
	}
	for i := start; ; i++ {
		payload, err := a.depacketizer.Unmarshal(a.buf[i].Payload)
		if err != nil {
			return nil, false
		}
		data = append(data, payload...)
		if i == end {
			break
		}
	}
	return data, len(data) > 0
}

// skip gives up the frame with the missing packet at next: it drops the
// packets up to the end of that frame (the next partition tail). Without
// a tail in the buffer it waits, unless the buffer is full.
func (a *assembler) skip() bool {
	var tail uint16
	found := false
	for seq := range a.buf {
		p := a.buf[seq]
		if a.depacketizer.IsPartitionTail(p.Marker, p.Payload) && (!found || before(seq, tail)) {
			tail, found = seq, true
		}
	}
	if !found {
		if len(a.buf) < maxBuffered {
			return false
		}
		clear(a.buf)
		a.started, a.openSince, a.notOpening = false, time.Time{}, false
		a.giveUp()
		return false
	}
	for seq := range a.buf {
		if !before(tail, seq) {
			delete(a.buf, seq)
		}
	}
	a.next = tail + 1
	a.gapSince = time.Time{}
	a.giveUp()
	return true
}

// flush returns every whole frame left, skipping the gaps: the call is
// over and nothing more will arrive.
func (a *assembler) flush() []frame {
	var out []frame
	if !a.started {
		// Start now: no earlier packet will come.
		if !a.open(time.Time{}, true) {
			return nil
		}
	}
	for range maxBuffered {
		if len(a.buf) == 0 {
			break
		}
		if f, ok := a.take(); ok {
			if f.data != nil {
				out = append(out, f)
			}
			continue
		}
		if !a.skip() {
			break
		}
	}
	return out
}

// hole reports whether a packet is missing: some buffered packet does not
// follow next without a gap.
func (a *assembler) hole() bool {
	n := 0
	for i := a.next; a.buf[i] != nil && n < len(a.buf); i++ {
		n++
	}
	return n < len(a.buf)
}
