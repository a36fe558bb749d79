//go:build !mediadevices

package capture

import (
	"context"

	"smvs/lib/media"
)

// Available says whether this build can capture a camera and microphone.
func Available() bool { return false }

// Open fails with ErrNotBuiltIn: this build has no capture support.
func Open(context.Context, Options) (video, audio media.Reader, stop func(), err error) {
	return nil, nil, nil, ErrNotBuiltIn
}
