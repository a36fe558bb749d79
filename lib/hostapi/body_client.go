package hostapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"
)

// SubmitStream hands the host a message whose body is read from body, as
// Submit does, but sends the body after the request in BodyParts (it
// sets s.Stream; s.Body must be empty), holding one part at a time: for a body over
// StreamThreshold. progress, if not nil, is called with the bytes sent so
// far after each part.
//
// An error reading body ends the connection before the body does, so the
// host stores nothing; it is returned wrapped in a *BodyError. A host that
// refuses the message while the body is on its way (ErrTooLarge, say)
// closes the connection: its *Error is returned, and the Client can make
// no more requests.
func (c *Client) SubmitStream(ctx context.Context, s *Submit, body io.Reader, progress func(sent int64)) (*SubmitResult, error) {
	s.Stream = true
	if err := c.send(ctx, &Request{Op: OpSubmit, Submit: s}); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, c.interrupt)
	err := c.writeBody(body, progress)
	if !stop() {
		return nil, c.fail(ctx.Err())
	}
	var bodyErr *BodyError
	switch {
	case errors.As(err, &bodyErr):
		return nil, c.fail(err)
	case err != nil:
		// The host may have refused the message and closed the
		// connection: its answer says why.
		c.conn.SetReadDeadline(time.Now().Add(time.Second))
		var hostErr *Error
		if _, rerr := ReadResponse(c.conn, MaxFrame); errors.As(rerr, &hostErr) {
			return nil, c.fail(hostErr)
		}
		return nil, c.fail(fmt.Errorf("sending the body to the host: %w", err))
	}
	return c.submitted(ctx)
}

// BodyError is a failure reading the body SubmitStream was to send.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "reading the body: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// writeBody sends what body reads as BodyParts, then the empty one.
func (c *Client) writeBody(body io.Reader, progress func(int64)) error {
	buf := make([]byte, MaxBodyPart)
	var sent int64
	for {
		n, err := io.ReadFull(body, buf)
		if n > 0 {
			if werr := WriteBodyPart(c.conn, buf[:n]); werr != nil {
				return werr
			}
			sent += int64(n)
			if progress != nil {
				progress(sent)
			}
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return WriteBodyPart(c.conn, nil)
		case err != nil:
			return &BodyError{err}
		}
	}
}

// Body reads the streamed body of the message seq (an Item with Size):
// it returns a reader of the body and its size. The Client can make its
// next request once the reader returned io.EOF and was closed; closing it
// before closes the connection. A message with no streamed body is an
// *Error with ErrNotFound. ctx bounds the reading of the whole body.
//
// The reader checks that the body has the size the host announced: one
// that ends early or goes on is an error wrapping ErrProtocol.
func (c *Client) Body(ctx context.Context, seq uint64) (io.ReadCloser, int64, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpBody, Body: &BodyRequest{Seq: seq}})
	if err != nil {
		return nil, 0, err
	}
	if resp.BodyInfo == nil {
		return nil, 0, c.fail(fmt.Errorf("%w: a body request was not answered with the body's size", ErrProtocol))
	}
	b := &bodyStream{c: c, ctx: ctx, size: resp.BodyInfo.Size, r: NewBodyReader(c.conn, math.MaxInt64)}
	b.stop = context.AfterFunc(ctx, c.interrupt)
	return b, b.size, nil
}

// bodyStream is the reader Body returns.
type bodyStream struct {
	c      *Client
	ctx    context.Context
	stop   func() bool
	r      *BodyReader
	size   int64
	err    error
	closed bool
}

func (b *bodyStream) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	switch {
	case b.r.N() > b.size:
		err = fmt.Errorf("%w: the body goes on past the %d bytes the host announced", ErrProtocol, b.size)
	case err == io.EOF && b.r.N() != b.size:
		err = fmt.Errorf("%w: the body ended after %d of the %d bytes the host announced", ErrProtocol, b.r.N(), b.size)
	case err == io.EOF:
	case err != nil && b.ctx.Err() != nil:
		err = b.ctx.Err()
	case err != nil:
		err = readError(err)
	}
	if err != nil {
		b.err = err
		if err != io.EOF {
			b.c.fail(err)
		}
	}
	return n, err
}

// Close ends the reading: the Client goes on if the body was read to its
// end, else its connection is closed.
func (b *bodyStream) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if !b.stop() {
		b.c.fail(b.ctx.Err())
		return nil
	}
	if b.err == nil {
		b.c.fail(errors.New("hostapi: a body was left unread"))
		b.err = net.ErrClosed
	}
	return nil
}
