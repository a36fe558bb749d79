package call

import (
	"fmt"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"smvs/lib/media"
)

// keyframeRequestInterval spaces the receiver's keyframe requests (PLI).
const keyframeRequestInterval = 500 * time.Millisecond

func (c *Call) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	name, open := "video", c.cfg.VideoOut
	if track.Kind() == webrtc.RTPCodecTypeAudio {
		name, open = "audio", c.cfg.AudioOut
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.receivers.Add(1)
	c.mu.Unlock()
	defer c.receivers.Done()
	if open == nil || !c.waitVerified() {
		drain(track)
		return
	}
	codec, ok := media.CodecOfMimeType(track.Codec().MimeType)
	depacketizer := newDepacketizer(codec)
	if !ok || depacketizer == nil {
		c.log.Warn("the peer sends a codec this side cannot write", "codec", track.Codec().MimeType)
		drain(track)
		return
	}
	w, err := open(codec)
	if err != nil {
		c.end(fmt.Errorf("call: opening the %s output: %w", name, err), "the "+c.role+" hung up: cannot write "+name)
		drain(track)
		return
	}
	c.counters.setCodec(name, false, codec)
	r := &receiver{
		c: c, name: name, track: track, w: w, codec: codec,
		flow: c.counters.flow(name, false),
		asm:  newAssembler(depacketizer, opener(codec), &c.counters.dropped),
		gate: keyGate{codec: codec},
		rate: track.Codec().ClockRate,
	}
	r.run()
}

// drain reads a track nobody writes, so pion's buffers and interceptors
// keep working, until the call closes it.
func drain(track *webrtc.TrackRemote) {
	for {
		if _, _, err := track.ReadRTP(); err != nil {
			return
		}
	}
}

// receiver writes the frames of one remote track.
type receiver struct {
	c     *Call
	name  string
	track *webrtc.TrackRemote
	w     media.Writer
	codec media.Codec
	flow  *flow
	asm   *assembler
	rate  uint32

	gate     keyGate
	lastPLI  time.Time
	haveTS   bool
	lastTS   uint32
	extTS    int64 // RTP time since the first frame, unwrapped
	lastPTS  time.Duration
	failed   bool // the Writer failed: read on, write nothing
	isVideo  bool
	inFrames int
}

func (r *receiver) run() {
	r.isVideo = r.track.Kind() == webrtc.RTPCodecTypeVideo
	r.requestKeyframe()
	for {
		p, _, err := r.track.ReadRTP()
		if err != nil {
			break
		}
		for _, f := range r.asm.push(p, time.Now()) {
			r.write(f)
		}
	}
	// The call is over: write every whole frame still held, then close.
	for _, f := range r.asm.flush() {
		r.write(f)
	}
	if err := r.w.Close(); err != nil {
		r.c.log.Warn("closing the output", "media", r.name, "err", err)
	}
}

// requestKeyframe sends a PLI, at most one per interval.
func (r *receiver) requestKeyframe() {
	if !r.isVideo || time.Since(r.lastPLI) < keyframeRequestInterval {
		return
	}
	r.lastPLI = time.Now()
	r.c.counters.keyframeRequests.Add(1)
	if err := r.c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(r.track.SSRC())}}); err != nil {
		r.c.log.Debug("requesting a keyframe", "err", err)
	}
}

func (r *receiver) write(f frame) {
	if r.isVideo {
		write, askKey := r.gate.pass(f)
		if askKey {
			r.requestKeyframe()
		}
		if !write {
			r.c.counters.dropped.Add(1)
			return
		}
	}
	if !r.haveTS {
		r.haveTS, r.lastTS = true, f.ts
	}
	r.extTS += int64(int32(f.ts - r.lastTS))
	r.lastTS = f.ts
	pts := time.Duration(r.extTS * int64(time.Second) / int64(r.rate))
	s := media.Sample{Data: f.data, PTS: pts, Keyframe: !r.isVideo || isKeyframe(r.codec, f.data)}
	if r.isVideo {
		// The next frame's timestamp is not known yet; the interval
		// since the last one is the best guess that adds no delay.
		if r.inFrames > 0 {
			s.Duration = max(0, pts-r.lastPTS)
		}
	} else {
		s.Duration = opusDuration(f.data)
	}
	r.lastPTS = pts
	r.inFrames++
	if r.failed {
		return
	}
	if err := r.w.Write(s); err != nil {
		r.failed = true
		r.c.end(fmt.Errorf("call: writing the %s output: %w", r.name, err), "the "+r.c.role+" hung up: cannot write "+r.name)
		return
	}
	r.flow.frames.Add(1)
	r.flow.bytes.Add(uint64(len(f.data)))
	r.c.counters.firstFrame(r.name, r.c.started)
}

// keyGate passes the video frames a decoder can use: from a keyframe on,
// until a frame is lost.
type keyGate struct {
	codec   media.Codec
	haveKey bool // a keyframe passed since the start or the last loss
	passed  bool // a frame passed
}

// pass reports whether f may be written, and whether to ask the sender for
// a keyframe.
func (g *keyGate) pass(f frame) (write, askKey bool) {
	if f.lost {
		g.haveKey, askKey = false, true
	}
	if !g.haveKey {
		key := isKeyframe(g.codec, f.data)
		if !g.passed {
			// The first frame must decode with nothing before it.
			key = opener(g.codec)(f.data)
		}
		if !key {
			// Undecodable until the next keyframe: don't write it.
			return false, true
		}
		g.haveKey = true
	}
	g.passed = true
	return true, askKey
}

// newDepacketizer returns the RTP depacketizer of a codec, nil if none.
func newDepacketizer(codec media.Codec) rtp.Depacketizer {
	switch codec {
	case media.VP8:
		return &codecs.VP8Packet{}
	case media.VP9:
		return &codecs.VP9Packet{}
	case media.AV1:
		return &codecs.AV1Depacketizer{}
	case media.H264:
		return &codecs.H264Packet{}
	case media.Opus:
		return &codecs.OpusPacket{}
	}
	return nil
}

// isKeyframe tells from a frame's bitstream whether it decodes on its own.
func isKeyframe(codec media.Codec, data []byte) bool {
	if len(data) == 0 {
		return false
	}
	switch codec {
	case media.VP8:
		return data[0]&0x01 == 0 // frame tag: P bit clear is a key frame
	case media.VP9:
		return vp9Keyframe(data)
	case media.AV1:
		return av1HasSequenceHeader(data)
	case media.H264:
		return h264HasIDR(data)
	}
	return true
}

// vp9Keyframe reads the start of a VP9 uncompressed header.
func vp9Keyframe(data []byte) bool {
	b := data[0]
	if b>>6 != 2 { // frame_marker
		return false
	}
	profile := (b>>5)&1 | (b>>4)&1<<1
	bit := 3 // the bit after the profile bits, counted from the top
	if profile == 3 {
		bit-- // reserved_zero
	}
	if b>>bit&1 == 1 { // show_existing_frame
		return false
	}
	return b>>(bit-1)&1 == 0 // frame_type: 0 is KEY_FRAME
}

// av1HasSequenceHeader reports whether a temporal unit carries a sequence
// header OBU, which encoders put before every key frame.
func av1HasSequenceHeader(data []byte) bool {
	for len(data) > 0 {
		header := data[0]
		obuType := header >> 3 & 0x0f
		if obuType == 1 {
			return true
		}
		n := 1
		if header&0x04 != 0 { // extension
			n++
		}
		if header&0x02 == 0 || n > len(data) { // no size: the last OBU
			return false
		}
		size, m := leb128(data[n:])
		if m == 0 || uint64(len(data)-n-m) < size {
			return false
		}
		data = data[n+m+int(size):]
	}
	return false
}

func leb128(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 8; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// opener tells whether a frame of codec can start a stream: a keyframe,
// and for H.264 one with its parameter sets, which travel in packets of
// their own that may arrive after the IDR slice's.
func opener(codec media.Codec) func([]byte) bool {
	if codec == media.H264 {
		return func(data []byte) bool {
			return h264HasNAL(data, 5) && h264HasNAL(data, 7) && h264HasNAL(data, 8)
		}
	}
	return func(data []byte) bool { return isKeyframe(codec, data) }
}

// h264HasIDR scans an Annex-B access unit for an IDR slice.
func h264HasIDR(data []byte) bool { return h264HasNAL(data, 5) }

// h264HasNAL scans an Annex-B access unit for a NAL unit of a type.
func h264HasNAL(data []byte, typ byte) bool {
	zeros := 0
	for i, b := range data {
		switch {
		case b == 0:
			zeros++
			continue
		case b == 1 && zeros >= 2 && i+1 < len(data):
			if data[i+1]&0x1f == typ {
				return true
			}
		}
		zeros = 0
	}
	return false
}

// opusDuration reads a packet's duration from its TOC byte (RFC 6716 3.1).
func opusDuration(p []byte) time.Duration {
	if len(p) == 0 {
		return 0
	}
	config := p[0] >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = []time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	switch p[0] & 0x03 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	}
	if len(p) < 2 {
		return 0
	}
	return time.Duration(p[1]&0x3f) * frame
}
