package hostapi

import (
	"fmt"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// The operations on the history: deleting it, restoring it, checking it.
const (
	OpDelete      Op = 9  // delete messages on the host and every device, optionally asking peers' hosts too
	OpImport      Op = 10 // restore exported messages: only over the unix socket
	OpFingerprint Op = 11 // a conversation's transcript fingerprint
	OpExpiry      Op = 12 // a conversation's default expiry: read it, or set it
)

// EventDeleted says messages were deleted: Deleted holds their sequence
// numbers (at most MaxDeleteSeqs an event). A following device drops them
// from what it shows; cursors need no change.
const EventDeleted EventKind = 5

// MaxDeleteSeqs bounds the sequence numbers of one Delete request and of
// one EventDeleted: as many as one array may hold. Larger deletions come
// as several events.
const MaxDeleteSeqs = wire.MaxArrayElements

// Delete asks the host to delete messages and destroy their keys, on the
// host and on every device. Exactly one of Seqs, Before and All is set:
//
//   - Seqs: these messages (sequence numbers of messages that are gone
//     already are skipped);
//   - Before: every message sent or stored before this time (Unix ms), in
//     the conversation with Peer or, without Peer, in all of them;
//   - All: the whole conversation with Peer or, without Peer, everything.
//     A whole conversation leaves nothing behind, not even its chain
//     hashes; other deletions keep each message's chain hash.
//
// ForEveryone also asks each peer's host to delete its copies of the
// messages this user sent (a signed, sealed wire.DeleteRequest the peer's
// host honours or refuses by its own policy).
type Delete struct {
	Seqs        []uint64 `cbor:"1,keyasint,omitempty"`
	Peer        string   `cbor:"2,keyasint,omitempty"` // a contact name, an smvs1… key, or a directory name
	Before      int64    `cbor:"3,keyasint,omitempty"` // Unix ms
	All         bool     `cbor:"4,keyasint,omitempty"`
	ForEveryone bool     `cbor:"5,keyasint,omitempty"`
}

// DeleteResult says what a Delete did.
type DeleteResult struct {
	Deleted  int             `cbor:"1,keyasint"`           // messages deleted
	Requests []*PeerDeletion `cbor:"2,keyasint,omitempty"` // with ForEveryone: what was asked of whom
	Missing  []uint64        `cbor:"3,keyasint,omitempty"` // of Seqs, those there was no message for
}

// PeerDeletion is one request to a peer's host to delete its copies. Its
// delivery status (OpStatus with ID) tells the answer: Sent once the
// peer's host honoured it, Refused if its policy refused it, Failed if it
// could not be delivered.
type PeerDeletion struct {
	Peer     []byte `cbor:"1,keyasint"`
	PeerName string `cbor:"2,keyasint,omitempty"`
	ID       []byte `cbor:"3,keyasint"` // the request's own message id
	Messages int    `cbor:"4,keyasint"` // how many of this user's messages it names
	// ClaimedName is as Item.ClaimedName.
	ClaimedName string `cbor:"5,keyasint,omitempty"`
}

// MaxImportItems bounds the messages of one Import request.
const MaxImportItems = 256

// Import restores messages from an export (smvs-recv --export): each Item
// as a List with Signed gave it, Seq, PeerName and ClaimedName ignored. A
// message the host already has (same peer, direction and id) is skipped,
// so importing twice changes nothing.
type Import struct {
	Items []*Item `cbor:"1,keyasint"`
}

// ImportResult says how many messages were added and how many were there
// already.
type ImportResult struct {
	Added   int `cbor:"1,keyasint"`
	Present int `cbor:"2,keyasint"`
}

// Fingerprint asks for the transcript fingerprint of the conversation with
// Peer: a hash over the chain hashes of its messages (deleted ones
// included) sent up to Until (Unix ms; 0 is now), which both users can
// compare out of band (wire.TranscriptFingerprint).
type Fingerprint struct {
	Peer  string `cbor:"1,keyasint"`
	Until int64  `cbor:"2,keyasint,omitempty"`
}

// FingerprintResult is a conversation's fingerprint.
type FingerprintResult struct {
	Peer     []byte `cbor:"1,keyasint"`
	PeerName string `cbor:"2,keyasint,omitempty"`
	Until    int64  `cbor:"3,keyasint"` // Unix ms the fingerprint covers up to
	Messages int    `cbor:"4,keyasint"` // how many messages it covers
	Hash     []byte `cbor:"5,keyasint"` // 32 bytes
	// ClaimedName is as Item.ClaimedName.
	ClaimedName string `cbor:"6,keyasint,omitempty"`
}

// Expiry reads (Set false) or sets a conversation's default expiry: the
// host gives every message sent in the conversation that has none an
// expiry After milliseconds after it was sent, and deletes every message
// received in it After milliseconds after it was sent at the latest.
type Expiry struct {
	Peer  string `cbor:"1,keyasint"`
	Set   bool   `cbor:"2,keyasint,omitempty"`
	After int64  `cbor:"3,keyasint,omitempty"` // milliseconds; 0 is never
}

// ExpiryResult is a conversation's default expiry, and with Set the one it
// replaced.
type ExpiryResult struct {
	Peer     []byte `cbor:"1,keyasint"`
	PeerName string `cbor:"2,keyasint,omitempty"`
	After    int64  `cbor:"3,keyasint,omitempty"` // milliseconds; 0 is never
	Was      int64  `cbor:"4,keyasint,omitempty"`
	// ClaimedName is as Item.ClaimedName.
	ClaimedName string `cbor:"5,keyasint,omitempty"`
}

func (d *Delete) validate() error {
	modes := 0
	for _, set := range []bool{len(d.Seqs) > 0, d.Before != 0, d.All} {
		if set {
			modes++
		}
	}
	switch {
	case modes != 1:
		return fmt.Errorf("%w: a delete request names messages, a time or all", wire.ErrMalformed)
	case len(d.Seqs) > MaxDeleteSeqs:
		return fmt.Errorf("%w: a delete request names at most %d messages", wire.ErrMalformed, MaxDeleteSeqs)
	case d.Before < 0:
		return fmt.Errorf("%w: negative time", wire.ErrMalformed)
	case len(d.Seqs) > 0 && d.Peer != "":
		return fmt.Errorf("%w: messages named by sequence number take no peer", wire.ErrMalformed)
	}
	return nil
}

func (i *Import) validate() error {
	if len(i.Items) == 0 || len(i.Items) > MaxImportItems {
		return fmt.Errorf("%w: an import request holds 1 to %d messages", wire.ErrMalformed, MaxImportItems)
	}
	for _, it := range i.Items {
		if it == nil {
			return fmt.Errorf("%w: an empty message", wire.ErrMalformed)
		}
		for _, w := range it.Warnings {
			if !w.Known() {
				return fmt.Errorf("%w: unknown warning %d", wire.ErrMalformed, uint64(w))
			}
		}
	}
	return nil
}

func (f *Fingerprint) validate() error {
	if f.Peer == "" || f.Until < 0 {
		return fmt.Errorf("%w: fingerprint request", wire.ErrMalformed)
	}
	return nil
}

func (e *Expiry) validate() error {
	if e.Peer == "" || e.After < 0 || e.After > delivery.MaxExpiry || (!e.Set && e.After != 0) {
		return fmt.Errorf("%w: expiry request", wire.ErrMalformed)
	}
	return nil
}
