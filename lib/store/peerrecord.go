package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"smvs/lib/wire"
)

// SetPeerRecord keeps signed, the peer's signed record as the caller last
// verified it, with the conversation with peer, replacing the one kept
// before, so that the caller can still seal to the peer when no directory
// answers. It is encrypted under the conversation's key and goes with the
// conversation: deleting the conversation deletes it. ErrNotFound if there
// is no conversation with peer.
func (s *Store) SetPeerRecord(peer, signed []byte) error {
	if len(peer) != wire.KeySize || len(signed) == 0 {
		return fmt.Errorf("store: peer key of %d bytes or a record of %d", len(peer), len(signed))
	}
	return s.do(&request{apply: func(b *batch) error {
		c := b.s.byPeer[string(peer)]
		if c == nil || b.dropped[c.id] {
			return fmt.Errorf("%w: no conversation with that peer", ErrNotFound)
		}
		_, err := b.exec("storing a peer's record", `UPDATE conversations SET record = ? WHERE id = ?`, c.sealColumn(convRecord, signed), c.id)
		return err
	}})
}

// PeerRecord returns the record SetPeerRecord kept for peer, or nil if
// there is none. The caller verifies it (signature, expiry) before use.
func (s *Store) PeerRecord(peer []byte) ([]byte, error) {
	if len(peer) != wire.KeySize {
		return nil, fmt.Errorf("store: peer key is %d bytes, want %d", len(peer), wire.KeySize)
	}
	if err := s.readerState(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	c := s.byPeer[string(peer)]
	if c == nil {
		return nil, nil
	}
	var sealed []byte
	err := s.rstmt.queryRow(context.Background(), `SELECT record FROM conversations WHERE id = ?`, c.id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) || err == nil && sealed == nil {
		return nil, nil // none, or its conversation is not committed yet
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading a peer's record: %w", err)
	}
	return c.openColumn(convRecord, sealed)
}
