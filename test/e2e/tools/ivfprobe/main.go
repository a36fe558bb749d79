// Command ivfprobe prints what an IVF file holds, as
// `ffprobe -count_frames -show_entries stream=codec_name,width,height,nb_read_frames`
// would, so that scripts/demo can show a received call without ffmpeg:
//
//	ivfprobe FILE
//
// prints codec_name, width, height (from the first keyframe, not the file
// header) and nb_read_frames, one "key=value" a line. It exits 1 when FILE
// is not IVF, is cut short inside a frame, or holds no keyframe.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"smvs/lib/media"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ivfprobe FILE")
		os.Exit(2)
	}
	if err := probe(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "ivfprobe: error: %v\n", err)
		os.Exit(1)
	}
}

func probe(name string, out io.Writer) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := media.OpenVideo(f, "ivf", 0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var frames, width, height int
	sized := false
	for {
		s, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: after %d frames: %w", name, frames, err)
		}
		frames++
		if !sized && s.Keyframe {
			width, height, sized = media.Dimensions(r.Codec(), s.Data)
		}
	}
	if !sized {
		return fmt.Errorf("%s: no keyframe in %d frames", name, frames)
	}
	_, err = fmt.Fprintf(out, "codec_name=%s\nwidth=%d\nheight=%d\nnb_read_frames=%d\n",
		strings.ToLower(string(r.Codec())), width, height, frames)
	return err
}
