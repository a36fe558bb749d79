package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// H.264 NAL unit types (H.264 table 7-1) that matter here.
const (
	nalSlice = 1
	nalIDR   = 5
	nalSEI   = 6
	nalSPS   = 7
	nalPPS   = 8
	nalAUD   = 9
)

var startCode = []byte{0, 0, 0, 1}

// startCodeAt returns the length of the start code b begins with (3 or
// 4), or 0.
func startCodeAt(b []byte) int {
	switch {
	case len(b) >= 3 && b[0] == 0 && b[1] == 0 && b[2] == 1:
		return 3
	case len(b) >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 1:
		return 4
	}
	return 0
}

// nalUnits yields the NAL units of an Annex-B buffer, without start codes
// and trailing zero bytes.
func nalUnits(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		i := bytes.Index(b, startCode[1:])
		for i >= 0 {
			b = b[i+3:]
			i = bytes.Index(b, startCode[1:])
			nal := b
			if i >= 0 {
				nal = b[:i]
			}
			if nal = bytes.TrimRight(nal, "\x00"); len(nal) > 0 && !yield(nal) {
				return
			}
		}
	}
}

// startsAccessUnit says whether a NAL unit that follows a slice begins the
// next access unit (H.264 §7.4.1.2.3): an AUD, SPS, PPS, SEI, the reserved
// types 14 to 18, or a slice whose first_mb_in_slice is 0 (ue(v) 0 is a
// single 1 bit).
func startsAccessUnit(nal []byte) bool {
	switch t := nal[0] & 0x1f; {
	case t == nalAUD, t == nalSPS, t == nalPPS, t == nalSEI, t >= 14 && t <= 18:
		return true
	case t == nalSlice || t == nalIDR:
		return len(nal) > 1 && nal[1]&0x80 != 0
	}
	return false
}

func isVCL(nal []byte) bool {
	t := nal[0] & 0x1f
	return t >= nalSlice && t <= nalIDR
}

type h264Reader struct {
	r       *bufio.Reader
	buf     []byte // read but not yet returned; starts just after a start code
	eof     bool
	pending []byte // the first NAL unit of the next access unit
	frame   int
	frameNs float64
}

func openH264(r *bufio.Reader, fps float64) (*h264Reader, error) {
	if fps == 0 {
		fps = defaultFPS
	}
	if !(fps > 0 && fps <= 1000) {
		return nil, fmt.Errorf("h264: frame rate %v is not between 0 and 1000", fps)
	}
	hr := &h264Reader{r: r, frameNs: float64(time.Second) / fps}
	// The stream must open with a start code; more leading zeros are
	// allowed (leading_zero_8bits).
	for zeros := 0; ; zeros++ {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("h264: no start code before the end of the stream: %w", io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("h264: %w", err)
		}
		if c == 1 && zeros >= 2 {
			return hr, nil
		}
		if c != 0 || zeros > 64<<10 {
			return nil, fmt.Errorf("h264: stream does not start with a start code (00 00 01): byte %d is %#02x", zeros, c)
		}
	}
}

func (r *h264Reader) Codec() Codec { return H264 }

// nextNAL returns the next NAL unit, or io.EOF. A NAL unit ends where the
// next start code begins, so it is only complete once that has been read.
func (r *h264Reader) nextNAL() ([]byte, error) {
	for {
		searched := 0
		for {
			if i := bytes.Index(r.buf[searched:], startCode[1:]); i >= 0 {
				end := searched + i
				nal := bytes.TrimRight(r.buf[:end], "\x00")
				r.buf = r.buf[end+3:]
				if len(nal) == 0 {
					break // two start codes in a row
				}
				return bytes.Clone(nal), nil
			}
			if r.eof {
				nal := bytes.TrimRight(r.buf, "\x00")
				r.buf = nil
				if len(nal) == 0 {
					return nil, io.EOF
				}
				return bytes.Clone(nal), nil
			}
			if len(r.buf) > MaxFrameSize {
				return nil, fmt.Errorf("h264: access unit %d: NAL unit over the %d MiB limit", r.frame, MaxFrameSize>>20)
			}
			searched = max(0, len(r.buf)-2)
			if err := r.fill(); err != nil {
				return nil, err
			}
		}
	}
}

// fill reads what the bufio.Reader has (at least one byte, or the end).
func (r *h264Reader) fill() error {
	if _, err := r.r.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			r.eof = true
			return nil
		}
		return fmt.Errorf("h264: access unit %d: %w", r.frame, err)
	}
	chunk, _ := r.r.Peek(r.r.Buffered())
	// Keep the tail of the buffer: bytes already returned are dropped by
	// reslicing, and compacting here bounds memory to one NAL unit.
	if len(r.buf) == 0 || cap(r.buf)-len(r.buf) < len(chunk) {
		r.buf = append(bytes.Clone(r.buf), chunk...)
	} else {
		r.buf = append(r.buf, chunk...)
	}
	_, _ = r.r.Discard(len(chunk))
	return nil
}

// Next returns the next access unit, in Annex-B with 4-byte start codes.
func (r *h264Reader) Next() (Sample, error) {
	var au [][]byte
	size, slice, idr := 0, false, false
	for {
		nal := r.pending
		r.pending = nil
		if nal == nil {
			var err error
			if nal, err = r.nextNAL(); err != nil {
				if errors.Is(err, io.EOF) && len(au) > 0 {
					break
				}
				return Sample{}, err
			}
		}
		if slice && startsAccessUnit(nal) {
			r.pending = nal
			break
		}
		size += len(startCode) + len(nal)
		if size > MaxFrameSize {
			return Sample{}, fmt.Errorf("h264: access unit %d: over the %d MiB limit", r.frame, MaxFrameSize>>20)
		}
		au = append(au, nal)
		if isVCL(nal) {
			slice = true
			idr = idr || nal[0]&0x1f == nalIDR
		}
	}
	data := make([]byte, 0, size)
	for _, nal := range au {
		data = append(append(data, startCode...), nal...)
	}
	s := Sample{
		Data:     data,
		PTS:      time.Duration(float64(r.frame) * r.frameNs),
		Duration: time.Duration(r.frameNs),
		Keyframe: idr,
	}
	r.frame++
	return s, nil
}

type h264Writer struct {
	w        io.Writer
	sps, pps []byte // the last seen, to put in front of the first IDR
	started  bool
	dropped  int
	aus      int
}

func (w *h264Writer) write(s Sample) error {
	if len(s.Data) > MaxFrameSize {
		return fmt.Errorf("h264: access unit %d: %d bytes, over the %d MiB limit", w.aus, len(s.Data), MaxFrameSize>>20)
	}
	if zeros := len(s.Data) - len(bytes.TrimLeft(s.Data, "\x00")); zeros < 2 || zeros == len(s.Data) || s.Data[zeros] != 1 {
		return fmt.Errorf("h264: access unit %d: not Annex-B: it starts with no start code", w.aus)
	}
	out := s.Data
	if !w.started {
		idr, hasSPS, hasPPS := false, false, false
		for nal := range nalUnits(s.Data) {
			switch nal[0] & 0x1f {
			case nalSPS:
				w.sps, hasSPS = nal, true
			case nalPPS:
				w.pps, hasPPS = nal, true
			case nalIDR:
				idr = true
			}
		}
		if !idr || w.sps == nil || w.pps == nil {
			w.dropped++
			return nil
		}
		var head []byte
		if !hasSPS {
			head = append(append(head, startCode...), w.sps...)
		}
		if !hasPPS {
			head = append(append(head, startCode...), w.pps...)
		}
		out = append(head, s.Data...)
		w.sps, w.pps = nil, nil
		w.started = true
	}
	if _, err := w.w.Write(out); err != nil {
		return fmt.Errorf("h264: access unit %d: writing: %w", w.aus, err)
	}
	w.aus++
	return nil
}
