package call

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"smvs/lib/call/calltest"
	"smvs/lib/media"
	"smvs/lib/wire"
)

// TestBothWays: VP8 and Opus one way, H.264 and Opus the other, at once.
func TestBothWays(t *testing.T) {
	t.Parallel()
	vp8, h264 := streams(t)
	audio := opusStream(75)
	aVideo, aAudio := newRecorder(), newRecorder()
	bVideo, bAudio := newRecorder(), newRecorder()
	stats := &syncBuffer{}
	caller := loopback(t, Config{
		Video: &sliceReader{codec: media.VP8, samples: vp8}, Audio: &sliceReader{codec: media.Opus, samples: audio},
		VideoOut: aVideo.open, AudioOut: aAudio.open,
	})
	callee := loopback(t, Config{
		Video: &sliceReader{codec: media.H264, samples: h264}, Audio: &sliceReader{codec: media.Opus, samples: audio},
		VideoOut: bVideo.open, AudioOut: bAudio.open, Stats: stats,
	})
	a, b, _, _ := dialAccept(t, caller, callee)
	errA, errB := wait(t, a, 10*time.Second), wait(t, b, 10*time.Second)
	// Both inputs end at about the same time: each side ends by its own
	// input or by the other's hang-up.
	for _, err := range []error{errA, errB} {
		if err != nil && !errors.Is(err, ErrHungUp) {
			t.Errorf("Wait: %v", err)
		}
	}
	for _, c := range []struct {
		what string
		w    *recorder
		sent []media.Sample
		want media.Codec
	}{
		{"VP8 to the callee", bVideo, vp8, media.VP8},
		{"H.264 to the caller", aVideo, h264, media.H264},
		{"Opus to the callee", bAudio, audio, media.Opus},
		{"Opus to the caller", aAudio, audio, media.Opus},
	} {
		got, _, closed := c.w.got()
		if !closed {
			t.Errorf("%s: the Writer was not closed", c.what)
		}
		if c.w.codec != c.want {
			t.Errorf("%s: the Writer was opened for %q", c.what, c.w.codec)
		}
		checkReceived(t, c.what, c.sent, got)
	}
	got, _, _ := bVideo.got()
	if len(got) > 0 && !got[0].Keyframe {
		t.Error("the first frame written is not a keyframe")
	}
	st := a.Stats()
	if st.VideoOut.Frames != uint64(len(vp8)) || st.VideoOut.Codec != media.VP8 || st.Connected <= 0 || st.FirstFrame <= 0 {
		t.Errorf("caller stats: %+v", st)
	}
	if !regexp.MustCompile(`(?m)^rtt [0-9.]+ms loss [0-9.]+% jitter [0-9.]+ms in [0-9]+kbit/s [0-9]+fps out [0-9]+kbit/s [0-9]+fps$`).MatchString(stats.String()) {
		t.Errorf("stats lines: %q", stats.String())
	}
}

// TestOneWay: one side only sends, the other only receives, whichever
// side dials; the SDP says so. The sender's input ends: its Wait is nil,
// the receiver hears the hang-up, and every frame was written before its
// Writer was closed.
func TestOneWay(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	for _, callerSends := range []bool{true, false} {
		t.Run(fmt.Sprintf("caller sends %v", callerSends), func(t *testing.T) {
			t.Parallel()
			w := newRecorder()
			sender := Config{Video: &sliceReader{codec: media.VP8, samples: vp8[:30]}}
			receiver := Config{VideoOut: w.open}
			caller, callee := sender, receiver
			if !callerSends {
				caller, callee = receiver, sender
			}
			a, b, sa, sb := dialAccept(t, loopback(t, caller), loopback(t, callee))
			ended := a
			if !callerSends {
				ended = b
			}
			if err := wait(t, ended, 10*time.Second); err != nil {
				t.Fatalf("the sender's Wait: %v", err)
			}
			other := b
			if !callerSends {
				other = a
			}
			if err := wait(t, other, 5*time.Second); !errors.Is(err, ErrHungUp) {
				t.Errorf("the receiver's Wait: %v", err)
			}
			// The receiver closes its Writer as its call ends: look after.
			got, _, closed := w.got()
			if !closed {
				t.Error("the Writer was not closed")
			}
			checkReceived(t, "VP8", vp8[:30], got)
			offer, answer := sa.Sent()[0].SDP, sb.Sent()[0].SDP
			wantOffer, wantAnswer := "a=sendonly", "a=recvonly"
			if !callerSends {
				wantOffer, wantAnswer = wantAnswer, wantOffer
			}
			if !strings.Contains(offer, wantOffer) || !strings.Contains(answer, wantAnswer) {
				t.Errorf("offer or answer lacks %s / %s:\n%s\n%s", wantOffer, wantAnswer, offer, answer)
			}
			if strings.Contains(offer, "m=audio") {
				t.Error("the offer has an audio m-line though neither side has audio")
			}
		})
	}
}

// fingerprintRE finds the DTLS fingerprint of an SDP.
var fingerprintRE = regexp.MustCompile(`(?m)^a=fingerprint:sha-256 ([0-9A-F:]+)`)

// TestFingerprintRewritten: a device that signs a fingerprint which is not
// its certificate's (a device bug; a host can't, see TestTampered) gets
// no media through: the side that checks the certificate ends with
// ErrFingerprint, before any frame, and the other hears its hang-up.
func TestFingerprintRewritten(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	for _, which := range []string{"offer", "answer", "both"} {
		t.Run(which, func(t *testing.T) {
			t.Parallel()
			sa, sb := calltest.Pipe()
			wa, wb := newRecorder(), newRecorder()
			cfg := func(w *recorder) Config {
				return loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8}, VideoOut: w.open})
			}
			caller, callee := cfg(wa), asCallee(t, cfg(wb))
			forge := func(dev *Device, b wire.CallBinding) func(*wire.CallSignal) *wire.CallSignal {
				return func(s *wire.CallSignal) *wire.CallSignal {
					if s.SDP != "" {
						rewriteSDP(s)
						resign(t, s, dev, b)
					}
					return s
				}
			}
			ab, bb := caller.Device.Identity(), callee.Device.Identity()
			if which != "answer" {
				sa.Rewrite(forge(caller.Device, wire.CallBinding{Caller: ab, Callee: bb, Direction: wire.FromCaller}))
			}
			if which != "offer" {
				sb.Rewrite(forge(callee.Device, wire.CallBinding{Caller: ab, Callee: bb, Direction: wire.FromCallee}))
			}
			a, b, _, _ := dialAcceptOn(t, sa, sb, caller, callee)
			saw := 0
			for _, c := range []*Call{a, b} {
				err := wait(t, c, 10*time.Second)
				t.Logf("the %s: %v", c.role, err)
				sees := c.role == "callee" && which == "offer" || c.role == "caller" && which == "answer"
				switch {
				case errors.Is(err, ErrFingerprint):
					saw++
				case sees, errors.Is(err, ErrTampered):
					t.Errorf("the %s: %v, want ErrFingerprint", c.role, err)
				}
				if st := c.Stats(); st.VideoOut.Frames != 0 || st.VideoIn.Frames != 0 {
					t.Errorf("media flowed: %+v", st)
				}
			}
			if saw == 0 {
				t.Error("no side saw the mismatch")
			}
			for _, w := range []*recorder{wa, wb} {
				if got, _, _ := w.got(); len(got) != 0 {
					t.Errorf("a Writer got %d frames", len(got))
				}
			}
		})
	}
}

// TestRelayOnly: with RelayOnly, no signal carries any but relay
// candidates, and media flows through the TURN server.
func TestRelayOnly(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	turnServer, user, pass := calltest.NewTURN(t)
	servers := []webrtc.ICEServer{{URLs: []string{"turn:" + turnServer.Addr + "?transport=udp"}, Username: user, Credential: pass}}
	w := newRecorder()
	caller := loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8[:30]}, ICEServers: servers, RelayOnly: true})
	callee := loopback(t, Config{VideoOut: w.open, ICEServers: servers, RelayOnly: true})
	a, b, sa, sb := dialAccept(t, caller, callee)
	if err := wait(t, a, 15*time.Second); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	wait(t, b, 5*time.Second)
	got, _, _ := w.got()
	checkReceived(t, "VP8 relayed", vp8[:30], got)
	if n := turnServer.Allocations(); n < 2 {
		t.Errorf("%d TURN allocations, want one per side", n)
	}
	candidates := 0
	for _, s := range append(sa.Sent(), sb.Sent()...) {
		for l := range strings.Lines(s.SDP) {
			if strings.HasPrefix(l, "a=candidate:") && !strings.Contains(l, " typ relay") {
				t.Errorf("the %s carries a candidate that is not a relay: %s", s.Type, l)
			}
		}
		if s.Type == wire.SignalCandidate {
			candidates++
			if !strings.Contains(s.Candidate, " typ relay") {
				t.Errorf("trickled a candidate that is not a relay: %s", s.Candidate)
			}
		}
	}
	if candidates == 0 {
		t.Error("no candidate was trickled")
	}
}

// TestEndBeforeAnswer: every way a call ends before it is answered.
func TestEndBeforeAnswer(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		reply wire.SignalType // 0: ring and never answer
		want  error
	}{
		{0, ErrNoAnswer},
		{wire.SignalReject, ErrRejected},
		{wire.SignalBusy, ErrBusy},
		{wire.SignalUnavailable, ErrUnavailable},
	} {
		t.Run(fmt.Sprint(c.want), func(t *testing.T) {
			t.Parallel()
			sa, sb := calltest.Pipe()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go func() {
				offer, err := sb.Recv(ctx)
				if err != nil {
					return
				}
				sb.Send(ctx, &wire.CallSignal{CallID: offer.CallID, Type: wire.SignalRinging})
				switch c.reply {
				case 0:
				case wire.SignalReject:
					Reject(ctx, sb, offer, newDevice(t, bobID), pub(aliceID), "not now")
				default:
					sb.Send(ctx, &wire.CallSignal{CallID: offer.CallID, Type: c.reply})
				}
			}()
			start := time.Now()
			cfg := loopback(t, Config{VideoOut: newRecorder().open, RingTimeout: 300 * time.Millisecond})
			call, err := Dial(ctx, sa, cfg)
			if call != nil || !errors.Is(err, c.want) {
				t.Fatalf("Dial: %v, %v; want %v", call, err, c.want)
			}
			if c.want == ErrRejected && !strings.Contains(err.Error(), "not now") {
				t.Errorf("the rejection lost its reason: %v", err)
			}
			if c.want == ErrNoAnswer {
				if d := time.Since(start); d < 300*time.Millisecond {
					t.Errorf("gave up after %v", d)
				}
				// The callee's devices stop ringing.
				for {
					s, err := sb.Recv(ctx)
					if err != nil {
						t.Fatalf("no hang-up after no answer: %v", err)
					}
					if s.Type == wire.SignalHangup {
						break
					}
				}
			}
		})
	}
}

// TestPeerHangsUp: Hangup on one side is ErrHungUp with its reason on the
// other, and nil on its own.
func TestPeerHangsUp(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	w := newRecorder()
	caller := loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8, live: true}})
	callee := loopback(t, Config{VideoOut: w.open})
	a, b, _, _ := dialAccept(t, caller, callee)
	select {
	case <-w.first:
	case <-time.After(5 * time.Second):
		t.Fatal("no frame arrived")
	}
	if err := b.Hangup("bob hung up"); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(); err != nil {
		t.Errorf("the callee's Wait: %v", err)
	}
	err := wait(t, a, 5*time.Second)
	var ended *Ended
	if !errors.Is(err, ErrHungUp) || !errors.As(err, &ended) || ended.Reason != "bob hung up" {
		t.Errorf("the caller's Wait: %v", err)
	}
	if _, _, closed := w.got(); !closed {
		t.Error("the Writer was not closed")
	}
}

// TestBadInput: a broken input ends the call with ErrMedia, and the peer
// hears a hang-up.
func TestBadInput(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	caller := loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8[:5], err: errors.New("ivf: truncated frame")}})
	callee := loopback(t, Config{VideoOut: newRecorder().open})
	a, b, _, _ := dialAccept(t, caller, callee)
	if err := wait(t, a, 10*time.Second); !errors.Is(err, ErrMedia) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("the caller's Wait: %v", err)
	}
	if err := wait(t, b, 5*time.Second); !errors.Is(err, ErrHungUp) {
		t.Errorf("the callee's Wait: %v", err)
	}
}

// TestUnsendableCodec: an input codec no call can carry is ErrMedia at once.
func TestUnsendableCodec(t *testing.T) {
	t.Parallel()
	sa, _ := calltest.Pipe()
	_, err := Dial(context.Background(), sa, loopback(t, Config{Video: &sliceReader{codec: "H265"}}))
	if !errors.Is(err, ErrMedia) {
		t.Errorf("Dial: %v", err)
	}
}

// syncBuffer is a strings.Builder safe for the stats goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestVP9AndAV1: the other two video codecs a peer may send arrive whole,
// in order, starting with a keyframe, written for their own codec. The
// streams are lib/media's golden files, as ffmpeg made them.
func TestVP9AndAV1(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		codec media.Codec
		file  string
	}{{media.VP9, "vp9.ivf"}, {media.AV1, "av1.ivf"}} {
		t.Run(string(c.codec), func(t *testing.T) {
			t.Parallel()
			sent, err := readIVF(filepath.Join("..", "media", "testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			w := newRecorder()
			a, b, _, _ := dialAccept(t, loopback(t, Config{Video: &sliceReader{codec: c.codec, samples: sent}}),
				loopback(t, Config{VideoOut: w.open}))
			if err := wait(t, a, 10*time.Second); err != nil {
				t.Fatalf("the sender's Wait: %v", err)
			}
			if err := wait(t, b, 5*time.Second); !errors.Is(err, ErrHungUp) {
				t.Errorf("the receiver's Wait: %v", err)
			}
			got, _, closed := w.got()
			if !closed || w.codec != c.codec {
				t.Errorf("the Writer: closed %v, codec %q", closed, w.codec)
			}
			if len(got) == 0 || !got[0].Keyframe {
				t.Fatalf("%d frames written, the first no keyframe", len(got))
			}
			if c.codec == media.VP9 {
				checkReceived(t, string(c.codec), sent, got)
				return
			}
			// AV1's RTP payload drops temporal delimiters and may rewrite
			// OBU size fields, so frames arrive equivalent, not identical:
			// what counts is that a decoder reads every one.
			if len(got)*100 < len(sent)*97 {
				t.Fatalf("%d of %d frames arrived", len(got), len(sent))
			}
			probeIVF(t, c.codec, got, len(got))
		})
	}
}

// probeIVF writes samples as IVF and checks that ffprobe decodes frames
// of them at lib/media's golden size, 64x48.
func probeIVF(t *testing.T, codec media.Codec, samples []media.Sample, frames int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "got.ivf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := media.CreateVideo(f, codec)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if want := fmt.Sprintf("64,48,%d", frames); err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("ffprobe of what arrived: %q, %v; want %s", out, err, want)
	}
}

// TestLive: a Live input is not paced by its timestamps. Its samples are
// ten minutes apart, so a paced sender would still be waiting for the
// second when the test gives up.
func TestLive(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	sent := slices.Clone(vp8[:20])
	for i := range sent {
		sent[i].PTS, sent[i].Duration = time.Duration(i)*10*time.Minute, 10*time.Minute
	}
	w := newRecorder()
	a, b, _, _ := dialAccept(t, loopback(t, Config{Video: Live(&sliceReader{codec: media.VP8, samples: sent})}),
		loopback(t, Config{VideoOut: w.open}))
	if err := wait(t, a, 10*time.Second); err != nil {
		t.Fatalf("the sender's Wait: %v", err)
	}
	wait(t, b, 5*time.Second)
	got, _, _ := w.got()
	if len(got) != len(sent) {
		t.Fatalf("%d of %d frames arrived", len(got), len(sent))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, sent[i].Data) {
			t.Fatalf("frame %d differs", i)
		}
	}
}

// TestNeverConnected: a call answered that never connects ends with
// ErrConnection on both sides, whichever side gives up first and however
// its hang-up races the other side's own failure. The devices offer no
// address, so no ICE path can exist.
func TestNeverConnected(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name           string
		caller, callee Config
		calleeHangsUp  bool
	}{
		// Both ICE agents fail within moments of each other, each then
		// waits failureGrace for the other's word.
		{"ICE fails on both sides", Config{DisconnectTimeout: time.Second}, Config{DisconnectTimeout: time.Second}, false},
		// The callee, which started first, gives up first, while ICE
		// still checks on both sides.
		{"connect timeout", Config{ConnectTimeout: 600 * time.Millisecond}, Config{ConnectTimeout: 500 * time.Millisecond}, false},
		{"caller gives up first", Config{ConnectTimeout: 300 * time.Millisecond}, Config{DisconnectTimeout: time.Second}, false},
		// The callee's user hangs up before the connection is made.
		{"the peer hangs up while connecting", Config{DisconnectTimeout: 30 * time.Second}, Config{DisconnectTimeout: 30 * time.Second}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for i := range 4 {
				caller, callee := noAddress(t, c.caller), noAddress(t, c.callee)
				caller.VideoOut, callee.Video = newRecorder().open, &sliceReader{codec: media.VP8}
				a, b, _, _ := dialAccept(t, caller, callee)
				if c.calleeHangsUp {
					b.Hangup("the callee hung up")
				}
				for _, call := range []*Call{a, b} {
					err := wait(t, call, 10*time.Second)
					if c.calleeHangsUp && call == b {
						if err != nil {
							t.Errorf("run %d: the callee hung up, its Wait: %v", i, err)
						}
						continue
					}
					if !errors.Is(err, ErrConnection) {
						t.Errorf("run %d: the %s's Wait: %v, want ErrConnection", i, call.role, err)
					}
					if st := call.Stats(); st.Connected != 0 {
						t.Errorf("run %d: the %s connected", i, call.role)
					}
				}
			}
		})
	}
}

// noAddress is a config of a device that offers no address at all.
func noAddress(t *testing.T, cfg Config) Config {
	cfg = loopback(t, cfg)
	cfg.IPFilter = func(net.IP) bool { return false }
	return cfg
}

// keyframeReader is an input whose encoder can make keyframes on request,
// as the camera's can.
type keyframeReader struct {
	*sliceReader
	requests atomic.Int32
}

func (r *keyframeReader) RequestKeyframe() error {
	r.requests.Add(1)
	return nil
}

// TestKeyframeRequests: the receiver asks for a keyframe as it starts
// (PLI), and an input that can make one on request is asked, Live or not.
func TestKeyframeRequests(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	for _, live := range []bool{false, true} {
		t.Run(fmt.Sprintf("live %v", live), func(t *testing.T) {
			t.Parallel()
			r := &keyframeReader{sliceReader: &sliceReader{codec: media.VP8, samples: vp8, live: live}}
			var in media.Reader = r
			if live {
				in = Live(r)
			}
			a, b, _, _ := dialAccept(t, loopback(t, Config{Video: in}), loopback(t, Config{VideoOut: newRecorder().open}))
			if err := wait(t, a, 10*time.Second); err != nil {
				t.Fatalf("the sender's Wait: %v", err)
			}
			wait(t, b, 5*time.Second)
			if b.Stats().KeyframeRequests == 0 {
				t.Fatal("the receiver asked for no keyframe")
			}
			if r.requests.Load() == 0 {
				t.Error("the sender's encoder was never asked for a keyframe")
			}
		})
	}
}
