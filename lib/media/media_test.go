package media

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// golden describes a file in testdata (see testdata/README).
type golden struct {
	file      string
	codec     Codec
	frames    int
	keyframes []int
	step      time.Duration // between PTS
	first     time.Duration // PTS of the first sample
}

var goldenVideo = []golden{
	{"vp8.ivf", VP8, 10, []int{0, 5}, 100 * time.Millisecond, 0},
	{"vp9.ivf", VP9, 10, []int{0, 5}, 100 * time.Millisecond, 0},
	{"av1.ivf", AV1, 10, []int{0, 5}, 100 * time.Millisecond, 0},
	// H.264 carries no time; OpenVideo is given 10 frames/s.
	{"h264.h264", H264, 10, []int{0, 5}, 100 * time.Millisecond, 0},
	{"h264-aud-slices.h264", H264, 10, []int{0, 5}, 100 * time.Millisecond, 0},
}

var goldenAudio = golden{"opus.ogg", Opus, 11, nil, 20 * time.Millisecond, -6500 * time.Microsecond}

func readAll(t testing.TB, r Reader) []Sample {
	t.Helper()
	var all []Sample
	for {
		s, err := r.Next()
		if errors.Is(err, io.EOF) {
			return all
		}
		if err != nil {
			t.Fatalf("sample %d: %v", len(all), err)
		}
		all = append(all, s)
	}
}

func openGolden(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenVideo(t *testing.T) {
	for _, g := range goldenVideo {
		t.Run(g.file, func(t *testing.T) {
			r, err := OpenVideo(bytes.NewReader(openGolden(t, g.file)), "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if r.Codec() != g.codec {
				t.Fatalf("codec %s, want %s", r.Codec(), g.codec)
			}
			all := readAll(t, r)
			if len(all) != g.frames {
				t.Fatalf("%d frames, want %d", len(all), g.frames)
			}
			var keys []int
			for i, s := range all {
				if want := g.first + time.Duration(i)*g.step; s.PTS != want {
					t.Errorf("frame %d: PTS %v, want %v", i, s.PTS, want)
				}
				if s.Duration != g.step {
					t.Errorf("frame %d: duration %v, want %v", i, s.Duration, g.step)
				}
				w, h, ok := Dimensions(g.codec, s.Data)
				if s.Keyframe {
					keys = append(keys, i)
					if !ok || w != 64 || h != 48 {
						t.Errorf("keyframe %d: Dimensions %dx%d %v, want 64x48", i, w, h, ok)
					}
				} else if ok {
					t.Errorf("frame %d: Dimensions says %dx%d of a frame that is not a keyframe", i, w, h)
				}
			}
			if !slices.Equal(keys, g.keyframes) {
				t.Errorf("keyframes %v, want %v", keys, g.keyframes)
			}
		})
	}
}

func TestGoldenAudio(t *testing.T) {
	r, err := OpenAudio(bytes.NewReader(openGolden(t, goldenAudio.file)))
	if err != nil {
		t.Fatal(err)
	}
	all := readAll(t, r)
	if len(all) != goldenAudio.frames {
		t.Fatalf("%d packets, want %d", len(all), goldenAudio.frames)
	}
	for i, s := range all {
		if want := goldenAudio.first + time.Duration(i)*goldenAudio.step; s.PTS != want {
			t.Errorf("packet %d: PTS %v, want %v", i, s.PTS, want)
		}
		want := goldenAudio.step
		if i == len(all)-1 {
			want = 6500 * time.Microsecond // 0.2 s + 6.5 ms pre-skip, in 20 ms packets
		}
		if s.Duration != want || !s.Keyframe {
			t.Errorf("packet %d: duration %v keyframe %v, want %v true", i, s.Duration, s.Keyframe, want)
		}
	}
}

func TestMimeTypes(t *testing.T) {
	for c, want := range map[Codec]string{
		VP8: webrtc.MimeTypeVP8, VP9: webrtc.MimeTypeVP9, AV1: webrtc.MimeTypeAV1,
		H264: webrtc.MimeTypeH264, Opus: webrtc.MimeTypeOpus,
	} {
		if got := c.MimeType(); got != want {
			t.Errorf("%s.MimeType() = %q, want %q", c, got, want)
		}
		if got, ok := CodecOfMimeType(strings.ToUpper(want)); !ok || got != c {
			t.Errorf("CodecOfMimeType(%q) = %q, %v", strings.ToUpper(want), got, ok)
		}
	}
	if _, ok := CodecOfMimeType("video/H265"); ok {
		t.Error("CodecOfMimeType knows video/H265")
	}
}

// probe is what ffprobe says of the first stream of a file.
type probe struct {
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	NbReadFrames string `json:"nb_read_frames"`
}

// ffprobe runs the real ffprobe on stdin. Missing ffprobe fails the test:
// scripts/install-deps installs it.
func ffprobe(t *testing.T, stdin io.Reader) probe {
	t.Helper()
	path, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatalf("ffprobe is needed (scripts/install-deps installs it): %v", err)
	}
	cmd := exec.Command(path, "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json", "-i", "pipe:0")
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe: %v: %s", err, stderr.Bytes())
	}
	var res struct{ Streams []probe }
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
		t.Fatalf("ffprobe said %s (%v)", out, err)
	}
	return res.Streams[0]
}

// ffprobeNames maps our codecs to ffmpeg's names.
var ffprobeNames = map[Codec]string{VP8: "vp8", VP9: "vp9", AV1: "av1", H264: "h264", Opus: "opus"}

// TestRoundTripFFprobe reads each golden file, writes it again, once to a
// file and once to a pipe, and has ffprobe check what came out.
func TestRoundTripFFprobe(t *testing.T) {
	for _, g := range append(goldenVideo, goldenAudio) {
		for _, pipe := range []bool{false, true} {
			name := g.file + "/file"
			if pipe {
				name = g.file + "/pipe"
			}
			t.Run(name, func(t *testing.T) {
				var (
					r   Reader
					err error
				)
				if g.codec == Opus {
					r, err = OpenAudio(bytes.NewReader(openGolden(t, g.file)))
				} else {
					r, err = OpenVideo(bytes.NewReader(openGolden(t, g.file)), "", 10)
				}
				if err != nil {
					t.Fatal(err)
				}
				samples := readAll(t, r)
				var got probe
				if pipe {
					got = writeToPipe(t, g.codec, samples)
				} else {
					got = writeToFile(t, g.codec, samples)
				}
				want := probe{CodecName: ffprobeNames[g.codec], NbReadFrames: strconv.Itoa(g.frames)}
				if g.codec != Opus {
					want.Width, want.Height = 64, 48
				}
				if got != want {
					t.Errorf("ffprobe says %+v, want %+v", got, want)
				}
			})
		}
	}
}

func create(t *testing.T, w io.Writer, c Codec) Writer {
	t.Helper()
	var (
		mw  Writer
		err error
	)
	if c == Opus {
		mw, err = CreateAudio(w)
	} else {
		mw, err = CreateVideo(w, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return mw
}

func writeAll(t *testing.T, w Writer, samples []Sample) {
	t.Helper()
	for i, s := range samples {
		if err := w.Write(s); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeToFile(t *testing.T, c Codec, samples []Sample) probe {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeAll(t, create(t, f, c), samples)
	if c == VP8 || c == VP9 || c == AV1 {
		var count [4]byte
		if _, err := f.ReadAt(count[:], ivfFrameCountAt); err != nil {
			t.Fatal(err)
		}
		if n := int(count[0]) | int(count[1])<<8; n != len(samples) {
			t.Errorf("IVF header counts %d frames, want %d", n, len(samples))
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return ffprobe(t, f)
}

func writeToPipe(t *testing.T, c Codec, samples []Sample) probe {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	w := create(t, pw, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer pw.Close()
		for _, s := range samples {
			if err := w.Write(s); err != nil {
				t.Errorf("writing to a pipe: %v", err)
				return
			}
		}
		if err := w.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	}()
	p := ffprobe(t, pr)
	<-done
	return p
}

// A live source writes its IVF header and then nothing until its first
// frame: detecting the format must not wait for more.
func TestOpenVideoHeaderOnly(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "vp8.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(data[:32])
	opened := make(chan error, 1)
	go func() {
		r, err := OpenVideo(pr, "", 0)
		if err == nil && r.Codec() != VP8 {
			err = fmt.Errorf("codec %q", r.Codec())
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OpenVideo waited for more than the IVF header")
	}
}
