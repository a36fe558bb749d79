package call

import (
	"bytes"
	"fmt"
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
			a := newAssembler(&codecs.VP8Packet{}, new(atomic.Uint64))
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
	a := newAssembler(&codecs.VP8Packet{}, new(atomic.Uint64))
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
