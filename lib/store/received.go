package store

import (
	"context"
	"fmt"

	"smvs/lib/delivery"
)

// rowOverhead is what Received counts for a message besides its body and
// signed bytes: its wrapped key, head, tag, index entries and link, about.
// A fixed figure, so that a message counts the same when it is deleted as
// when it was stored, whatever its head became since.
const rowOverhead = 256

// receivedCost is what Received counts for a received message whose body
// and signed bytes take bodyLen and signedLen bytes encrypted.
func receivedCost(bodyLen, signedLen int64) int64 { return bodyLen + signedLen + rowOverhead }

// Received returns the bytes the store counts for the messages it holds
// that were received from peer (direction In): each one's encrypted body
// and signed bytes plus rowOverhead. A message counts from the commit that
// stores it until the commit that deletes it; messages sent to peer don't
// count. It is what a host bounds for the senders it does not know.
func (s *Store) Received(peer []byte) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.byPeer[string(peer)]; c != nil {
		return s.received[c.id]
	}
	return 0
}

// ReceivedTotal returns the sum of Received over every peer.
func (s *Store) ReceivedTotal() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.receivedTotal
}

// ReceivedExcept returns ReceivedTotal less Received of each of peers,
// each counted once, all read at once.
func (s *Store) ReceivedExcept(peers [][]byte) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.receivedTotal
	seen := make(map[int64]bool, len(peers))
	for _, p := range peers {
		if c := s.byPeer[string(p)]; c != nil && !seen[c.id] {
			seen[c.id] = true
			n -= s.received[c.id]
		}
	}
	return n
}

// loadReceived counts the received messages of every conversation, at
// Open: directions are in the encrypted heads, so it decrypts every
// message's head once.
func (s *Store) loadReceived(ctx context.Context) error {
	s.received = make(map[int64]int64)
	s.receivedTotal = 0
	rows, err := s.wstmt.query(ctx, `SELECT seq, conv, key, head, length(body) + blobsize, coalesce(length(signed), 0) FROM messages`)
	if err != nil {
		return fmt.Errorf("counting received messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, conv, bodyLen, signedLen int64
		var wrapped, headCT []byte
		if err := rows.Scan(&seq, &conv, &wrapped, &headCT, &bodyLen, &signedLen); err != nil {
			return fmt.Errorf("counting received messages: %w", err)
		}
		c := s.convs[conv]
		if c == nil {
			return fmt.Errorf("%w: message %d: no conversation %d", errCorrupt, seq, conv)
		}
		_, h, err := openRow(c, uint64(seq), wrapped, headCT)
		if err != nil {
			return fmt.Errorf("counting received messages: %w", err)
		}
		if h.Direction == delivery.In {
			n := receivedCost(bodyLen, signedLen)
			s.received[conv] += n
			s.receivedTotal += n
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("counting received messages: %w", err)
	}
	return nil
}

// addReceived records in b that conversation conv gains (or, negative,
// loses) n bytes of received messages.
func (b *batch) addReceived(conv, n int64) {
	if b.received == nil {
		b.received = make(map[int64]int64)
	}
	b.received[conv] += n
}

// applyReceived brings the counts up to date after b committed.
func (s *Store) applyReceived(b *batch) {
	if len(b.received) == 0 && len(b.dropped) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for conv, n := range b.received {
		s.received[conv] += n
		s.receivedTotal += n
		if s.received[conv] == 0 {
			delete(s.received, conv)
		}
	}
	for conv := range b.dropped {
		s.receivedTotal -= s.received[conv]
		delete(s.received, conv)
	}
}
