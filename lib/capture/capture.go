// Package capture records the local camera and microphone as encoded
// media.Samples (VP8 video, Opus audio), so smvs-call can send them without
// an ffmpeg in front of it.
//
// Capture needs cgo and the libvpx and libopus encoders, so it is only
// compiled in with the build tag mediadevices (through pion/mediadevices);
// the default build, which cross-compiles without cgo, keeps the same API
// but Available reports false and Open fails with ErrNotBuiltIn.
package capture

import "errors"

// ErrNotBuiltIn is what Open returns in a build without capture support.
var ErrNotBuiltIn = errors.New("smvs-call was built without camera and microphone support; " +
	"build it with cgo, libvpx and libopus and -tags mediadevices, or pipe media in on stdin")

// Options says what to capture and how to encode it.
type Options struct {
	Camera, Mic bool
	// Width and Height ask for a frame size; the camera's picture is scaled
	// to it. 0 keeps the camera's size (or, with one of them set, its
	// aspect ratio).
	Width, Height int
	// FPS asks the camera for a frame rate; 0 means 30. A camera that can't
	// gives what it can.
	FPS float64
	// Bitrate is the video bitrate in bits per second; 0 means 500 kbit/s.
	Bitrate int
	// TestSource uses mediadevices' test drivers (colour bars and a tone)
	// instead of real devices.
	TestSource bool
}
