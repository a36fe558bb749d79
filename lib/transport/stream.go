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
	qs      *quic.Stream
	conn    *Conn
	firstBy time.Time     // the first frame must arrive by then; zero once it has, or if unbounded
	done    chan struct{} // closed when this side closes or resets the stream

	mu          sync.Mutex
	held        int64 // bytes of the connection's budget held by the last frame read
	writeClosed bool
	over        bool // done is closed
	reset       bool
}

func newStream(qs *quic.Stream, c *Conn, firstBy time.Time) *Stream {
	s := &Stream{qs: qs, conn: c, firstBy: firstBy, done: make(chan struct{})}
	if !firstBy.IsZero() {
		qs.SetReadDeadline(firstBy)
	}
	return s
}

// ReadFrame reads the next frame and returns its payload. It returns io.EOF
// if the peer finished its side of the stream cleanly between frames. A
// frame over MaxFrame is refused from its length prefix, before anything is
// allocated: the stream is reset with CodeTooLarge and the error matches
// wire.ErrTooLarge. The payload is the caller's; the stream counts it
// against the connection's ConnBuffer until the next ReadFrame or the end of
// the stream.
func (s *Stream) ReadFrame() ([]byte, error) {
	s.releaseHeld()
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
	if err := s.hold(size); err != nil {
		return nil, s.fail(err)
	}
	payload, err := wire.ReadFrame(s.qs, limit)
	if err != nil {
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTruncated) {
			return nil, s.refuse(CodeMalformed, err)
		}
		return nil, s.fail(err)
	}
	if !s.firstBy.IsZero() {
		s.firstBy = time.Time{}
		s.qs.SetReadDeadline(time.Time{})
	}
	return payload, nil
}

// hold waits until the connection's budget has n bytes for the next frame
// and takes them.
func (s *Stream) hold(n int64) error {
	if !s.conn.budget.tryAcquire(n) {
		if err := s.waitBudget(n); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		s.conn.budget.release(n)
		return fmt.Errorf("%w: stream was closed", ErrClosed)
	}
	s.held = n
	return nil
}

// waitBudget waits for n bytes of the connection's budget until the stream
// or its connection ends or the first frame's deadline passes.
func (s *Stream) waitBudget(n int64) error {
	ctx, cancel := context.WithCancel(s.conn.ctx)
	defer cancel()
	if !s.firstBy.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, s.firstBy)
		defer cancel()
	}
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.conn.budget.acquire(ctx, n); err != nil {
		return fmt.Errorf("waiting for %d bytes of buffer: %w", n, err)
	}
	return nil
}

func (s *Stream) releaseHeld() {
	s.mu.Lock()
	n := s.held
	s.held = 0
	s.mu.Unlock()
	s.conn.budget.release(n)
}

// expectEnd reads the end of the peer's side of a stream that must carry
// nothing more.
func (s *Stream) expectEnd() error {
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
	n := s.held
	s.held = 0
	if !s.over {
		s.over = true
		close(s.done)
	}
	s.mu.Unlock()
	s.conn.budget.release(n)
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

// NetConn returns the stream as a plain byte stream, for a protocol that
// does its own framing (the device protocol of package hostapi). Reads and
// writes go straight to QUIC, outside the frame budget and FrameTimeout;
// errors are converted as this package's are. Close ends the stream as
// Stream.Close does. Use either NetConn or the frame methods, not both.
func (s *Stream) NetConn() net.Conn { return streamConn{s} }

type streamConn struct{ s *Stream }

func (c streamConn) Read(p []byte) (int, error) {
	n, err := c.s.qs.Read(p)
	if n > 0 && !c.s.firstBy.IsZero() {
		// The request has begun: lift the listener's first-frame bound.
		c.s.firstBy = time.Time{}
		c.s.qs.SetReadDeadline(time.Time{})
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = convertError(err)
	}
	return n, err
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
