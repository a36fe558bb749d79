package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"time"
)

// IVF is libvpx's container: a 32-byte file header, then per frame a
// 12-byte header (size, 64-bit timestamp) and the frame.
const (
	ivfSignature       = "DKIF"
	ivfHeaderSize      = 32
	ivfFrameHeaderSize = 12
	ivfFrameCountAt    = 24
)

var ivfFourCCs = map[string]Codec{"VP80": VP8, "VP90": VP9, "AV01": AV1}

func fourCC(c Codec) string {
	for f, cc := range ivfFourCCs {
		if cc == c {
			return f
		}
	}
	return ""
}

type ivfReader struct {
	r           io.Reader
	codec       Codec
	rate, scale uint64 // timebase scale/rate seconds
	frame       int
	lastPTS     time.Duration
	lastDur     time.Duration
}

func openIVF(r io.Reader) (*ivfReader, error) {
	var h [ivfHeaderSize]byte
	if err := readFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("ivf: reading the file header: %w", unexpected(err))
	}
	if string(h[:4]) != ivfSignature {
		return nil, fmt.Errorf("ivf: file starts with %q, not %q", h[:4], ivfSignature)
	}
	codec, ok := ivfFourCCs[string(h[8:12])]
	if !ok {
		return nil, fmt.Errorf("ivf: codec fourcc %q is none of VP80, VP90, AV01", h[8:12])
	}
	ir := &ivfReader{
		r:     r,
		codec: codec,
		rate:  uint64(binary.LittleEndian.Uint32(h[16:])),
		scale: uint64(binary.LittleEndian.Uint32(h[20:])),
	}
	if ir.rate == 0 || ir.scale == 0 {
		return nil, fmt.Errorf("ivf: timebase %d/%d has a zero", ir.scale, ir.rate)
	}
	// Skip a longer header than ours; it is at most 64 KiB.
	if n := int64(binary.LittleEndian.Uint16(h[6:])); n > ivfHeaderSize {
		if _, err := io.CopyN(io.Discard, r, n-ivfHeaderSize); err != nil {
			return nil, fmt.Errorf("ivf: reading the %d-byte file header: %w", n, unexpected(err))
		}
	}
	return ir, nil
}

func (r *ivfReader) Codec() Codec { return r.codec }

// Next returns the next frame. IVF stores no durations, and a live reader
// cannot wait for the next frame, so a frame's Duration is the interval
// since the frame before it; the first frame's is one timebase tick when
// that lies between 1 ms and 1 s (ffmpeg writes the frame rate as
// timebase), else 1/30 s.
func (r *ivfReader) Next() (Sample, error) {
	var h [ivfFrameHeaderSize]byte
	if err := readFull(r.r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Sample{}, io.EOF
		}
		return Sample{}, fmt.Errorf("ivf: frame %d: reading the frame header: %w", r.frame, err)
	}
	size := binary.LittleEndian.Uint32(h[:4])
	if size > MaxFrameSize {
		return Sample{}, fmt.Errorf("ivf: frame %d: header says %d bytes, over the %d MiB limit", r.frame, size, MaxFrameSize>>20)
	}
	pts, err := r.duration(int64(binary.LittleEndian.Uint64(h[4:])))
	if err != nil {
		return Sample{}, fmt.Errorf("ivf: frame %d: %w", r.frame, err)
	}
	data, err := readN(r.r, int(size))
	if err != nil {
		return Sample{}, fmt.Errorf("ivf: frame %d: reading %d bytes: %w", r.frame, size, err)
	}
	dur := r.lastDur
	switch {
	case r.frame == 0:
		dur = time.Second / 30
		if tick, err := r.duration(1); err == nil && tick >= time.Millisecond && tick <= time.Second {
			dur = tick
		}
	case pts > r.lastPTS:
		dur = pts - r.lastPTS
	}
	r.frame++
	r.lastPTS, r.lastDur = pts, dur
	return Sample{Data: data, PTS: pts, Duration: dur, Keyframe: IsKeyframe(r.codec, data)}, nil
}

// duration converts ticks of the timebase to a time.Duration without
// overflowing on the way.
func (r *ivfReader) duration(ticks int64) (time.Duration, error) {
	neg := ticks < 0
	abs := uint64(ticks)
	if neg {
		abs = -abs
	}
	hi, lo := bits.Mul64(abs, r.scale*uint64(time.Second))
	if hi >= r.rate {
		return 0, fmt.Errorf("timestamp %d is out of range", ticks)
	}
	q, _ := bits.Div64(hi, lo, r.rate)
	if q > math.MaxInt64 {
		return 0, fmt.Errorf("timestamp %d is out of range", ticks)
	}
	if neg {
		return -time.Duration(q), nil
	}
	return time.Duration(q), nil
}

type ivfWriter struct {
	w       io.Writer
	codec   Codec
	start   int64 // offset of the header in w, or -1 if w cannot seek
	started bool
	frames  uint32
	dropped int
	err     error // sticky: after a failed write the file is broken
}

func newIVFWriter(w io.Writer, c Codec) *ivfWriter {
	iw := &ivfWriter{w: w, codec: c, start: -1}
	if s, ok := w.(io.Seeker); ok {
		if off, err := s.Seek(0, io.SeekCurrent); err == nil {
			iw.start = off
		}
	}
	return iw
}

func (w *ivfWriter) write(s Sample) error {
	if w.err != nil {
		return w.err
	}
	if len(s.Data) > MaxFrameSize {
		return fmt.Errorf("ivf: frame %d: %d bytes, over the %d MiB limit", w.frames, len(s.Data), MaxFrameSize>>20)
	}
	if !w.started {
		width, height, ok := Dimensions(w.codec, s.Data)
		if !ok {
			w.dropped++
			return nil
		}
		if width > math.MaxUint16 || height > math.MaxUint16 {
			return fmt.Errorf("ivf: frame size %dx%d does not fit the header", width, height)
		}
		var h [ivfHeaderSize]byte
		copy(h[:], ivfSignature)
		binary.LittleEndian.PutUint16(h[6:], ivfHeaderSize)
		copy(h[8:], fourCC(w.codec))
		binary.LittleEndian.PutUint16(h[12:], uint16(width))
		binary.LittleEndian.PutUint16(h[14:], uint16(height))
		binary.LittleEndian.PutUint32(h[16:], 1000) // timebase 1/1000
		binary.LittleEndian.PutUint32(h[20:], 1)
		if _, err := w.w.Write(h[:]); err != nil {
			w.err = fmt.Errorf("ivf: writing the file header: %w", err)
			return w.err
		}
		w.started = true
	}
	var h [ivfFrameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[:], uint32(len(s.Data)))
	binary.LittleEndian.PutUint64(h[4:], uint64(s.PTS.Round(time.Millisecond)/time.Millisecond))
	if _, err := w.w.Write(h[:]); err != nil {
		w.err = fmt.Errorf("ivf: frame %d: writing: %w", w.frames, err)
		return w.err
	}
	if _, err := w.w.Write(s.Data); err != nil {
		w.err = fmt.Errorf("ivf: frame %d: writing: %w", w.frames, err)
		return w.err
	}
	w.frames++
	return nil
}

// close writes the frame count into the header when w can seek. The count
// is a courtesy (readers take 0 as unknown), so failing to write it, as on
// a file opened with O_APPEND, is no error.
func (w *ivfWriter) close() error {
	if w.err != nil || !w.started || w.start < 0 {
		return w.err
	}
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], w.frames)
	// WriteAt leaves the file offset alone, so prefer it to Seek.
	if wa, ok := w.w.(io.WriterAt); ok {
		_, _ = wa.WriteAt(n[:], w.start+ivfFrameCountAt)
		return nil
	}
	ws := w.w.(io.WriteSeeker) // start >= 0 means w is an io.Seeker
	end, err := ws.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil
	}
	if _, err := ws.Seek(w.start+ivfFrameCountAt, io.SeekStart); err == nil {
		_, _ = ws.Write(n[:])
	}
	if _, err := ws.Seek(end, io.SeekStart); err != nil {
		w.err = fmt.Errorf("ivf: returning to the end after writing the frame count: %w", err)
	}
	return w.err
}
