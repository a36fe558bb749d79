package store

import (
	"errors"

	"smvs/lib/hostapi"
)

// errPending marks the API the deletion work is filling in.
var errPending = errors.New("store: not implemented yet")

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

// Recoverable reports which of the messages seqs someone holding a copy of
// the store directory dir and its KEK can open: by the database as it is,
// or by any key they can unwrap from any bytes of any file in dir (free
// pages, the WAL, leftovers), trying every root key in root.key, every
// conversation key those unwrap and every data key those unwrap. It only
// reads dir, which need not be locked or complete. Tests use it to show
// that deletion holds.
func Recoverable(dir string, kek []byte, seqs []uint64) ([]uint64, error) { return nil, errPending }
