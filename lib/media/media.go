// Package media reads and writes the containers smvs-call takes on stdin
// and gives on stdout, so a call can sit in a pipe between ffmpeg and a
// player: IVF (VP8, VP9, AV1), H.264 Annex-B, and Ogg/Opus.
//
// Readers hand out one encoded frame (or Opus packet) at a time with its
// presentation time; they never decode. Writers produce files ffmpeg and
// ffprobe read, with the header fields (frame size, frame count, granule
// positions) a live source cannot know in advance filled in from the
// frames themselves. Every length read from input is checked against a
// limit before memory is set aside for it, so hostile input costs at most
// MaxFrameSize bytes per frame. Readers and writers are not safe for
// concurrent use.
package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Codec names an encoding of a media stream.
type Codec string

// The codecs smvs-call carries.
const (
	VP8  Codec = "VP8"
	VP9  Codec = "VP9"
	AV1  Codec = "AV1"
	H264 Codec = "H264"
	Opus Codec = "Opus"
)

var mimeTypes = map[Codec]string{
	VP8:  "video/VP8",
	VP9:  "video/VP9",
	AV1:  "video/AV1",
	H264: "video/H264",
	Opus: "audio/opus",
}

// MimeType returns the codec's MIME type as WebRTC spells it (the same
// strings as webrtc.MimeType*), or "" for an unknown codec.
func (c Codec) MimeType() string { return mimeTypes[c] }

// CodecOfMimeType returns the codec of a MIME type, ignoring case.
func CodecOfMimeType(mime string) (Codec, bool) {
	for c, m := range mimeTypes {
		if strings.EqualFold(m, mime) {
			return c, true
		}
	}
	return "", false
}

// Sample is one encoded frame of video or one Opus packet.
type Sample struct {
	// Data is one encoded frame: an IVF frame payload; for H264 one access
	// unit in Annex-B with start codes; one Opus packet. The caller owns it.
	Data     []byte
	PTS      time.Duration // presentation time from the start of the stream
	Duration time.Duration
	Keyframe bool
}

// Reader hands out the samples of a stream in order. Next returns io.EOF
// at a clean end and an error wrapping io.ErrUnexpectedEOF when the stream
// stops inside a header or a frame.
type Reader interface {
	Codec() Codec
	Next() (Sample, error)
}

// Writer writes samples into a container. Close finishes the container
// (frame count, end of stream) but does not close the underlying writer.
type Writer interface {
	Write(Sample) error
	Close() error
}

// MaxFrameSize bounds one video frame, one H.264 access unit or one Ogg
// packet, read or written.
const MaxFrameSize = 16 << 20

// defaultFPS times an H.264 stream when the caller gives no frame rate.
const defaultFPS = 30

// OpenVideo reads IVF (VP8, VP9 or AV1, by the header's fourcc) or H.264
// Annex-B from r. format is "", "ivf" or "h264"; "" detects the format from
// the first bytes: "DKIF" is IVF, a start code (00 00 01 or 00 00 00 01) is
// H.264. fps times H.264, which carries no timestamps; 0 means 30. IVF
// timestamps come from the file.
//
// Annex-B has no lengths, so an H.264 access unit is complete only when
// the first NAL unit of the next one arrives: on a live pipe the H.264
// reader is one frame behind the encoder. IVF frames come as they arrive.
func OpenVideo(r io.Reader, format string, fps float64) (Reader, error) {
	br := bufio.NewReaderSize(r, 16<<10)
	switch format {
	case "ivf":
		return openIVF(br)
	case "h264":
		return openH264(br, fps)
	case "":
	default:
		return nil, fmt.Errorf("media: unknown video format %q (want \"ivf\" or \"h264\")", format)
	}
	// IVF's signature first: a live source may write its 32-byte header
	// and then nothing until its first frame, and the call must not wait
	// for that.
	if sig, err := br.Peek(len(ivfSignature)); err == nil && string(sig) == ivfSignature {
		return openIVF(br)
	}
	// 64 bytes: a start code may follow leading zero bytes.
	head, err := br.Peek(64)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("media: reading video input: %w", err)
	}
	afterZeros := bytes.TrimLeft(head, "\x00")
	switch {
	case len(head) == 0:
		return nil, fmt.Errorf("media: empty video input: %w", io.ErrUnexpectedEOF)
	case bytes.HasPrefix(head, []byte(ivfSignature)):
		return openIVF(br)
	case len(head)-len(afterZeros) >= 2 && len(afterZeros) > 0 && afterZeros[0] == 1:
		return openH264(br, fps)
	}
	return nil, fmt.Errorf("media: video input starts with % x, which is neither IVF (\"DKIF\") nor H.264 Annex-B (a 00 00 01 start code); smvs-call reads IVF with VP8, VP9 or AV1 and raw H.264", head[:min(len(head), 8)])
}

// CreateVideo writes IVF for VP8, VP9 and AV1, and Annex-B for H264.
//
// IVF: the 32-byte header is written when the first keyframe arrives, with
// the frame size read from it (see Dimensions); samples before it are
// dropped and counted by Dropped. The timebase is 1/1000: PTS are written
// in milliseconds. When w is an *os.File or another io.WriterAt or
// io.WriteSeeker that can seek (a regular file), Close writes the frame
// count into the header; on a pipe it stays 0, which ffmpeg reads fine.
//
// H264: access units are written as they come, from the first one that
// holds an IDR slice once an SPS and a PPS have been seen; the last SPS and
// PPS are put in front of that IDR if it lacks them. Anything before is
// dropped and counted by Dropped.
//
// The Writer is a *VideoWriter.
func CreateVideo(w io.Writer, c Codec) (Writer, error) {
	switch c {
	case VP8, VP9, AV1:
		return &VideoWriter{codec: c, ivf: newIVFWriter(w, c)}, nil
	case H264:
		return &VideoWriter{codec: c, h264: &h264Writer{w: w}}, nil
	}
	return nil, fmt.Errorf("media: cannot write video codec %q (want VP8, VP9, AV1 or H264)", c)
}

// VideoWriter is the Writer CreateVideo returns.
type VideoWriter struct {
	codec Codec
	ivf   *ivfWriter
	h264  *h264Writer
}

// Write writes one frame, or drops it while waiting for the first keyframe.
func (v *VideoWriter) Write(s Sample) error {
	if v.ivf != nil {
		return v.ivf.write(s)
	}
	return v.h264.write(s)
}

// Close fixes up the IVF frame count where it can. It does not close the
// underlying writer.
func (v *VideoWriter) Close() error {
	if v.ivf != nil {
		return v.ivf.close()
	}
	return nil
}

// Dropped returns how many samples were dropped while waiting for the
// first keyframe.
func (v *VideoWriter) Dropped() int {
	if v.ivf != nil {
		return v.ivf.dropped
	}
	return v.h264.dropped
}

// Codec returns the codec the writer writes.
func (v *VideoWriter) Codec() Codec { return v.codec }

// readFull reads exactly len(b) bytes; a stream that ends early is an
// io.ErrUnexpectedEOF, one that ends before the first byte is io.EOF.
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	return err
}

// readN reads n bytes into fresh memory that grows as the data arrives, so
// a length field that lies costs no more than the bytes actually present.
func readN(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, 64<<10))
	for len(b) < n {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := r.Read(b[len(b):min(n, cap(b))])
		b = b[:len(b)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(b) == n {
					break
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// unexpected turns io.EOF into io.ErrUnexpectedEOF, for reads that must
// not stop at a clean boundary.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
