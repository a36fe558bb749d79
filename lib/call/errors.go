package call

import (
	"errors"
	"strings"
	"unicode"
)

// The ways a call ends that a caller tells apart with errors.Is.
var (
	ErrNoAnswer    = errors.New("no answer")
	ErrRejected    = errors.New("the call was declined")
	ErrBusy        = errors.New("the peer is busy in another call")
	ErrUnavailable = errors.New("the peer is not reachable: no device of theirs is waiting for calls")
	ErrHungUp      = errors.New("the peer hung up")
	ErrFingerprint = errors.New("the connection's certificate does not match the peer's signed fingerprint: someone may be in the middle")
	ErrTampered    = errors.New("a call signal is not signed by the peer's device: someone may be in the middle")
	// ErrPeerTampered: the peer's device, in a signed hangup or reject,
	// says a signal it got from this side failed its own check.
	ErrPeerTampered = errors.New("the peer's device found the call signals it got were not what this device signed: someone may be in the middle")
	// ErrConnection: no connection could be made, or it was lost. A call
	// answered that never connected ends with it on both sides, even
	// when the peer's hang-up came first.
	ErrConnection = errors.New("the connection to the peer failed")
	ErrMedia      = errors.New("bad media input")
)

// Ended is how a call ended when the peer or the network ended it. Err is
// one of the sentinels above; Reason says more, in the peer's words for
// ErrHungUp and ErrRejected (cleaned of control characters, so it is safe
// to print).
type Ended struct {
	Err    error
	Reason string
}

func (e *Ended) Error() string {
	if e.Reason == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Reason
}

func (e *Ended) Unwrap() error { return e.Err }

// maxReason bounds a peer's reason: it ends up on a terminal.
const maxReason = 200

// cleanReason makes a peer's reason one printable line.
func cleanReason(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxReason {
			b.WriteString("…")
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		} else {
			b.WriteRune(' ')
		}
	}
	return strings.TrimSpace(b.String())
}
