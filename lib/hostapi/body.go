package hostapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"smvs/lib/wire"
)

// Streamed bodies (PROTOCOL.md 23.6). A body over StreamThreshold travels
// between a device and its host as BodyParts after the frame that
// announces it, a Submit with Stream or the BodyInfo answering an OpBody,
// so that neither side holds more than a part of it.

// OpBody reads a message's streamed body: the host answers a BodyInfo,
// then the body as BodyParts, and the connection takes the next request.
const OpBody Op = 13

// StreamThreshold is the size above which a device streams a body, and
// above which a host keeps it streamed.
const StreamThreshold = 1 << 20

// MaxBodyPart bounds the bytes of one BodyPart.
const MaxBodyPart = 1 << 20

// maxPartHead is the size of the largest CBOR head a BodyPart has: a byte
// string of up to MaxBodyPart bytes has a 4-byte length.
const maxPartHead = 5

// BodyRequest asks for the streamed body of the message Seq.
type BodyRequest struct {
	Seq uint64 `cbor:"1,keyasint"`
}

func (b *BodyRequest) validate() error {
	if b.Seq == 0 {
		return fmt.Errorf("%w: body request for seq 0", wire.ErrMalformed)
	}
	return nil
}

// BodyInfo answers an OpBody: the body's size. Its BodyParts follow.
type BodyInfo struct {
	Size int64 `cbor:"1,keyasint"`
}

func (b *BodyInfo) validate() error {
	if b.Size < 0 {
		return fmt.Errorf("%w: negative body size", wire.ErrMalformed)
	}
	return nil
}

// A BodyPart is one frame holding a CBOR byte string of 0 to MaxBodyPart
// bytes; the empty one ends the body. It is encoded and decoded here, not
// through package wire's CBOR codec, so that a part goes from the
// connection to its reader's buffer (and back) without a copy.

// EncodeBodyPart returns the payload of the BodyPart frame carrying p.
func EncodeBodyPart(p []byte) []byte {
	return append(appendPartHead(make([]byte, 0, maxPartHead+len(p)), len(p)), p...)
}

// DecodeBodyPart returns the bytes of the BodyPart frame payload data,
// which must be a deterministically encoded CBOR byte string of at most
// MaxBodyPart bytes and nothing else. The result aliases data.
func DecodeBodyPart(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("body part: %w: empty", wire.ErrMalformed)
	}
	head, n, err := partHead(data)
	if err != nil {
		return nil, err
	}
	switch rest := uint64(len(data) - head); {
	case rest < n:
		return nil, fmt.Errorf("body part of %d bytes: %w", n, wire.ErrTruncated)
	case rest > n:
		return nil, fmt.Errorf("body part of %d bytes: %w", n, wire.ErrTrailingData)
	}
	return data[head:], nil
}

// appendPartHead appends the CBOR head of a byte string of n bytes.
func appendPartHead(dst []byte, n int) []byte {
	switch {
	case n < 24:
		return append(dst, 0x40|byte(n))
	case n <= 0xff:
		return append(dst, 0x58, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0x59), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0x5a), uint32(n))
}

// partHead parses the CBOR head at the start of b: its size, and the
// length of the byte string it announces.
func partHead(b []byte) (int, uint64, error) {
	if b[0]>>5 != 2 || b[0]&0x1f > 26 {
		return 0, 0, fmt.Errorf("body part: %w: not a definite-length byte string (initial byte %#02x)", wire.ErrMalformed, b[0])
	}
	info := b[0] & 0x1f
	if info < 24 {
		return 1, uint64(info), nil
	}
	size := 1 + 1<<(info-24) // 24: 1 byte, 25: 2, 26: 4
	if len(b) < size {
		return 0, 0, fmt.Errorf("body part head: %w", wire.ErrTruncated)
	}
	var n, least uint64
	switch info {
	case 24:
		n, least = uint64(b[1]), 24
	case 25:
		n, least = uint64(binary.BigEndian.Uint16(b[1:])), 1<<8
	default:
		n, least = uint64(binary.BigEndian.Uint32(b[1:])), 1<<16
	}
	switch {
	case n < least:
		return 0, 0, fmt.Errorf("body part: %w: length %d in a longer head than it needs", wire.ErrNonCanonical, n)
	case n > MaxBodyPart:
		return 0, 0, fmt.Errorf("body part: %w: %d bytes, over %d", wire.ErrTooLarge, n, MaxBodyPart)
	}
	return size, n, nil
}

// WriteBodyPart writes p, at most MaxBodyPart bytes, as one BodyPart
// frame; an empty p ends the body.
func WriteBodyPart(w io.Writer, p []byte) error {
	if len(p) > MaxBodyPart {
		return fmt.Errorf("body part: %w: %d bytes", wire.ErrTooLarge, len(p))
	}
	var hdr [wire.FrameHeaderSize + maxPartHead]byte
	head := appendPartHead(hdr[:wire.FrameHeaderSize], len(p))
	binary.BigEndian.PutUint32(head, uint32(len(head)-wire.FrameHeaderSize+len(p)))
	if _, err := w.Write(head); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	_, err := w.Write(p)
	return err
}

// BodyReader reads a body sent as BodyParts, up to the empty part that
// ends it, holding one part at a time. It is not safe for concurrent use.
type BodyReader struct {
	r     io.Reader
	limit int64
	buf   []byte // the frame being read
	part  []byte // what is left of the current part
	n     int64  // bytes of the body so far
	done  bool
	err   error
}

// NewBodyReader returns a reader of the body that r carries in BodyParts.
// A body of more than limit bytes is an error wrapping wire.ErrTooLarge.
func NewBodyReader(r io.Reader, limit int64) *BodyReader {
	return &BodyReader{r: r, limit: limit}
}

// Read reads the body; it returns io.EOF after the empty part. Anything
// but BodyParts up to it, or a connection that ends before it, is an
// error (wire.ErrMalformed, wire.ErrTruncated, …), returned by every
// later call too.
func (b *BodyReader) Read(p []byte) (int, error) {
	for len(b.part) == 0 {
		if b.done {
			return 0, io.EOF
		}
		if b.err != nil {
			return 0, b.err
		}
		b.err = b.next()
	}
	n := copy(p, b.part)
	b.part = b.part[n:]
	return n, nil
}

// next reads the next part.
func (b *BodyReader) next() error {
	if b.buf == nil {
		b.buf = make([]byte, wire.FrameHeaderSize+maxPartHead+MaxBodyPart)
	}
	hdr := b.buf[:wire.FrameHeaderSize]
	if _, err := io.ReadFull(b.r, hdr); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("the body ended after %d bytes, before its last part: %w", b.n, wire.ErrTruncated)
		}
		return err
	}
	size := binary.BigEndian.Uint32(hdr)
	if size == 0 || size > maxPartHead+MaxBodyPart {
		return fmt.Errorf("body part: %w: a frame of %d bytes", wire.ErrMalformed, size)
	}
	frame := b.buf[:size]
	if _, err := io.ReadFull(b.r, frame); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("body part of %d bytes: %w", size, wire.ErrTruncated)
		}
		return err
	}
	part, err := DecodeBodyPart(frame)
	if err != nil {
		return err
	}
	if int64(len(part)) > b.limit-b.n {
		return fmt.Errorf("body: %w: more than %d bytes", wire.ErrTooLarge, b.limit)
	}
	b.n += int64(len(part))
	b.part, b.done = part, len(part) == 0
	return nil
}

// N returns how many bytes of the body have been read from the connection
// so far.
func (b *BodyReader) N() int64 { return b.n }

// Done reports whether the empty part that ends the body was read.
func (b *BodyReader) Done() bool { return b.done }
