package store

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// Delete deletes message seq (and its outbox entry), keeping its link, and
// shreds it: see the package doc for what that promises. ErrNotFound if
// there is no such message.
func (s *Store) Delete(seq uint64) error {
	return s.do(&request{shred: true, apply: func(b *batch) error {
		if _, _, _, err := b.message(seq, false); err != nil {
			return err
		}
		_, err := b.deleteSeqs([]uint64{seq})
		return err
	}})
}

// DeleteMessages deletes the messages seqs that exist (others are
// skipped), keeping their links, and shreds them as Delete does. It
// returns the sequence numbers it deleted, in order.
//
// Every deletion returns, and tells subscribers of, only the text and file
// messages it deleted: receipts and delete requests go with their
// conversation or their time, unreported, since no device shows them.
func (s *Store) DeleteMessages(seqs []uint64) ([]uint64, error) {
	var deleted []uint64
	err := s.do(&request{shred: true, apply: func(b *batch) error {
		var err error
		deleted, err = b.deleteSeqs(seqs)
		return err
	}})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// DeleteBefore deletes every message sent or stored before before (its
// Sent or its Stored is earlier, to the millisecond), in the conversation
// with peer or, with peer nil, in every conversation, keeping their links,
// and shreds them. It returns the sequence numbers it deleted, in order;
// none if there is no conversation with peer.
//
// The times are in the messages' encrypted heads, so it decrypts the head
// of every message it looks at.
func (s *Store) DeleteBefore(peer []byte, before time.Time) ([]uint64, error) {
	if peer != nil && len(peer) != wire.KeySize {
		return nil, fmt.Errorf("store: peer key is %d bytes, want %d", len(peer), wire.KeySize)
	}
	limit := before.UnixMilli()
	var deleted []uint64
	err := s.do(&request{shred: true, apply: func(b *batch) error {
		query, args := `SELECT seq, conv, key, head FROM messages ORDER BY seq`, []any(nil)
		if peer != nil {
			c := b.s.byPeer[string(peer)]
			if c == nil || b.dropped[c.id] {
				deleted = nil
				return nil
			}
			query, args = `SELECT seq, conv, key, head FROM messages WHERE conv = ? ORDER BY seq`, []any{c.id}
		}
		old, err := b.heads(query, args, func(h *head) bool { return h.Sent < limit || h.Stored < limit })
		if err != nil {
			return err
		}
		deleted, err = b.deleteSeqs(old)
		return err
	}})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// heads runs query, which selects seq, conv, key and head of messages, and
// returns the sequence numbers of those whose head match accepts.
func (b *batch) heads(query string, args []any, match func(*head) bool) ([]uint64, error) {
	rows, err := b.query(query, args...)
	if err != nil {
		return nil, fail("finding messages", err)
	}
	defer rows.Close()
	var seqs []uint64
	for rows.Next() {
		var seq, conv int64
		var wrapped, headCT []byte
		if err := rows.Scan(&seq, &conv, &wrapped, &headCT); err != nil {
			return nil, fail("finding messages", err)
		}
		c := b.s.convs[conv]
		if c == nil {
			return nil, fail("finding messages", fmt.Errorf("%w: message %d: no conversation %d", errCorrupt, seq, conv))
		}
		_, h, err := openRow(c, uint64(seq), wrapped, headCT)
		if err != nil {
			return nil, fail("finding messages", err)
		}
		if match(h) {
			seqs = append(seqs, uint64(seq))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fail("finding messages", err)
	}
	return seqs, nil
}

// deleteSeqs deletes the messages seqs that exist, with their outbox
// entries and expiry marks but not their links, marks their conversations
// for re-keying and records the deletions; it returns the sequence numbers
// it deleted, in order. A few statements delete them all, however many.
func (b *batch) deleteSeqs(seqs []uint64) ([]uint64, error) {
	valid := make([]int64, 0, len(seqs))
	for _, seq := range seqs {
		if seq != 0 && seq <= math.MaxInt64 {
			valid = append(valid, int64(seq))
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	set, err := json.Marshal(valid)
	if err != nil {
		return nil, fail("deleting messages", err)
	}
	const in = `seq IN (SELECT value FROM json_each(?))`
	// The heads say which messages were received, for Received.
	rows, err := b.query(`SELECT seq, conv, key, head, length(body) + blobsize, coalesce(length(signed), 0)
		FROM messages WHERE `+in+` ORDER BY seq`, string(set))
	if err != nil {
		return nil, fail("finding messages", err)
	}
	var found []uint64
	convs := make(map[int64]bool)
	received := make(map[int64]int64)
	for rows.Next() {
		var seq, conv, bodyLen, signedLen int64
		var wrapped, headCT []byte
		if err := rows.Scan(&seq, &conv, &wrapped, &headCT, &bodyLen, &signedLen); err != nil {
			rows.Close()
			return nil, fail("finding messages", err)
		}
		c := b.s.convs[conv]
		if c == nil {
			rows.Close()
			return nil, fail("finding messages", fmt.Errorf("%w: message %d: no conversation %d", errCorrupt, seq, conv))
		}
		_, h, err := openRow(c, uint64(seq), wrapped, headCT)
		if err != nil {
			rows.Close()
			return nil, fail("finding messages", err)
		}
		if h.Direction == delivery.In {
			received[conv] -= receivedCost(bodyLen, signedLen)
		}
		found = append(found, uint64(seq))
		convs[conv] = true
	}
	if err := rows.Close(); err != nil {
		return nil, fail("finding messages", err)
	}
	if len(found) == 0 {
		return nil, nil
	}
	shown, err := b.shown(found)
	if err != nil {
		return nil, err
	}
	for _, table := range []string{"outbox", "expiring", "messages"} {
		if _, err := b.exec("deleting messages", `DELETE FROM `+table+` WHERE `+in, string(set)); err != nil {
			return nil, err
		}
	}
	for conv := range convs {
		b.rekey[conv] = true
	}
	for conv, n := range received {
		b.addReceived(conv, n)
	}
	b.deleted(shown)
	return shown, nil
}

// shown returns those of seqs, which exist, that are text or file
// messages: the ones a deletion reports. Receipts and delete requests are
// deleted with their conversation too, but no device ever saw them.
// Messages with a link are text or file ones; only the others' heads are
// read.
func (b *batch) shown(seqs []uint64) ([]uint64, error) {
	set, err := json.Marshal(seqs)
	if err != nil {
		return nil, fail("finding messages", err)
	}
	linked, err := b.seqs(`SELECT seq FROM links WHERE seq IN (SELECT value FROM json_each(?))`, string(set))
	if err != nil {
		return nil, err
	}
	others, err := b.heads(`SELECT seq, conv, key, head FROM messages
		WHERE seq IN (SELECT value FROM json_each(?)) AND seq NOT IN (SELECT seq FROM links)`,
		[]any{string(set)}, func(h *head) bool { return h.Kind == wire.KindText || h.Kind == wire.KindFile })
	if err != nil {
		return nil, err
	}
	shown := append(linked, others...)
	slices.Sort(shown)
	return shown, nil
}

// DeleteConversation deletes every message with peer (and their outbox
// entries), their links and the conversation's key, and shreds them as
// Delete does. It returns the sequence numbers of the messages it deleted,
// in order. ErrNotFound if there is no conversation with peer.
func (s *Store) DeleteConversation(peer []byte) ([]uint64, error) {
	if len(peer) != wire.KeySize {
		return nil, fmt.Errorf("store: peer key is %d bytes, want %d", len(peer), wire.KeySize)
	}
	var deleted []uint64
	err := s.do(&request{shred: true, apply: func(b *batch) error {
		c := b.s.byPeer[string(peer)]
		if c == nil || b.dropped[c.id] {
			return fmt.Errorf("%w: no conversation with that peer", ErrNotFound)
		}
		var err error
		deleted, err = b.dropConversations(`SELECT seq FROM messages WHERE conv = ?1 ORDER BY seq`, []any{c.id}, []string{
			`DELETE FROM outbox WHERE seq IN (SELECT seq FROM messages WHERE conv = ?1)`,
			`DELETE FROM expiring WHERE seq IN (SELECT seq FROM messages WHERE conv = ?1)`,
			`DELETE FROM links WHERE conv = ?1`,
			`DELETE FROM messages WHERE conv = ?1`,
			`DELETE FROM conversations WHERE id = ?1`,
		})
		if err == nil {
			b.dropped[c.id] = true
		}
		return err
	}})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// DeleteAll deletes every conversation, with everything in it, and shreds
// them. It returns the sequence numbers of the messages it deleted, in
// order.
func (s *Store) DeleteAll() ([]uint64, error) {
	var deleted []uint64
	err := s.do(&request{shred: true, apply: func(b *batch) error {
		var err error
		deleted, err = b.dropConversations(`SELECT seq FROM messages ORDER BY seq`, nil, []string{
			`DELETE FROM outbox`, `DELETE FROM expiring`, `DELETE FROM links`, `DELETE FROM messages`, `DELETE FROM conversations`,
		})
		if err != nil {
			return err
		}
		for id := range b.s.convs {
			b.dropped[id] = true
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// dropConversations deletes whole conversations: list selects the
// sequence numbers of their messages, which it returns and records as
// deleted, and the statements delete them, with args. The caller marks the
// conversations dropped.
func (b *batch) dropConversations(list string, args []any, statements []string) ([]uint64, error) {
	seqs, err := b.seqs(list, args...)
	if err != nil {
		return nil, err
	}
	if seqs, err = b.shown(seqs); err != nil {
		return nil, err
	}
	for _, q := range statements {
		if _, err := b.exec("deleting a conversation", q, args...); err != nil {
			return nil, err
		}
	}
	b.deleted(seqs)
	return seqs, nil
}
