package seal

import (
	"encoding/binary"
	"fmt"

	"smvs/lib/wire"
)

// Padding hides a message's exact size: the sealed plaintext is a 4-byte
// big-endian length, the signed message, then zero bytes up to the bucket
// size.
const (
	minBucket   = 512
	largeBucket = 64 << 10
	lenSize     = 4
)

// bucket returns the padded size for n bytes: 512 at least (so every short
// text message looks alike), then the next power of two up to 64 KiB, then
// the next multiple of 64 KiB.
func bucket(n int) int {
	if n > largeBucket {
		return (n + largeBucket - 1) / largeBucket * largeBucket
	}
	b := minBucket
	for b < n {
		b *= 2
	}
	return b
}

func pad(signed []byte) []byte {
	out := make([]byte, bucket(lenSize+len(signed)))
	binary.BigEndian.PutUint32(out, uint32(len(signed)))
	copy(out[lenSize:], signed)
	return out
}

// unpad checks the padding is exactly what pad writes and returns the signed
// message.
func unpad(p []byte) ([]byte, error) {
	if len(p) < lenSize {
		return nil, fmt.Errorf("padding: %w", wire.ErrTruncated)
	}
	n := uint64(binary.BigEndian.Uint32(p))
	if n > uint64(len(p)-lenSize) {
		return nil, fmt.Errorf("padding: %w: length %d beyond %d bytes", wire.ErrTruncated, n, len(p))
	}
	if len(p) != bucket(lenSize+int(n)) {
		return nil, fmt.Errorf("padding: %w: %d bytes for a %d-byte message", wire.ErrMalformed, len(p), n)
	}
	for _, b := range p[lenSize+n:] {
		if b != 0 {
			return nil, fmt.Errorf("padding: %w: non-zero padding byte", wire.ErrMalformed)
		}
	}
	return p[lenSize : lenSize+n], nil
}
