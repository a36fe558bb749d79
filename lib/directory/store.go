package directory

import (
	"context"
	"errors"
)

// Row is what a store keeps for one identity key.
type Row struct {
	Identity []byte // the 32-byte identity key; the primary key
	Name     string // the name the key holds, "" if none (removed, rotated away or taken over after expiry)
	Seq      uint64 // the highest sequence number accepted from the key, never lowered
	Expires  int64  // when Record expires, Unix milliseconds
	Record   []byte // the encoded signed record as published, nil once removed
}

// live reports whether the row holds a record that is served at now (Unix ms).
func (r *Row) live(now int64) bool {
	return r.Record != nil && r.Expires > now
}

// Store keeps rows. Implementations: SQLite (embedded, the default) and
// PostgreSQL (for many replicas). A Store is safe for concurrent use, also
// by several processes sharing one database. Its errors never name the
// names or keys involved, so they can be logged.
type Store interface {
	// Update runs fn in a transaction that sees and changes the store as if
	// it ran alone (serializable). fn may be run more than once if the
	// transaction must be retried, so it must have no other side effects.
	Update(ctx context.Context, fn func(Tx) error) error
	// RowByName returns the row holding name, or nil if none does.
	RowByName(ctx context.Context, name string) (*Row, error)
	// RowByKey returns the row of the identity key, or nil if there is none.
	RowByKey(ctx context.Context, key []byte) (*Row, error)
	// Ping checks that the store can be reached, for health checks.
	Ping(ctx context.Context) error
	Close() error
}

// Tx is a store transaction, valid only inside Update's fn.
type Tx interface {
	RowByName(name string) (*Row, error)
	RowByKey(key []byte) (*Row, error)
	// Put inserts or replaces the row of r.Identity. At most one row may
	// hold a name: clear it from the old row first.
	Put(r *Row) error
}

// ErrConflict is what a store's Update returns when concurrent transactions
// kept it from committing after its retries.
var ErrConflict = errors.New("too many concurrent updates; try again")
