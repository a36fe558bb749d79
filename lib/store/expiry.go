package store

import (
	"container/heap"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// expiry is when message seq expires, Unix ms.
type expiry struct {
	at  int64
	seq uint64
}

// expiries is every stored message that expires, earliest first: a heap
// with an index, so that a deleted message leaves it at once. The times
// are in the messages' encrypted heads; the table expiring shows only which
// messages have one, and Open decrypts those heads to fill this.
type expiries struct {
	mu    sync.Mutex
	heap  []expiry
	index map[uint64]int // seq → position in heap
}

func newExpiries() *expiries { return &expiries{index: make(map[uint64]int)} }

// heap.Interface, for the heap package only; callers hold mu.
func (e *expiries) Len() int           { return len(e.heap) }
func (e *expiries) Less(i, j int) bool { return e.heap[i].at < e.heap[j].at }
func (e *expiries) Swap(i, j int) {
	e.heap[i], e.heap[j] = e.heap[j], e.heap[i]
	e.index[e.heap[i].seq], e.index[e.heap[j].seq] = i, j
}
func (e *expiries) Push(x any) {
	item := x.(expiry)
	e.index[item.seq] = len(e.heap)
	e.heap = append(e.heap, item)
}
func (e *expiries) Pop() any {
	last := e.heap[len(e.heap)-1]
	e.heap = e.heap[:len(e.heap)-1]
	delete(e.index, last.seq)
	return last
}

// update adds what a committed transaction stored and forgets what it
// deleted.
func (e *expiries) update(added []expiry, deleted []Change) {
	if len(added) == 0 && len(deleted) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range added {
		heap.Push(e, x)
	}
	for _, c := range deleted {
		if i, ok := e.index[c.Seq]; ok && c.Deleted {
			heap.Remove(e, i)
		}
	}
}

// next is the earliest expiry.
func (e *expiries) next() (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.heap) == 0 {
		return 0, false
	}
	return e.heap[0].at, true
}

// due returns the messages that expire at or before now, by seq: the heap
// is walked only as deep as its entries are due.
func (e *expiries) due(now int64) []uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var seqs []uint64
	var walk func(i int)
	walk = func(i int) {
		if i >= len(e.heap) || e.heap[i].at > now {
			return
		}
		seqs = append(seqs, e.heap[i].seq)
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
	slices.Sort(seqs)
	return seqs
}

// loadExpiries fills s.expiry from the table expiring, decrypting each
// listed message's head for its time.
func (s *Store) loadExpiries() error {
	s.expiry = newExpiries()
	rows, err := s.wstmt.query(context.Background(), `SELECT m.seq, m.conv, m.key, m.head
		FROM expiring e JOIN messages m ON m.seq = e.seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq, conv int64
		var wrapped, headCT []byte
		if err := rows.Scan(&seq, &conv, &wrapped, &headCT); err != nil {
			return err
		}
		c := s.convs[conv]
		if c == nil {
			return fmt.Errorf("%w: message %d: no conversation %d", errCorrupt, seq, conv)
		}
		_, h, err := openRow(c, uint64(seq), wrapped, headCT)
		if err != nil {
			return err
		}
		s.expiry.heap = append(s.expiry.heap, expiry{at: h.Expires, seq: uint64(seq)})
		s.expiry.index[uint64(seq)] = len(s.expiry.heap) - 1
	}
	if err := rows.Err(); err != nil {
		return err
	}
	heap.Init(s.expiry)
	return nil
}

// NextExpiry returns the earliest expiry of a stored message, and false if
// no stored message expires. It is a look at the present, not a wake-up: a
// caller that sleeps until it looks again after storing a message that
// expires (or after each new message from Subscribe) is never late.
func (s *Store) NextExpiry() (time.Time, bool) {
	at, ok := s.expiry.next()
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(at), true
}

// DeleteExpired deletes every message whose expiry is at or before now,
// keeping their links, and shreds them. It returns the sequence numbers it
// deleted, in order; none (and no rotation) if nothing had expired.
func (s *Store) DeleteExpired(now time.Time) ([]uint64, error) {
	if err := s.readerState(); err != nil {
		return nil, err
	}
	s.mu.RUnlock()
	if len(s.expiry.due(now.UnixMilli())) == 0 {
		return nil, nil // no rotation for nothing
	}
	var deleted []uint64
	err := s.do(&request{shred: true, apply: func(b *batch) error {
		var err error
		deleted, err = b.deleteSeqs(s.expiry.due(now.UnixMilli()))
		return err
	}})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// SetExpireAfter sets the default expiry of the conversation with peer
// (creating the conversation if need be; 0 is none, and creates nothing)
// and returns the one it replaced. It is kept to the millisecond, at most
// delivery.MaxExpiry; the store does not apply it: the caller sets
// Message.Expires.
func (s *Store) SetExpireAfter(peer []byte, after time.Duration) (was time.Duration, err error) {
	if len(peer) != wire.KeySize {
		return 0, fmt.Errorf("store: peer key is %d bytes, want %d", len(peer), wire.KeySize)
	}
	ms := after.Milliseconds()
	if after < 0 || ms > delivery.MaxExpiry || (after > 0 && ms == 0) {
		return 0, fmt.Errorf("store: default expiry %v, want 0 or 1ms to %v", after, time.Duration(delivery.MaxExpiry)*time.Millisecond)
	}
	defer s.expireAfter.forget()
	err = s.do(&request{apply: func(b *batch) error {
		c := b.s.byPeer[string(peer)]
		if c == nil && ms == 0 {
			was = 0
			return nil
		}
		if c == nil {
			var err error
			if c, err = b.conversation(peer); err != nil {
				return err
			}
		}
		var sealed []byte
		if err := b.queryRow(`SELECT expire FROM conversations WHERE id = ?`, c.id).Scan(&sealed); err != nil {
			return fail("reading a default expiry", err)
		}
		var err error
		if was, err = openExpireAfter(c, sealed); err != nil {
			return err
		}
		var next []byte
		if ms > 0 {
			next = c.sealColumn(convExpire, binary.BigEndian.AppendUint64(nil, uint64(ms)))
		}
		_, err = b.exec("storing a default expiry", `UPDATE conversations SET expire = ? WHERE id = ?`, next, c.id)
		return err
	}})
	if err != nil {
		return 0, err
	}
	return was, nil
}

// ExpireAfter returns the default expiry of the conversation with peer; 0
// if it has none or there is no such conversation.
func (s *Store) ExpireAfter(peer []byte) (time.Duration, error) {
	if len(peer) != wire.KeySize {
		return 0, fmt.Errorf("store: peer key is %d bytes, want %d", len(peer), wire.KeySize)
	}
	if err := s.readerState(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	c := s.byPeer[string(peer)]
	if c == nil {
		return 0, nil
	}
	after, ok, gen := s.expireAfter.get(c.id)
	if ok {
		return after, nil
	}
	var sealed []byte
	err := s.rstmt.queryRow(context.Background(), `SELECT expire FROM conversations WHERE id = ?`, c.id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // its conversation is not committed yet
	}
	if err != nil {
		return 0, fmt.Errorf("store: reading a default expiry: %w", err)
	}
	if after, err = openExpireAfter(c, sealed); err == nil {
		s.expireAfter.put(c.id, after, gen)
	}
	return after, err
}

// expireCache keeps the conversations' default expiries as read, since
// every message sent or received asks for its conversation's. A write of
// one forgets them all (forget, once it has committed); gen tells a
// reader whether one came while it read.
type expireCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[int64]time.Duration
}

func (e *expireCache) get(conv int64) (after time.Duration, ok bool, gen uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	after, ok = e.m[conv]
	return after, ok, e.gen
}

// put keeps what a reader read, unless a write came since it asked (get).
func (e *expireCache) put(conv int64, after time.Duration, gen uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if gen != e.gen {
		return
	}
	if e.m == nil {
		e.m = make(map[int64]time.Duration)
	}
	e.m[conv] = after
}

func (e *expireCache) forget() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gen++
	clear(e.m)
}

// openExpireAfter decrypts a conversations.expire; nil is none.
func openExpireAfter(c *conversation, sealed []byte) (time.Duration, error) {
	if sealed == nil {
		return 0, nil
	}
	p, err := c.openColumn(convExpire, sealed)
	if err != nil {
		return 0, err
	}
	if len(p) != 8 {
		return 0, fmt.Errorf("%w: conversation %d: its default expiry is %d bytes", errCorrupt, c.id, len(p))
	}
	return time.Duration(binary.BigEndian.Uint64(p)) * time.Millisecond, nil
}
