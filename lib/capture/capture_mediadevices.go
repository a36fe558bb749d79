//go:build mediadevices

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	// The drivers register themselves: the system's cameras (V4L2) and
	// microphones (miniaudio), and the test sources, which Open picks
	// only when asked, by label.
	_ "github.com/pion/mediadevices/pkg/driver/audiotest"
	_ "github.com/pion/mediadevices/pkg/driver/camera"
	_ "github.com/pion/mediadevices/pkg/driver/microphone"
	_ "github.com/pion/mediadevices/pkg/driver/videotest"

	"smvs/lib/media"
)

// The labels mediadevices' test drivers register under.
const (
	testVideoLabel = "VideoTest"
	testAudioLabel = "AudioTest"
)

const (
	defaultFPS     = 30
	defaultBitrate = 500_000
)

// Available says whether this build can capture a camera and microphone.
func Available() bool { return true }

// Open starts capturing what o asks for and returns a reader of VP8
// frames and one of Opus packets (nil for what wasn't asked). PTS count
// from Open; a video frame's Duration is the time since the frame before
// it, an Opus packet's is 20 ms. Keyframes come every two seconds and
// whenever the video reader's RequestKeyframe is called. stop releases
// the devices; after it, or once ctx is done, Next returns io.EOF. Each
// reader is for one goroutine; stop may be called from any, more than
// once.
func Open(ctx context.Context, o Options) (videoReader, audioReader media.Reader, stop func(), err error) {
	if !o.Camera && !o.Mic {
		return nil, nil, nil, errors.New("capture: neither camera nor microphone asked for")
	}
	if o.FPS == 0 {
		o.FPS = defaultFPS
	}
	if o.Bitrate == 0 {
		o.Bitrate = defaultBitrate
	}
	if o.FPS < 0 || o.Bitrate < 0 || o.Width < 0 || o.Height < 0 {
		return nil, nil, nil, fmt.Errorf("capture: negative frame rate, bitrate or size in %+v", o)
	}

	vp8, err := vpx.NewVP8Params()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("capture: VP8 encoder: %w", err)
	}
	vp8.BitRate = o.Bitrate
	vp8.KeyFrameInterval = max(1, int(2*o.FPS))
	vp8.RateControlEndUsage = vpx.RateControlCBR // a call's link has a fixed budget
	vp8.LagInFrames = 0                          // every frame leaves at once
	op, err := opus.NewParams()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("capture: Opus encoder: %w", err)
	}
	constraints := mediadevices.MediaStreamConstraints{
		Codec: mediadevices.NewCodecSelector(
			mediadevices.WithVideoEncoders(&vp8),
			mediadevices.WithAudioEncoders(&op),
		),
	}
	if o.Camera {
		id, err := deviceID(driver.Camera, testVideoLabel, o.TestSource)
		if err != nil {
			return nil, nil, nil, err
		}
		constraints.Video = func(c *mediadevices.MediaTrackConstraints) {
			c.DeviceID = prop.StringExact(id)
			c.FrameRate = prop.Float(o.FPS)
			if o.Width > 0 {
				c.Width = prop.Int(o.Width)
			}
			if o.Height > 0 {
				c.Height = prop.Int(o.Height)
			}
		}
	}
	if o.Mic {
		id, err := deviceID(driver.Microphone, testAudioLabel, o.TestSource)
		if err != nil {
			return nil, nil, nil, err
		}
		constraints.Audio = func(c *mediadevices.MediaTrackConstraints) {
			c.DeviceID = prop.StringExact(id)
		}
	}
	stream, err := mediadevices.GetUserMedia(constraints)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("capture: opening the devices: %w", err)
	}

	start := time.Now()
	var (
		once    sync.Once
		stopped atomic.Bool
		closers []func() error
	)
	release := func() {
		once.Do(func() {
			stopped.Store(true)
			for _, c := range closers {
				_ = c()
			}
			for _, t := range stream.GetTracks() {
				_ = t.Close()
			}
		})
	}
	fail := func(err error) (media.Reader, media.Reader, func(), error) {
		release()
		return nil, nil, nil, err
	}

	for _, t := range stream.GetVideoTracks() {
		vt, ok := t.(*mediadevices.VideoTrack)
		if !ok {
			return fail(fmt.Errorf("capture: camera track is a %T", t))
		}
		// A camera offers the sizes it has; the picture is scaled to the one
		// asked for, which the encoder then sees as its input.
		if o.Width > 0 || o.Height > 0 {
			vt.Transform(video.Scale(o.Width, o.Height, video.ScalerFastBoxSampling))
		}
		er, err := vt.NewEncodedReader(vp8.RTPCodec().MimeType)
		if err != nil {
			return fail(fmt.Errorf("capture: starting the VP8 encoder: %w", err))
		}
		closers = append(closers, er.Close)
		videoReader = &reader{codec: media.VP8, r: er, start: start, clock: vp8.RTPCodec().ClockRate, stopped: &stopped}
	}
	for _, t := range stream.GetAudioTracks() {
		er, err := t.NewEncodedReader(op.RTPCodec().MimeType)
		if err != nil {
			return fail(fmt.Errorf("capture: starting the Opus encoder: %w", err))
		}
		closers = append(closers, er.Close)
		audioReader = &reader{codec: media.Opus, r: er, start: start, duration: time.Duration(op.Latency), stopped: &stopped}
	}
	unregister := context.AfterFunc(ctx, release)
	return videoReader, audioReader, func() { unregister(); release() }, nil
}

// deviceID finds the driver to open: the test driver with the given label
// when test is set, else the first real device of the kind.
func deviceID(kind driver.DeviceType, testLabel string, test bool) (string, error) {
	for _, d := range driver.GetManager().Query(driver.FilterDeviceType(kind)) {
		if (d.Info().Label == testLabel) == test {
			return d.ID(), nil
		}
	}
	if test {
		return "", fmt.Errorf("capture: no %s test driver", kind)
	}
	return "", fmt.Errorf("capture: no %s found", kind)
}

// reader turns mediadevices' encoded buffers into media.Samples.
type reader struct {
	codec    media.Codec
	r        mediadevices.EncodedReadCloser
	start    time.Time
	clock    uint32        // RTP clock rate, for video durations
	duration time.Duration // fixed packet duration, for audio
	stopped  *atomic.Bool  // set by stop: a failed read is then the end
}

func (r *reader) Codec() media.Codec { return r.codec }

func (r *reader) Next() (media.Sample, error) {
	buf, release, err := r.r.Read()
	if err != nil {
		if r.stopped.Load() || errors.Is(err, io.EOF) {
			return media.Sample{}, io.EOF
		}
		return media.Sample{}, fmt.Errorf("capture: %s encoder: %w", r.codec, err)
	}
	data := append([]byte(nil), buf.Data...)
	release()
	s := media.Sample{
		Data:     data,
		PTS:      time.Since(r.start),
		Duration: r.duration,
		Keyframe: media.IsKeyframe(r.codec, data),
	}
	if r.clock != 0 {
		s.Duration = time.Duration(buf.Samples) * time.Second / time.Duration(r.clock)
	}
	return s, nil
}

// RequestKeyframe makes the next video frame a keyframe, as a peer asks
// with an RTCP PLI. It fails on the audio reader.
func (r *reader) RequestKeyframe() error {
	if kc, ok := r.r.Controller().(codec.KeyFrameController); ok {
		return kc.ForceKeyFrame()
	}
	return fmt.Errorf("capture: the %s encoder cannot make keyframes on request", r.codec)
}
