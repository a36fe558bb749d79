package call

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"smvs/lib/media"
)

// sender sends one input on one track.
type sender struct {
	name  string // "video" or "audio"
	in    media.Reader
	track *webrtc.TrackLocalStaticSample
	rtp   *webrtc.RTPSender
}

func (c *Call) startSenders() {
	c.mu.Lock()
	c.inputs = len(c.senders)
	c.mu.Unlock()
	for _, s := range c.senders {
		go c.readRTCP(s)
		go c.send(s)
	}
}

// KeyframeRequester is an input whose encoder runs in this program (the
// camera's): it can make its next frame a keyframe when the peer asks.
// An input that is encoded already, such as ffmpeg's on a pipe, cannot;
// the peer then waits for its next keyframe.
type KeyframeRequester interface {
	RequestKeyframe() error
}

// readRTCP keeps the interceptors fed with the peer's feedback: pion's
// NACK responder sends again the packets the peer missed, from the last
// 1024 sent. A keyframe request (PLI or FIR) goes to the encoder if this
// side runs it, at most twice per keyframeRequestInterval: a peer that
// asks no more often than this side does is always heard, a noisy one
// can't make every frame a keyframe.
func (c *Call) readRTCP(s sender) {
	in := s.in
	if l, ok := in.(liveReader); ok {
		in = l.Reader
	}
	kr, _ := in.(KeyframeRequester)
	var want chan struct{}
	if kr != nil && s.name == "video" {
		// The encoder may hold its lock while it waits for the camera:
		// asking apart keeps the feedback (NACKs) flowing meanwhile.
		want = make(chan struct{}, 1)
		defer close(want)
		go func() {
			for range want {
				if err := kr.RequestKeyframe(); err != nil {
					c.log.Debug("asking the encoder for a keyframe", "err", err)
				}
			}
		}()
	}
	var last time.Time
	for {
		pkts, _, err := s.rtp.ReadRTCP()
		if err != nil {
			return
		}
		if want == nil || time.Since(last) < keyframeRequestInterval/2 {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				last = time.Now()
				select {
				case want <- struct{}{}:
				default:
				}
			}
		}
	}
}

// Live marks r as a source that paces itself (a camera, a live encoder
// behind a pipe): its samples are sent as soon as they are read, not by
// their timestamps. What such a source produced while the call rang then
// goes at once, instead of delaying the whole call by the ringing time.
func Live(r media.Reader) media.Reader { return liveReader{r} }

type liveReader struct{ media.Reader }

// send paces the input by its timestamps: a sample leaves when its PTS is
// due relative to the first one, or at once when the input is late. A Live
// input is not paced.
func (c *Call) send(s sender) {
	_, live := s.in.(liveReader)
	if !c.waitVerified() {
		return
	}
	flow := c.counters.flow(s.name, true)
	c.counters.setCodec(s.name, true, s.in.Codec())
	var (
		start           time.Time
		first, prevPTS  time.Duration
		stamped         time.Duration // RTP time handed to pion so far, from the first sample
		n               int
		defaultDuration = 33 * time.Millisecond
	)
	if s.name == "audio" {
		defaultDuration = 20 * time.Millisecond
	}
	for {
		sample, err := s.in.Next()
		if errors.Is(err, io.EOF) {
			c.log.Debug("input ended", "media", s.name, "samples", n)
			c.inputEnded()
			return
		}
		if err != nil {
			c.end(fmt.Errorf("%w: %s: %w", ErrMedia, s.name, err), "the "+c.role+" hung up: bad media input")
			return
		}
		if c.ctx.Err() != nil {
			return
		}
		now := time.Now()
		if n == 0 {
			start, first, prevPTS = now, sample.PTS, sample.PTS
		}
		if wait := time.Until(start.Add(sample.PTS - first)); wait > 0 && !live {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				return
			}
		}
		// Pion stamps a sample with the sum of the durations before it.
		// Handing it this sample's duration corrected by the drift so far
		// keeps the RTP timestamps on the input's PTS, so the receiver's
		// PTS are the sender's even when durations are missing or rounded.
		duration := sample.Duration
		if duration <= 0 {
			duration = sample.PTS - prevPTS
		}
		if duration <= 0 {
			duration = defaultDuration
		}
		duration = max(0, duration+(sample.PTS-first)-stamped)
		stamped += duration
		prevPTS = sample.PTS
		n++
		if len(sample.Data) == 0 {
			continue
		}
		if err := s.track.WriteSample(pionmedia.Sample{Data: sample.Data, Duration: duration}); err != nil {
			if c.ctx.Err() == nil {
				c.log.Debug("sending a sample", "media", s.name, "err", err)
			}
			if errors.Is(err, io.ErrClosedPipe) {
				return
			}
		}
		flow.frames.Add(1)
		flow.bytes.Add(uint64(len(sample.Data)))
	}
}
