package hostapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"
	"time"
)

// ErrHostNotRunning means nothing listens on the host's device socket: it
// does not exist, or refuses connections. Dial's errors wrap it.
var ErrHostNotRunning = errors.New("the host is not running")

// ErrProtocol means the host answered with something the request can't
// have as an answer.
var ErrProtocol = errors.New("unexpected answer from the host")

// errListed is the error of a Client whose connection a List took over.
var errListed = errors.New("hostapi: the connection was handed to a List stream")

// Client is a device's connection to its host. Requests go one after
// another on the one connection; a Client is not safe for concurrent use.
//
// Once a request fails for any reason but an *Error from the host (the
// connection broke, the context ended, the answer was malformed), the
// connection is in an unknown state: the Client closes it, and every later
// request returns that first error.
type Client struct {
	conn net.Conn
	err  error
}

// Dial connects to the host's device socket at socketPath. When nothing
// listens there, the error wraps ErrHostNotRunning.
func Dial(ctx context.Context, socketPath string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: nothing listens on %s", ErrHostNotRunning, socketPath)
		}
		return nil, fmt.Errorf("connecting to the host at %s: %w", socketPath, err)
	}
	return &Client{conn: conn}, nil
}

// Close closes the connection, unless a List took it over.
func (c *Client) Close() error {
	if c.err != nil {
		return nil // closed already, or the Stream's now
	}
	c.err = net.ErrClosed
	return c.conn.Close()
}

// Submit hands a message to the host. The host answers once the message is
// durably stored, so a nil error means it is: it will be delivered, or
// marked failed, even if the host restarts. A refusal is an *Error (its
// Code says why: ErrUnknownRecipient, ErrKeyChanged, ErrTooLarge, …).
func (c *Client) Submit(ctx context.Context, s *Submit) (*SubmitResult, error) {
	if err := c.send(ctx, &Request{Op: OpSubmit, Submit: s}); err != nil {
		return nil, err
	}
	return c.submitted(ctx)
}

// submitted reads the answer to a submit.
func (c *Client) submitted(ctx context.Context) (*SubmitResult, error) {
	resp, err := c.receiveWith(ctx, readSubmitResponse)
	if err != nil {
		return nil, err
	}
	if resp.Sent == nil {
		return nil, c.fail(fmt.Errorf("%w: a submit was not answered with its result", ErrProtocol))
	}
	return resp.Sent, nil
}

// Status returns the message with the given id, without its body, as the
// host has it now; with wait > 0, the host answers as soon as its delivery
// status is final or wait has passed, whichever comes first. An unknown id
// is an *Error with Code ErrNotFound. ctx should allow more than wait.
func (c *Client) Status(ctx context.Context, id []byte, wait time.Duration) (*Item, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpStatus, Status: &Status{ID: id, Wait: wait.Milliseconds()}})
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, c.fail(fmt.Errorf("%w: a status request was not answered with a status", ErrProtocol))
	}
	return resp.Status, nil
}

// List asks for the messages l selects and returns the stream of events
// that answers it. The stream takes over the connection: the Client can
// make no more requests, and closing the Stream closes the connection.
// ctx bounds the whole stream: when it ends, Next returns its error.
//
// Without Follow, the host sends the history and then closes the
// connection: that is the contract that ends a history, and Next then
// returns io.EOF. (An EventLive before the close is taken as the end too.)
// With Follow, the host sends the history, an EventLive, then new messages
// and status changes until the device closes the connection; the host
// closing it is an error.
func (c *Client) List(ctx context.Context, l *List) (*Stream, error) {
	if err := c.send(ctx, &Request{Op: OpList, List: l}); err != nil {
		return nil, err
	}
	s := &Stream{conn: c.conn, follow: l.Follow, ctx: ctx}
	s.stop = context.AfterFunc(ctx, s.interrupt)
	c.err = errListed
	return s, nil
}

// roundTrip sends req and reads its one answer.
func (c *Client) roundTrip(ctx context.Context, req *Request) (*Response, error) {
	if err := c.send(ctx, req); err != nil {
		return nil, err
	}
	return c.receive(ctx)
}

// receive reads the one answer to the request sent.
func (c *Client) receive(ctx context.Context) (*Response, error) {
	return c.receiveWith(ctx, ReadResponse)
}

// receiveWith reads the one answer to the request sent with read.
func (c *Client) receiveWith(ctx context.Context, read func(io.Reader, int) (*Response, error)) (*Response, error) {
	stop := context.AfterFunc(ctx, c.interrupt)
	resp, err := read(c.conn, MaxFrame)
	if !stop() {
		return nil, c.fail(ctx.Err())
	}
	var hostErr *Error
	switch {
	case errors.As(err, &hostErr):
		return nil, hostErr
	case err != nil:
		return nil, c.fail(readError(err))
	}
	return resp, nil
}

// send writes req. If the host closed the connection while req was being
// written, as it may after answering an oversized request with an error,
// that answer is returned.
func (c *Client) send(ctx context.Context, req *Request) error {
	if c.err != nil {
		return c.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("invalid request: %w", err) // the host would refuse it
	}
	stop := context.AfterFunc(ctx, c.interrupt)
	err := WriteRequest(c.conn, req)
	if !stop() {
		return c.fail(ctx.Err())
	}
	if err == nil {
		return nil
	}
	c.conn.SetReadDeadline(time.Now().Add(time.Second))
	var hostErr *Error
	if _, rerr := ReadResponse(c.conn, MaxFrame); errors.As(rerr, &hostErr) {
		return c.fail(hostErr)
	}
	return c.fail(fmt.Errorf("sending to the host: %w", err))
}

// interrupt makes a blocked read or write on the connection return.
func (c *Client) interrupt() { c.conn.SetDeadline(time.Unix(1, 0)) }

// fail closes the connection, which err left in an unknown state, and
// returns err, which every later request returns too.
func (c *Client) fail(err error) error {
	c.conn.Close()
	c.err = err
	return err
}

// readError words an error reading an answer.
func readError(err error) error {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("the host closed the connection: %w", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the host closed the connection before answering: %w", err)
	}
	return fmt.Errorf("reading the host's answer: %w", err)
}

// Stream is the answer to a List: a sequence of events. It is not safe for
// concurrent use.
type Stream struct {
	conn   net.Conn
	ctx    context.Context
	stop   func() bool
	follow bool
	err    error
	closed bool
}

// Next returns the next event. Without Follow, it returns io.EOF after the
// last one. A failure is returned by every later call too.
func (s *Stream) Next() (*Event, error) {
	if s.err != nil {
		return nil, s.err
	}
	resp, err := ReadResponse(s.conn, MaxFrame)
	var hostErr *Error
	switch {
	case s.ctx.Err() != nil:
		return nil, s.fail(s.ctx.Err())
	case errors.As(err, &hostErr):
		return nil, s.fail(hostErr)
	case errors.Is(err, io.ErrUnexpectedEOF) && !s.follow:
		return nil, s.fail(io.EOF) // the host closed the connection after the history
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, s.fail(fmt.Errorf("the host closed the connection: %w", err))
	case err != nil:
		return nil, s.fail(readError(err))
	case resp.Event == nil:
		return nil, s.fail(fmt.Errorf("%w: a list was answered with something other than an event", ErrProtocol))
	case !s.follow && resp.Event.Kind == EventLive:
		return nil, s.fail(io.EOF)
	}
	return resp.Event, nil
}

// Close closes the connection.
func (s *Stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.stop()
	if s.err == nil {
		s.err = net.ErrClosed
	}
	return s.conn.Close()
}

func (s *Stream) interrupt() { s.conn.SetDeadline(time.Unix(1, 0)) }

func (s *Stream) fail(err error) error {
	s.err = err
	return err
}
