package host

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"smvs/lib/blob"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// Streamed bodies (PROTOCOL.md 23): a body over streamAbove travels beside
// its envelope as sealed chunks and rests in a blob file at both ends,
// sealed once by the sending host and never again.
const (
	// streamAbove is the largest body sent inline, in its envelope.
	streamAbove = 1 << 20
	// frameChunks is how many sealed chunks go in one frame between hosts.
	frameChunks = 16
	// partialSync is how often, in bytes, a receiving host makes a body it
	// receives durable: what a crash of it costs the transfer at most.
	partialSync = 16 << 20
	// copyBuffer is the buffer a body is read through when it is sealed.
	copyBuffer = 256 << 10
	// partialKeep is how long a body whose transfer was cut is kept for
	// the sender to resume it.
	partialKeep = 24 * time.Hour
)

// errTooLarge is a body over the host's message size limit.
var errTooLarge = errors.New("the body is over the message size limit")

// sealedBody is a body read from a device: inline if it is small, else
// sealed into a blob that is the caller's to store or drop.
type sealedBody struct {
	inline []byte
	stream *wire.BodyStream
	blob   *store.BlobFile
}

// sealBody reads a body of at most limit bytes from r. One of at most
// streamAbove bytes stays inline; a larger one is sealed in chunks under a
// new key into a blob, whose hash it computes on the way.
func (h *Host) sealBody(r io.Reader, limit int64) (*sealedBody, error) {
	first := make([]byte, streamAbove+1)
	n, err := io.ReadFull(r, first)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		if int64(n) > limit {
			return nil, errTooLarge
		}
		return &sealedBody{inline: first[:n]}, nil
	case err != nil:
		return nil, err
	}
	key := make([]byte, blob.KeySize)
	rand.Read(key)
	defer clear(key)
	f, err := h.store.CreateBlob()
	if err != nil {
		return nil, err
	}
	sum := blob.NewHash()
	w, err := blob.NewWriter(io.MultiWriter(f, sum), key)
	if err == nil {
		_, err = w.Write(first)
	}
	if err == nil {
		buf := make([]byte, copyBuffer)
		_, err = io.CopyBuffer(w, io.LimitReader(r, limit-int64(len(first))+1), buf)
	}
	switch {
	case err != nil:
	case w.Size() > limit:
		err = errTooLarge
	default:
		err = w.Close()
	}
	if err == nil {
		err = f.Commit()
	}
	if err != nil {
		f.Drop()
		return nil, err
	}
	return &sealedBody{
		stream: &wire.BodyStream{Key: bytes.Clone(key), Size: w.Size(), Hash: sum.Sum(nil)},
		blob:   f,
	}, nil
}

// openBody opens the streamed body of message seq for a device to read:
// its plaintext, and its size. ErrNotFound if seq has no message, or its
// body is inline.
func (h *Host) openBody(seq uint64) (io.ReadCloser, int64, *hostapi.Error) {
	notFound := &hostapi.Error{Code: hostapi.ErrNotFound, Message: fmt.Sprintf("message %d has no streamed body", seq)}
	m, err := h.store.Get(seq)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, 0, notFound
	case err != nil:
		return nil, 0, h.storeError("read the message", err)
	case m.Size == 0:
		return nil, 0, notFound
	}
	s, err := wire.DecodeSigned(m.Signed)
	var wm *wire.Message
	if err == nil {
		wm, err = wire.DecodeMessage(s.Body)
	}
	if err == nil && wm.Stream == nil {
		err = errors.New("its signed message names no streamed body")
	}
	if err != nil {
		h.log.Error("reading a streamed body", "seq", seq, "err", err)
		return nil, 0, &hostapi.Error{Code: hostapi.ErrInternal, Message: "the host could not read the message"}
	}
	f, err := h.store.OpenBlob(seq)
	if err != nil {
		h.log.Error("reading a streamed body", "seq", seq, "err", err)
		return nil, 0, &hostapi.Error{Code: hostapi.ErrInternal, Message: "the host could not read the message's body"}
	}
	r, err := blob.NewReader(bufio.NewReaderSize(f, copyBuffer), wm.Stream.Key, wm.Stream.Size)
	if err != nil {
		f.Close()
		return nil, 0, &hostapi.Error{Code: hostapi.ErrInternal, Message: err.Error()}
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, wm.Stream.Size, nil
}

// sendBody is the rest of a streamed delivery of o after its request
// (transport.Conn.Exchange): it reads the peer's answer and, if it asks
// for the body, writes the sealed chunks it does not have yet. It returns
// the peer's answer if that is its last.
func (h *Host) sendBody(o *store.Outgoing) func(*transport.Stream) ([]byte, error) {
	return func(s *transport.Stream) ([]byte, error) {
		data, err := s.ReadFrame()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("answer: %w", wire.ErrTruncated)
		}
		if err != nil {
			return nil, err
		}
		resp, err := wire.DecodeHostResponse(data)
		if err != nil || resp.Status != wire.StatusSendBody {
			return data, nil // the caller decodes it again
		}
		chunks := blob.Chunks(o.Size)
		if int64(resp.From) >= chunks {
			return nil, fmt.Errorf("the peer asks for chunk %d of %d", resp.From, chunks)
		}
		f, err := h.store.OpenBlob(o.Seq)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if _, err := f.Seek(int64(resp.From)*blob.SealedChunkSize, io.SeekStart); err != nil {
			return nil, err
		}
		h.log.Debug("sending a body", "seq", o.Seq, "from_chunk", resp.From, "chunks", chunks)
		buf := frameBuffers.Get().(*[]byte)
		defer frameBuffers.Put(buf)
		for left := chunks - int64(resp.From); left > 0; {
			n := min(left, frameChunks) * blob.SealedChunkSize
			if _, err := io.ReadFull(f, (*buf)[:n]); err != nil {
				return nil, fmt.Errorf("reading the body: %w", err)
			}
			if err := s.WriteFrame((*buf)[:n]); err != nil {
				return nil, err
			}
			left -= n / blob.SealedChunkSize
		}
		return nil, nil
	}
}

// frameBuffers hold a frame of sealed chunks, sent or received.
var frameBuffers = sync.Pool{New: func() any {
	b := make([]byte, frameChunks*blob.SealedChunkSize)
	return &b
}}

// incoming tracks the streamed bodies being received, so that two
// attempts to send one body don't write its partial file at once.
type incoming struct {
	mu     sync.Mutex
	active map[[32]byte]bool
}

func (in *incoming) begin(k [32]byte) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.active == nil {
		in.active = make(map[[32]byte]bool)
	}
	if in.active[k] {
		return false
	}
	in.active[k] = true
	return true
}

func (in *incoming) end(k [32]byte) {
	in.mu.Lock()
	delete(in.active, k)
	in.mu.Unlock()
}

// receiveBody asks peer's host for the body of m on s and keeps its
// sealed chunks, from where an earlier attempt stopped; it returns the
// whole body's blob, or the status to answer. A stranger's body is not
// kept for a later attempt: what it may hold is bounded only while it
// sends.
func (h *Host) receiveBody(peer identity.PublicKey, m *wire.Message, s *transport.Stream) (*store.BlobFile, wire.HostStatus, string) {
	key := sha256.Sum256(bytes.Join([][]byte{peer.Bytes(), m.ID, m.Stream.Hash}, nil))
	if !h.bodies.begin(key) {
		return nil, wire.StatusBusy, "this body is being received already"
	}
	defer h.bodies.end(key)
	p, err := h.store.OpenPartial(key[:], blob.SealedChunkSize)
	if err != nil {
		h.log.Error("receiving a body", "err", err)
		return nil, wire.StatusInternal, "the host could not store the message"
	}
	sum := blob.NewHash()
	if st := p.State(); st != nil {
		if err := sum.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
			p.Drop()
			p, err = h.store.OpenPartial(key[:], blob.SealedChunkSize)
			if err != nil {
				return nil, wire.StatusInternal, "the host could not store the message"
			}
			sum = blob.NewHash()
		}
	}
	keep := !h.isStranger(peer)
	chunks := blob.Chunks(m.Stream.Size)
	if p.Chunks() >= chunks {
		// Whole but not made a blob (a crash just after its last sync), or
		// more than the body: rare enough to take again from the start.
		p.Drop()
		if p, err = h.store.OpenPartial(key[:], blob.SealedChunkSize); err != nil {
			h.log.Error("receiving a body", "err", err)
			return nil, wire.StatusInternal, "the host could not store the message"
		}
		sum = blob.NewHash()
	}
	from := p.Chunks()
	h.log.Debug("receiving a body", "from_chunk", from, "chunks", chunks)
	if err := s.WriteFrame((&wire.HostResponse{Status: wire.StatusSendBody, From: uint64(from)}).Encode()); err != nil {
		h.keepPartial(p, sum, keep)
		return nil, 0, ""
	}
	synced := int64(0)
	for p.Chunks() < chunks {
		data, err := s.ReadFrame()
		switch {
		case errors.Is(err, io.EOF):
			s.Reset(transport.CodeMalformed)
			err = fmt.Errorf("%w: the body ended at chunk %d of %d", wire.ErrTruncated, p.Chunks(), chunks)
		case err == nil && (len(data)%blob.SealedChunkSize != 0 || p.Chunks()+int64(len(data)/blob.SealedChunkSize) > chunks):
			s.Reset(transport.CodeMalformed)
			err = fmt.Errorf("%w: a frame of %d bytes is not the body's next whole chunks", wire.ErrMalformed, len(data))
		}
		if err == nil {
			sum.Write(data)
			err = p.Append(data)
			if errors.Is(err, store.ErrQuota) {
				p.Drop()
				return nil, wire.StatusQuota, "the host's disk quota is full"
			}
		}
		if err != nil {
			h.log.Debug("a body's transfer was cut", "chunks", p.Chunks(), "of", chunks, "err", err)
			h.keepPartial(p, sum, keep)
			return nil, 0, ""
		}
		if synced += int64(len(data)); synced >= partialSync && keep {
			synced = 0
			if err := h.syncPartial(p, sum); err != nil {
				h.log.Error("receiving a body", "err", err)
			}
		}
	}
	if _, err := s.ReadFrame(); !errors.Is(err, io.EOF) {
		// More than the body, or a cut just after it: it goes again whole.
		s.Reset(transport.CodeMalformed)
		p.Drop()
		return nil, 0, ""
	}
	if !bytes.Equal(sum.Sum(nil), m.Stream.Hash) {
		p.Drop()
		h.log.Info("delivery refused: the body does not match its signed hash")
		return nil, wire.StatusInvalid, "the body does not match the hash its message signs"
	}
	b, err := p.Finish()
	if err != nil {
		h.log.Error("receiving a body", "err", err)
		return nil, wire.StatusInternal, "the host could not store the message"
	}
	h.log.Debug("received a body", "chunks", chunks, "resumed_at", from)
	return b, 0, ""
}

// keepPartial keeps what came of a body whose transfer was cut, for the
// next attempt, or drops it.
func (h *Host) keepPartial(p *store.Partial, sum hash.Hash, keep bool) {
	if !keep {
		p.Drop()
		return
	}
	if err := h.syncPartial(p, sum); err != nil {
		h.log.Error("keeping a partial body", "err", err)
	}
	p.Close()
}

func (h *Host) syncPartial(p *store.Partial, sum hash.Hash) error {
	st, err := sum.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	return p.Sync(st)
}
