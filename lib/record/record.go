// Package record makes a user's own directory record and finds the one the
// directories serve now, for the commands that publish it (smvs-register)
// and the host that keeps it fresh (smvs-hostd).
//
// It trusts no directory: a record found is one whose signature verifies
// and whose identity key is the one asked for.
package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// Current returns the newest record (the highest sequence number) of key
// that the directories serve and that verifies as key's, or nil if none
// does. A directory's error counts only if no directory has a record: then
// Current returns the first one.
func Current(ctx context.Context, dirs []*dirclient.Client, key identity.PublicKey) (*wire.Record, error) {
	var newest *wire.Record
	var errs []error
	for _, d := range dirs {
		signed, err := d.LookupKey(ctx, key)
		if errors.Is(err, dirclient.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := wire.VerifyRecord(signed)
		if err == nil && !bytes.Equal(r.Identity, key.Bytes()) {
			err = errors.New("it is another key's")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("directory %s: it served a bad record for %s: %w", d, key, err))
			continue
		}
		if newest == nil || r.Seq > newest.Seq {
			newest = r
		}
	}
	if newest == nil && len(errs) > 0 {
		return nil, errs[0]
	}
	return newest, nil
}

// New returns id's record for name and host, issued at now and valid for
// lifetime, with id's current KEM key and a sequence number above prev's
// (if prev is id's; prev may be nil). It carries id's rotation statements
// (Keys.Rotations), the last in Rotation and the ones before in
// Rotations, so that contacts who pinned any key the identity held before
// follow the chain to this one; if it holds none, prev's, if prev is id's
// (an identity file written before files kept the chain). A record for
// prev's host address names prev's relay (wire.Record.Via), if any.
// Without a current KEM key, the error wraps identity.ErrNoKEMKey.
func New(id identity.Keys, name, host string, prev *wire.Record, lifetime time.Duration, now time.Time) (*wire.Record, error) {
	kem, err := id.CurrentKEM(now)
	if err != nil {
		return nil, err
	}
	r := &wire.Record{
		Name:     name,
		Identity: id.Public().Bytes(),
		KEM:      kem,
		Host:     host,
		Seq:      uint64(now.UnixMilli()),
		Issued:   now.UnixMilli(),
		Expires:  now.Add(lifetime).UnixMilli(),
	}
	if prev != nil && bytes.Equal(prev.Identity, r.Identity) {
		r.Seq = max(r.Seq, prev.Seq+1)
		if host == prev.Host {
			// The same address is the same relay, if it is one.
			r.Via = prev.Via
		}
	}
	chain, err := id.Rotations()
	if err != nil {
		return nil, fmt.Errorf("reading the identity's rotation statements: %w", err)
	}
	if n := len(chain); n > wire.MaxRotations {
		chain = chain[n-wire.MaxRotations:]
	}
	switch n := len(chain); {
	case n > 0:
		r.Rotation = chain[n-1]
		if n > 1 {
			r.Rotations = chain[:n-1]
		}
	case prev != nil && bytes.Equal(prev.Identity, r.Identity):
		// An identity file from before files kept the chain: the last
		// record is where it is.
		r.Rotation, r.Rotations = prev.Rotation, prev.Rotations
	}
	return r, nil
}
