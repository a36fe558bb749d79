// Package blob encrypts a message body too large for its envelope as a
// stream of chunks, the way age's STREAM does (doc/PROTOCOL.md section 23):
// ChaCha20-Poly1305 over 64 KiB chunks under a key of the message's own,
// each chunk's nonce its index with a flag on the last one. The plaintext is
// padded with zeros to whole chunks, so the sealed size shows the body's
// size only to 64 KiB.
//
// A Reader refuses every chunk that is not the next one of this body under
// this key: a reordered, dropped, duplicated or altered chunk, one from
// another body, a stream cut short or extended. The sealed bytes are what
// travels between hosts and what rests on disk; their Hash is what the
// sender signs.
package blob

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"smvs/lib/wire"
)

const (
	// ChunkSize is the plaintext size of every chunk, the last one padded.
	ChunkSize = 64 << 10
	// SealedChunkSize is the size of a sealed chunk: the chunk and its tag.
	SealedChunkSize = ChunkSize + chacha20poly1305.Overhead
	// KeySize is the size of a body key.
	KeySize = chacha20poly1305.KeySize
	// MaxSize is the largest body a stream may carry.
	MaxSize = wire.MaxStreamSize
)

// ErrTampered means a chunk did not decrypt: it was altered, reordered,
// duplicated or dropped, or belongs to another body.
var ErrTampered = errors.New("body chunk does not decrypt (altered, out of order, or from another message)")

// hashContext separates body hashes from any other SHA-256 use.
const hashContext = "smvs/1 body"

// NewHash returns the hash a sender signs over a sealed body: SHA-256 of
// the context string, a zero byte, then the sealed chunks in order.
func NewHash() hash.Hash {
	h := sha256.New()
	h.Write([]byte(hashContext))
	h.Write([]byte{0})
	return h
}

// Chunks returns how many chunks a body of size bytes is sealed in: its size
// rounded up to whole chunks, and one for an empty body.
func Chunks(size int64) int64 {
	if size <= 0 {
		return 1
	}
	return (size + ChunkSize - 1) / ChunkSize
}

// SealedSize returns the size of a body of size bytes once sealed.
func SealedSize(size int64) int64 { return Chunks(size) * SealedChunkSize }

// nonce is chunk i's nonce: i as an 11-byte big-endian number, then 1 for
// the last chunk and 0 for any other.
func nonce(i uint64, last bool) []byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[3:11], i)
	if last {
		n[11] = 1
	}
	return n[:]
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("blob: key is %d bytes, want %d", len(key), KeySize)
	}
	return chacha20poly1305.New(key)
}

// Writer seals what is written to it into chunks written to w. Close seals
// the last chunk; nothing is complete before it.
type Writer struct {
	w     io.Writer
	aead  cipher.AEAD
	buf   []byte // the chunk being filled, with room for its tag
	n     int    // plaintext bytes in buf
	index uint64
	size  int64
	err   error
}

// NewWriter returns a Writer sealing under key, a fresh random key that
// seals no other body.
func NewWriter(w io.Writer, key []byte) (*Writer, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Writer{w: w, aead: aead, buf: make([]byte, SealedChunkSize)}, nil
}

// Write seals p's bytes as chunks fill. A full chunk is held back until
// more follows, since only then is it known not to be the last.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := len(p)
	for len(p) > 0 {
		if w.n == ChunkSize {
			if err := w.flush(false); err != nil {
				return total - len(p), err
			}
		}
		c := copy(w.buf[w.n:ChunkSize], p)
		p = p[c:]
		if w.add(c); w.err != nil {
			return total - len(p), w.err
		}
	}
	return total, nil
}

// ReadFrom seals what it reads from r up to io.EOF, read straight into
// the chunk being filled, without the copy through a buffer of io.Copy's.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	start := w.size
	for w.err == nil {
		var err error
		if w.n < ChunkSize {
			var n int
			n, err = r.Read(w.buf[w.n:ChunkSize])
			w.add(n)
		} else {
			// A full chunk is sealed once a byte follows it (Write).
			var b [1]byte
			var n int
			n, err = r.Read(b[:])
			w.Write(b[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return w.size - start, err
		}
	}
	return w.size - start, w.err
}

// add counts n bytes put in the chunk being filled; past MaxSize, it sets
// w.err.
func (w *Writer) add(n int) {
	w.n += n
	w.size += int64(n)
	if w.size > MaxSize {
		w.err = fmt.Errorf("blob: %w: a body over %d bytes", wire.ErrTooLarge, int64(MaxSize))
	}
}

// flush seals the chunk in buf, padded with zeros, and writes it.
func (w *Writer) flush(last bool) error {
	clear(w.buf[w.n:ChunkSize])
	sealed := w.aead.Seal(w.buf[:0], nonce(w.index, last), w.buf[:ChunkSize], nil)
	w.index++
	w.n = 0
	if _, err := w.w.Write(sealed); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Close seals and writes the last chunk. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	err := w.flush(true)
	clear(w.buf)
	if err == nil {
		w.err = errors.New("blob: write after Close")
	}
	return err
}

// Size returns how many plaintext bytes were written.
func (w *Writer) Size() int64 { return w.size }

// Reader opens a sealed body of a known plaintext size (the sender signed
// it) and reads its plaintext. Its errors match ErrTampered,
// wire.ErrTruncated (the stream ended early), wire.ErrTrailingData (it goes
// on after the last chunk) or wire.ErrMalformed (non-zero padding).
type Reader struct {
	r      io.Reader
	aead   cipher.AEAD
	buf    []byte
	plain  []byte // what is left of the chunk opened last
	index  uint64
	chunks uint64
	size   int64
	err    error
}

// NewReader returns a Reader of the body of size bytes sealed under key.
func NewReader(r io.Reader, key []byte, size int64) (*Reader, error) {
	if size < 0 || size > MaxSize {
		return nil, fmt.Errorf("blob: %w: body size %d", wire.ErrMalformed, size)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r, aead: aead, buf: make([]byte, SealedChunkSize), chunks: uint64(Chunks(size)), size: size}, nil
}

func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.index == r.chunks {
			r.err = r.checkEnd()
			continue
		}
		r.plain, r.err = r.next()
		if r.err != nil {
			return 0, r.err
		}
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next reads and opens the next chunk and returns its plaintext, without
// the padding of the last one.
func (r *Reader) next() ([]byte, error) {
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("blob: %w: chunk %d of %d missing", wire.ErrTruncated, r.index+1, r.chunks)
		}
		return nil, err
	}
	last := r.index == r.chunks-1
	plain, err := r.aead.Open(r.buf[:0], nonce(r.index, last), r.buf, nil)
	if err != nil {
		return nil, fmt.Errorf("blob: chunk %d of %d: %w", r.index+1, r.chunks, ErrTampered)
	}
	r.index++
	if !last {
		return plain, nil
	}
	keep := r.size - int64(r.chunks-1)*ChunkSize
	for _, b := range plain[keep:] {
		if b != 0 {
			return nil, fmt.Errorf("blob: %w: non-zero padding", wire.ErrMalformed)
		}
	}
	return plain[:keep], nil
}

// checkEnd reports io.EOF if the sealed body ends after its last chunk.
func (r *Reader) checkEnd() error {
	var one [1]byte
	n, err := io.ReadFull(r.r, one[:])
	switch {
	case n > 0:
		return fmt.Errorf("blob: %w: bytes after the last chunk", wire.ErrTrailingData)
	case errors.Is(err, io.EOF):
		return io.EOF
	}
	return err
}
