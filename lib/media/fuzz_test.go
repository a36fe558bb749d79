package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestBadInput checks that broken input gives an error that says what is
// wrong, and a truncated stream one that wraps io.ErrUnexpectedEOF.
func TestBadInput(t *testing.T) {
	vp8 := openGolden(t, "vp8.ivf")
	h264 := openGolden(t, "h264.h264")
	ogg := openGolden(t, "opus.ogg")

	oversized := bytes.Clone(vp8[:ivfHeaderSize+ivfFrameHeaderSize])
	binary.LittleEndian.PutUint32(oversized[ivfHeaderSize:], 4_000_000_000)

	badCRC := bytes.Clone(ogg)
	badCRC[len(badCRC)-1] ^= 1

	// The OpusHead page of a stream that isn't Opus: same framing, other
	// magic, CRC fixed up so the CRC check passes.
	notOpus := bytes.Clone(ogg[:oggPageLen(ogg)])
	copy(notOpus[oggHeaderSize+1:], "Vorbis__")
	clear(notOpus[22:26])
	binary.LittleEndian.PutUint32(notOpus[22:], oggCRC(0, notOpus))

	for _, c := range []struct {
		name, format string
		input        []byte
		audio        bool
		want         string // in the error text
		truncated    bool   // the error wraps io.ErrUnexpectedEOF
	}{
		{"empty video", "", nil, false, "empty video input", true},
		{"empty ivf", "ivf", nil, false, "ivf: reading the file header", true},
		{"empty h264", "h264", nil, false, "h264: no start code", true},
		{"empty audio", "", nil, true, "ogg: empty input", true},
		{"unknown format", "", []byte("RIFF....WAVE"), false, "neither IVF", false},
		{"unknown format name", "mp4", vp8, false, `unknown video format "mp4"`, false},
		{"unknown fourcc", "", append(append([]byte{}, vp8[:8]...), append([]byte("H265"), vp8[12:]...)...), false, `fourcc "H265"`, false},
		{"truncated ivf header", "", vp8[:20], false, "ivf: reading the file header", true},
		{"truncated frame header", "", vp8[:ivfHeaderSize+5], false, "ivf: frame 0: reading the frame header", true},
		{"truncated frame", "", vp8[:ivfHeaderSize+ivfFrameHeaderSize+100], false, "ivf: frame 0: reading", true},
		{"oversized frame", "", oversized, false, "header says 4000000000 bytes, over the 16 MiB limit", false},
		{"h264 garbage", "h264", []byte("hello"), false, "does not start with a start code", false},
		{"truncated ogg", "", ogg[:len(ogg)-10], true, "", true},
		{"ogg CRC", "", badCRC, true, "CRC is", false},
		{"ogg without OpusHead", "", notOpus, true, "does not hold an OpusHead", false},
		{"not ogg", "", vp8, true, `starts with "DKIF", not "OggS"`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.audio {
				err = drain(OpenAudio(bytes.NewReader(c.input)))
			} else {
				err = drain(OpenVideo(bytes.NewReader(c.input), c.format, 0))
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if got := errors.Is(err, io.ErrUnexpectedEOF); got != c.truncated {
				t.Errorf("error %q: wraps io.ErrUnexpectedEOF is %v, want %v", err, got, c.truncated)
			}
		})
	}
	// A truncated H.264 stream is not detectable (a NAL unit ends where
	// the stream ends), so it is only checked not to fail.
	if err := drain(OpenVideo(bytes.NewReader(h264[:len(h264)/2]), "", 0)); err != nil {
		t.Errorf("half an H.264 stream: %v", err)
	}
}

func oggPageLen(b []byte) int {
	n := oggHeaderSize + int(b[26])
	for _, l := range b[oggHeaderSize:n] {
		n += int(l)
	}
	return n
}

// drain reads a stream to its end and returns the first error but io.EOF.
func drain(r Reader, err error) error {
	if err != nil {
		return err
	}
	for {
		if _, err := r.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func TestWriterDropsUntilKeyframe(t *testing.T) {
	r, err := OpenVideo(bytes.NewReader(openGolden(t, "vp8.ivf")), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	samples := readAll(t, r)
	var out bytes.Buffer
	w, _ := CreateVideo(&out, VP8)
	writeAll(t, w, samples[2:]) // starts two frames before the keyframe at 5
	if d := w.(*VideoWriter).Dropped(); d != 3 {
		t.Errorf("dropped %d, want 3", d)
	}
	r, err = OpenVideo(&out, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r); len(got) != 5 || !got[0].Keyframe || got[0].PTS != 500*time.Millisecond {
		t.Errorf("read back %d frames starting at %v", len(got), got[0].PTS)
	}
}

func TestH264WriterAddsParameterSets(t *testing.T) {
	r, err := OpenVideo(bytes.NewReader(openGolden(t, "h264.h264")), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	samples := readAll(t, r)
	var out bytes.Buffer
	w, _ := CreateVideo(&out, H264)
	// The first access unit holds SPS, PPS and the IDR; give it the second
	// keyframe (frame 5) without its SPS and PPS, after frame 0's.
	var idrOnly []byte
	for nal := range nalUnits(samples[5].Data) {
		if t := nal[0] & 0x1f; t != nalSPS && t != nalPPS {
			idrOnly = append(append(idrOnly, startCode...), nal...)
		}
	}
	first := samples[0]
	first.Data = bytes.Clone(first.Data[:bytes.Index(first.Data[4:], []byte{0, 0, 0, 1, 0x65})+4]) // SPS, PPS, SEI: no IDR
	writeAll(t, w, []Sample{first, samples[1], {Data: idrOnly, Keyframe: true}, samples[6]})
	if d := w.(*VideoWriter).Dropped(); d != 2 {
		t.Errorf("dropped %d, want 2", d)
	}
	r, err = OpenVideo(&out, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	if len(got) != 2 || !got[0].Keyframe {
		t.Fatalf("read back %d access units", len(got))
	}
	if w, h, ok := Dimensions(H264, got[0].Data); !ok || w != 64 || h != 48 {
		t.Errorf("first access unit: Dimensions %dx%d %v", w, h, ok)
	}
}

func FuzzOpenVideo(f *testing.F) {
	for _, g := range goldenVideo {
		b := openGolden(f, g.file)
		f.Add(b, "")
		f.Add(b[:len(b)/3], "")
	}
	f.Add([]byte{0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x80}, "h264")
	f.Fuzz(func(t *testing.T, in []byte, format string) {
		r, err := OpenVideo(bytes.NewReader(in), format, 0)
		if err != nil {
			return
		}
		var samples []Sample
		for {
			s, err := r.Next()
			if err != nil {
				break
			}
			samples = append(samples, s)
			Dimensions(r.Codec(), s.Data)
		}
		if r.Codec() == H264 {
			return
		}
		// IVF: what the writer keeps reads back the same, with PTS in ms.
		var out bytes.Buffer
		w, _ := CreateVideo(&out, r.Codec())
		for _, s := range samples {
			if err := w.Write(s); err != nil {
				if strings.Contains(err.Error(), "does not fit the header") {
					return // 65536 pixels wide: VP9 and AV1 can say it, IVF can't
				}
				t.Fatalf("writing a sample read from IVF: %v", err)
			}
		}
		w.Close()
		kept := samples[w.(*VideoWriter).Dropped():]
		if len(kept) == 0 {
			return
		}
		r2, err := OpenVideo(&out, "", 0)
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		again := readAll(t, r2)
		if len(again) != len(kept) {
			t.Fatalf("read back %d frames, wrote %d", len(again), len(kept))
		}
		for i := range kept {
			a, b := kept[i], again[i]
			if !bytes.Equal(a.Data, b.Data) || a.Keyframe != b.Keyframe || a.PTS.Round(time.Millisecond) != b.PTS {
				t.Fatalf("frame %d: wrote %d bytes at %v key %v, read %d bytes at %v key %v",
					i, len(a.Data), a.PTS, a.Keyframe, len(b.Data), b.PTS, b.Keyframe)
			}
		}
	})
}

func FuzzOpenAudio(f *testing.F) {
	b := openGolden(f, "opus.ogg")
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := OpenAudio(bytes.NewReader(in))
		if err != nil {
			return
		}
		var samples []Sample
		for {
			s, err := r.Next()
			if err != nil {
				break
			}
			samples = append(samples, s)
		}
		// What the writer writes reads back as the same packets.
		var out bytes.Buffer
		w, _ := CreateAudio(&out)
		for _, s := range samples {
			if err := w.Write(s); err != nil {
				t.Fatalf("writing a packet read from Ogg: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if len(samples) == 0 {
			return
		}
		r2, err := OpenAudio(&out)
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		again := readAll(t, r2)
		if len(again) != len(samples) {
			t.Fatalf("read back %d packets, wrote %d", len(again), len(samples))
		}
		for i := range samples {
			if !bytes.Equal(samples[i].Data, again[i].Data) {
				t.Fatalf("packet %d differs", i)
			}
		}
	})
}
