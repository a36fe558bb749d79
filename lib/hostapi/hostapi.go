// Package hostapi is the protocol between a user's devices (smvs-send,
// smvs-recv, smvs-call) and the user's host (smvs-hostd): the requests a
// device makes and the answers and events the host sends back.
//
// A device opens a connection (the host's unix socket, mode 0600, or for a
// remote device a QUIC stream to the host, see DialRemote) and sends requests one after another, each one
// frame (wire.WriteFrame) holding a CBOR Request. The host answers each with
// one Response frame, except a List with Follow set, which turns the
// connection into a stream of Response frames (one Event each) until the
// device closes it. A List without Follow gets its history, then one
// EventLive event, and then the host closes the connection, so a device can
// tell the end of the history from a broken connection. A body over
// StreamThreshold travels beside its request or answer as BodyParts
// (SubmitStream, Body), so that neither side holds it whole. Every
// structure has the version field 0, as in wire.
package hostapi

import (
	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// Version is the protocol version.
const Version = 1

// MaxFrame bounds a device protocol frame: a message body of up to
// MaxBodyLimit plus its metadata. A host may set a lower body limit.
const (
	MaxBodyLimit = 1 << 30
	MaxFrame     = MaxBodyLimit + 64<<10
)

// Op is what a request asks for.
type Op uint64

// The operations.
const (
	OpSubmit Op = 1 // send a message
	OpList   Op = 2 // history, optionally followed by live events
	OpStatus Op = 3 // the delivery status of a message, optionally waiting for a change

	OpDevices Op = 6 // the owner lists, adds, revokes or pairs devices: only over the unix socket
	OpLink    Op = 7 // a remote device links itself with a pairing code, or checks it is linked
	OpRead    Op = 8 // mark received messages read, on every device
)

// Request is one request frame. Exactly the field for Op is set.
type Request struct {
	V      uint64           `cbor:"0,keyasint"`
	Op     Op               `cbor:"1,keyasint"`
	Submit *Submit          `cbor:"2,keyasint,omitempty"`
	List   *List            `cbor:"3,keyasint,omitempty"`
	Status *Status          `cbor:"4,keyasint,omitempty"`
	Call   *CallRequest     `cbor:"5,keyasint,omitempty"` // OpCall
	Signal *wire.CallSignal `cbor:"6,keyasint,omitempty"` // OpSignal

	Devices *DevicesRequest `cbor:"7,keyasint,omitempty"`
	Link    *Link           `cbor:"8,keyasint,omitempty"`
	Read    *MarkRead       `cbor:"9,keyasint,omitempty"`

	Delete      *Delete      `cbor:"10,keyasint,omitempty"`
	Import      *Import      `cbor:"11,keyasint,omitempty"`
	Fingerprint *Fingerprint `cbor:"12,keyasint,omitempty"`
	Expiry      *Expiry      `cbor:"13,keyasint,omitempty"`
	Publish     *Publish     `cbor:"14,keyasint,omitempty"`
	Body        *BodyRequest `cbor:"15,keyasint,omitempty"` // OpBody
}

// Submit asks the host to send a message. The host answers once the message
// is durably in its outbox and conversation store.
type Submit struct {
	To          string    `cbor:"1,keyasint"` // a contact name, an smvs1… key, or a directory name
	Kind        wire.Kind `cbor:"2,keyasint"` // KindText or KindFile
	ContentType string    `cbor:"3,keyasint,omitempty"`
	FileName    string    `cbor:"4,keyasint,omitempty"`
	Body        []byte    `cbor:"5,keyasint"`
	Expires     int64     `cbor:"6,keyasint,omitempty"` // Unix ms; 0 never
	// Stream says the body follows the request as BodyParts (Body is
	// then empty): see Client.SubmitStream.
	Stream bool `cbor:"7,keyasint,omitempty"`
}

// List asks for the messages after a cursor, oldest first; with Follow the
// host then keeps sending new messages and status changes as they happen.
type List struct {
	After  uint64 `cbor:"1,keyasint,omitempty"` // only items with Seq above this
	Peer   string `cbor:"2,keyasint,omitempty"` // only this conversation (name or key)
	Since  int64  `cbor:"3,keyasint,omitempty"` // only messages sent at or after this, Unix ms
	Follow bool   `cbor:"4,keyasint,omitempty"`
	Signed bool   `cbor:"5,keyasint,omitempty"` // each message with its signed bytes (Item.Signed), for an export
}

// Status asks for a message's delivery status; with Wait the host answers
// when the status is final (delivered or failed) or Wait milliseconds have
// passed, whichever comes first.
type Status struct {
	ID   []byte `cbor:"1,keyasint"`
	Wait int64  `cbor:"2,keyasint,omitempty"` // milliseconds
}

// Response is one answer frame. Err is set on failure; otherwise the field
// matching the request is.
type Response struct {
	V      uint64        `cbor:"0,keyasint"`
	Err    *Error        `cbor:"1,keyasint,omitempty"`
	Sent   *SubmitResult `cbor:"2,keyasint,omitempty"`
	Event  *Event        `cbor:"3,keyasint,omitempty"`
	Status *Item         `cbor:"4,keyasint,omitempty"`

	Devices *DevicesResult `cbor:"6,keyasint,omitempty"`
	Linked  *Linked        `cbor:"7,keyasint,omitempty"`
	Read    *ReadResult    `cbor:"8,keyasint,omitempty"`

	Deleted     *DeleteResult      `cbor:"9,keyasint,omitempty"`
	Imported    *ImportResult      `cbor:"10,keyasint,omitempty"`
	Fingerprint *FingerprintResult `cbor:"11,keyasint,omitempty"`
	Expiry      *ExpiryResult      `cbor:"12,keyasint,omitempty"`
	Published   *PublishResult     `cbor:"13,keyasint,omitempty"`
	BodyInfo    *BodyInfo          `cbor:"14,keyasint,omitempty"` // OpBody: the BodyParts follow
}

// SubmitResult says what the host stored.
type SubmitResult struct {
	Seq       uint64 `cbor:"1,keyasint"`
	ID        []byte `cbor:"2,keyasint"`
	Recipient []byte `cbor:"3,keyasint"`           // the identity key the name resolved to
	Name      string `cbor:"4,keyasint,omitempty"` // the contact name, if any
}

// EventKind tells what an Event carries.
type EventKind uint64

// The kinds of event.
const (
	EventMessage EventKind = 1 // a message, from history or new
	EventStatus  EventKind = 2 // a message's delivery status or read state changed (Item has no body)
	EventLive    EventKind = 3 // the history is over; with Follow, what follows is live
)

// Event is one item of a List stream.
type Event struct {
	Kind EventKind  `cbor:"1,keyasint"`
	Item *Item      `cbor:"2,keyasint,omitempty"`
	Call *CallEvent `cbor:"3,keyasint,omitempty"` // EventCall

	Deleted []uint64 `cbor:"4,keyasint,omitempty"` // EventDeleted
}

// Item is a message as a device sees it.
type Item struct {
	Seq         uint64             `cbor:"1,keyasint"` // the host's sequence number; cursors are these
	ID          []byte             `cbor:"2,keyasint"`
	Direction   delivery.Direction `cbor:"3,keyasint"`
	Peer        []byte             `cbor:"4,keyasint"` // the other party's identity key
	PeerName    string             `cbor:"5,keyasint,omitempty"`
	Sent        int64              `cbor:"6,keyasint"` // Unix ms, as the sender said
	Stored      int64              `cbor:"7,keyasint"` // Unix ms, when this host stored it
	Kind        wire.Kind          `cbor:"8,keyasint"`
	ContentType string             `cbor:"9,keyasint,omitempty"`
	FileName    string             `cbor:"10,keyasint,omitempty"`
	Body        []byte             `cbor:"11,keyasint,omitempty"`
	Expires     int64              `cbor:"12,keyasint,omitempty"`
	Status      delivery.Status    `cbor:"13,keyasint"`
	Read        bool               `cbor:"14,keyasint,omitempty"` // a received message some device marked read
	Warnings    []delivery.Warning `cbor:"15,keyasint,omitempty"` // what this message revealed about the conversation's chain
	Signed      []byte             `cbor:"16,keyasint,omitempty"` // the signed message, only for a List with Signed and in an Import
	// ClaimedName is the name the peer's verified record claims, for a
	// peer that is no contact (PeerName is then empty). Anyone can claim
	// any free name in a directory, so a device never shows it as a
	// contact's name (cli.Peer).
	ClaimedName string `cbor:"17,keyasint,omitempty"`
	// Size is the size of a streamed body, which the Item does not carry:
	// a device reads it with Client.Body. 0 for a body the Item carries.
	Size int64 `cbor:"18,keyasint,omitempty"`
}

// Streamed reports whether the item's body is streamed: not in the Item,
// but read with Client.Body.
func (it *Item) Streamed() bool { return it.Size > 0 }

// ErrorCode lets a device tell failures apart (and exit with the status its
// man page documents).
type ErrorCode uint64

// The error codes.
const (
	ErrInternal         ErrorCode = 1
	ErrBadRequest       ErrorCode = 2
	ErrUnknownRecipient ErrorCode = 3  // no contact, key or directory name resolves
	ErrKeyChanged       ErrorCode = 4  // the directory's key differs from the pinned one
	ErrTooLarge         ErrorCode = 5  // over the host's message size limit
	ErrQuota            ErrorCode = 6  // the host's disk quota is full
	ErrNotFound         ErrorCode = 7  // no message with that id
	ErrUnavailable      ErrorCode = 8  // the host is shutting down or overloaded; try again
	ErrNotLinked        ErrorCode = 9  // the device is not (or no longer) linked, or its pairing code is wrong or spent
	ErrForbidden        ErrorCode = 10 // only the owner, on the host's own machine, may do that
)

// Error is a failure the host reports to a device.
type Error struct {
	Code    ErrorCode `cbor:"1,keyasint"`
	Message string    `cbor:"2,keyasint"`
	Hint    string    `cbor:"3,keyasint,omitempty"`
}

func (e *Error) Error() string { return e.Message }
