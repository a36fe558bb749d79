package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"smvs/lib/delivery"
)

// Limits on one group commit.
const (
	maxBatch      = 1024
	maxBatchBytes = 32 << 20
)

// request is one write, run by the writer goroutine inside a transaction it
// shares with other requests.
type request struct {
	// apply makes the change in b's transaction. A *storageError aborts the
	// transaction; any other error refuses this request only and must come
	// before apply has written anything. apply may run twice: in a batch
	// that fails, then alone.
	apply func(b *batch) error
	shred bool // a deletion: batched only with other deletions, then rotates keys
	size  int  // bytes it adds, roughly
	// queued, if set, is called once the request is in the writer's
	// queue: requests queued one after another are applied in that order.
	queued func()
	err    error
	done   chan struct{}
}

// do hands r to the writer and waits for its answer.
func (s *Store) do(r *request) error {
	r.done = make(chan struct{})
	select {
	case s.reqs <- r:
		if r.queued != nil {
			r.queued()
		}
	case <-s.quit:
		if r.queued != nil {
			r.queued()
		}
		return ErrClosed
	}
	select {
	case <-r.done:
		return r.err
	case <-s.stopped:
		select {
		case <-r.done:
			return r.err
		default:
			return ErrClosed // never taken: the writer stopped first
		}
	}
}

// run is the writer goroutine: it takes what is waiting and commits it
// together, until Close.
func (s *Store) run() {
	defer close(s.stopped)
	for {
		first := s.held
		s.held = nil
		if first == nil {
			select {
			case first = <-s.reqs:
			case <-s.quit:
				return
			}
		}
		s.runBatch(s.collect(first))
	}
}

// collect takes the requests waiting after first to commit with it: all
// those queued already, and while the store is held (Hold), those that
// come until it is released or holdMax has passed.
func (s *Store) collect(first *request) []*request {
	reqs, size := []*request{first}, first.size
	var deadline <-chan time.Time
	for len(reqs) < maxBatch && size < maxBatchBytes {
		var r *request
		select {
		case r = <-s.reqs:
		default:
			released := s.holds.released()
			if released == nil {
				return reqs
			}
			if deadline == nil {
				t := time.NewTimer(holdMax)
				defer t.Stop()
				deadline = t.C
			}
			select {
			case r = <-s.reqs:
			case <-released:
				continue
			case <-deadline:
				return reqs
			case <-s.quit:
				return reqs
			}
		}
		if r.shred != first.shred {
			s.held = r
			return reqs
		}
		reqs, size = append(reqs, r), size+r.size
	}
	return reqs
}

// holdMax bounds how long a Hold keeps the writer from committing what
// it has: a hold is for writes that come within moments of each other.
// A variable, for tests on a slow machine.
var holdMax = 5 * time.Millisecond

// Hold keeps the writer from committing until release is called, or
// holdMax has passed, so that the writes queued meanwhile commit in one
// transaction: a host storing a batch of deliveries holds the store while
// it queues their messages. Writes of others wait with them. Holds may
// overlap; release may be called more than once.
func (s *Store) Hold() (release func()) {
	s.holds.add()
	return sync.OnceFunc(s.holds.done)
}

// holds counts the holds on a store.
type holds struct {
	mu  sync.Mutex
	n   int
	end chan struct{} // closed when n drops to 0
}

func (h *holds) add() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		h.end = make(chan struct{})
	}
	h.n++
}

func (h *holds) done() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n--; h.n == 0 {
		close(h.end)
	}
}

// released returns a channel closed when the store is no longer held,
// or nil if it is not held now.
func (h *holds) released() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return nil
	}
	return h.end
}

// runBatch commits reqs together or, if that fails, each on its own, then
// answers them.
func (s *Store) runBatch(reqs []*request) {
	if err := s.commit(reqs); err != nil {
		if len(reqs) == 1 {
			reqs[0].err = err
		} else {
			for _, r := range reqs {
				if err := s.commit([]*request{r}); err != nil {
					r.err = err
				}
			}
		}
	}
	for _, r := range reqs {
		close(r.done)
	}
}

// batch is the state of one transaction of the writer.
type batch struct {
	s        *Store
	ctx      context.Context
	nextSeq  uint64
	nextConv int64
	created  []*conversation // new this transaction, already visible to readers
	rekey    map[int64]bool  // conversations that lost messages
	dropped  map[int64]bool  // conversations deleted whole
	changes  []Change
	expiring []expiry        // messages stored that expire
	received map[int64]int64 // change of each conversation's received bytes (addReceived)
}

// commit runs reqs in one transaction.
func (s *Store) commit(reqs []*request) (err error) {
	s.commits.Add(1)
	ctx := context.Background()
	b := &batch{s: s, ctx: ctx, nextSeq: s.nextSeq, nextConv: s.nextConv,
		rekey: make(map[int64]bool), dropped: make(map[int64]bool)}
	if reqs[0].shred && s.quotaPages > 0 {
		// Deleting is how a full store makes room, so it must not fail for
		// want of the pages its re-keying briefly needs.
		if err := s.setMaxPages(ctx, math.MaxUint32-1); err != nil {
			return fail("lifting the quota", err)
		}
		defer s.setMaxPages(ctx, s.quotaPages)
	}
	if _, err := s.wstmt.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fail("beginning a transaction", err)
	}
	committed := false
	defer func() {
		if !committed {
			s.wstmt.exec(ctx, "ROLLBACK") // fails harmlessly if SQLite already rolled back
			b.abandon()
		}
	}()
	for _, r := range reqs {
		r.err = nil
		if err := r.apply(b); err != nil {
			if _, ok := errors.AsType[*storageError](err); ok {
				return err
			}
			r.err = err
		}
	}
	var rot *rotation
	if len(b.rekey) > 0 || len(b.dropped) > 0 {
		if rot, err = s.prepareRotation(b); err != nil {
			return err
		}
	}
	if rot != nil {
		// Readers see the old keys with the old rows or the new keys with
		// the new rows, never a mix.
		s.mu.Lock()
	}
	if _, err := s.wstmt.exec(ctx, "COMMIT"); err != nil {
		if rot != nil {
			s.mu.Unlock()
			rot.abandon(s)
		}
		return fail("committing", err)
	}
	committed = true
	s.nextSeq, s.nextConv = b.nextSeq, b.nextConv
	switch {
	case rot != nil:
		rot.install(s)
		s.mu.Unlock()
		if err := rot.finish(s); err != nil {
			for _, r := range reqs {
				if r.err == nil {
					r.err = fmt.Errorf("store: deleted, but %s still holds the previous root key until it can be rewritten: %w", rootName, err)
				}
			}
		}
	case s.rootStale:
		// This commit has overwritten whatever a failed one left in the
		// WAL, so only the current root key can be needed now.
		s.rootStale = s.writeRootFile(s.root) != nil
	}
	s.applyReceived(b)
	s.expiry.update(b.expiring, b.changes)
	s.publish(b.changes)
	if rot != nil || slices.ContainsFunc(b.changes, func(c Change) bool { return c.Deleted }) {
		s.sweepBlobs()
	}
	return nil
}

// abandon forgets the conversations created by a transaction that did not
// commit.
func (b *batch) abandon() {
	if len(b.created) == 0 {
		return
	}
	b.s.mu.Lock()
	for _, c := range b.created {
		delete(b.s.convs, c.id)
		delete(b.s.byPeer, string(c.peer))
	}
	b.s.mu.Unlock()
	for _, c := range b.created {
		c.wipe()
	}
}

// exec runs query in b's transaction; an error is a storageError.
func (b *batch) exec(doing, query string, args ...any) (sql.Result, error) {
	res, err := b.s.wstmt.exec(b.ctx, query, args...)
	if err != nil {
		return nil, fail(doing, err)
	}
	return res, nil
}

// query runs query in b's transaction.
func (b *batch) query(query string, args ...any) (*sql.Rows, error) {
	return b.s.wstmt.query(b.ctx, query, args...)
}

// queryRow runs query in b's transaction, for one row.
func (b *batch) queryRow(query string, args ...any) scanner {
	return b.s.wstmt.queryRow(b.ctx, query, args...)
}

// conversation returns the conversation with peer, creating it if there is
// none.
func (b *batch) conversation(peer []byte) (*conversation, error) {
	s := b.s
	if c := s.byPeer[string(peer)]; c != nil {
		return c, nil
	}
	c := newConversation(b.nextConv, bytes.Clone(peer), newKey())
	_, err := b.exec("storing a conversation", `INSERT INTO conversations (id, tag, key, peer) VALUES (?, ?, ?, ?)`,
		c.id, s.root.tag(peer), s.root.wrapConversation(c.id, c.key), c.sealPeer())
	if err != nil {
		c.wipe()
		return nil, err
	}
	b.nextConv++
	// Visible to readers before the commit, so that none reads a row of a
	// conversation it doesn't know; until then no row refers to it.
	s.mu.Lock()
	s.convs[c.id] = c
	s.byPeer[string(c.peer)] = c
	s.mu.Unlock()
	b.created = append(b.created, c)
	return c, nil
}

// outgoing finds the outgoing message id in the conversation with peer:
// its seq, conversation, data key and head. ErrNotFound if there is none.
func (b *batch) outgoing(peer, id []byte) (uint64, *conversation, sealed, *head, error) {
	c := b.s.byPeer[string(peer)]
	if c == nil {
		return 0, nil, sealed{}, nil, fmt.Errorf("%w: no conversation with that peer", ErrNotFound)
	}
	var seq int64
	var wrapped, headCT []byte
	err := b.queryRow(`SELECT seq, key, head FROM messages WHERE tag = ?`,
		c.messageTag(delivery.Out, id)).Scan(&seq, &wrapped, &headCT)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, sealed{}, nil, fmt.Errorf("%w: no outgoing message %x", ErrNotFound, id)
	}
	if err != nil {
		return 0, nil, sealed{}, nil, fail("finding a message", err)
	}
	d, h, err := openRow(c, uint64(seq), wrapped, headCT)
	if err != nil {
		return 0, nil, sealed{}, nil, err
	}
	return uint64(seq), c, d, h, nil
}

// message finds message seq: its conversation, data key and head.
// ErrNotFound if there is none; with inOutbox, also if it is not in the
// outbox.
func (b *batch) message(seq uint64, inOutbox bool) (*conversation, sealed, *head, error) {
	n, err := checkSeq(seq)
	if err != nil {
		return nil, sealed{}, nil, err
	}
	query := `SELECT conv, key, head FROM messages WHERE seq = ?`
	if inOutbox {
		query = `SELECT m.conv, m.key, m.head FROM outbox o JOIN messages m ON m.seq = o.seq WHERE o.seq = ?`
	}
	var conv int64
	var wrapped, headCT []byte
	err = b.queryRow(query, n).Scan(&conv, &wrapped, &headCT)
	if errors.Is(err, sql.ErrNoRows) {
		if inOutbox {
			return nil, sealed{}, nil, fmt.Errorf("%w: message %d in the outbox", ErrNotFound, seq)
		}
		return nil, sealed{}, nil, fmt.Errorf("%w: message %d", ErrNotFound, seq)
	}
	if err != nil {
		return nil, sealed{}, nil, fail("finding a message", err)
	}
	c := b.s.convs[conv]
	if c == nil {
		return nil, sealed{}, nil, fmt.Errorf("%w: message %d: no conversation %d", errCorrupt, seq, conv)
	}
	d, h, err := openRow(c, seq, wrapped, headCT)
	return c, d, h, err
}

// seqs runs query, which selects sequence numbers, in b's transaction.
func (b *batch) seqs(query string, args ...any) ([]uint64, error) {
	rows, err := b.query(query, args...)
	if err != nil {
		return nil, fail("finding messages", err)
	}
	defer rows.Close()
	var seqs []uint64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, fail("finding messages", err)
		}
		seqs = append(seqs, uint64(seq))
	}
	if err := rows.Err(); err != nil {
		return nil, fail("finding messages", err)
	}
	return seqs, nil
}

// deleted records the deletion of messages seqs for subscribers.
func (b *batch) deleted(seqs []uint64) {
	for _, seq := range seqs {
		b.changes = append(b.changes, Change{Seq: seq, Deleted: true})
	}
}

// setStatus moves a message to status st if that is forward, writing its
// head and recording the change.
func (b *batch) setStatus(seq uint64, d sealed, h *head, to delivery.Status) error {
	if !forward(h.Status, to) {
		return nil
	}
	h.Status = to
	if _, err := b.exec("storing a status", `UPDATE messages SET head = ? WHERE seq = ?`,
		d.seal(partHead, marshal(h)), int64(seq)); err != nil {
		return err
	}
	b.changes = append(b.changes, Change{Seq: seq, Status: true})
	return nil
}
