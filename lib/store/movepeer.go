package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// MovePeer moves the conversation with old to new, in one transaction: a
// peer that rotated its identity key stays one conversation. Its
// messages, outbox entries and links go to the conversation with new
// (created if there is none, merged in seq order if there is one), with
// its received-bytes count and its default expiry (unless new's
// conversation has one); the old conversation's key and its kept record
// (a record of old, no use for new) are destroyed, as a deletion shreds
// them. A message the two conversations both hold (the same direction and
// id: one that came again from the old key) is kept once, the one new
// holds. If warn is not 0, the newest text or file message of the
// conversation after the move gets it (as AddWarning), and marked is its
// seq; 0 if the conversation holds none. ErrNotFound if there is no conversation
// with old.
func (s *Store) MovePeer(old, new []byte, warn delivery.Warning) (marked uint64, err error) {
	if len(old) != wire.KeySize || len(new) != wire.KeySize {
		return 0, fmt.Errorf("store: peer keys of %d and %d bytes, want %d", len(old), len(new), wire.KeySize)
	}
	if bytes.Equal(old, new) {
		return 0, errors.New("store: moving a conversation to the peer it has")
	}
	defer s.expireAfter.forget() // the new conversation may take the old one's
	err = s.do(&request{shred: true, apply: func(b *batch) error {
		marked = 0
		src := b.s.byPeer[string(old)]
		if src == nil || b.dropped[src.id] {
			return fmt.Errorf("%w: no conversation with that peer", ErrNotFound)
		}
		dst, err := b.conversation(new)
		if err != nil {
			return err
		}
		if err := b.moveMessages(src, dst); err != nil {
			return err
		}
		if err := b.moveLinks(src, dst); err != nil {
			return err
		}
		if err := b.moveExpire(src, dst); err != nil {
			return err
		}
		if _, err := b.exec("moving a conversation", `DELETE FROM conversations WHERE id = ?`, src.id); err != nil {
			return err
		}
		b.dropped[src.id] = true
		if warn == 0 {
			return nil
		}
		if marked, err = b.newestShown(dst); err != nil || marked == 0 {
			return err
		}
		return b.addWarning(marked, warn)
	}})
	if err != nil {
		return 0, err
	}
	return marked, nil
}

// moveMessages re-wraps the data key of every message of src under dst,
// with dst's tag, and moves it there; one dst already holds is deleted.
// Bodies are not touched.
func (b *batch) moveMessages(src, dst *conversation) error {
	type row struct {
		seq                int64
		wrapped, headCT    []byte
		bodyLen, signedLen int64
	}
	moved := b.s.received[src.id]
	var dups []uint64
	for after := int64(0); ; {
		rows, err := b.query(`SELECT seq, key, head, length(body) + blobsize, coalesce(length(signed), 0)
			FROM messages WHERE conv = ? AND seq > ? ORDER BY seq LIMIT 512`, src.id, after)
		if err != nil {
			return fail("moving a conversation", err)
		}
		var page []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.seq, &r.wrapped, &r.headCT, &r.bodyLen, &r.signedLen); err != nil {
				rows.Close()
				return fail("moving a conversation", err)
			}
			page = append(page, r)
		}
		if err := rows.Close(); err != nil {
			return fail("moving a conversation", err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			seq := uint64(r.seq)
			key, err := src.unwrapDataKey(seq, r.wrapped)
			if err != nil {
				return fail("moving a conversation", err)
			}
			h, err := sealed{newAEAD(bytes.Clone(key))}.openHead(seq, r.headCT)
			if err != nil {
				clear(key)
				return fail("moving a conversation", err)
			}
			tag := dst.messageTag(h.Direction, h.ID)
			var held bool
			if err := b.queryRow(`SELECT EXISTS (SELECT 1 FROM messages WHERE tag = ?)`, tag).Scan(&held); err != nil {
				clear(key)
				return fail("moving a conversation", err)
			}
			if held {
				clear(key)
				dups = append(dups, seq)
				if h.Direction == delivery.In {
					moved -= receivedCost(r.bodyLen, r.signedLen)
				}
				continue
			}
			_, err = b.exec("moving a conversation", `UPDATE messages SET conv = ?, tag = ?, key = ? WHERE seq = ?`,
				dst.id, tag, dst.wrapDataKey(seq, key), r.seq)
			clear(key)
			if err != nil {
				return err
			}
		}
		after = page[len(page)-1].seq
	}
	for _, seq := range dups {
		for _, q := range []string{`DELETE FROM outbox WHERE seq = ?`, `DELETE FROM expiring WHERE seq = ?`,
			`DELETE FROM links WHERE seq = ?`, `DELETE FROM messages WHERE seq = ?`} {
			if _, err := b.exec("moving a conversation", q, int64(seq)); err != nil {
				return err
			}
		}
	}
	b.deleted(dups)
	// src is dropped: its count goes, and what moved counts for dst.
	if moved != 0 {
		b.addReceived(dst.id, moved)
	}
	return nil
}

// moveLinks re-encrypts every link of src under dst and moves it there.
func (b *batch) moveLinks(src, dst *conversation) error {
	rows, err := b.query(`SELECT seq, data FROM links WHERE conv = ? ORDER BY seq`, src.id)
	if err != nil {
		return fail("moving a conversation", err)
	}
	type row struct {
		seq  int64
		data []byte
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.data); err != nil {
			rows.Close()
			return fail("moving a conversation", err)
		}
		all = append(all, r)
	}
	if err := rows.Close(); err != nil {
		return fail("moving a conversation", err)
	}
	for _, r := range all {
		l, err := src.openLink(uint64(r.seq), r.data)
		if err != nil {
			return fail("moving a conversation", err)
		}
		if _, err := b.exec("moving a conversation", `UPDATE links SET conv = ?, tag = ?, data = ? WHERE seq = ?`,
			dst.id, dst.messageTag(l.Direction, l.ID), dst.sealLink(uint64(r.seq), l), r.seq); err != nil {
			return err
		}
	}
	return nil
}

// moveExpire gives dst src's default expiry, unless dst has one.
func (b *batch) moveExpire(src, dst *conversation) error {
	var from, to []byte
	if err := b.queryRow(`SELECT expire FROM conversations WHERE id = ?`, src.id).Scan(&from); err != nil {
		return fail("moving a conversation", err)
	}
	if err := b.queryRow(`SELECT expire FROM conversations WHERE id = ?`, dst.id).Scan(&to); err != nil {
		return fail("moving a conversation", err)
	}
	if from == nil || to != nil {
		return nil
	}
	p, err := src.openColumn(convExpire, from)
	if err != nil {
		return fail("moving a conversation", err)
	}
	_, err = b.exec("moving a conversation", `UPDATE conversations SET expire = ? WHERE id = ?`, dst.sealColumn(convExpire, p), dst.id)
	return err
}

// newestShown returns the seq of the newest text or file message of c,
// the newest a device shows in the conversation (receipts and the like
// are not); 0 if it has none.
func (b *batch) newestShown(c *conversation) (uint64, error) {
	for before := int64(math.MaxInt64); ; {
		rows, err := b.query(`SELECT seq, key, head FROM messages WHERE conv = ? AND seq < ?
			ORDER BY seq DESC LIMIT 64`, c.id, before)
		if err != nil {
			return 0, fail("moving a conversation", err)
		}
		var found uint64
		n := 0
		for rows.Next() && found == 0 {
			var seq int64
			var wrapped, headCT []byte
			if err := rows.Scan(&seq, &wrapped, &headCT); err != nil {
				rows.Close()
				return 0, fail("moving a conversation", err)
			}
			n++
			before = seq
			_, h, err := openRow(c, uint64(seq), wrapped, headCT)
			if err != nil {
				rows.Close()
				return 0, fail("moving a conversation", err)
			}
			if h.Kind == wire.KindText || h.Kind == wire.KindFile {
				found = uint64(seq)
			}
		}
		if err := rows.Close(); err != nil {
			return 0, fail("moving a conversation", err)
		}
		if found != 0 || n == 0 {
			return found, nil
		}
	}
}

// addWarning records w on message seq (once), as AddWarning does.
func (b *batch) addWarning(seq uint64, w delivery.Warning) error {
	_, d, h, err := b.message(seq, false)
	if err != nil {
		return fail("storing a warning", err) // after writes: the whole move fails
	}
	if slices.Contains(h.Warnings, w) {
		return nil
	}
	h.Warnings = append(h.Warnings, w)
	if _, err := b.exec("storing a warning", `UPDATE messages SET head = ? WHERE seq = ?`,
		d.seal(partHead, marshal(h)), int64(seq)); err != nil {
		return err
	}
	b.changes = append(b.changes, Change{Seq: seq, Status: true})
	return nil
}

// Peers returns the keys of the peers the store has a conversation with,
// in no order.
func (s *Store) Peers() [][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	peers := make([][]byte, 0, len(s.byPeer))
	for k := range s.byPeer {
		peers = append(peers, []byte(k))
	}
	return peers
}

// Has reports whether there is a conversation with peer.
func (s *Store) Has(peer []byte) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byPeer[string(peer)] != nil
}
