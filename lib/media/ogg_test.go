package media

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// opusPacket makes a packet of n bytes whose TOC says 20 ms of CELT mono.
func opusPacket(n int, fill byte) []byte {
	p := bytes.Repeat([]byte{fill}, n)
	p[0] = 31 << 3 // config 31: CELT FB 20 ms, one frame
	return p
}

// TestOggPacketsSpanPages writes a packet too big for one page between two
// small ones and reads all three back.
func TestOggPacketsSpanPages(t *testing.T) {
	in := [][]byte{opusPacket(10, 1), opusPacket(150_000, 2), opusPacket(255, 3), opusPacket(510, 4)}
	var out bytes.Buffer
	w, _ := CreateAudio(&out)
	for i, p := range in {
		if err := w.Write(Sample{Data: p, PTS: time.Duration(i) * 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenAudio(&out)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	if len(got) != len(in) {
		t.Fatalf("read %d packets, wrote %d", len(got), len(in))
	}
	for i := range in {
		if !bytes.Equal(got[i].Data, in[i]) || got[i].PTS != time.Duration(i)*20*time.Millisecond || got[i].Duration != 20*time.Millisecond {
			t.Errorf("packet %d: %d bytes at %v for %v", i, len(got[i].Data), got[i].PTS, got[i].Duration)
		}
	}
}

// TestOggLargeTags reads a stream whose OpusTags (as with cover art) is
// over the packet limit and spans many pages.
func TestOggLargeTags(t *testing.T) {
	var out bytes.Buffer
	o := oggWriter{w: &out, serial: 7, bos: true}
	head := make([]byte, opusHeadSize)
	copy(head, "OpusHead")
	head[8], head[9] = 1, 2
	binary.LittleEndian.PutUint32(head[12:], opusRate)
	tags := append([]byte("OpusTags"), make([]byte, opusMaxPacket+1000)...)
	for _, step := range []struct {
		p       []byte
		granule int64
		eos     bool
	}{{head, 0, false}, {tags, 0, false}, {opusPacket(50, 1), 960, false}, {opusPacket(50, 2), 1920, true}} {
		if err := o.writePacket(step.p, step.granule, step.eos); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenAudio(&out)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r); len(got) != 2 || got[1].PTS != 20*time.Millisecond {
		t.Fatalf("read %d packets", len(got))
	}
}

func TestOpusSamples(t *testing.T) {
	for _, c := range []struct {
		packet []byte
		want   int
	}{
		{[]byte{0 << 3}, 480},             // SILK NB 10 ms
		{[]byte{3<<3 | 1}, 2 * 2880},      // SILK NB 60 ms, two frames
		{[]byte{13 << 3}, 960},            // Hybrid SWB 20 ms
		{[]byte{16<<3 | 3, 48}, 48 * 120}, // CELT 2.5 ms, 48 frames
		{[]byte{31<<3 | 4}, 960},          // stereo bit set, 20 ms
	} {
		if got, err := opusSamples(c.packet); err != nil || got != c.want {
			t.Errorf("opusSamples(% x) = %d, %v; want %d", c.packet, got, err, c.want)
		}
	}
	for _, bad := range [][]byte{nil, {31<<3 | 3}, {31<<3 | 3, 0}, {31<<3 | 3, 7}} {
		if n, err := opusSamples(bad); err == nil {
			t.Errorf("opusSamples(% x) = %d, no error", bad, n)
		}
	}
}
