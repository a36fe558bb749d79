package call

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"smvs/lib/media"
)

// packetize makes n VP8 frames of three packets each.
func packetize(t *testing.T, n int) (frames [][]byte, packets []*rtp.Packet) {
	t.Helper()
	p := rtp.NewPacketizer(100, 96, 1, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, 200)
		data[0] = 0x10 | byte(i&1) // a frame tag: even frames are keyframes
		frames = append(frames, data)
		ps := p.Packetize(data, 3000)
		if len(ps) != 3 {
			t.Fatalf("%d packets for a frame", len(ps))
		}
		packets = append(packets, ps...)
	}
	return frames, packets
}

func assemble(a *assembler, packets []*rtp.Packet, at time.Time) (out [][]byte, lost bool) {
	for _, p := range packets {
		for _, f := range a.push(p, at) {
			out = append(out, f.data)
			lost = lost || f.lost
		}
	}
	return out, lost
}

func TestAssembler(t *testing.T) {
	frames, packets := packetize(t, 6)
	now := time.Now()
	for _, c := range []struct {
		name   string
		order  []int // indexes into packets; a negative one is delivered later, after maxGapWait
		want   []int // frames out
		lossAt bool
	}{
		{"in order", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, []int{0, 1, 2, 3, 4, 5}, false},
		{"reordered", []int{0, 2, 1, 3, 4, 6, 5, 7, 8, 9, 11, 10, 12, 13, 14, 15, 17, 16}, []int{0, 1, 2, 3, 4, 5}, false},
		{"retransmitted in time", []int{0, 1, 2, 3, 5, 6, 7, 8, 4, 9, 10, 11, 12, 13, 14, 15, 16, 17}, []int{0, 1, 2, 3, 4, 5}, false},
		{"lost", []int{0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, -12, -13, -14, -15, -16, -17}, []int{0, 2, 3, 4, 5}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := testAssembler(media.VP8, new(atomic.Uint64))
			var got [][]byte
			lost := false
			for _, i := range c.order {
				at := now
				if i < 0 {
					i, at = -i, now.Add(maxGapWait+time.Millisecond)
				}
				out, l := assemble(a, packets[i:i+1], at)
				got, lost = append(got, out...), lost || l
			}
			var want [][]byte
			for _, i := range c.want {
				want = append(want, frames[i])
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %d frames, want %v", len(got), c.want)
			}
			if lost != c.lossAt {
				t.Errorf("a frame out says frames were lost before it: %v", lost)
			}
		})
	}
}

func TestAssemblerFlush(t *testing.T) {
	frames, packets := packetize(t, 3)
	a := testAssembler(media.VP8, new(atomic.Uint64))
	// The middle of frame 0 never comes; frames 1 and 2 wait behind it.
	got, _ := assemble(a, append(packets[:1], packets[2:]...), time.Now())
	if len(got) != 0 {
		t.Fatalf("%d frames out before the gap was given up", len(got))
	}
	got = nil
	for _, f := range a.flush() {
		got = append(got, f.data)
	}
	if fmt.Sprint(got) != fmt.Sprint(frames[1:]) {
		t.Errorf("flush gave %d frames, want frames 1 and 2", len(got))
	}
}

func TestKeyframes(t *testing.T) {
	for _, c := range []struct {
		codec media.Codec
		data  []byte
		want  bool
	}{
		{media.VP8, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}, true},
		{media.VP8, []byte{0x11, 0x02, 0x00}, false},
		{media.VP9, []byte{0x82, 0x49, 0x83}, true}, // profile 0, key frame
		{media.VP9, []byte{0x86, 0x00}, false},      // profile 0, inter frame
		{media.VP9, []byte{0x88}, false},            // show_existing_frame
		{media.H264, []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x65, 2}, true},
		{media.H264, []byte{0, 0, 0, 1, 0x41, 1}, false},
		{media.AV1, []byte{0x12, 0x00, 0x0a, 0x01, 0x00}, true},  // temporal delimiter, sequence header
		{media.AV1, []byte{0x12, 0x00, 0x32, 0x01, 0x00}, false}, // temporal delimiter, frame
	} {
		if got := isKeyframe(c.codec, c.data); got != c.want {
			t.Errorf("isKeyframe(%s, % x) = %v", c.codec, c.data, got)
		}
	}
	if d := opusDuration([]byte{31 << 3}); d != 20*time.Millisecond {
		t.Errorf("opus duration %v", d)
	}
	if d := opusDuration([]byte{1<<3 | 3, 3}); d != 60*time.Millisecond {
		t.Errorf("opus code 3 duration %v", d)
	}
}

// gopStream makes n VP8 frames numbered from sequence number first, a
// keyframe every gop frames: keyframes of five packets, the others of two.
// starts[i] is the index in packets of frame i's first packet.
func gopStream(t *testing.T, n, gop int, first uint16) (frames [][]byte, starts []int, packets []*rtp.Packet) {
	t.Helper()
	p := rtp.NewPacketizer(100, 96, 1, &codecs.VP8Payloader{}, rtp.NewFixedSequencer(first), 90000)
	for i := range n {
		size, want := 150, 2
		if i%gop == 0 {
			size, want = 400, 5
		}
		data := bytes.Repeat([]byte{byte(i)}, size)
		data[0] = 0x11 // a frame tag: P bit set, an inter frame
		if i%gop == 0 {
			data[0] = 0x10
		}
		frames = append(frames, data)
		starts = append(starts, len(packets))
		ps := p.Packetize(data, 3000)
		if len(ps) != want {
			t.Fatalf("%d packets for frame %d, want %d", len(ps), i, want)
		}
		packets = append(packets, ps...)
	}
	return frames, starts, packets
}

// arrival is when a packet arrives, and the frames its push gave.
type arrival struct {
	p   *rtp.Packet
	at  time.Time
	out []frame
}

// deliver pushes packets, the i-th at start+i*step, then flushes.
func deliver(a *assembler, packets []*rtp.Packet, start time.Time, step time.Duration) (arrivals []arrival, out []frame) {
	for i, p := range packets {
		at := start.Add(time.Duration(i) * step)
		got := a.push(p, at)
		arrivals = append(arrivals, arrival{p, at, got})
		out = append(out, got...)
	}
	return arrivals, append(out, a.flush()...)
}

// written is what a receiver writes of frames out of an assembler (what
// its keyGate passes), each as the index of the sent frame it is. A frame
// written that is none of those sent (partial, or joined from two) fails
// the test, and so does one out of order.
func written(t *testing.T, codec media.Codec, sent [][]byte, out []frame) []int {
	t.Helper()
	var idx []int
	j := 0
	gate := keyGate{codec: codec}
	for i, f := range out {
		if write, _ := gate.pass(f); !write {
			continue
		}
		for j < len(sent) && !bytes.Equal(canonical(sent[j]), canonical(f.data)) {
			j++
		}
		if j == len(sent) {
			t.Fatalf("frame %d out (%d bytes) is written, but is not a whole frame sent, in order", i, len(f.data))
		}
		idx = append(idx, j)
		j++
	}
	return idx
}

func span(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// TestAssemblerOpening: the packets of the opening keyframe may arrive in
// any order, late, or twice, and no frame of the first GOP is lost; a
// first packet that never comes is waited for a bounded time (and count),
// then the stream starts at the next keyframe, and no partial frame is
// ever out.
func TestAssemblerOpening(t *testing.T) {
	const n, gop = 14, 6
	now := time.Now()
	vp8 := func() *assembler { return testAssembler(media.VP8, new(atomic.Uint64)) }

	for _, first := range []uint16{1000, 65533} { // 65533: the keyframe wraps around
		t.Run(fmt.Sprintf("shuffled from %d", first), func(t *testing.T) {
			for seed := range uint64(24) {
				frames, starts, packets := gopStream(t, n, gop, first)
				rng := rand.New(rand.NewPCG(seed, 14))
				// The opening keyframe and the frame after it, reordered
				// within a few milliseconds of jitter.
				order := slices.Clone(packets)
				k := starts[2]
				rng.Shuffle(k, func(i, j int) { order[i], order[j] = order[j], order[i] })
				dropped := new(atomic.Uint64)
				a := testAssembler(media.VP8, dropped)
				_, out := deliver(a, order, now, time.Millisecond)
				if got := written(t, media.VP8, frames, out); !slices.Equal(got, span(0, n)) {
					t.Errorf("seed %d, order %v: frames written %v, want all %d", seed, seqs(order[:k]), got, n)
				}
				if dropped.Load() != 0 || slices.ContainsFunc(out, func(f frame) bool { return f.lost }) {
					t.Errorf("seed %d: %d frames given up, though none was lost", seed, dropped.Load())
				}
			}
		})
	}

	t.Run("duplicates", func(t *testing.T) {
		for seed := range uint64(24) {
			frames, starts, packets := gopStream(t, n, gop, uint16(seed)*2000)
			rng := rand.New(rand.NewPCG(seed, 15))
			k := starts[2]
			// Each opening packet twice, in any order; then the rest, with
			// copies of some that were used already.
			order := append(slices.Clone(packets[:k]), packets[:k]...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for i, p := range packets[k:] {
				order = append(order, p)
				if i%3 == 0 {
					order = append(order, packets[rng.IntN(k+i+1)])
				}
			}
			_, out := deliver(vp8(), order, now, time.Millisecond)
			if got := written(t, media.VP8, frames, out); !slices.Equal(got, span(0, n)) {
				t.Errorf("seed %d: frames written %v, want each of %d once", seed, got, n)
			}
		}
	})

	for _, first := range []uint16{1000, 65535} {
		t.Run(fmt.Sprintf("first packet lost from %d", first), func(t *testing.T) {
			frames, starts, packets := gopStream(t, n, gop, first)
			dropped := new(atomic.Uint64)
			a := testAssembler(media.VP8, dropped)
			// 20 ms a packet: the wait for the keyframe's head ends
			// within the first GOP.
			arrivals, out := deliver(a, packets[1:], now, 20*time.Millisecond)
			if got := written(t, media.VP8, frames, out); !slices.Equal(got, span(gop, n)) {
				t.Errorf("frames written %v, want the second GOP, %d to %d", got, gop, n-1)
			}
			if len(out) == 0 || !out[0].lost || dropped.Load() == 0 {
				t.Errorf("the first frame out does not say frames were given up before it (dropped %d)", dropped.Load())
			}
			// Once under way, each frame is out when its last packet is in.
			for _, i := range []int{gop, gop + 1, n - 1} {
				last := starts[i] + 1
				if i+1 < n {
					last = starts[i+1] - 1
				}
				arr := arrivals[last-1] // packets[0] was never delivered
				if !slices.ContainsFunc(arr.out, func(f frame) bool { return bytes.Equal(f.data, frames[i]) }) {
					t.Errorf("frame %d was not out when its last packet came", i)
				}
			}
		})
	}

	t.Run("first packet lost, all at once", func(t *testing.T) {
		// No time passes: the count bound ends the wait.
		const n, gop = 200, 50
		frames, _, packets := gopStream(t, n, gop, 7)
		arrivals, _ := deliver(vp8(), packets[1:], now, 0)
		var out []frame
		for _, arr := range arrivals {
			out = append(out, arr.out...)
		}
		if got := written(t, media.VP8, frames, out); !slices.Equal(got, span(gop, n)) {
			t.Errorf("frames written before the flush %v, want %d to %d", got, gop, n-1)
		}
	})
}

// TestAssemblerOpeningH264: an H.264 keyframe carries its parameter sets
// in a packet of its own before the IDR slice's; an IDR slice whose
// parameter sets are late does not start the stream without them.
func TestAssemblerOpeningH264(t *testing.T) {
	_, h264 := streams(t)
	p := rtp.NewPacketizer(300, 102, 1, &codecs.H264Payloader{}, rtp.NewFixedSequencer(65530), 90000)
	var (
		sent    [][]byte
		packets []*rtp.Packet
		heads   []int // of the opening keyframe
	)
	for i, s := range h264[:20] {
		sent = append(sent, s.Data)
		for _, pk := range p.Packetize(s.Data, 3000) {
			if i == 0 && (&codecs.H264Packet{}).IsPartitionHead(pk.Payload) {
				heads = append(heads, len(packets))
			}
			packets = append(packets, pk)
		}
	}
	if !h264[0].Keyframe || len(heads) < 2 {
		t.Fatalf("the opening keyframe has %d packets that start a NAL unit, want its parameter sets and its slice", len(heads))
	}
	// The parameter sets arrive after the slice's first packet.
	order := slices.Clone(packets)
	order[heads[0]], order[heads[1]] = order[heads[1]], order[heads[0]]
	_, out := deliver(testAssembler(media.H264, new(atomic.Uint64)), order, time.Now(), time.Millisecond)
	if got := written(t, media.H264, sent, out); !slices.Equal(got, span(0, len(sent))) {
		t.Errorf("frames written %v, want all %d", got, len(sent))
	}
	// The parameter sets never come: nothing is written before the next
	// keyframe, which carries its own.
	next := slices.IndexFunc(h264[1:20], func(s media.Sample) bool { return s.Keyframe }) + 1
	if next == 0 {
		t.Fatal("no second keyframe")
	}
	lost := slices.Delete(slices.Clone(packets), heads[0], heads[0]+1)
	_, out = deliver(testAssembler(media.H264, new(atomic.Uint64)), lost, time.Now(), 20*time.Millisecond)
	if got := written(t, media.H264, sent, out); !slices.Equal(got, span(next, len(sent))) {
		t.Errorf("without the parameter sets: frames written %v, want %d to %d", got, next, len(sent)-1)
	}
}

func seqs(ps []*rtp.Packet) []uint16 {
	var s []uint16
	for _, p := range ps {
		s = append(s, p.SequenceNumber)
	}
	return s
}

// testAssembler is the assembler a receiver of codec makes.
func testAssembler(codec media.Codec, dropped *atomic.Uint64) *assembler {
	return newAssembler(newDepacketizer(codec), opener(codec), dropped)
}
