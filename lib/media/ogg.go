package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Ogg framing (RFC 3533): pages of up to 255 segments of up to 255 bytes;
// a packet is a run of segments ended by one shorter than 255.
const (
	oggHeaderSize    = 27
	oggContinued     = 0x01
	oggBOS           = 0x02
	oggEOS           = 0x04
	oggMaxSegments   = 255
	oggMaxPageBody   = oggMaxSegments * 255
	oggNoGranule     = -1
	oggCRCPolynomial = 0x04c11db7
)

var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ oggCRCPolynomial
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// oggCRC is Ogg's CRC-32: polynomial 0x04c11db7, not reflected, starting
// at 0, no final XOR.
func oggCRC(crc uint32, b []byte) uint32 {
	for _, c := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}

// oggPage is a page's packets that end on it. granule is the position
// after the last of them.
type oggPage struct {
	seq     uint32
	flags   byte
	granule int64
	packets [][]byte
}

// oggReader reads the pages of the first logical stream in r, skipping
// the pages of any other stream multiplexed with it.
type oggReader struct {
	r         io.Reader
	serial    uint32
	started   bool
	seq       uint32
	pages     int    // read so far, for messages before a header is read
	partial   []byte // a packet continued on the next page
	inPartial bool
	maxPacket int
	// discard keeps only the first discardKeep bytes of each packet, to
	// skip a packet of any size (OpusTags with cover art) and still see
	// what it is.
	discard bool
}

const discardKeep = 8

func (o *oggReader) page() (oggPage, error) {
	for {
		var h [oggHeaderSize + oggMaxSegments]byte
		if err := readFull(o.r, h[:oggHeaderSize]); err != nil {
			if errors.Is(err, io.EOF) && o.started {
				return oggPage{}, fmt.Errorf("ogg: stream ends after page %d without an end-of-stream page: %w", o.seq, io.ErrUnexpectedEOF)
			}
			if errors.Is(err, io.EOF) && o.pages == 0 {
				return oggPage{}, fmt.Errorf("ogg: empty input: %w", io.ErrUnexpectedEOF)
			}
			return oggPage{}, fmt.Errorf("ogg: page %d of the file: reading the header: %w", o.pages, unexpected(err))
		}
		if string(h[:4]) != "OggS" {
			return oggPage{}, fmt.Errorf("ogg: page %d of the file: starts with %q, not \"OggS\"", o.pages, h[:4])
		}
		if h[4] != 0 {
			return oggPage{}, fmt.Errorf("ogg: page %d of the file: version %d, want 0", o.pages, h[4])
		}
		o.pages++
		p := oggPage{
			flags:   h[5],
			granule: int64(binary.LittleEndian.Uint64(h[6:])),
			seq:     binary.LittleEndian.Uint32(h[18:]),
		}
		serial := binary.LittleEndian.Uint32(h[14:])
		crc := binary.LittleEndian.Uint32(h[22:])
		nseg := int(h[26])
		if err := readFull(o.r, h[oggHeaderSize:oggHeaderSize+nseg]); err != nil {
			return oggPage{}, fmt.Errorf("ogg: page %d: reading the segment table: %w", p.seq, unexpected(err))
		}
		lacing := h[oggHeaderSize : oggHeaderSize+nseg]
		size := 0
		for _, l := range lacing {
			size += int(l)
		}
		body := make([]byte, size) // at most 64 KiB: 255 segments of 255 bytes
		if err := readFull(o.r, body); err != nil {
			return oggPage{}, fmt.Errorf("ogg: page %d: reading %d bytes: %w", p.seq, size, unexpected(err))
		}
		clear(h[22:26])
		if got := oggCRC(oggCRC(0, h[:oggHeaderSize+nseg]), body); got != crc {
			return oggPage{}, fmt.Errorf("ogg: page %d: CRC is %08x, header says %08x", p.seq, got, crc)
		}
		if !o.started {
			if p.flags&oggBOS == 0 {
				return oggPage{}, fmt.Errorf("ogg: first page is not marked as the beginning of a stream")
			}
			o.serial, o.started = serial, true
		} else if serial != o.serial {
			if p.flags&oggBOS != 0 && o.seq == 0 {
				continue // another stream multiplexed with ours
			}
			if p.flags&oggBOS != 0 {
				return oggPage{}, fmt.Errorf("ogg: page %d: a chained stream follows; only one is read", p.seq)
			}
			continue
		} else if p.seq != o.seq+1 {
			return oggPage{}, fmt.Errorf("ogg: page %d follows page %d: pages are missing", p.seq, o.seq)
		}
		o.seq = p.seq
		if err := o.packets(&p, lacing, body); err != nil {
			return oggPage{}, err
		}
		return p, nil
	}
}

// packets cuts a page body into packets, joining one continued from the
// page before.
func (o *oggReader) packets(p *oggPage, lacing, body []byte) error {
	if p.flags&oggContinued == 0 && o.inPartial {
		return fmt.Errorf("ogg: page %d: a packet continues from page %d but this page says it does not", p.seq, p.seq-1)
	}
	// A stream may begin on a page that continues a packet it lacks the
	// start of; that piece is skipped.
	skipping := p.flags&oggContinued != 0 && !o.inPartial
	for _, l := range lacing {
		seg := body[:l]
		body = body[l:]
		switch {
		case skipping:
		case o.discard:
			o.partial = append(o.partial, seg[:min(len(seg), discardKeep-len(o.partial))]...)
			o.inPartial = true
		case len(o.partial)+len(seg) > o.maxPacket:
			return fmt.Errorf("ogg: page %d: packet over the %d-byte limit", p.seq, o.maxPacket)
		default:
			o.partial = append(o.partial, seg...)
			o.inPartial = true
		}
		if l < 255 {
			if !skipping {
				p.packets = append(p.packets, o.partial)
			}
			o.partial, o.inPartial, skipping = nil, false, false
		}
	}
	return nil
}

// oggWriter writes one logical stream. Each packet starts a new page, so
// a packet leaves as soon as it is written; that costs 28 bytes a packet
// and is what a live call wants.
type oggWriter struct {
	w      io.Writer
	serial uint32
	seq    uint32
	bos    bool // the next page is the first
}

// writePacket writes a packet on as many pages as it needs; granule goes
// on the page where it ends, the others say oggNoGranule.
func (o *oggWriter) writePacket(packet []byte, granule int64, eos bool) error {
	continued := false
	for {
		n := min(len(packet), oggMaxPageBody-1) // a page ending a packet needs a segment under 255
		last := n == len(packet)
		if !last {
			n = oggMaxPageBody
		}
		var flags byte
		if continued {
			flags |= oggContinued
		}
		if o.bos {
			flags |= oggBOS
			o.bos = false
		}
		g := int64(oggNoGranule)
		if last {
			g = granule
			if eos {
				flags |= oggEOS
			}
		}
		if err := o.writePage(flags, g, packet[:n], last); err != nil {
			return err
		}
		if last {
			return nil
		}
		packet, continued = packet[n:], true
	}
}

func (o *oggWriter) writePage(flags byte, granule int64, body []byte, ends bool) error {
	nseg := len(body) / 255
	if ends {
		nseg++
	}
	page := make([]byte, oggHeaderSize+nseg, oggHeaderSize+nseg+len(body))
	copy(page, "OggS")
	page[5] = flags
	binary.LittleEndian.PutUint64(page[6:], uint64(granule))
	binary.LittleEndian.PutUint32(page[14:], o.serial)
	binary.LittleEndian.PutUint32(page[18:], o.seq)
	page[26] = byte(nseg)
	for i := range nseg {
		page[oggHeaderSize+i] = 255
	}
	if ends {
		page[oggHeaderSize+nseg-1] = byte(len(body) % 255)
	}
	page = append(page, body...)
	binary.LittleEndian.PutUint32(page[22:], oggCRC(0, page))
	if _, err := o.w.Write(page); err != nil {
		return fmt.Errorf("ogg: page %d: writing: %w", o.seq, err)
	}
	o.seq++
	return nil
}
