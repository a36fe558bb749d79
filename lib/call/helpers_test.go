package call

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"smvs/lib/call/calltest"
	"smvs/lib/media"
)

// Real bitstreams, made once by ffmpeg for the whole package.
var (
	streamsOnce sync.Once
	streamsErr  error
	vp8Stream   []media.Sample
	h264Stream  []media.Sample
)

// tmpDir holds the streams; TestMain removes it.
var tmpDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// streams returns a VP8 and an H.264 stream of 45 frames each (1.5 s at
// 30 fps), with a keyframe every 15 frames.
func streams(t testing.TB) (vp8, h264 []media.Sample) {
	t.Helper()
	streamsOnce.Do(func() {
		if _, err := exec.LookPath("ffmpeg"); err != nil {
			streamsErr = errors.New("ffmpeg is needed to make the test streams: " + err.Error())
			return
		}
		tmpDir, streamsErr = os.MkdirTemp("", "calltest")
		if streamsErr != nil {
			return
		}
		src := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30",
			"-frames:v", "45", "-g", "15"}
		ivf := filepath.Join(tmpDir, "v.ivf")
		annexB := filepath.Join(tmpDir, "v.h264")
		for _, args := range [][]string{
			append(append([]string{}, src...), "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "300k", "-f", "ivf", ivf),
			append(append([]string{}, src...), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
				"-profile:v", "baseline", "-pix_fmt", "yuv420p", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", annexB),
		} {
			if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				streamsErr = errors.New("ffmpeg: " + err.Error() + ": " + string(out))
				return
			}
		}
		if vp8Stream, streamsErr = readIVF(ivf); streamsErr != nil {
			return
		}
		h264Stream, streamsErr = readAnnexB(annexB, time.Second/30)
	})
	if streamsErr != nil {
		t.Fatal(streamsErr)
	}
	return vp8Stream, h264Stream
}

// readIVF is a minimal IVF reader for the tests.
func readIVF(path string) ([]media.Sample, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 32 || string(data[:4]) != "DKIF" {
		return nil, errors.New("not IVF")
	}
	den := binary.LittleEndian.Uint32(data[16:])
	num := binary.LittleEndian.Uint32(data[20:])
	data = data[binary.LittleEndian.Uint16(data[6:]):]
	var out []media.Sample
	for len(data) >= 12 {
		size := binary.LittleEndian.Uint32(data)
		pts := binary.LittleEndian.Uint64(data[4:])
		if uint32(len(data)-12) < size {
			return nil, errors.New("truncated IVF frame")
		}
		frame := data[12 : 12+size]
		out = append(out, media.Sample{
			Data:     frame,
			PTS:      time.Duration(pts) * time.Second * time.Duration(num) / time.Duration(den),
			Duration: time.Second * time.Duration(num) / time.Duration(den),
			Keyframe: frame[0]&1 == 0,
		})
		data = data[12+size:]
	}
	return out, nil
}

// readAnnexB splits an H.264 stream at its access unit delimiters.
func readAnnexB(path string, interval time.Duration) ([]media.Sample, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	aud := []byte{0, 0, 0, 1, 0x09}
	var out []media.Sample
	for len(data) > 0 {
		next := bytes.Index(data[len(aud):], aud)
		end := len(data)
		if next >= 0 {
			end = next + len(aud)
		}
		au := data[:end]
		out = append(out, media.Sample{Data: au, PTS: time.Duration(len(out)) * interval, Duration: interval, Keyframe: h264HasIDR(au)})
		data = data[end:]
	}
	return out, nil
}

// opusStream is n synthetic 20 ms Opus packets (CELT, full band), each
// different so they can be told apart.
func opusStream(n int) []media.Sample {
	out := make([]media.Sample, n)
	for i := range out {
		data := make([]byte, 40)
		data[0] = 31 << 3 // config 31: CELT 20 ms, one frame
		binary.BigEndian.PutUint32(data[1:], uint32(i))
		out[i] = media.Sample{Data: data, PTS: time.Duration(i) * 20 * time.Millisecond, Duration: 20 * time.Millisecond, Keyframe: true}
	}
	return out
}

// sliceReader serves samples. Live, it also waits until each is due, like
// a camera, so the call's pacing adds nothing and read times are send
// times.
type sliceReader struct {
	codec   media.Codec
	samples []media.Sample
	live    bool
	err     error // returned after the samples instead of io.EOF

	mu     sync.Mutex
	i      int
	start  time.Time
	readAt []time.Time
}

func (r *sliceReader) Codec() media.Codec { return r.codec }

func (r *sliceReader) Next() (media.Sample, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.i == len(r.samples) {
		if r.err != nil {
			return media.Sample{}, r.err
		}
		return media.Sample{}, io.EOF
	}
	s := r.samples[r.i]
	if r.live {
		if r.i == 0 {
			r.start = time.Now()
		}
		time.Sleep(time.Until(r.start.Add(s.PTS - r.samples[0].PTS)))
	}
	r.i++
	r.readAt = append(r.readAt, time.Now())
	return s, nil
}

func (r *sliceReader) times() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.readAt...)
}

// recorder is a Writer that keeps what it gets.
type recorder struct {
	mu      sync.Mutex
	codec   media.Codec
	samples []media.Sample
	at      []time.Time
	closed  bool
	first   chan struct{}
	opened  atomic.Int32
}

func newRecorder() *recorder { return &recorder{first: make(chan struct{})} }

func (w *recorder) open(c media.Codec) (media.Writer, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opened.Add(1)
	w.codec = c
	return w, nil
}

func (w *recorder) Write(s media.Sample) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("write after close")
	}
	w.samples = append(w.samples, s)
	w.at = append(w.at, time.Now())
	if len(w.samples) == 1 {
		close(w.first)
	}
	return nil
}

func (w *recorder) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return nil
}

func (w *recorder) got() ([]media.Sample, []time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]media.Sample(nil), w.samples...), append([]time.Time(nil), w.at...), w.closed
}

// loopback restricts a config to 127.0.0.1, where the tests talk.
func loopback(t testing.TB, cfg Config) Config {
	cfg.NetworkTypes = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	cfg.IncludeLoopback = true
	cfg.IPFilter = func(ip net.IP) bool { return ip.IsLoopback() }
	cfg.Log = testLogger(t)
	if cfg.Device == nil {
		cfg = asCaller(t, cfg)
	}
	return cfg
}

// testLogger logs warnings to the test until it ends.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(string(bytes.TrimSpace(p)))
	}
	return len(p), nil
}

// dialAccept runs a whole set-up: Dial on one end of a pipe, Accept of its
// offer on the other.
func dialAccept(t testing.TB, caller, callee Config) (a, b *Call, sa, sb *calltest.Signaller) {
	t.Helper()
	sa, sb = calltest.Pipe()
	return dialAcceptOn(t, sa, sb, caller, callee)
}

func dialAcceptOn(t testing.TB, sa, sb *calltest.Signaller, caller, callee Config) (a, b *Call, _, _ *calltest.Signaller) {
	t.Helper()
	if caller.Device == nil {
		caller = asCaller(t, caller)
	}
	users(t)
	if callee.Device == nil || bytes.Equal(callee.Device.Identity(), pub(aliceID)) {
		callee = asCallee(t, callee)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan error, 1)
	var bc *Call
	go func() {
		offer, err := sb.Recv(ctx)
		if err == nil {
			bc, err = Accept(ctx, sb, offer, callee)
		}
		accepted <- err
	}()
	a, err := Dial(ctx, sa, caller)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := <-accepted; err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() {
		a.Hangup("test over")
		bc.Hangup("test over")
	})
	return a, bc, sa, sb
}

// wait waits for a call to end, failing the test after d.
func wait(t testing.TB, c *Call, d time.Duration) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Wait()
	case <-time.After(d):
		t.Fatalf("the call did not end within %v", d)
		return nil
	}
}

// checkReceived checks that got holds at least 97% of sent, in order and
// unchanged, with PTS relative to the first sample sent.
func checkReceived(t *testing.T, what string, sent, got []media.Sample) {
	t.Helper()
	if len(got)*100 < len(sent)*97 {
		t.Errorf("%s: %d of %d frames arrived", what, len(got), len(sent))
	}
	j := 0
	for i, g := range got {
		for j < len(sent) && !bytes.Equal(canonical(sent[j].Data), canonical(g.Data)) {
			j++
		}
		if j == len(sent) {
			t.Errorf("%s: frame %d received is not among those sent, in order", what, i)
			return
		}
		want := sent[j].PTS - sent[0].PTS
		if d := g.PTS - want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("%s: frame %d PTS %v, want %v", what, i, g.PTS, want)
			return
		}
		j++
	}
}

// canonical rewrites an H.264 access unit as RTP carries it: 4-byte start
// codes, no delimiters or filler (which the payloader leaves out). Other
// frames stay as they are.
func canonical(data []byte) []byte {
	if !bytes.HasPrefix(data, []byte{0, 0, 1}) && !bytes.HasPrefix(data, []byte{0, 0, 0, 1}) {
		return data
	}
	var out []byte
	for _, nal := range bytes.Split(data, []byte{0, 0, 1}) {
		nal = bytes.TrimRight(nal, "\x00")
		if len(nal) == 0 || nal[0]&0x1f == 9 || nal[0]&0x1f == 12 {
			continue
		}
		out = append(append(out, 0, 0, 0, 1), nal...)
	}
	return out
}
