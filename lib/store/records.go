package store

import (
	"fmt"
	"slices"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// The structures below are what the store encrypts and keeps, each in the
// deterministic CBOR of lib/wire.

// rootFile is the content of root.key: the root key wrapped by the KEK, and
// during a rotation also its successor. The database says which one is
// current (table root, column gen). Moved marks a root.key that Open
// re-wrapped under a new KEK, until its next rewrite: the KEKs it replaced
// may not have been forgotten yet (see Store.Moved).
type rootFile struct {
	V     uint64       `cbor:"0,keyasint"`
	Keys  []wrappedKey `cbor:"1,keyasint"`
	Moved bool         `cbor:"2,keyasint,omitempty"`
}

type wrappedKey struct {
	Gen uint64 `cbor:"1,keyasint"`
	Key []byte `cbor:"2,keyasint"` // AES-256-GCM under the KEK: nonce, ciphertext, tag
}

// Validate implements wire.Validator.
func (f *rootFile) Validate() error {
	if len(f.Keys) == 0 || len(f.Keys) > 2 {
		return fmt.Errorf("%w: %d keys, want 1 or 2", wire.ErrMalformed, len(f.Keys))
	}
	for _, k := range f.Keys {
		if len(k.Key) != keySize+overhead {
			return fmt.Errorf("%w: a wrapped key is %d bytes, want %d", wire.ErrMalformed, len(k.Key), keySize+overhead)
		}
	}
	return nil
}

// head is a message's metadata, without its body and signed bytes (which are
// encrypted on their own, so that a status change rewrites only this).
type head struct {
	V           uint64             `cbor:"0,keyasint"`
	ID          []byte             `cbor:"1,keyasint"`
	Direction   delivery.Direction `cbor:"2,keyasint"`
	Status      delivery.Status    `cbor:"3,keyasint"`
	Sent        int64              `cbor:"4,keyasint"`
	Stored      int64              `cbor:"5,keyasint"`
	Kind        wire.Kind          `cbor:"6,keyasint"`
	ContentType string             `cbor:"7,keyasint,omitempty"`
	FileName    string             `cbor:"8,keyasint,omitempty"`
	Expires     int64              `cbor:"9,keyasint,omitempty"`
	Read        bool               `cbor:"10,keyasint,omitempty"`
	Warnings    []delivery.Warning `cbor:"11,keyasint,omitempty"`
	Size        int64              `cbor:"12,keyasint,omitempty"` // a streamed body's
	InSigned    bool               `cbor:"13,keyasint,omitempty"` // the inline body is read from the signed bytes
}

// Validate implements wire.Validator.
func (h *head) Validate() error {
	switch {
	case len(h.ID) != wire.MessageIDSize:
		return fmt.Errorf("%w: message id is %d bytes, want %d", wire.ErrMalformed, len(h.ID), wire.MessageIDSize)
	case h.Direction != delivery.In && h.Direction != delivery.Out:
		return fmt.Errorf("%w: direction %d", wire.ErrMalformed, h.Direction)
	case h.Status < delivery.Queued || h.Status > delivery.Refused:
		return fmt.Errorf("%w: status %d", wire.ErrMalformed, h.Status)
	case h.Kind == 0:
		return fmt.Errorf("%w: no message kind", wire.ErrMalformed)
	case h.Sent < 0 || h.Stored < 0 || h.Expires < 0:
		return fmt.Errorf("%w: negative time", wire.ErrMalformed)
	case slices.Contains(h.Warnings, 0):
		return fmt.Errorf("%w: warning 0", wire.ErrMalformed)
	case len(h.ContentType) > wire.MaxContentTypeLen:
		return fmt.Errorf("%w: content type is %d bytes, limit %d", wire.ErrTooLarge, len(h.ContentType), wire.MaxContentTypeLen)
	case len(h.FileName) > wire.MaxFileNameLen:
		return fmt.Errorf("%w: file name is %d bytes, limit %d", wire.ErrTooLarge, len(h.FileName), wire.MaxFileNameLen)
	}
	return nil
}

// retry is an outbox entry's schedule; the envelope is encrypted on its own,
// so that a retry rewrites only this.
type retry struct {
	V        uint64 `cbor:"0,keyasint"`
	Attempts uint64 `cbor:"1,keyasint"`
	Next     int64  `cbor:"2,keyasint"` // Unix ms
	Until    int64  `cbor:"3,keyasint"` // Unix ms
}

// Validate implements wire.Validator.
func (r *retry) Validate() error {
	if r.Next < 0 || r.Until < 0 {
		return fmt.Errorf("%w: negative time", wire.ErrMalformed)
	}
	return nil
}

// link is what a message leaves for its conversation's chain (Link), kept
// in links.data under the conversation's link key.
type link struct {
	V         uint64             `cbor:"0,keyasint"`
	Direction delivery.Direction `cbor:"1,keyasint"`
	ID        []byte             `cbor:"2,keyasint"`
	Hash      []byte             `cbor:"3,keyasint"`
	Prev      []byte             `cbor:"4,keyasint,omitempty"`
	Sent      int64              `cbor:"5,keyasint"`
	Was       [][]byte           `cbor:"6,keyasint,omitempty"`
}

func (l *link) setVersion() { l.V = wire.Version }

// Validate implements wire.Validator.
func (l *link) Validate() error {
	switch {
	case l.Direction != delivery.In && l.Direction != delivery.Out:
		return fmt.Errorf("%w: direction %d", wire.ErrMalformed, l.Direction)
	case len(l.ID) != wire.MessageIDSize:
		return fmt.Errorf("%w: message id is %d bytes, want %d", wire.ErrMalformed, len(l.ID), wire.MessageIDSize)
	case len(l.Hash) != wire.HashSize:
		return fmt.Errorf("%w: chain hash is %d bytes, want %d", wire.ErrMalformed, len(l.Hash), wire.HashSize)
	case len(l.Prev) != 0 && len(l.Prev) != wire.HashSize:
		return fmt.Errorf("%w: previous chain hash is %d bytes, want %d", wire.ErrMalformed, len(l.Prev), wire.HashSize)
	case len(l.Was) > maxWas:
		return fmt.Errorf("%w: %d earlier chain hashes, at most %d", wire.ErrMalformed, len(l.Was), maxWas)
	}
	for _, h := range l.Was {
		if len(h) != wire.HashSize {
			return fmt.Errorf("%w: earlier chain hash is %d bytes, want %d", wire.ErrMalformed, len(h), wire.HashSize)
		}
	}
	return nil
}
