package host

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
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
	// receives durable, in the background, one sync at a time: a crash of
	// it costs the transfer at most twice this (16 MiB), the one syncing
	// and the one after it.
	partialSync = 8 << 20
	// copyBuffer is the buffer a blob is read through.
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
// new key into a blob, whose hash it computes on the way, and onStream,
// if not nil, is told of each sealed chunk written, once it is in the
// blob's file (bodyPush), and of the end.
func (h *Host) sealBody(r io.Reader, limit int64, onStream func(*store.BlobFile) *bodyPush) (sb *sealedBody, err error) {
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
	out := io.MultiWriter(f, sum)
	if onStream != nil {
		if push := onStream(f); push != nil {
			defer func() { push.end(err == nil) }()
			out = io.MultiWriter(f, sum, push)
		}
	}
	w, err := blob.NewWriter(out, key)
	if err == nil {
		_, err = w.Write(first)
	}
	if err == nil {
		_, err = w.ReadFrom(io.LimitReader(r, limit-int64(len(first))+1))
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
		data, from, asked, err := bodyAsked(s)
		if err != nil || !asked {
			return data, err // the caller decodes it again
		}
		chunks := blob.Chunks(o.Size)
		switch {
		case int64(from) == chunks:
			return nil, nil // a push sent it all
		case int64(from) > chunks:
			return nil, fmt.Errorf("the peer asks for chunk %d of %d", from, chunks)
		}
		f, err := h.store.OpenBlob(o.Seq)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if _, err := f.Seek(int64(from)*blob.SealedChunkSize, io.SeekStart); err != nil {
			return nil, err
		}
		h.log.Debug("sending a body", "seq", o.Seq, "from_chunk", from, "chunks", chunks)
		left := (chunks - int64(from)) * blob.SealedChunkSize
		return nil, sendFrames(s, func(buf []byte) (int, error) {
			n := min(left, int64(len(buf)))
			if _, err := io.ReadFull(f, buf[:n]); err != nil && n > 0 {
				return 0, fmt.Errorf("reading the body: %w", err)
			}
			left -= n
			return int(n), nil
		})
	}
}

// sendFrames writes on s the frames of sealed chunks that fill puts in a
// buffer (0 bytes: no more), filling the next one while s sends the last:
// quic-go's Write returns only once a frame is all but sent, so a writer
// that read the next frame between its writes would leave the connection
// idle meanwhile, once a frame.
func sendFrames(s *transport.Stream, fill func([]byte) (int, error)) error {
	frames := make(chan []byte)
	stop := make(chan struct{})
	defer close(stop)
	var fillErr error
	go func() {
		defer close(frames)
		// frames is unbuffered: once it took one buffer, the writer is
		// done with the other.
		bufs := [2][]byte{make([]byte, frameSize), make([]byte, frameSize)}
		for i := 0; ; i ^= 1 {
			n, err := fill(bufs[i])
			if err != nil || n == 0 {
				fillErr = err
				return
			}
			select {
			case frames <- bufs[i][:n]:
			case <-stop:
				return
			}
		}
	}()
	for frame := range frames {
		if err := s.WriteFrame(frame); err != nil {
			return err
		}
	}
	return fillErr
}

// bodyAsked reads the first answer to a streamed request (op 5 or 6): if
// it is status 11, the chunk the peer's host wants the body from (asked);
// else the answer itself, the peer's last.
func bodyAsked(s *transport.Stream) (data []byte, from uint64, asked bool, err error) {
	data, err = s.ReadFrame()
	if errors.Is(err, io.EOF) {
		return nil, 0, false, fmt.Errorf("answer: %w", wire.ErrTruncated)
	}
	if err != nil {
		return nil, 0, false, err
	}
	resp, err := wire.DecodeHostResponse(data)
	if err != nil || resp.Status != wire.StatusSendBody {
		return data, 0, false, nil
	}
	return data, resp.From, true, nil
}

// frameSize is the size of a full frame of sealed chunks.
const frameSize = frameChunks * blob.SealedChunkSize

// frameBuffers hold a frame of sealed chunks, received.
var frameBuffers = sync.Pool{New: func() any {
	b := make([]byte, frameSize)
	return &b
}}

// incoming tracks the streamed bodies being received, so that two
// attempts to send one body don't write its partial file at once.
type incoming struct {
	mu     sync.Mutex
	active map[[32]byte]*transfer
}

// transfer is one attempt at receiving a body.
type transfer struct {
	s    *transport.Stream
	done chan struct{} // closed once it has kept what it received
}

// takeOverWait bounds how long a new attempt at a body waits for the one
// it cuts to keep what it received: a sync of the partial file.
const takeOverWait = 10 * time.Second

// begin makes s the attempt at receiving body k, and returns the func
// that ends it; false if it can't be now. k names the sending host's key
// too, so an attempt already running for k is that host's own: most
// likely one stalled on a connection that died with that host (a kill
// or a restart), which QUIC would notice only at its idle timeout, a
// minute on. begin cuts it and waits for it to keep what it received, so
// that s resumes from there at once.
func (in *incoming) begin(k [32]byte, s *transport.Stream) (end func(), ok bool) {
	deadline := time.NewTimer(takeOverWait)
	defer deadline.Stop()
	for {
		in.mu.Lock()
		old := in.active[k]
		if old == nil {
			if in.active == nil {
				in.active = make(map[[32]byte]*transfer)
			}
			t := &transfer{s: s, done: make(chan struct{})}
			in.active[k] = t
			in.mu.Unlock()
			return func() {
				in.mu.Lock()
				delete(in.active, k)
				in.mu.Unlock()
				close(t.done)
			}, true
		}
		in.mu.Unlock()
		old.s.Reset(transport.CodeCanceled)
		select {
		case <-old.done:
		case <-deadline.C:
			return nil, false
		}
	}
}

// partialKey names the partial body of message id from peer: what a push
// (OpPushBody) and the delivery after it (OpDeliverStream) share.
func partialKey(peer identity.PublicKey, id []byte) [32]byte {
	return sha256.Sum256(append(peer.Bytes(), id...))
}

// openPartial opens the partial body named key, with the hash of the
// chunks it holds, or a new one if its hash's state is lost.
func (h *Host) openPartial(key [32]byte) (*store.Partial, hash.Hash, error) {
	p, err := h.store.OpenPartial(key[:], blob.SealedChunkSize)
	if err != nil {
		return nil, nil, err
	}
	sum := blob.NewHash()
	if st := p.State(); st != nil {
		if err := sum.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
			p.Drop()
			return h.openPartial(key)
		}
	}
	return p, sum, nil
}

// readChunks reads frames of whole sealed chunks from s into p, hashing
// them into sum, until p holds limit chunks (and, with exact, nothing
// follows them) or s ends; with keep it syncs p every partialSync bytes.
// An error means the transfer was cut (s is reset when the peer broke the
// protocol), except a quota error.
func (h *Host) readChunks(s *transport.Stream, p *store.Partial, sum hash.Hash, limit int64, exact, keep bool) error {
	synced := int64(0)
	// A sync runs beside the reading, so the disk's time is not the
	// transfer's; the next waits for it, so that what is not yet durable
	// stays bounded however slow the disk.
	var syncing sync.WaitGroup
	defer syncing.Wait()
	buf := frameBuffers.Get().(*[]byte)
	defer frameBuffers.Put(buf)
	for {
		data, err := s.ReadFrameInto(*buf)
		switch {
		case errors.Is(err, io.EOF) && (!exact || p.Chunks() == limit):
			return nil
		case errors.Is(err, io.EOF):
			s.Reset(transport.CodeMalformed)
			return fmt.Errorf("%w: the body ended at chunk %d of %d", wire.ErrTruncated, p.Chunks(), limit)
		case err != nil:
			return err
		case len(data)%blob.SealedChunkSize != 0:
			s.Reset(transport.CodeMalformed)
			return fmt.Errorf("%w: a frame of %d bytes is not whole chunks", wire.ErrMalformed, len(data))
		case p.Chunks()+int64(len(data)/blob.SealedChunkSize) > limit:
			s.Reset(transport.CodeTooLarge)
			return fmt.Errorf("%w: more than the body's %d chunks", wire.ErrTooLarge, limit)
		}
		sum.Write(data)
		if err := p.Append(data); err != nil {
			return err
		}
		if synced += int64(len(data)); synced >= partialSync && keep {
			synced = 0
			syncing.Wait()
			chunks := p.Chunks()
			st, err := sum.(encoding.BinaryMarshaler).MarshalBinary()
			if err != nil {
				return err
			}
			syncing.Go(func() {
				if err := p.SyncTo(chunks, st); err != nil {
					h.log.Error("receiving a body", "err", err)
				}
			})
		}
	}
}

// receiveBody asks peer's host for the body of m on s and keeps its
// sealed chunks, from where an earlier attempt (or a push) stopped; it
// returns the whole body's blob, or the status to answer (0: the stream
// was cut). A stranger's body is not kept for a later attempt: what it
// may hold is bounded only while it sends.
func (h *Host) receiveBody(peer identity.PublicKey, m *wire.Message, s *transport.Stream) (*store.BlobFile, wire.HostStatus, string) {
	key := partialKey(peer, m.ID)
	end, ok := h.bodies.begin(key, s)
	if !ok {
		return nil, wire.StatusBusy, "this body is being received already"
	}
	defer end()
	p, sum, err := h.openPartial(key)
	if err != nil {
		h.log.Error("receiving a body", "err", err)
		return nil, wire.StatusInternal, "the host could not store the message"
	}
	keep := !h.isStranger(peer)
	chunks := blob.Chunks(m.Stream.Size)
	if p.Chunks() > chunks {
		p.Drop() // more than this body: a push of something else
		if p, sum, err = h.openPartial(key); err != nil {
			return nil, wire.StatusInternal, "the host could not store the message"
		}
	}
	from := p.Chunks()
	h.log.Debug("receiving a body", "from_chunk", from, "chunks", chunks)
	if err := s.WriteFrame((&wire.HostResponse{Status: wire.StatusSendBody, From: uint64(from)}).Encode()); err != nil {
		h.keepPartial(p, sum, keep)
		return nil, 0, ""
	}
	switch err := h.readChunks(s, p, sum, chunks, true, keep); {
	case errors.Is(err, store.ErrQuota):
		p.Drop()
		return nil, wire.StatusQuota, "the host's disk quota is full"
	case errors.Is(err, wire.ErrTooLarge):
		p.Drop()
		return nil, 0, ""
	case err != nil:
		h.log.Debug("a body's transfer was cut", "chunks", p.Chunks(), "of", chunks, "err", err)
		h.keepPartial(p, sum, keep)
		return nil, 0, ""
	}
	if !bytes.Equal(sum.Sum(nil), m.Stream.Hash) {
		p.Drop()
		if from > 0 {
			// What an earlier attempt or a push left may be what differs:
			// the next attempt sends the whole body.
			h.log.Info("delivery postponed: the body kept from an earlier attempt does not match its signed hash")
			return nil, wire.StatusBusy, "the body does not match the hash its message signs: send it again whole"
		}
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

// receivePush keeps the sealed chunks of a body that a contact's host
// pushes ahead of its message (OpPushBody), for the delivery that follows
// (receiveBody). A stranger's host may not: its chunks would not be kept.
func (h *Host) receivePush(peer identity.PublicKey, req *wire.HostRequest, s *transport.Stream) (wire.HostStatus, string) {
	if h.isStranger(peer) {
		return wire.StatusBusy, "only a contact's host may send a body ahead of its message"
	}
	key := partialKey(peer, req.ID)
	end, ok := h.bodies.begin(key, s)
	if !ok {
		return wire.StatusBusy, "this body is being received already"
	}
	defer end()
	p, sum, err := h.openPartial(key)
	if err != nil {
		h.log.Error("receiving a body", "err", err)
		return wire.StatusInternal, "the host could not store the body"
	}
	limit := blob.Chunks(h.cfg.MaxMessage)
	h.log.Debug("receiving a body ahead of its message", "from_chunk", p.Chunks())
	if err := s.WriteFrame((&wire.HostResponse{Status: wire.StatusSendBody, From: uint64(p.Chunks())}).Encode()); err != nil {
		h.keepPartial(p, sum, true)
		return 0, ""
	}
	switch err := h.readChunks(s, p, sum, limit, false, true); {
	case errors.Is(err, store.ErrQuota):
		p.Drop()
		return wire.StatusQuota, "the host's disk quota is full"
	case errors.Is(err, wire.ErrTooLarge):
		p.Drop()
		return 0, ""
	case err != nil:
		h.keepPartial(p, sum, true)
		return 0, ""
	}
	h.keepPartial(p, sum, true)
	return wire.StatusStored, ""
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

// bodyPush sends a body's sealed chunks to the recipient's host while the
// device is still handing the body over (OpPushBody, PROTOCOL.md 23.5), so
// that the transfer runs beside the upload; the delivery that follows
// finds the chunks there and sends the rest. It is a help, never needed:
// a push that fails leaves the delivery to send what is missing.
type bodyPush struct {
	mu      sync.Mutex
	more    *sync.Cond
	written int64 // sealed bytes in the blob's file
	want    int64 // what next waits for
	over    bool  // the sealing ended
	ok      bool  // and the body is whole
	done    chan struct{}
}

// Write counts sealed bytes written to the blob's file (bodyPush is the
// last writer sealBody writes through, after the file), and wakes next
// once they make the frame it waits for, not at every chunk.
func (p *bodyPush) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.written += int64(len(b))
	wake := p.written >= p.want
	p.mu.Unlock()
	if wake {
		p.more.Broadcast()
	}
	return len(b), nil
}

// end says the sealing ended, the body whole if ok.
func (p *bodyPush) end(ok bool) {
	p.mu.Lock()
	p.over, p.ok = true, ok
	p.mu.Unlock()
	p.more.Broadcast()
}

// next waits until the file holds a full frame past off, or the sealing
// ended, and returns how many sealed bytes it holds, whether the sealing
// ended, and with what.
func (p *bodyPush) next(off int64) (written int64, over, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want = off + frameSize
	for p.written < p.want && !p.over {
		p.more.Wait()
	}
	return p.written, p.over, p.ok
}

// startPush starts pushing the body sealed into f, of the message id, to
// key's host over rt, and returns its bodyPush. The deliverer waits for it
// before it delivers the message (pushed).
func (h *Host) startPush(key identity.PublicKey, rt route, id []byte, f *store.BlobFile) *bodyPush {
	src, err := f.Reader()
	if err != nil {
		return nil
	}
	p := &bodyPush{done: make(chan struct{})}
	p.more = sync.NewCond(&p.mu)
	h.pushMu.Lock()
	h.pushes[string(id)] = p.done
	h.pushMu.Unlock()
	h.bg.Go(func() {
		// As long as a delivery of the largest body may take.
		ctx, cancel := context.WithTimeout(h.ctx, requestTimeout(blob.SealedSize(h.cfg.MaxMessage)))
		defer cancel()
		stop := context.AfterFunc(ctx, func() { p.end(false) }) // wakes send
		defer func() {
			stop()
			h.pushMu.Lock()
			delete(h.pushes, string(id))
			h.pushMu.Unlock()
			close(p.done)
			src.Close()
		}()
		req := (&wire.HostRequest{Op: wire.OpPushBody, ID: id}).Encode()
		_, err := h.exchange(ctx, key, rt, req, func(s *transport.Stream) ([]byte, error) { return p.send(s, src) })
		if err != nil {
			p.end(false) // the sealing need not wake it again
			h.log.Debug("a body was not sent ahead of its message", "err", err)
		}
	})
	return p
}

// errPushEnded ends a push whose body was not sealed whole.
var errPushEnded = errors.New("the body was not sealed whole")

// send writes the sealed chunks in src on s as they are written, from
// where the peer's host asks, until the sealing ends.
func (p *bodyPush) send(s *transport.Stream, src *os.File) ([]byte, error) {
	data, from, asked, err := bodyAsked(s)
	if err != nil || !asked {
		return data, err
	}
	off := int64(from) * blob.SealedChunkSize
	return nil, sendFrames(s, func(buf []byte) (int, error) {
		written, over, ok := p.next(off)
		if over && !ok {
			return 0, errPushEnded
		}
		n := min(written-off, int64(len(buf)))
		n -= n % blob.SealedChunkSize
		if n <= 0 {
			return 0, nil // over, and all sent
		}
		if _, err := src.ReadAt(buf[:n], off); err != nil {
			return 0, err
		}
		off += n
		return int(n), nil
	})
}

// pushed waits, within ctx, for a push of the body of message id to end,
// if one is under way.
func (h *Host) pushed(ctx context.Context, id []byte) {
	h.pushMu.Lock()
	done := h.pushes[string(id)]
	h.pushMu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}
