// Package directory is the SMVS directory: it stores self-signed records
// that map names to identity keys, KEM keys and host addresses, and answers
// look-ups by name and by key.
//
// The directory checks every record in full before storing it, but clients
// never trust it: a record is only as good as its signature. What the
// directory adds is first come, first served: a name bound to a key can be
// taken over only by that key (with a higher sequence number), by a new key
// carrying a rotation statement signed by the old one, or by anyone once the
// record has expired or been removed.
package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/wire"
)

// Defaults.
const (
	// DefaultMaxLifetime is the longest a record may be valid from its
	// issue time; a record must be refreshed before it expires.
	DefaultMaxLifetime = 90 * 24 * time.Hour
	// MaxSkew is how far in the future an issue time may be.
	MaxSkew = 5 * time.Minute
)

// Errors a caller maps to answers: ErrNotFound (404), ErrStale and
// ErrNameTaken (409), ErrInvalid (400); and the store's ErrConflict (503,
// try again).
var (
	ErrNotFound  = errors.New("no such record")
	ErrStale     = errors.New("sequence number not above the stored one")
	ErrNameTaken = errors.New("name is held by another key")
	ErrInvalid   = errors.New("invalid")
)

// Directory applies the directory's rules over a Store.
type Directory struct {
	Store       Store
	MaxLifetime time.Duration    // DefaultMaxLifetime if zero
	Now         func() time.Time // time.Now if nil
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Check verifies a signed record in full, as Publish does before storing
// it, and returns it.
func (d *Directory) Check(signed []byte) (*wire.Record, error) {
	if len(signed) > dirclient.MaxRecordSize {
		return nil, invalid("record of %d bytes, limit %d", len(signed), dirclient.MaxRecordSize)
	}
	r, err := wire.VerifyRecord(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := names.Check(r.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := d.now()
	maxLifetime := d.MaxLifetime
	if maxLifetime == 0 {
		maxLifetime = DefaultMaxLifetime
	}
	switch {
	case r.Seq > math.MaxInt64:
		return nil, invalid("sequence number above 2^63-1")
	case time.UnixMilli(r.Issued).After(now.Add(MaxSkew)):
		return nil, invalid("issued in the future (%s)", time.UnixMilli(r.Issued).UTC().Format(time.RFC3339))
	case !time.UnixMilli(r.Expires).After(now):
		return nil, invalid("record expired at %s", time.UnixMilli(r.Expires).UTC().Format(time.RFC3339))
	case time.Duration(r.Expires-r.Issued)*time.Millisecond > maxLifetime:
		return nil, invalid("record valid for longer than %s", maxLifetime)
	case !time.UnixMilli(r.KEM.Expires).After(now):
		return nil, invalid("KEM key expired at %s", time.UnixMilli(r.KEM.Expires).UTC().Format(time.RFC3339))
	case !bytes.Equal(r.KEM.ID, identity.KEMKeyID(r.KEM.Key)):
		return nil, invalid("KEM key id does not match the key")
	}
	if _, err := identity.KEM().NewPublicKey(r.KEM.Key); err != nil {
		return nil, invalid("KEM key: %v", err)
	}
	// VerifyRecord checked the chain's signatures and links; its
	// statements must not claim to come from the future either.
	chain, err := r.Chain()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for _, rot := range chain {
		if time.UnixMilli(rot.Issued).After(now.Add(MaxSkew)) {
			return nil, invalid("rotation statement issued in the future")
		}
	}
	return r, nil
}

// Publish checks a signed record and stores it, creating or updating the
// key's entry under the record's name. A record carrying a rotation
// statement retires the old key: its record is no longer served, its name
// passes to the new key, and it can never publish again.
func (d *Directory) Publish(ctx context.Context, signed []byte) (*wire.Record, error) {
	r, err := d.Check(signed)
	if err != nil {
		return nil, err
	}
	now := d.now().UnixMilli()
	from := r.RotatedFrom()
	err = d.Store.Update(ctx, func(tx Tx) error {
		mine, err := tx.RowByKey(r.Identity)
		if err != nil {
			return err
		}
		if mine != nil && mine.Seq == retiredSeq {
			return fmt.Errorf("%w: the key was rotated away and can't publish again", ErrStale)
		}
		if mine != nil && r.Seq <= mine.Seq {
			return fmt.Errorf("%w: %d, stored %d", ErrStale, r.Seq, mine.Seq)
		}
		if from != nil {
			if err := retire(tx, from); err != nil {
				return err
			}
		}
		holder, err := tx.RowByName(r.Name)
		if err != nil {
			return err
		}
		if holder != nil && !bytes.Equal(holder.Identity, r.Identity) {
			if holder.live(now) {
				return fmt.Errorf("%w: %q", ErrNameTaken, r.Name)
			}
			holder.Name = "" // expired: the name is free
			if err := tx.Put(holder); err != nil {
				return err
			}
		}
		return tx.Put(&Row{Identity: r.Identity, Name: r.Name, Seq: r.Seq, Expires: r.Expires, Record: signed})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// retiredSeq is the sequence number of a key that was rotated away: no
// record can be above it.
const retiredSeq = math.MaxInt64

// retire clears the record and name of a key that was rotated away and
// blocks it from publishing again.
func retire(tx Tx, key []byte) error {
	old, err := tx.RowByKey(key)
	if err != nil {
		return err
	}
	if old == nil {
		old = &Row{Identity: key}
	}
	old.Name, old.Record, old.Seq = "", nil, retiredSeq
	return tx.Put(old)
}

// Remove applies a signed tombstone: the key's record is no longer served
// and its name is free, but its sequence number is kept so the old record
// can't be replayed.
func (d *Directory) Remove(ctx context.Context, signed []byte) (*wire.Tombstone, error) {
	if len(signed) > dirclient.MaxRecordSize {
		return nil, invalid("tombstone of %d bytes, limit %d", len(signed), dirclient.MaxRecordSize)
	}
	t, err := wire.VerifyTombstone(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if t.Seq > math.MaxInt64 {
		return nil, invalid("sequence number above 2^63-1")
	}
	if time.UnixMilli(t.Issued).After(d.now().Add(MaxSkew)) {
		return nil, invalid("tombstone issued in the future")
	}
	err = d.Store.Update(ctx, func(tx Tx) error {
		row, err := tx.RowByKey(t.Identity)
		if err != nil {
			return err
		}
		if row == nil || row.Record == nil {
			return ErrNotFound
		}
		if t.Seq <= row.Seq {
			return fmt.Errorf("%w: %d, stored %d", ErrStale, t.Seq, row.Seq)
		}
		if t.Name != "" && t.Name != row.Name {
			return invalid("tombstone names %q, the key holds %q", t.Name, row.Name)
		}
		return tx.Put(&Row{Identity: t.Identity, Seq: t.Seq, Expires: row.Expires})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// LookupName returns the signed record currently served for name, which
// is normalised first.
func (d *Directory) LookupName(ctx context.Context, name string) ([]byte, error) {
	n, err := names.Normalize(name)
	if err != nil {
		return nil, ErrNotFound // an impossible name is simply not there
	}
	row, err := d.Store.RowByName(ctx, n)
	return d.served(row, err)
}

// LookupKey returns the signed record currently served for an identity key.
func (d *Directory) LookupKey(ctx context.Context, key []byte) ([]byte, error) {
	row, err := d.Store.RowByKey(ctx, key)
	return d.served(row, err)
}

func (d *Directory) served(row *Row, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if row == nil || !row.live(d.now().UnixMilli()) {
		return nil, ErrNotFound
	}
	return row.Record, nil
}
