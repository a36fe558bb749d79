//go:build mediadevices

package capture

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/media"
)

// TestTestSource captures mediadevices' test drivers for about a second
// and checks that VP8 keyframes of the asked size and Opus packets come.
func TestTestSource(t *testing.T) {
	if !Available() {
		t.Fatal("Available() is false in a build with the mediadevices tag")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	video, audio, stop, err := Open(ctx, Options{Camera: true, Mic: true, Width: 320, Height: 240, FPS: 30, TestSource: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if video.Codec() != media.VP8 || audio.Codec() != media.Opus {
		t.Fatalf("codecs %s and %s, want VP8 and Opus", video.Codec(), audio.Codec())
	}

	var wg sync.WaitGroup
	var frames, keyframes, packets int
	var videoErr, audioErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		var last time.Duration
		for {
			s, err := video.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					videoErr = err
				}
				return
			}
			frames++
			if s.PTS < last {
				videoErr = errors.New("video PTS went backwards")
				return
			}
			last = s.PTS
			if s.Keyframe {
				keyframes++
				if w, h, ok := media.Dimensions(media.VP8, s.Data); !ok || w != 320 || h != 240 {
					t.Errorf("keyframe %d: Dimensions %dx%d %v, want 320x240", keyframes, w, h, ok)
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			s, err := audio.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					audioErr = err
				}
				return
			}
			packets++
			if s.Duration != 20*time.Millisecond || len(s.Data) == 0 {
				t.Errorf("Opus packet %d: %d bytes of %v", packets, len(s.Data), s.Duration)
			}
		}
	}()
	wg.Wait() // the context's timeout stops both
	if videoErr != nil || audioErr != nil {
		t.Fatalf("video: %v; audio: %v", videoErr, audioErr)
	}
	t.Logf("%d frames (%d keyframes), %d Opus packets", frames, keyframes, packets)
	if frames < 5 || keyframes < 1 {
		t.Errorf("%d frames with %d keyframes in a second", frames, keyframes)
	}
	if packets < 10 {
		t.Errorf("%d Opus packets in a second", packets)
	}
}

func TestRealDeviceIsNotTheTestSource(t *testing.T) {
	// Without TestSource, Open must not fall back to colour bars.
	_, _, stop, err := Open(context.Background(), Options{Camera: true})
	if err == nil {
		stop()
		t.Skip("a real camera is built in and present")
	}
	if !strings.Contains(err.Error(), "no camera found") {
		t.Errorf("Open without a camera: %v", err)
	}
}
