package store

import (
	"errors"
	"fmt"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// Import stores a message restored from an export: Peer, ID, Direction
// (In or Out), Status (Received for In; Sent, Delivered, Failed or Refused
// for Out: a Queued message has no envelope to send, and is refused), Sent,
// Stored (now if 0), Kind, ContentType, FileName, Body, Expires, Signed,
// Read and Warnings as given; it sets m.Seq (and m.Stored if it was 0),
// and the message gets its link and, if it expires, its place in
// NextExpiry. A message the conversation already has (same direction and
// id) or once had (a link with the same direction and id: a deleted
// message stays deleted) is skipped: it reports dup and changes nothing.
// Nothing goes to the outbox.
func (s *Store) Import(m *Message) (dup bool, err error) {
	now := s.now().UnixMilli()
	h, err := importHead(m, now)
	if err != nil {
		return false, err
	}
	e := encrypt(h, m)
	defer clear(e.key)
	var seq uint64
	err = s.do(&request{
		size: len(e.body) + len(e.signed),
		apply: func(b *batch) error {
			c, err := b.conversation(m.Peer)
			if err != nil {
				return err
			}
			var had bool
			if err := b.queryRow(`SELECT EXISTS (SELECT 1 FROM links WHERE tag = ?)`,
				c.messageTag(h.Direction, h.ID)).Scan(&had); err != nil {
				return fail("finding a link", err)
			}
			if had {
				dup = true
				return nil
			}
			var added bool
			seq, added, err = b.insert(m.Peer, h.Direction, h.ID, e)
			dup = !added
			return err
		},
	})
	if err != nil {
		return false, err
	}
	if !dup {
		m.Seq, m.Stored = seq, h.Stored
	}
	return dup, nil
}

// importHead checks an imported message and returns its head.
func importHead(m *Message, now int64) (*head, error) {
	if m == nil {
		return nil, errors.New("store: no message")
	}
	if len(m.Peer) != wire.KeySize {
		return nil, fmt.Errorf("store: peer key is %d bytes, want %d", len(m.Peer), wire.KeySize)
	}
	switch {
	case m.Status == delivery.Queued:
		return nil, errors.New("store: can't import a queued message: it has no envelope to send")
	case m.Direction == delivery.In && m.Status != delivery.Received,
		m.Direction == delivery.Out && (m.Status < delivery.Sent || m.Status > delivery.Refused || m.Status == delivery.Received):
		return nil, fmt.Errorf("store: can't import a message of direction %d with status %s", m.Direction, m.Status)
	}
	stored := m.Stored
	if stored == 0 {
		stored = now
	}
	h := &head{ID: m.ID, Direction: m.Direction, Status: m.Status, Sent: m.Sent, Stored: stored, Kind: m.Kind,
		ContentType: m.ContentType, FileName: m.FileName, Expires: m.Expires, Read: m.Read, Warnings: m.Warnings}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("store: message: %w", err)
	}
	return h, nil
}
