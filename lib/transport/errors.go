package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/quic-go/quic-go"

	"smvs/lib/wire"
)

var (
	// ErrClosed means the connection is gone: closed by this side or the
	// peer, the peer shut down, or the peer lost the connection's state.
	ErrClosed = errors.New("connection closed")
	// ErrTimeout means a handshake, an idle connection, a frame or the
	// caller's context ran out of time.
	ErrTimeout = errors.New("timed out")
	// ErrRequestFailed means the peer's handler failed on the request. The
	// request may or may not have had an effect.
	ErrRequestFailed = errors.New("the peer failed to handle the request")
	// ErrRevoked means the peer closed the connection because the key this
	// side presents is no longer allowed (a revoked device).
	ErrRevoked = errors.New("the peer revoked this key's access")
)

// ErrorCode is an SMVS error code, carried by QUIC when a stream is reset or
// a connection closed.
type ErrorCode uint64

// The error codes.
const (
	CodeNoError   ErrorCode = 0x0 // a connection closed normally
	CodeTooLarge  ErrorCode = 0x1 // a frame is over the receiver's limit
	CodeMalformed ErrorCode = 0x2 // a stream doesn't carry the expected frames
	CodeFailed    ErrorCode = 0x3 // the handler failed
	CodeShutdown  ErrorCode = 0x4 // the listener is shutting down; the request was not handled
	CodeTimeout   ErrorCode = 0x5 // a frame took longer than FrameTimeout
	CodeCanceled  ErrorCode = 0x6 // the requester gave up
	CodeRevoked   ErrorCode = 0x7 // the client's key is no longer allowed
	CodeRefused   ErrorCode = 0x8 // the listener's policy refuses the client's key
	CodeBusy      ErrorCode = 0x9 // the listener has as many streams of strangers as it takes; try later
)

func (c ErrorCode) String() string {
	switch c {
	case CodeNoError:
		return "no error"
	case CodeTooLarge:
		return "frame too large"
	case CodeMalformed:
		return "malformed stream"
	case CodeFailed:
		return "request failed"
	case CodeShutdown:
		return "shutting down"
	case CodeTimeout:
		return "timed out"
	case CodeCanceled:
		return "canceled"
	case CodeRevoked:
		return "access revoked"
	case CodeRefused:
		return "refused"
	case CodeBusy:
		return "busy"
	}
	return fmt.Sprintf("error code %#x", uint64(c))
}

// ResetError reports a stream the peer reset. It matches the error its code
// stands for: wire.ErrTooLarge, wire.ErrMalformed, ErrRequestFailed,
// ErrClosed (shutting down) or ErrTimeout.
type ResetError struct {
	Code ErrorCode
}

func (e *ResetError) Error() string {
	return fmt.Sprintf("stream reset by the peer: %s", e.Code)
}

// Is reports whether target is the error e's code stands for.
func (e *ResetError) Is(target error) bool {
	switch e.Code {
	case CodeTooLarge:
		return target == wire.ErrTooLarge
	case CodeMalformed:
		return target == wire.ErrMalformed
	case CodeFailed:
		return target == ErrRequestFailed
	case CodeShutdown:
		return target == ErrClosed
	case CodeTimeout:
		return target == ErrTimeout
	}
	return false
}

// convertError turns an error of quic-go into one that matches this
// package's errors, keeping the original in the chain.
func convertError(err error) error {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*quic.StreamError](err); ok {
		if se.Remote {
			return &ResetError{Code: ErrorCode(se.ErrorCode)}
		}
		return fmt.Errorf("%w: stream reset: %s", ErrClosed, ErrorCode(se.ErrorCode))
	}
	if te, ok := errors.AsType[*quic.TransportError](err); ok && te.ErrorCode.IsCryptoError() {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if te, ok := errors.AsType[*quic.TransportError](err); ok && te.Remote && te.ErrorCode == quic.ConnectionRefused {
		return fmt.Errorf("%w: the peer has as many connections as it takes; try later (%w)", ErrHandshake, err)
	}
	if _, ok := errors.AsType[*quic.HandshakeTimeoutError](err); ok {
		return fmt.Errorf("%w: %w: %w", ErrHandshake, ErrTimeout, err)
	}
	if _, ok := errors.AsType[*quic.VersionNegotiationError](err); ok {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if _, ok := errors.AsType[*quic.IdleTimeoutError](err); ok {
		return fmt.Errorf("%w: %w: %w", ErrClosed, ErrTimeout, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	if ae, ok := errors.AsType[*quic.ApplicationError](err); ok && ae.Remote {
		switch ErrorCode(ae.ErrorCode) {
		case CodeRevoked:
			return fmt.Errorf("%w: %w by the peer: %s", ErrRevoked, ErrClosed, ae.ErrorMessage)
		case CodeRefused:
			// The reason is the peer's text: callers print it escaped.
			return fmt.Errorf("%w: %w: %s", ErrRefused, ErrClosed, ae.ErrorMessage)
		}
		return fmt.Errorf("%w by the peer: %s", ErrClosed, ErrorCode(ae.ErrorCode))
	}
	if errors.Is(err, ErrHandshake) || errors.Is(err, ErrClosed) || errors.Is(err, ErrTimeout) {
		return err
	}
	// quic-go's errors for a connection that is over (application close,
	// stateless reset, transport error) all unwrap to net.ErrClosed.
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}
