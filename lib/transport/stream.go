package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"smvs/lib/wire"
)

// coalesceLimit is the largest payload WriteFrame copies behind its header
// so that both go out in one write; larger ones are written in two.
const coalesceLimit = 64 << 10

// Stream is one bidirectional QUIC stream that carries frames. One goroutine
// may read while another writes; no more. When ReadFrame or WriteFrame
// fails, the stream has been reset and is of no further use, except after
// io.EOF from ReadFrame (the peer is done sending; this side may still
// write) and a payload WriteFrame refused to send.
type Stream struct {
	qs   *quic.Stream
	conn *Conn
	done chan struct{} // closed when this side closes or resets the stream

	// Read deadlines, in a Listener's streams only; zero when unbounded.
	// They are used by the one reading goroutine.
	firstBy   time.Time // the first bytes must arrive by then; zero once they have
	requestBy time.Time // the request (see RequestTimeout) must be in by then
	frameLeft int64     // NetConn: bytes of the current frame not yet read

	mu          sync.Mutex
	held        []*budget // the budgets the last frame read holds bytes of
	heldBytes   int64
	writeClosed bool
	over        bool // done is closed
	reset       bool
}

func newStream(qs *quic.Stream, c *Conn) *Stream {
	return &Stream{qs: qs, conn: c, done: make(chan struct{})}
}

// arm sets the deadlines of a stream a Listener accepted at now: the first
// bytes within FirstFrameTimeout, the request within RequestTimeout.
func (s *Stream) arm(now time.Time) {
	cfg := s.conn.cfg
	if cfg.FirstFrameTimeout > 0 {
		s.firstBy = now.Add(cfg.FirstFrameTimeout)
	}
	if cfg.RequestTimeout > 0 {
		s.requestBy = now.Add(cfg.RequestTimeout)
	}
	s.qs.SetReadDeadline(earliest(s.firstBy, s.requestBy))
}

// earliest returns the earlier of two deadlines, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// frameDeadline is when a frame whose header has just arrived must be in:
// the stream's first frame by its request deadline, a later frame (of a
// long-lived stream) within RequestTimeout of its header. Dialed streams
// have none.
func (s *Stream) frameDeadline() time.Time {
	if s.conn.sh == nil {
		return time.Time{}
	}
	if !s.firstBy.IsZero() {
		s.firstBy = time.Time{}
		return s.requestBy
	}
	if t := s.conn.cfg.RequestTimeout; t > 0 {
		return time.Now().Add(t)
	}
	return time.Time{}
}

// awaitFrame sets the deadline for the next frame's header: the first
// bytes of the stream are bounded, the wait between frames is not.
func (s *Stream) awaitFrame() {
	switch {
	case s.conn.sh == nil:
	case s.firstBy.IsZero():
		s.qs.SetReadDeadline(time.Time{})
	default:
		s.qs.SetReadDeadline(earliest(s.firstBy, s.requestBy))
	}
}

// ReadFrame reads the next frame and returns its payload. It returns io.EOF
// if the peer finished its side of the stream cleanly between frames. A
// frame over MaxFrame is refused from its length prefix, before anything is
// allocated: the stream is reset with CodeTooLarge and the error matches
// wire.ErrTooLarge. The payload is the caller's; the stream counts it
// against the connection's ConnBuffer (and, in a Listener, its ReadBudget)
// until the next ReadFrame or the end of the stream.
func (s *Stream) ReadFrame() ([]byte, error) { return s.ReadFrameInto(nil) }

// ReadFrameInto is ReadFrame with the payload read into buf when it fits
// (else into a new slice), so that a reader of many large frames reuses
// one buffer instead of leaving the collector a frame of garbage each.
func (s *Stream) ReadFrameInto(buf []byte) ([]byte, error) {
	s.releaseHeld()
	s.awaitFrame()
	var hdr [wire.FrameHeaderSize]byte
	if n, err := s.qs.Peek(hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, io.EOF
			}
			return nil, s.refuse(CodeMalformed, fmt.Errorf("frame header: %w", wire.ErrTruncated))
		}
		return nil, s.fail(err)
	}
	size, limit := int64(binary.BigEndian.Uint32(hdr[:])), s.conn.cfg.MaxFrame
	if size > int64(limit) {
		return nil, s.refuse(CodeTooLarge, fmt.Errorf("frame: %w: %d bytes, limit %d", wire.ErrTooLarge, size, limit))
	}
	by := s.frameDeadline()
	if s.conn.sh != nil {
		s.qs.SetReadDeadline(by)
	}
	if err := s.hold(size, by); err != nil {
		return nil, s.holdFailed(err)
	}
	payload, err := s.readPayload(size, buf)
	if err != nil {
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTruncated) {
			return nil, s.refuse(CodeMalformed, err)
		}
		return nil, s.fail(err)
	}
	if s.conn.sh != nil {
		s.qs.SetReadDeadline(time.Time{})
	}
	return payload, nil
}

// readPayload reads the frame whose header of size was peeked at, into
// buf if it fits.
func (s *Stream) readPayload(size int64, buf []byte) ([]byte, error) {
	var hdr [wire.FrameHeaderSize]byte
	if _, err := io.ReadFull(s.qs, hdr[:]); err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, fmt.Errorf("frame: %w: empty payload", wire.ErrMalformed)
	}
	if int64(cap(buf)) < size {
		buf = make([]byte, size)
	}
	payload := buf[:size]
	if _, err := io.ReadFull(s.qs, payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("frame of %d bytes: %w", size, wire.ErrTruncated)
		}
		return nil, err
	}
	return payload, nil
}

// budgets returns the budgets a frame of this stream draws on, in the
// order they are taken: the connection's, then in a Listener the
// strangers' share if the peer is not known, and the listener's.
func (s *Stream) budgets() []*budget {
	c := s.conn
	switch {
	case c.sh == nil:
		return []*budget{c.budget}
	case c.known:
		return []*budget{c.budget, c.sh.all}
	}
	return []*budget{c.budget, c.sh.strangers, c.sh.all}
}

// errBusy means a stranger's frame found the budgets spent.
var errBusy = errors.New("the listener's read budget is spent")

// hold waits until every budget of the stream has n bytes for the next
// frame, until by (zero: no bound), and takes them. A stranger's stream
// does not wait but fails with errBusy: its unread bytes would sit in the
// connection's flow-control window and stall the frame that has the
// budget.
func (s *Stream) hold(n int64, by time.Time) error {
	budgets := s.budgets()
	wait := s.conn.sh == nil || s.conn.known
	for i, b := range budgets {
		if b.tryAcquire(n) {
			continue
		}
		err := errBusy
		if wait {
			err = s.waitBudget(b, n, by)
		}
		if err != nil {
			for _, taken := range budgets[:i] {
				taken.release(n)
			}
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		for _, b := range budgets {
			b.release(n)
		}
		return fmt.Errorf("%w: stream was closed", ErrClosed)
	}
	s.held, s.heldBytes = budgets, n
	return nil
}

// waitBudget waits for n bytes of b until the stream or its connection
// ends or by passes.
func (s *Stream) waitBudget(b *budget, n int64, by time.Time) error {
	ctx, cancel := context.WithCancel(s.conn.ctx)
	defer cancel()
	if !by.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, by)
		defer cancel()
	}
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := b.acquire(ctx, n); err != nil {
		return fmt.Errorf("waiting for %d bytes of buffer: %w", n, err)
	}
	return nil
}

// holdFailed resets the stream after hold failed with err.
func (s *Stream) holdFailed(err error) error {
	if errors.Is(err, errBusy) {
		return s.refuse(CodeBusy, err)
	}
	return s.fail(err)
}

// releaseHeld gives back what the last frame held.
func (s *Stream) releaseHeld() {
	s.mu.Lock()
	budgets, n := s.held, s.heldBytes
	s.held, s.heldBytes = nil, 0
	s.mu.Unlock()
	for _, b := range budgets {
		b.release(n)
	}
}

// ExpectEnd reads the end of the peer's side of a stream that must carry
// nothing more, by the request's deadline in a Listener. Anything more
// resets the stream with CodeMalformed.
func (s *Stream) ExpectEnd() error {
	if s.conn.sh != nil {
		s.qs.SetReadDeadline(s.requestBy)
	}
	var b [1]byte
	n, err := s.qs.Read(b[:])
	if n > 0 {
		return s.refuse(CodeMalformed, fmt.Errorf("%w: data after the frame", wire.ErrMalformed))
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err == nil { // a zero-length read with nothing to report; not expected of quic-go
		err = io.ErrNoProgress
	}
	return s.fail(err)
}

// WriteFrame writes payload as one frame. A payload over MaxFrame is not
// sent, the stream stays usable, and the error matches wire.ErrTooLarge.
// Writing takes at most FrameTimeout.
func (s *Stream) WriteFrame(payload []byte) error {
	if len(payload) == 0 {
		return fmt.Errorf("frame: %w: empty payload", wire.ErrMalformed)
	}
	if limit := s.conn.cfg.MaxFrame; len(payload) > limit {
		return fmt.Errorf("frame: %w: %d bytes, limit %d", wire.ErrTooLarge, len(payload), limit)
	}
	if t := s.conn.cfg.FrameTimeout; t > 0 {
		s.qs.SetWriteDeadline(time.Now().Add(t)) // only writes heed it, and each sets its own
	}
	var err error
	if len(payload) <= coalesceLimit {
		_, err = s.qs.Write(wire.AppendFrame(make([]byte, 0, wire.FrameHeaderSize+len(payload)), payload))
	} else {
		err = wire.WriteFrame(s.qs, payload)
	}
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// CloseWrite finishes this side of the stream: the peer reads io.EOF after
// the frames written so far, which are still delivered reliably. It must not
// run concurrently with WriteFrame.
func (s *Stream) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reset {
		return fmt.Errorf("%w: stream was reset", ErrClosed)
	}
	if s.writeClosed {
		return nil
	}
	s.writeClosed = true
	return convertError(s.qs.Close())
}

// Close ends the stream gracefully: it finishes this side (see CloseWrite)
// if it isn't yet, asks the peer to stop sending if it hasn't finished, and
// gives back the buffer the stream held. It must not run concurrently with
// WriteFrame.
func (s *Stream) Close() error {
	err := s.CloseWrite()
	s.qs.CancelRead(quic.StreamErrorCode(CodeNoError)) // does nothing once io.EOF was read
	s.end()
	if errors.Is(err, ErrClosed) {
		return nil // it was reset: over already
	}
	return err
}

// Reset aborts the stream in both directions with code: data not yet
// delivered is dropped, and the peer's reads and writes fail with a
// *ResetError carrying code. It may be called at any time, from any
// goroutine.
func (s *Stream) Reset(code ErrorCode) {
	s.mu.Lock()
	s.reset = true
	s.mu.Unlock()
	s.qs.CancelRead(quic.StreamErrorCode(code))
	s.qs.CancelWrite(quic.StreamErrorCode(code))
	s.end()
}

// end marks the stream over and gives back its buffer.
func (s *Stream) end() {
	s.mu.Lock()
	if !s.over {
		s.over = true
		close(s.done)
	}
	s.mu.Unlock()
	s.releaseHeld()
}

// refuse resets the stream with code because of what the peer sent, and
// returns err.
func (s *Stream) refuse(code ErrorCode, err error) error {
	s.Reset(code)
	return err
}

// fail resets the stream after err from quic-go and returns err converted.
func (s *Stream) fail(err error) error {
	err = convertError(err)
	code := CodeCanceled
	if errors.Is(err, ErrTimeout) {
		code = CodeTimeout
	}
	s.Reset(code)
	return err
}

// Conn returns the connection the stream belongs to.
func (s *Stream) Conn() *Conn { return s.conn }

// Context ends when the stream does: closed, reset by either side, or its
// connection gone.
func (s *Stream) Context() context.Context { return s.qs.Context() }

// NetConn returns the stream as a plain byte stream, for a protocol that
// does its own framing in lib/wire frames (the device protocol of package
// hostapi). Errors are converted as this package's are. Close ends the
// stream as Stream.Close does. Use either NetConn or the frame methods,
// not both.
//
// In a Listener, reads still follow the frames: each frame's size is
// taken from the connection's and the listener's budgets (at most
// MaxFrame of it; the reader must refuse larger ones) from its header
// until the next frame begins, and the first bytes and each frame are
// bounded by FirstFrameTimeout and RequestTimeout as ReadFrame's are, but
// nothing bounds the wait between frames.
func (s *Stream) NetConn() net.Conn { return streamConn{s} }

type streamConn struct{ s *Stream }

func (c streamConn) Read(p []byte) (int, error) {
	s := c.s
	if s.conn.sh == nil {
		n, err := s.qs.Read(p)
		return n, readError(err)
	}
	if s.frameLeft == 0 {
		if err := s.beginFrame(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > s.frameLeft {
		p = p[:s.frameLeft]
	}
	n, err := s.qs.Read(p)
	s.frameLeft -= int64(n)
	if s.frameLeft == 0 && n > 0 {
		s.qs.SetReadDeadline(time.Time{}) // the frame is in: the next one may take its time
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, s.fail(err)
	}
	return n, err
}

// beginFrame waits for the next frame's header on a listener's NetConn
// and takes its size from the budgets; the frame before gives its bytes
// back first.
func (s *Stream) beginFrame() error {
	s.releaseHeld()
	s.awaitFrame()
	var hdr [wire.FrameHeaderSize]byte
	n, err := s.qs.Peek(hdr[:])
	switch {
	case errors.Is(err, io.EOF) && n == 0:
		return io.EOF
	case errors.Is(err, io.EOF):
		s.frameLeft = int64(n) // a truncated header: the reader sees it, then the end
		return nil
	case err != nil:
		return s.fail(err)
	}
	size := int64(binary.BigEndian.Uint32(hdr[:]))
	by := s.frameDeadline()
	s.qs.SetReadDeadline(by)
	if err := s.hold(min(size, int64(s.conn.cfg.MaxFrame)), by); err != nil {
		return s.holdFailed(err)
	}
	s.frameLeft = wire.FrameHeaderSize + size
	return nil
}

func readError(err error) error {
	if err != nil && !errors.Is(err, io.EOF) {
		return convertError(err)
	}
	return err
}

func (c streamConn) Write(p []byte) (int, error) {
	n, err := c.s.qs.Write(p)
	return n, convertError(err)
}

func (c streamConn) Close() error                       { return c.s.Close() }
func (c streamConn) LocalAddr() net.Addr                { return c.s.conn.qc.LocalAddr() }
func (c streamConn) RemoteAddr() net.Addr               { return c.s.conn.qc.RemoteAddr() }
func (c streamConn) SetDeadline(t time.Time) error      { return c.s.qs.SetDeadline(t) }
func (c streamConn) SetReadDeadline(t time.Time) error  { return c.s.qs.SetReadDeadline(t) }
func (c streamConn) SetWriteDeadline(t time.Time) error { return c.s.qs.SetWriteDeadline(t) }
