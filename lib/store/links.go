package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// Link is what a message leaves of itself for its conversation's chain:
// kept while the message is, and after it is deleted by Delete,
// DeleteMessages, DeleteBefore or DeleteExpired (not after
// DeleteConversation or DeleteAll, which leave nothing of the
// conversation). Text and file messages that have signed bytes have a link;
// receipts and other kinds do not, nor does a message whose signed bytes
// don't decode as a signed wire.Message.
type Link struct {
	Seq       uint64
	Direction delivery.Direction
	ID        []byte // the message id
	Hash      []byte // wire.ChainHash of its signed bytes
	Prev      []byte // the chain hash it carries (wire.Message.Chain); empty if none
	Sent      int64  // Unix ms, as the sender said
	Deleted   bool   // the message is gone: the link is all that is left of it
	// Was holds the hashes the message had before it was signed again (a
	// re-seal after a rotation), oldest first: the peer may hold it by
	// one of them, and name it so.
	Was [][]byte
}

// maxWas is how many earlier hashes a link keeps: enough for every
// rotation a message may wait through, while bounded.
const maxWas = 8

// resigned returns l as it is once its message was signed again and
// hashes to hash now.
func (l *link) resigned(hash []byte) *link {
	if bytes.Equal(l.Hash, hash) {
		return l
	}
	next := *l
	next.Was = append(slices.DeleteFunc(slices.Clone(l.Was), func(h []byte) bool { return bytes.Equal(h, hash) }), l.Hash)
	if len(next.Was) > maxWas {
		next.Was = next.Was[len(next.Was)-maxWas:]
	}
	next.Hash = hash
	return &next
}

// link reads the link of message seq of conversation c; nil if it has none.
func (b *batch) link(c *conversation, seq uint64) (*link, error) {
	var data []byte
	err := b.queryRow(`SELECT data FROM links WHERE seq = ?`, int64(seq)).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fail("reading a link", err)
	}
	return c.openLink(seq, data)
}

// RehashLink records that incoming message seq came again signed anew
// (its sender re-sealed it after a rotation), as signed bytes hashing to
// hash: its link takes that hash, and keeps the one before in Was, so
// that the conversation knows the message by both and the two users'
// transcripts (TranscriptFingerprint) hold the hash its sender holds.
// ErrNotFound if the message or its link is gone.
func (s *Store) RehashLink(seq uint64, hash []byte) error {
	if len(hash) != wire.HashSize {
		return fmt.Errorf("store: chain hash is %d bytes, want %d", len(hash), wire.HashSize)
	}
	return s.do(&request{apply: func(b *batch) error {
		c, _, _, err := b.message(seq, false)
		if err != nil {
			return err
		}
		l, err := b.link(c, seq)
		if err != nil {
			return err
		}
		if l == nil {
			return fmt.Errorf("%w: message %d has no link", ErrNotFound, seq)
		}
		_, err = b.exec("storing a link", `UPDATE links SET data = ? WHERE seq = ?`, c.sealLink(seq, l.resigned(hash)), int64(seq))
		return err
	}})
}

// linkOf returns the link of a message with head h and signed bytes
// signed, or nil if it has none. The signature is not checked: whoever
// stored the message did, and a link only records what it says.
func linkOf(h *head, signed []byte) *link {
	if (h.Kind != wire.KindText && h.Kind != wire.KindFile) || len(signed) == 0 {
		return nil
	}
	container, err := wire.DecodeSigned(signed)
	if err != nil {
		return nil
	}
	m, err := wire.DecodeMessage(container.Body)
	if err != nil {
		return nil
	}
	return &link{Direction: h.Direction, ID: h.ID, Hash: wire.ChainHash(signed), Prev: m.Chain, Sent: h.Sent}
}

func (c *conversation) sealLink(seq uint64, l *link) []byte {
	return c.link.Seal(nil, nil, marshal(l), aad("link", seq))
}

func (c *conversation) openLink(seq uint64, sealed []byte) (*link, error) {
	p, err := c.link.Open(nil, nil, sealed, aad("link", seq))
	if err != nil {
		return nil, fmt.Errorf("%w: message %d: its link does not open", errCorrupt, seq)
	}
	l := new(link)
	if err := wire.Unmarshal("link", p, l); err != nil {
		return nil, fmt.Errorf("%w: message %d: %w", errCorrupt, seq, err)
	}
	return l, nil
}

// addLink stores the link of message seq of conversation c.
func (b *batch) addLink(c *conversation, seq uint64, l *link) error {
	_, err := b.exec("storing a link", insertLink, int64(seq), c.id, c.messageTag(l.Direction, l.ID), c.sealLink(seq, l))
	return err
}

// Links returns every link of the conversation with peer, by Seq; none if
// there is no such conversation. A link is Deleted when its message is
// gone: that is what the tables show (a link without a message), not
// something stored.
func (s *Store) Links(peer []byte) ([]Link, error) {
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
	rows, err := s.rstmt.query(context.Background(), `SELECT l.seq, l.data, m.seq IS NULL FROM links l LEFT JOIN messages m ON m.seq = l.seq
		WHERE l.conv = ? ORDER BY l.seq`, c.id)
	if err != nil {
		return nil, fmt.Errorf("store: reading links: %w", err)
	}
	defer rows.Close()
	var links []Link
	for rows.Next() {
		var seq int64
		var data []byte
		var deleted bool
		if err := rows.Scan(&seq, &data, &deleted); err != nil {
			return nil, fmt.Errorf("store: reading links: %w", err)
		}
		l, err := c.openLink(uint64(seq), data)
		if err != nil {
			return nil, fmt.Errorf("store: reading links: %w", err)
		}
		links = append(links, Link{Seq: uint64(seq), Direction: l.Direction, ID: l.ID, Hash: l.Hash, Prev: l.Prev,
			Sent: l.Sent, Deleted: deleted, Was: l.Was})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading links: %w", err)
	}
	return links, nil
}

// rekeyLinks encrypts every link of old, and its tag, under next.
func (b *batch) rekeyLinks(old, next *conversation) error {
	return b.rekeyRows("links", "data", `SELECT seq, data, NULL FROM links
		WHERE conv = ? AND seq > ? ORDER BY seq LIMIT 512`, old.id,
		func(seq uint64, data, _ []byte) ([]byte, []byte, error) {
			l, err := old.openLink(seq, data)
			if err != nil {
				return nil, nil, err
			}
			return next.messageTag(l.Direction, l.ID), next.sealLink(seq, l), nil
		})
}

// backfill gives the messages of a store made before links (root.unlinked)
// their links and their marks in expiring, in one transaction, once.
func (s *Store) backfill(ctx context.Context) error {
	var unlinked bool
	if err := s.wstmt.queryRow(ctx, `SELECT unlinked FROM root`).Scan(&unlinked); err != nil {
		return err
	}
	if !unlinked {
		return nil
	}
	return s.commit([]*request{{apply: func(b *batch) error {
		for _, c := range b.s.convs {
			if err := b.backfillConversation(c); err != nil {
				return err
			}
		}
		_, err := b.exec("storing links", `UPDATE root SET unlinked = 0`)
		return err
	}}})
}

// backfillConversation stores what backfill adds for conversation c, a
// few messages at a time: signed bytes may be large.
func (b *batch) backfillConversation(c *conversation) error {
	type row struct {
		seq                     int64
		wrapped, head, signedCT []byte
	}
	for after := int64(0); ; {
		rows, err := b.query(`SELECT seq, key, head, signed FROM messages
			WHERE conv = ? AND seq > ? ORDER BY seq LIMIT 32`, c.id, after)
		if err != nil {
			return fail("storing links", err)
		}
		var page []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.seq, &r.wrapped, &r.head, &r.signedCT); err != nil {
				rows.Close()
				return fail("storing links", err)
			}
			page = append(page, r)
		}
		if err := rows.Close(); err != nil {
			return fail("storing links", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, r := range page {
			if err := b.backfillMessage(c, uint64(r.seq), r.wrapped, r.head, r.signedCT); err != nil {
				return err
			}
		}
		after = page[len(page)-1].seq
	}
}

// backfillMessage stores the link and expiry mark of one message.
func (b *batch) backfillMessage(c *conversation, seq uint64, wrapped, headCT, signedCT []byte) error {
	d, h, err := openRow(c, seq, wrapped, headCT)
	if err != nil {
		return fail("storing links", err)
	}
	if h.Expires > 0 {
		if _, err := b.exec("storing links", `INSERT OR IGNORE INTO expiring (seq) VALUES (?)`, int64(seq)); err != nil {
			return err
		}
	}
	if signedCT == nil {
		return nil
	}
	signed, err := d.open(seq, partSigned, signedCT)
	if err != nil {
		return fail("storing links", err)
	}
	if l := linkOf(h, signed); l != nil {
		return b.addLink(c, seq, l)
	}
	return nil
}
