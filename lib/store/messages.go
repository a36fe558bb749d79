package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"smvs/lib/blob"
	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// marshal encodes a structure of this package at the current version.
func marshal(v interface{ setVersion() }) []byte {
	v.setVersion()
	return wire.Marshal(v)
}

func (h *head) setVersion()  { h.V = wire.Version }
func (r *retry) setVersion() { r.V = wire.Version }

// newMessage checks m for adding in direction dir with status st and
// returns its head, stored at now.
func newMessage(m *Message, dir delivery.Direction, st delivery.Status, now int64) (*head, error) {
	if m == nil {
		return nil, errors.New("store: no message")
	}
	if len(m.Peer) != wire.KeySize {
		return nil, fmt.Errorf("store: peer key is %d bytes, want %d", len(m.Peer), wire.KeySize)
	}
	if m.Direction != 0 && m.Direction != dir {
		return nil, fmt.Errorf("store: message direction %d, want %d", m.Direction, dir)
	}
	if m.Status != 0 && m.Status != st {
		return nil, fmt.Errorf("store: a new message's status is %s, want %s", m.Status, st)
	}
	if (m.Size > 0) != (len(m.Blob) == BlobNameSize) || m.Size < 0 || m.Size > 0 && len(m.Body) > 0 {
		return nil, fmt.Errorf("store: a streamed body's size %d with a blob name of %d bytes and %d bytes inline", m.Size, len(m.Blob), len(m.Body))
	}
	h := &head{ID: m.ID, Direction: dir, Status: st, Sent: m.Sent, Stored: now, Kind: m.Kind,
		ContentType: m.ContentType, FileName: m.FileName, Expires: m.Expires, Warnings: slices.Clone(m.Warnings), Size: m.Size}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("store: message: %w", err)
	}
	return h, nil
}

// encrypted is a new message encrypted under its data key, before the
// writer wraps that key.
type encrypted struct {
	key                []byte
	head, body, signed []byte
	blob               []byte // a streamed body's blob name, nil for none
	blobSize           int64  // its blob's size
	d                  sealed
	link               *link // nil if it has none
	expires            int64
}

// encrypt encrypts m for storing. A body is stored once: one that m.Signed
// carries is kept there only (head.InSigned), and read back from it.
func encrypt(h *head, m *Message) *encrypted {
	key := newKey()
	e := &encrypted{key: key, d: sealed{newAEAD(bytes.Clone(key))}, link: linkOf(h, m.Signed), expires: h.Expires}
	body := m.Body
	if len(body) > 0 && len(m.Signed) > 0 {
		if inSigned, err := bodyOf(m.Signed); err == nil && bytes.Equal(inSigned, body) {
			h.InSigned, body = true, nil
		}
	}
	e.head = e.d.seal(partHead, marshal(h))
	e.body = e.d.seal(partBody, body)
	if m.Size > 0 {
		e.blob, e.blobSize = m.Blob, blob.SealedSize(m.Size)
	}
	if len(m.Signed) > 0 {
		e.signed = e.d.seal(partSigned, m.Signed)
	}
	return e
}

// insert stores e in the conversation with peer as message b.nextSeq, in
// direction dir with id, with its link and its mark in expiring if it
// expires. It reports false, storing nothing, if that conversation already
// has a message with this direction and id.
func (b *batch) insert(peer []byte, dir delivery.Direction, id []byte, e *encrypted) (uint64, bool, error) {
	c, err := b.conversation(peer)
	if err != nil {
		return 0, false, err
	}
	seq := b.nextSeq
	res, err := b.exec("storing a message", insertMessage, int64(seq), c.id, c.messageTag(dir, id), c.wrapDataKey(seq, e.key),
		e.head, e.body, e.signed, e.blob, e.blobSize)
	if err != nil {
		return 0, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, false, fail("storing a message", err)
	}
	if n == 0 {
		return 0, false, nil
	}
	b.nextSeq++
	if dir == delivery.In {
		b.addReceived(c.id, receivedCost(int64(len(e.body))+e.blobSize, int64(len(e.signed))))
	}
	if e.link != nil {
		if err := b.addLink(c, seq, e.link); err != nil {
			return 0, false, err
		}
	}
	if e.expires > 0 {
		if _, err := b.exec("marking a message that expires", `INSERT INTO expiring (seq) VALUES (?)`, int64(seq)); err != nil {
			return 0, false, err
		}
		b.expiring = append(b.expiring, expiry{at: e.expires, seq: seq})
	}
	b.changes = append(b.changes, Change{Seq: seq})
	return seq, true, nil
}

// AddIncoming stores a received message, unless the conversation with
// m.Peer already has one with m.ID: then it reports dup and changes nothing.
// Otherwise it sets m.Seq and m.Stored (and m.Direction and m.Status to In
// and Received) and returns once the message is on disk.
func (s *Store) AddIncoming(m *Message) (dup bool, err error) {
	return s.AddIncomingQueued(m, nil)
}

// AddIncomingQueued is AddIncoming calling queued (if not nil) once the
// message is queued to be stored, before it is on disk, as
// AddOutgoingQueued does.
func (s *Store) AddIncomingQueued(m *Message, queued func()) (dup bool, err error) {
	if queued != nil {
		queued = sync.OnceFunc(queued)
		defer queued() // refused before it was queued
	}
	now := s.now().UnixMilli()
	h, err := newMessage(m, delivery.In, delivery.Received, now)
	if err != nil {
		return false, err
	}
	e := encrypt(h, m)
	defer clear(e.key)
	defer s.blobs.release(m.Blob) // named by a row now, or the caller drops it
	var seq uint64
	err = s.do(&request{
		queued: queued,
		size:   len(e.body) + len(e.signed),
		apply: func(b *batch) error {
			var added bool
			var err error
			seq, added, err = b.insert(m.Peer, delivery.In, m.ID, e)
			dup = !added
			return err
		},
	})
	if err != nil {
		return false, err
	}
	if !dup {
		m.Seq, m.Stored, m.Direction, m.Status = seq, now, delivery.In, delivery.Received
	}
	return dup, nil
}

// AddOutgoing stores a message being sent, with status Queued, and its
// envelope in the outbox until until, in one transaction; it sets m.Seq and
// m.Stored (and m.Direction and m.Status to Out and Queued) and returns once
// both are on disk. The entry's first attempt is due now. An id already used
// for an outgoing message to m.Peer is refused.
func (s *Store) AddOutgoing(m *Message, envelope []byte, until time.Time) error {
	return s.AddOutgoingQueued(m, envelope, until, nil)
}

// AddOutgoingQueued is AddOutgoing calling queued (if not nil) once the
// message is queued to be stored, before it is on disk: messages queued
// one after another get sequence numbers in that order, and commit together.
func (s *Store) AddOutgoingQueued(m *Message, envelope []byte, until time.Time, queued func()) error {
	if queued != nil {
		queued = sync.OnceFunc(queued)
		defer queued() // refused before it was queued
	}
	now := s.now()
	h, err := newMessage(m, delivery.Out, delivery.Queued, now.UnixMilli())
	if err != nil {
		return err
	}
	if len(envelope) == 0 {
		return errors.New("store: no envelope")
	}
	if until.IsZero() || until.UnixMilli() < 0 {
		return fmt.Errorf("store: bad delivery deadline %v", until)
	}
	e := encrypt(h, m)
	defer clear(e.key)
	defer s.blobs.release(m.Blob)
	sealedEnvelope := e.d.seal(partEnvelope, envelope)
	sealedRetry := e.d.seal(partRetry, marshal(&retry{Next: now.UnixMilli(), Until: until.UnixMilli()}))
	var seq uint64
	err = s.do(&request{
		queued: queued,
		size:   len(e.body) + len(e.signed) + len(sealedEnvelope),
		apply: func(b *batch) error {
			var added bool
			var err error
			seq, added, err = b.insert(m.Peer, delivery.Out, m.ID, e)
			if err != nil {
				return err
			}
			if !added {
				return fmt.Errorf("store: message id %x is already used", m.ID)
			}
			_, err = b.exec("storing an outbox entry", insertOutbox, int64(seq), sealedEnvelope, sealedRetry)
			return err
		},
	})
	if err != nil {
		return err
	}
	m.Seq, m.Stored, m.Direction, m.Status = seq, now.UnixMilli(), delivery.Out, delivery.Queued
	return nil
}

// forward reports whether an outgoing message may go from status from to
// status to: Queued to Sent, Delivered, Failed or Refused, and Sent to
// Delivered. Delivered, Failed and Refused are final.
func forward(from, to delivery.Status) bool {
	switch from {
	case delivery.Queued:
		return to == delivery.Sent || to == delivery.Delivered || to == delivery.Failed || to == delivery.Refused
	case delivery.Sent:
		return to == delivery.Delivered
	}
	return false
}

// SetStatus moves the outgoing message id to peer to status st (Sent,
// Delivered or Failed) if that is forward, and returns the message without
// its body. A status that is not forward (a receipt after Failed, Sent after
// Delivered) changes nothing and is not an error. ErrNotFound if there is no
// such message.
func (s *Store) SetStatus(peer, id []byte, st delivery.Status) (*Message, error) {
	if len(peer) != wire.KeySize || len(id) != wire.MessageIDSize {
		return nil, fmt.Errorf("store: peer key of %d bytes or message id of %d", len(peer), len(id))
	}
	if st != delivery.Sent && st != delivery.Delivered && st != delivery.Failed {
		return nil, fmt.Errorf("store: can't set an outgoing message's status to %s", st)
	}
	var m *Message
	err := s.do(&request{apply: func(b *batch) error {
		seq, c, d, h, err := b.outgoing(peer, id)
		if err != nil {
			return err
		}
		if err := b.setStatus(seq, d, h, st); err != nil {
			return err
		}
		m, err = toMessage(seq, c, d, h, nil, nil)
		return err
	}})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// MarkRead marks the received messages seqs read, and returns how many were
// unread. Sequence numbers of sent messages, or of none, are skipped: a
// device may mark what it showed without sorting it first.
func (s *Store) MarkRead(seqs []uint64) (int, error) {
	marked := 0
	err := s.do(&request{apply: func(b *batch) error {
		marked = 0
		for _, seq := range seqs {
			_, d, h, err := b.message(seq, false)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if h.Direction != delivery.In || h.Read {
				continue
			}
			h.Read = true
			if _, err := b.exec("storing a read mark", `UPDATE messages SET head = ? WHERE seq = ?`,
				d.seal(partHead, marshal(h)), int64(seq)); err != nil {
				return err
			}
			b.changes = append(b.changes, Change{Seq: seq, Status: true, Read: true})
			marked++
		}
		return nil
	}})
	return marked, err
}

// AddWarning records w on message seq (once) and tells subscribers, as a
// status change. ErrNotFound if there is no such message.
func (s *Store) AddWarning(seq uint64, w delivery.Warning) error {
	if w == 0 {
		return errors.New("store: no warning")
	}
	return s.do(&request{apply: func(b *batch) error {
		_, d, h, err := b.message(seq, false)
		if err != nil {
			return err
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
	}})
}

// OutboxDone removes message seq's outbox entry and sets its status to st,
// Sent, Failed or Refused (if that is forward: a receipt may have come
// first). ErrNotFound if seq is not in the outbox.
func (s *Store) OutboxDone(seq uint64, st delivery.Status) error {
	if st != delivery.Sent && st != delivery.Failed && st != delivery.Refused {
		return fmt.Errorf("store: an outbox entry ends as sent, failed or refused, not %s", st)
	}
	return s.do(&request{apply: func(b *batch) error {
		_, d, h, err := b.message(seq, true)
		if err != nil {
			return err
		}
		if _, err := b.exec("removing an outbox entry", `DELETE FROM outbox WHERE seq = ?`, int64(seq)); err != nil {
			return err
		}
		return b.setStatus(seq, d, h, st)
	}})
}

// OutboxRetry records a failed attempt to deliver message seq: attempts so
// far, and when to try next. ErrNotFound if seq is not in the outbox.
func (s *Store) OutboxRetry(seq uint64, attempts int, next time.Time) error {
	if attempts < 0 || next.IsZero() || next.UnixMilli() < 0 {
		return fmt.Errorf("store: bad retry: %d attempts, next %v", attempts, next)
	}
	return s.do(&request{apply: func(b *batch) error {
		_, d, _, err := b.message(seq, true)
		if err != nil {
			return err
		}
		var retryCT []byte
		if err := b.queryRow(`SELECT retry FROM outbox WHERE seq = ?`, int64(seq)).Scan(&retryCT); err != nil {
			return fail("reading an outbox entry", err)
		}
		r, err := openRetry(d, seq, retryCT)
		if err != nil {
			return err
		}
		r.Attempts, r.Next = uint64(attempts), next.UnixMilli()
		_, err = b.exec("storing an outbox entry", `UPDATE outbox SET retry = ? WHERE seq = ?`,
			d.seal(partRetry, marshal(r)), int64(seq))
		return err
	}})
}

// ReplaceEnvelope replaces the envelope of message seq's outbox entry, and
// the signed message it carries, after re-sealing it to the peer's new KEM
// key (the signed message names that key, so it changes, and with it the
// message's chain hash: its link follows, and keeps the hash it had in
// Link.Was). ErrNotFound if seq is not in the outbox.
func (s *Store) ReplaceEnvelope(seq uint64, envelope, signed []byte) error {
	if len(envelope) == 0 || len(signed) == 0 {
		return errors.New("store: no envelope or no signed message")
	}
	return s.do(&request{size: len(envelope) + len(signed), apply: func(b *batch) error {
		c, d, h, err := b.message(seq, true)
		if err != nil {
			return err
		}
		if _, err := b.exec("storing an envelope", `UPDATE outbox SET envelope = ? WHERE seq = ?`,
			d.seal(partEnvelope, envelope), int64(seq)); err != nil {
			return err
		}
		if _, err := b.exec("storing a signed message", `UPDATE messages SET signed = ? WHERE seq = ?`,
			d.seal(partSigned, signed), int64(seq)); err != nil {
			return err
		}
		l := linkOf(h, signed)
		if l == nil {
			return nil
		}
		// The peer may hold the message as it was signed before: the
		// link keeps that hash too.
		if was, err := b.link(c, seq); err != nil {
			return err
		} else if was != nil {
			l.Was = was.resigned(l.Hash).Was
		}
		_, err = b.exec("storing a link", `UPDATE links SET data = ? WHERE seq = ?`, c.sealLink(seq, l), int64(seq))
		return err
	}})
}

// openRow unwraps a message's data key under c and decrypts its head.
func openRow(c *conversation, seq uint64, wrapped, headCT []byte) (sealed, *head, error) {
	d, err := c.dataKey(seq, wrapped)
	if err != nil {
		return sealed{}, nil, err
	}
	h, err := d.openHead(seq, headCT)
	if err != nil {
		return sealed{}, nil, err
	}
	return d, h, nil
}

func openRetry(d sealed, seq uint64, ciphertext []byte) (*retry, error) {
	p, err := d.open(seq, partRetry, ciphertext)
	if err != nil {
		return nil, err
	}
	r := new(retry)
	if err := wire.Unmarshal("outbox entry", p, r); err != nil {
		return nil, fmt.Errorf("%w: message %d: %w", errCorrupt, seq, err)
	}
	return r, nil
}

// toMessage assembles a message from its head and its decrypted parts;
// bodyCT nil leaves Body nil, signedCT nil Signed.
func toMessage(seq uint64, c *conversation, d sealed, h *head, bodyCT, signedCT []byte) (*Message, error) {
	m := &Message{
		Seq: seq, ID: h.ID, Peer: bytes.Clone(c.peer), Direction: h.Direction, Status: h.Status,
		Sent: h.Sent, Stored: h.Stored, Kind: h.Kind, ContentType: h.ContentType, FileName: h.FileName,
		Expires: h.Expires, Read: h.Read, Warnings: h.Warnings, Size: h.Size,
	}
	var err error
	if bodyCT != nil {
		if m.Body, err = d.open(seq, partBody, bodyCT); err != nil {
			return nil, err
		}
	}
	if signedCT != nil {
		if m.Signed, err = d.open(seq, partSigned, signedCT); err != nil {
			return nil, err
		}
	}
	if bodyCT != nil && h.InSigned {
		if m.Body, err = bodyOf(m.Signed); err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", errCorrupt, seq, err)
		}
	}
	return m, nil
}

// bodyOf returns the inline body of a signed message (nil for a streamed
// one), without checking the signature: the store checked it, or the
// host did before storing it.
func bodyOf(signed []byte) ([]byte, error) {
	s, err := wire.DecodeSigned(signed)
	if err != nil {
		return nil, err
	}
	m, err := wire.DecodeMessage(s.Body)
	if err != nil {
		return nil, err
	}
	return m.Body, nil
}

// scanner is what *sql.Rows and *sql.Row have in common.
type scanner interface{ Scan(...any) error }

// readMessage reads one row of messageColumns (withBody) or headColumns
// and decrypts it. The caller holds s.mu for reading.
func (s *Store) readMessage(r scanner, withBody bool) (*Message, error) {
	var seq, conv int64
	var wrapped, headCT, bodyCT, signedCT []byte
	var err error
	if withBody {
		err = r.Scan(&seq, &conv, &wrapped, &headCT, &bodyCT, &signedCT)
	} else {
		err = r.Scan(&seq, &conv, &wrapped, &headCT)
	}
	if err != nil {
		return nil, err
	}
	c := s.convs[conv]
	if c == nil {
		return nil, fmt.Errorf("%w: message %d: no conversation %d", errCorrupt, seq, conv)
	}
	d, h, err := openRow(c, uint64(seq), wrapped, headCT)
	if err != nil {
		return nil, err
	}
	return toMessage(uint64(seq), c, d, h, bodyCT, signedCT)
}

// Get returns message seq with its body. ErrNotFound if there is none.
func (s *Store) Get(seq uint64) (*Message, error) {
	return s.get(seq, true)
}

// Head returns message seq without its body: enough to look at its status
// or read mark without reading a large file. ErrNotFound if there is none.
func (s *Store) Head(seq uint64) (*Message, error) {
	return s.get(seq, false)
}

func (s *Store) get(seq uint64, withBody bool) (*Message, error) {
	n, err := checkSeq(seq)
	if err != nil {
		return nil, err
	}
	if err := s.readerState(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	query := `SELECT ` + headColumns + ` FROM messages WHERE seq = ?`
	if withBody {
		query = `SELECT ` + messageColumns + ` FROM messages WHERE seq = ?`
	}
	m, err := s.readMessage(s.rstmt.queryRow(context.Background(), query, n), withBody)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: message %d", ErrNotFound, seq)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading message %d: %w", seq, err)
	}
	return m, nil
}

// List returns at most limit messages with Seq above after, oldest first,
// with their bodies.
func (s *Store) List(after uint64, limit int) ([]*Message, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: list limit %d, want at least 1", limit)
	}
	if after >= math.MaxInt64 {
		return nil, nil
	}
	if err := s.readerState(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rows, err := s.rstmt.query(context.Background(), `SELECT `+messageColumns+` FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`,
		int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("store: listing messages: %w", err)
	}
	defer rows.Close()
	var ms []*Message
	for rows.Next() {
		m, err := s.readMessage(rows, true)
		if err != nil {
			return nil, fmt.Errorf("store: listing messages: %w", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing messages: %w", err)
	}
	return ms, nil
}

// ByID returns the message with id, without its body: the sent one if
// there is one, else the received one. ErrNotFound if there is none.
//
// Message tags are keyed per conversation, so this computes id's tag in
// every conversation and looks them all up: one indexed query per 256
// conversations.
func (s *Store) ByID(id []byte) (*Message, error) {
	if len(id) != wire.MessageIDSize {
		return nil, fmt.Errorf("store: message id is %d bytes, want %d", len(id), wire.MessageIDSize)
	}
	if err := s.readerState(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	// A sent message first: its id is this host's own choice, while a
	// received one's is the peer's, who may have copied it.
	for _, dir := range []delivery.Direction{delivery.Out, delivery.In} {
		tags := make([]any, 0, len(s.convs))
		for _, c := range s.convs {
			tags = append(tags, c.messageTag(dir, id))
		}
		for len(tags) > 0 {
			n := min(len(tags), 256)
			q := `SELECT ` + headColumns + ` FROM messages WHERE tag IN (?` + strings.Repeat(`, ?`, n-1) + `)`
			// Not kept prepared (stmts): the text varies with n.
			m, err := s.readMessage(s.read.QueryRow(q, tags[:n]...), false)
			switch {
			case err == nil && bytes.Equal(m.ID, id) && m.Direction == dir:
				return m, nil
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return nil, fmt.Errorf("store: finding message %x: %w", id, err)
			}
			tags = tags[n:]
		}
	}
	return nil, fmt.Errorf("%w: no message %x", ErrNotFound, id)
}

// LastSigned returns the signed bytes of the newest message (either
// direction) in the conversation with peer that has them, or nil if there is
// none: what the next message's chain hash is computed over.
func (s *Store) LastSigned(peer []byte) ([]byte, error) {
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
	var seq int64
	var wrapped, signedCT []byte
	err := s.rstmt.queryRow(context.Background(), `SELECT seq, key, signed FROM messages WHERE conv = ? AND signed IS NOT NULL
		ORDER BY seq DESC LIMIT 1`, c.id).Scan(&seq, &wrapped, &signedCT)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading the last message: %w", err)
	}
	d, err := c.dataKey(uint64(seq), wrapped)
	if err != nil {
		return nil, err
	}
	return d.open(uint64(seq), partSigned, signedCT)
}

// Outbox returns every outbox entry, oldest first.
func (s *Store) Outbox() ([]*Outgoing, error) {
	if err := s.readerState(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rows, err := s.rstmt.query(context.Background(), `SELECT o.seq, m.conv, m.key, m.head, o.envelope, o.retry
		FROM outbox o JOIN messages m ON m.seq = o.seq ORDER BY o.seq`)
	if err != nil {
		return nil, fmt.Errorf("store: reading the outbox: %w", err)
	}
	defer rows.Close()
	var out []*Outgoing
	for rows.Next() {
		var seq, conv int64
		var wrapped, headCT, envelopeCT, retryCT []byte
		if err := rows.Scan(&seq, &conv, &wrapped, &headCT, &envelopeCT, &retryCT); err != nil {
			return nil, fmt.Errorf("store: reading the outbox: %w", err)
		}
		o, err := s.openOutgoing(uint64(seq), conv, wrapped, headCT, envelopeCT, retryCT)
		if err != nil {
			return nil, fmt.Errorf("store: reading the outbox: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading the outbox: %w", err)
	}
	return out, nil
}

func (s *Store) openOutgoing(seq uint64, conv int64, wrapped, headCT, envelopeCT, retryCT []byte) (*Outgoing, error) {
	c := s.convs[conv]
	if c == nil {
		return nil, fmt.Errorf("%w: message %d: no conversation %d", errCorrupt, seq, conv)
	}
	d, h, err := openRow(c, seq, wrapped, headCT)
	if err != nil {
		return nil, err
	}
	envelope, err := d.open(seq, partEnvelope, envelopeCT)
	if err != nil {
		return nil, err
	}
	r, err := openRetry(d, seq, retryCT)
	if err != nil {
		return nil, err
	}
	return &Outgoing{
		Seq: seq, Peer: bytes.Clone(c.peer), ID: h.ID, Kind: h.Kind, Envelope: envelope, Size: h.Size,
		Attempts: int(min(r.Attempts, math.MaxInt32)),
		Next:     time.UnixMilli(r.Next), Until: time.UnixMilli(r.Until), Stored: time.UnixMilli(h.Stored),
	}, nil
}

// Used returns the bytes the store takes: Size, and the files of the
// bodies, whole or partial.
func (s *Store) Used() (int64, error) {
	n, err := s.Size()
	return n + s.blobUsed.Load(), err
}

// Size returns the bytes messages.db holds in use (its pages less the free
// ones) plus root.key's: what Options.Quota bounds, roughly.
func (s *Store) Size() (int64, error) {
	if err := s.readerState(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var pages, free, pageSize int64
	err := s.rstmt.queryRow(context.Background(), `SELECT p.page_count, f.freelist_count, z.page_size
		FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() z`).Scan(&pages, &free, &pageSize)
	if err != nil {
		return 0, fmt.Errorf("store: measuring: %w", err)
	}
	fi, err := os.Stat(filepath.Join(s.dir, rootName))
	if err != nil {
		return 0, fmt.Errorf("store: measuring: %w", err)
	}
	return (pages-free)*pageSize + fi.Size(), nil
}
