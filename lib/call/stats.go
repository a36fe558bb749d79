package call

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"smvs/lib/media"
)

// Stats are a call's counters so far.
type Stats struct {
	Started    time.Time     // when Dial or Accept began
	Connected  time.Duration // from Started to a verified connection; 0 before
	FirstFrame time.Duration // from Started to the first video frame written; 0 before
	VideoOut   Flow          // sent
	AudioOut   Flow
	VideoIn    Flow // received and written
	AudioIn    Flow
	// Dropped counts received frames not written: incomplete after loss,
	// or undecodable while waiting for a keyframe.
	Dropped          uint64
	KeyframeRequests uint64 // PLIs sent
}

// Flow counts one direction of one kind of media.
type Flow struct {
	Codec  media.Codec
	Frames uint64
	Bytes  uint64
}

type flow struct {
	frames, bytes atomic.Uint64
}

type counters struct {
	videoOut, audioOut, videoIn, audioIn flow
	dropped, keyframeRequests            atomic.Uint64
	connected, firstVideo                atomic.Int64 // durations since the start

	mu     sync.Mutex
	codecs map[string]media.Codec // "video out" …
}

func (k *counters) flow(name string, out bool) *flow {
	switch {
	case name == "video" && out:
		return &k.videoOut
	case name == "video":
		return &k.videoIn
	case out:
		return &k.audioOut
	}
	return &k.audioIn
}

func flowKey(name string, out bool) string {
	if out {
		return name + " out"
	}
	return name + " in"
}

func (k *counters) setCodec(name string, out bool, c media.Codec) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.codecs == nil {
		k.codecs = make(map[string]media.Codec)
	}
	k.codecs[flowKey(name, out)] = c
}

func (k *counters) codec(name string, out bool) media.Codec {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.codecs[flowKey(name, out)]
}

func (k *counters) firstFrame(name string, started time.Time) {
	if name == "video" {
		k.firstVideo.CompareAndSwap(0, int64(time.Since(started)))
	}
}

// Stats returns the call's counters so far.
func (c *Call) Stats() Stats {
	k := &c.counters
	get := func(name string, out bool) Flow {
		f := k.flow(name, out)
		return Flow{Codec: k.codec(name, out), Frames: f.frames.Load(), Bytes: f.bytes.Load()}
	}
	return Stats{
		Started:          c.started,
		Connected:        time.Duration(k.connected.Load()),
		FirstFrame:       time.Duration(k.firstVideo.Load()),
		VideoOut:         get("video", true),
		AudioOut:         get("audio", true),
		VideoIn:          get("video", false),
		AudioIn:          get("audio", false),
		Dropped:          k.dropped.Load(),
		KeyframeRequests: k.keyframeRequests.Load(),
	}
}

// statsLoop writes the stats line once a second.
func (c *Call) statsLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev, prevAt := c.Stats(), time.Now()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		now, at := c.Stats(), time.Now()
		secs := at.Sub(prevAt).Seconds()
		rate := func(a, b Flow, a0, b0 Flow) float64 {
			return float64(a.Bytes+b.Bytes-a0.Bytes-b0.Bytes) * 8 / 1000 / secs
		}
		fps := func(f, f0 Flow) float64 { return float64(f.Frames-f0.Frames) / secs }
		rtt, loss, jitter := c.transportStats()
		if _, err := fmt.Fprintf(c.cfg.Stats, "rtt %.1fms loss %.1f%% jitter %.1fms in %.0fkbit/s %.0ffps out %.0fkbit/s %.0ffps\n",
			rtt*1000, loss*100, jitter*1000,
			rate(now.VideoIn, now.AudioIn, prev.VideoIn, prev.AudioIn), fps(now.VideoIn, prev.VideoIn),
			rate(now.VideoOut, now.AudioOut, prev.VideoOut, prev.AudioOut), fps(now.VideoOut, prev.VideoOut)); err != nil {
			c.log.Debug("writing stats", "err", err)
		}
		prev, prevAt = now, at
	}
}

// transportStats returns the round-trip time of the selected candidate
// pair, and the loss and jitter of what the peer sends (in seconds and as
// a fraction).
func (c *Call) transportStats() (rtt, loss, jitter float64) {
	var received, lost float64
	for _, s := range c.pc.GetStats() {
		switch s := s.(type) {
		case webrtc.ICECandidatePairStats:
			if s.Nominated && s.CurrentRoundTripTime > 0 {
				rtt = s.CurrentRoundTripTime
			}
		case webrtc.InboundRTPStreamStats:
			received += float64(s.PacketsReceived)
			lost += float64(max(0, s.PacketsLost))
			jitter = max(jitter, s.Jitter)
		}
	}
	if received+lost > 0 {
		loss = lost / (received + lost)
	}
	return rtt, loss, jitter
}
