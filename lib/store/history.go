package store

import (
	"errors"
)

// errPending marks the API the deletion work is filling in.
var errPending = errors.New("store: not implemented yet")

// Recoverable reports which of the messages seqs someone holding a copy of
// the store directory dir and its KEK can open: by the database as it is,
// or by any key they can unwrap from any bytes of any file in dir (free
// pages, the WAL, leftovers), trying every root key in root.key, every
// conversation key those unwrap and every data key those unwrap. It only
// reads dir, which need not be locked or complete. Tests use it to show
// that deletion holds.
func Recoverable(dir string, kek []byte, seqs []uint64) ([]uint64, error) { return nil, errPending }
