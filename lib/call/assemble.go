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
	dropped      *atomic.Uint64 // frames given up
	buf          map[uint16]*rtp.Packet
	started      bool
	next         uint16    // the first packet of the next frame
	gapSince     time.Time // when the packet at next was first missed
	lost         bool      // a frame was given up since the last one out
}

func newAssembler(d rtp.Depacketizer, dropped *atomic.Uint64) *assembler {
	return &assembler{depacketizer: d, dropped: dropped, buf: make(map[uint16]*rtp.Packet)}
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
		if !a.depacketizer.IsPartitionHead(p.Payload) {
			return nil
		}
		a.started, a.next = true, p.SequenceNumber
	}
	if before(p.SequenceNumber, a.next) {
		return nil // late, or a duplicate
	}
	if _, dup := a.buf[p.SequenceNumber]; dup {
		return nil
	}
	a.buf[p.SequenceNumber] = p
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

// take removes the frame starting at next if all its packets are in. A
// frame ends at a partition tail (the marker bit), or just before a packet
// of another timestamp. A frame it cannot use it drops, returning ok with
// no data.
func (a *assembler) take() (frame, bool) {
	first := a.buf[a.next]
	if first == nil {
		return frame{}, false
	}
	end, complete := a.next, false
	for i := a.next; ; i++ {
		p := a.buf[i]
		if p == nil {
			break
		}
		if p.Timestamp != first.Timestamp {
			end, complete = i-1, true
			break
		}
		if a.depacketizer.IsPartitionTail(p.Marker, p.Payload) {
			end, complete = i, true
			break
		}
		if uint16(i-a.next) >= maxBuffered {
			break
		}
	}
	if !complete {
		return frame{}, false
	}
	var data []byte
	ok := a.depacketizer.IsPartitionHead(first.Payload)
	for i := a.next; ; i++ {
		if ok {
			payload, err := a.depacketizer.Unmarshal(a.buf[i].Payload)
			ok = err == nil
			data = append(data, payload...)
		}
		delete(a.buf, i)
		if i == end {
			break
		}
	}
	a.next = end + 1
	if !ok || len(data) == 0 {
		a.giveUp()
		return frame{}, true
	}
	f := frame{data: data, ts: first.Timestamp, lost: a.lost}
	a.lost = false
	return f, true
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
		a.started = false
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
