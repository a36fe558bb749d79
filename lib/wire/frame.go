package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// FrameHeaderSize is the size of a frame's length prefix.
const FrameHeaderSize = 4

// A frame on a stream is a 4-byte big-endian length followed by that many
// bytes of payload (one CBOR item). Empty frames are not allowed.

// AppendFrame appends payload as a frame to dst.
func AppendFrame(dst, payload []byte) []byte {
	if len(payload) == 0 || uint64(len(payload)) > math.MaxUint32 {
		panic(fmt.Sprintf("wire: frame payload of %d bytes", len(payload)))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// WriteFrame writes payload to w as one frame.
func WriteFrame(w io.Writer, payload []byte) error {
	if len(payload) == 0 {
		return fmt.Errorf("frame: %w: empty payload", ErrMalformed)
	}
	if uint64(len(payload)) > math.MaxUint32 {
		return fmt.Errorf("frame: %w: %d bytes", ErrTooLarge, len(payload))
	}
	var hdr [FrameHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// ReadFrame reads one frame from r and returns its payload. It checks the
// length against limit before allocating anything. It returns io.EOF if r
// ends cleanly before a frame starts, and an error wrapping ErrTruncated if r
// ends inside one.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("frame header: %w", ErrTruncated)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, fmt.Errorf("frame: %w: empty payload", ErrMalformed)
	}
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("frame: %w: %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("frame of %d bytes: %w", n, ErrTruncated)
		}
		return nil, err
	}
	return payload, nil
}
