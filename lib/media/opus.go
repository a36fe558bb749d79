package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Ogg/Opus (RFC 7845): an OpusHead packet alone on the first page, OpusTags
// on the next page(s), then audio packets whose granule positions count
// 48 kHz samples, pre-skip included.
const (
	opusRate       = 48000
	opusHeadSize   = 19
	opusMaxPacket  = 1 << 20 // far above 120 ms of 255 streams at 510 kbit/s
	opusMaxGranule = 1 << 50 // ~745 years; keeps time.Duration from overflowing
	opusVendor     = "smvs"
)

// opusSamples returns the duration, in 48 kHz samples, of an Opus packet
// from its TOC byte and frame count (RFC 6716 §3.1).
func opusSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, errors.New("empty packet")
	}
	toc := packet[0]
	config := int(toc >> 3)
	var frame int // in samples at 48 kHz
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[config%4]
	case config < 16: // Hybrid: 10, 20 ms
		frame = []int{480, 960}[config%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[config%4]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(packet) < 2 {
			return 0, errors.New("code 3 packet without a frame count byte")
		}
		frames = int(packet[1] & 0x3f)
		if frames == 0 {
			return 0, errors.New("code 3 packet with 0 frames")
		}
	}
	if n := frames * frame; n <= 120*opusRate/1000 {
		return n, nil
	}
	return 0, fmt.Errorf("packet of %d frames of %d samples is over 120 ms", frames, frame)
}

func samplesToDuration(n int64) time.Duration {
	return time.Duration(n/opusRate)*time.Second + time.Duration(n%opusRate)*time.Second/opusRate
}

type opusReader struct {
	ogg     *oggReader
	preSkip int64
	pos     int64 // granule position at the start of the next packet
	audio   bool  // an audio page has been read
	queue   []Sample
	eos     bool
	packets int
}

// OpenAudio reads Ogg/Opus (RFC 7845). It checks the OpusHead packet,
// skips OpusTags, and returns one Sample per Opus packet, every one a
// Keyframe. A packet's PTS is its first sample's granule position minus
// the pre-skip, at 48 kHz, so the first packet's PTS is negative by the
// pre-skip, as ffmpeg reports it; Duration comes from the packet's TOC,
// cut short on the last page where the granule position says the stream
// ends early. Page CRCs are checked.
func OpenAudio(r io.Reader) (Reader, error) {
	or := &opusReader{ogg: &oggReader{r: r, maxPacket: opusMaxPacket}}
	p, err := or.ogg.page()
	if err != nil {
		return nil, err
	}
	if len(p.packets) != 1 || !bytes.HasPrefix(p.packets[0], []byte("OpusHead")) {
		return nil, errors.New("opus: the first Ogg page does not hold an OpusHead packet alone; is this Ogg/Opus?")
	}
	head := p.packets[0]
	if len(head) < opusHeadSize {
		return nil, fmt.Errorf("opus: OpusHead is %d bytes, under %d", len(head), opusHeadSize)
	}
	if v := head[8]; v>>4 != 0 {
		return nil, fmt.Errorf("opus: OpusHead version %d is not one this reader knows", v)
	}
	if head[9] == 0 {
		return nil, errors.New("opus: OpusHead says 0 channels")
	}
	or.preSkip = int64(binary.LittleEndian.Uint16(head[10:]))

	// OpusTags may span pages and may be large (cover art); it is only
	// skipped.
	or.ogg.discard = true
	defer func() { or.ogg.discard = false }()
	for {
		p, err := or.ogg.page()
		if err != nil {
			return nil, err
		}
		if len(p.packets) == 0 {
			continue
		}
		if !bytes.HasPrefix(p.packets[0], []byte("OpusTags")) {
			return nil, errors.New("opus: the packet after OpusHead is not OpusTags")
		}
		if len(p.packets) > 1 {
			return nil, errors.New("opus: audio on the OpusTags page")
		}
		return or, nil
	}
}

func (r *opusReader) Codec() Codec { return Opus }

func (r *opusReader) Next() (Sample, error) {
	for len(r.queue) == 0 {
		if r.eos {
			return Sample{}, io.EOF
		}
		if err := r.readPage(); err != nil {
			return Sample{}, err
		}
	}
	s := r.queue[0]
	r.queue = r.queue[1:]
	return s, nil
}

// readPage queues the packets that end on the next page, timed from its
// granule position (RFC 7845 §4): it is the end of the page's last packet,
// so the first packet begins the sum of their durations before it.
func (r *opusReader) readPage() error {
	p, err := r.ogg.page()
	if err != nil {
		return err
	}
	r.eos = p.flags&oggEOS != 0
	if len(p.packets) == 0 {
		return nil
	}
	if p.granule > opusMaxGranule || p.granule < oggNoGranule {
		return fmt.Errorf("opus: page %d: granule position %d is out of range", p.seq, p.granule)
	}
	durs := make([]int64, len(p.packets))
	var total int64
	for i, pkt := range p.packets {
		n, err := opusSamples(pkt)
		if err != nil {
			return fmt.Errorf("opus: packet %d: %w", r.packets+i, err)
		}
		durs[i] = int64(n)
		total += int64(n)
	}
	start := r.pos
	switch {
	case p.granule == oggNoGranule:
	case r.eos && !r.audio:
		start = 0 // the stream is one page; its granule position trims the end
	case r.eos:
		// The last page's granule position may end the stream early.
	case p.granule-total > r.pos || !r.audio:
		start = max(0, p.granule-total) // a gap, or the first page
	}
	r.audio = true
	end := p.granule
	for i, pkt := range p.packets {
		d := durs[i]
		if r.eos && end != oggNoGranule && start+d > end {
			d = max(0, end-start)
		}
		r.queue = append(r.queue, Sample{
			Data:     pkt,
			PTS:      samplesToDuration(start - r.preSkip),
			Duration: samplesToDuration(d),
			Keyframe: true,
		})
		start += durs[i]
	}
	r.pos = start
	r.packets += len(p.packets)
	return nil
}

type opusWriter struct {
	ogg     oggWriter
	started bool
	closed  bool
	granule int64
	packets int
	err     error
}

// CreateAudio writes Ogg/Opus: OpusHead, OpusTags (vendor "smvs"), then one
// page per packet, so each packet leaves at once. OpusHead takes the
// channel count (1 or 2) from the first packet's TOC stereo bit, and its
// pre-skip from the first packet's PTS when that is negative (as OpenAudio
// reports a file's pre-skip), else 0: a call's audio joins a live encoder
// whose start-up samples are long gone. Granule positions count the
// packets' durations, so gaps in PTS are not kept. Close writes an empty
// page marked end of stream.
func CreateAudio(w io.Writer) (Writer, error) {
	return &opusWriter{ogg: oggWriter{w: w, serial: rand.Uint32(), bos: true}}, nil
}

func (w *opusWriter) Write(s Sample) error {
	if w.closed {
		return errors.New("opus: write after Close")
	}
	if w.err != nil {
		return w.err
	}
	n, err := opusSamples(s.Data)
	if err != nil {
		return fmt.Errorf("opus: packet %d: %w", w.packets, err)
	}
	if len(s.Data) > opusMaxPacket {
		return fmt.Errorf("opus: packet %d: %d bytes, over the %d-byte limit", w.packets, len(s.Data), opusMaxPacket)
	}
	if !w.started {
		channels := byte(1)
		if s.Data[0]&0x04 != 0 {
			channels = 2
		}
		var preSkip int64
		if s.PTS < 0 && s.PTS > -time.Second {
			preSkip = int64(-s.PTS.Round(time.Second/opusRate)) * opusRate / int64(time.Second)
		}
		head := make([]byte, opusHeadSize)
		copy(head, "OpusHead")
		head[8] = 1 // version
		head[9] = channels
		binary.LittleEndian.PutUint16(head[10:], uint16(preSkip))
		binary.LittleEndian.PutUint32(head[12:], opusRate) // input sample rate, informational
		tags := binary.LittleEndian.AppendUint32([]byte("OpusTags"), uint32(len(opusVendor)))
		tags = binary.LittleEndian.AppendUint32(append(tags, opusVendor...), 0)
		if err := w.ogg.writePacket(head, 0, false); err != nil {
			w.err = err
			return w.err
		}
		if err := w.ogg.writePacket(tags, 0, false); err != nil {
			w.err = err
			return w.err
		}
		w.started = true
	}
	w.granule += int64(n)
	if err := w.ogg.writePacket(s.Data, w.granule, false); err != nil {
		w.err = err
		return w.err
	}
	w.packets++
	return nil
}

// Close writes the end-of-stream page; without any packet it writes
// nothing, as there is no channel count for OpusHead.
func (w *opusWriter) Close() error {
	if w.closed || w.err != nil || !w.started {
		w.closed = true
		return w.err
	}
	w.closed = true
	if err := w.ogg.writePage(oggEOS, w.granule, nil, false); err != nil {
		w.err = err
	}
	return w.err
}
