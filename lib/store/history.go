package store

import (
	"errors"
	"time"

	"smvs/lib/hostapi"
)

// errPending marks the API the deletion work is filling in.
var errPending = errors.New("store: not implemented yet")

// Link is what a message leaves of itself for its conversation's chain:
// kept while the message is, and after it is deleted by DeleteMessages,
// DeleteBefore or DeleteExpired (not after DeleteConversation or
// DeleteAll, which leave nothing of the conversation). Text and file
// messages that have signed bytes have a link; receipts and other kinds
// do not.
type Link struct {
	Seq       uint64
	Direction hostapi.Direction
	ID        []byte // the message id
	Hash      []byte // wire.ChainHash of its signed bytes
	Prev      []byte // the chain hash it carries (wire.Message.Chain); empty if none
	Sent      int64  // Unix ms, as the sender said
	Deleted   bool
}

// Links returns every link of the conversation with peer, by Seq; none if
// there is no such conversation.
func (s *Store) Links(peer []byte) ([]Link, error) { return nil, errPending }

// DeleteMessages deletes the messages seqs that exist (others are
// skipped), keeping their links, and shreds them as Delete does. It
// returns the sequence numbers it deleted, in order.
func (s *Store) DeleteMessages(seqs []uint64) ([]uint64, error) { return nil, errPending }

// DeleteBefore deletes every message sent or stored before before, in the
// conversation with peer or, with peer nil, in every conversation, keeping
// their links, and shreds them. It returns the sequence numbers it deleted.
func (s *Store) DeleteBefore(peer []byte, before time.Time) ([]uint64, error) {
	return nil, errPending
}

// DeleteAll deletes every conversation, with everything in it, and shreds
// them. It returns the sequence numbers of the messages it deleted.
func (s *Store) DeleteAll() ([]uint64, error) { return nil, errPending }

// NextExpiry returns the earliest expiry of a stored message, and false if
// no stored message expires.
func (s *Store) NextExpiry() (time.Time, bool) { return time.Time{}, false }

// DeleteExpired deletes every message whose expiry is at or before now,
// keeping their links, and shreds them. It returns the sequence numbers it
// deleted.
func (s *Store) DeleteExpired(now time.Time) ([]uint64, error) { return nil, errPending }

// AddWarning records w on message seq (once) and tells subscribers, as a
// status change. ErrNotFound if there is no such message.
func (s *Store) AddWarning(seq uint64, w hostapi.Warning) error { return errPending }

// Import stores a message restored from an export: Peer, ID, Direction,
// Status (not Queued), Sent, Stored, Kind, ContentType, FileName, Body,
// Expires, Signed, Read and Warnings as given; it sets m.Seq. A message the
// conversation already has (same direction and id) or once had (a link
// with the same direction and id) is skipped: it reports dup and changes
// nothing. Nothing goes to the outbox.
func (s *Store) Import(m *Message) (dup bool, err error) { return false, errPending }

// SetExpireAfter sets the default expiry of the conversation with peer
// (creating the conversation if need be; 0 is none) and returns the one it
// replaced.
func (s *Store) SetExpireAfter(peer []byte, after time.Duration) (was time.Duration, err error) {
	return 0, errPending
}

// ExpireAfter returns the default expiry of the conversation with peer; 0
// if it has none or there is no such conversation.
func (s *Store) ExpireAfter(peer []byte) (time.Duration, error) { return 0, errPending }

// Recoverable reports which of the messages seqs someone holding a copy of
// the store directory dir and its KEK can open: by the database as it is,
// or by any key they can unwrap from any bytes of any file in dir (free
// pages, the WAL, leftovers), trying every root key in root.key, every
// conversation key those unwrap and every data key those unwrap. It only
// reads dir, which need not be locked or complete. Tests use it to show
// that deletion holds.
func Recoverable(dir string, kek []byte, seqs []uint64) ([]uint64, error) { return nil, errPending }
