// Package delivery names where a message stands in a user's history, as the
// host's store keeps it and the device protocol (package hostapi) reports
// it: its Direction, its delivery Status, the Warnings it raised about its
// conversation's chain, and the bound on a conversation's default expiry.
//
// The values are part of the device protocol and of the store's format, so
// they never change meaning. The package imports nothing, so the store and
// the protocol can both use it without either depending on the other.
package delivery

import (
	"fmt"
	"time"
)

// Direction says whether a message was sent or received by this user.
type Direction uint64

// The directions.
const (
	In  Direction = 1
	Out Direction = 2
)

// Status is where a message is on its way.
type Status uint64

// The delivery statuses. Received is the status of every incoming message.
const (
	Queued    Status = 1 // in the outbox, not yet accepted by the peer's host
	Sent      Status = 2 // the peer's host stored it
	Delivered Status = 3 // the peer's host sent back a signed receipt
	Failed    Status = 4 // given up after the retry period, or refused for good (not by policy)
	Received  Status = 5
	Refused   Status = 6 // the peer's host refused it for good: its user's policy (blocked, or not allowed)
)

var statusNames = map[Status]string{
	Queued: "queued", Sent: "sent", Delivered: "delivered", Failed: "failed", Received: "received",
	Refused: "refused",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "unknown"
}

// Final reports whether the status will not change any more.
func (s Status) Final() bool {
	return s == Delivered || s == Failed || s == Received || s == Refused
}

// Warning is something wrong with a conversation's chain that a message
// revealed (PROTOCOL.md section 7.1).
type Warning uint64

// The warnings.
const (
	WarnGap     Warning = 1 // a message before this one never arrived: the chain names one this host never had
	WarnFork    Warning = 2 // the sender sent another message after the same one: the chain forks
	WarnChanged Warning = 3 // the sender sent this message again (same id) with other content
	// WarnRotated marks the newest message of a conversation when its peer
	// moved to a new identity key by rotations signed by the old one: the
	// conversation goes on with the new key.
	WarnRotated Warning = 4
	maxWarning  Warning = 4
)

var warningNames = map[Warning]string{WarnGap: "gap", WarnFork: "fork", WarnChanged: "changed", WarnRotated: "rotated"}

func (w Warning) String() string {
	if n, ok := warningNames[w]; ok {
		return n
	}
	return fmt.Sprintf("warning(%d)", uint64(w))
}

// Known reports whether w is one of the warnings above.
func (w Warning) Known() bool {
	return w >= WarnGap && w <= maxWarning
}

// MaxExpiry bounds a conversation's default expiry, in milliseconds: a
// year.
const MaxExpiry = int64(366 * 24 * time.Hour / time.Millisecond)
