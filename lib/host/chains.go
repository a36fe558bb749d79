package host

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/identity"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// chains keeps each conversation's chain: the hash the next message to
// the peer carries (the hash of the last message sealed to or stored from
// the peer; receipts aside), and the links of all its messages, both ways,
// deleted ones included (PROTOCOL.md section 7). A conversation's links
// are read from the store (store.Links) the first time it is needed, and
// then kept up to date in memory.
//
// It orders a conversation both ways. Messages to one peer are signed one
// at a time, each naming the one before, while their store writes and
// sealing run concurrently. And a message from a peer that names one not
// yet stored waits up to reorderWait for the store to have it (it is
// likely in flight on another stream of the same pipeline), so that
// pipelined messages are stored in the order they were sent: one peer's
// chained messages are committed one after another, while different
// peers' share commits.
//
// And it checks a conversation (admit): a message whose hash is known is
// a duplicate, even if the message was deleted since; one that reuses an
// incoming message's id with other content is a changed message; one
// whose predecessor never comes reveals a gap, and one naming the same
// predecessor as an earlier message of the same sender, a fork. A message
// is never refused for its chain: the warnings go with it into the store.
//
// It is safe for concurrent use.
type chains struct {
	store *store.Store

	mu    sync.Mutex
	peers map[identity.PublicKey]*chain

	afterWait atomic.Int64 // afterWait, or less in tests
}

// reorderWait is how long a message waits for the message its chain hash
// names, and afterWait how long it waits for the message its sender says
// it sent before it and is still sending (awaitIncoming).
const (
	reorderWait = 500 * time.Millisecond
	afterWait   = 20 * time.Second
)

type chain struct {
	mu     sync.Mutex // guards what follows; held while a message to the peer is signed
	loaded bool
	hash   []byte              // what the next message to the peer carries; nil before the first
	hashes map[string]struct{} // the hash of every message of the conversation, either way
	// incoming holds the incoming messages by id, and named the hash of
	// the first incoming message naming each chain hash.
	incoming map[string]incomingLink
	named    map[string]string
	changed  chan struct{} // closed when a hash becomes known, or the chain was held
	// held counts the holds (hold) that ended: a message waiting for its
	// predecessor (await) waits its whole time again after one, as the
	// hold may have taken it.
	held uint64
	// queued is the turn of the message chained last: closed once it is
	// queued in the store (turn).
	queued chan struct{}
}

// turn keeps the messages to one peer in the store in the order they
// were chained, though they are sealed in parallel: each waits for the
// one chained before it to be queued in the store (wait), and says when
// it is queued itself, or given up (done).
type turn struct {
	prev <-chan struct{}
	mine chan struct{}
	once sync.Once
}

func (t *turn) wait() {
	if t.prev != nil {
		<-t.prev
	}
}

func (t *turn) done() { t.once.Do(func() { close(t.mine) }) }

type incomingLink struct {
	seq  uint64
	hash string
}

func newChains(s *store.Store) *chains {
	c := &chains{store: s, peers: make(map[identity.PublicKey]*chain)}
	c.afterWait.Store(int64(afterWait))
	return c
}

// get returns peer's chain, locked and loaded from the store.
func (c *chains) get(peer identity.PublicKey) (*chain, error) {
	c.mu.Lock()
	ch := c.peers[peer]
	if ch == nil {
		ch = &chain{changed: make(chan struct{})}
		c.peers[peer] = ch
	}
	c.mu.Unlock()
	ch.mu.Lock()
	if !ch.loaded {
		links, err := c.store.Links(peer.Bytes())
		if err != nil {
			ch.mu.Unlock()
			return nil, err
		}
		ch.hash = nil
		ch.hashes = make(map[string]struct{}, len(links))
		ch.incoming = make(map[string]incomingLink)
		ch.named = make(map[string]string)
		for _, l := range links {
			ch.add(l.Seq, l.Direction, l.ID, l.Hash, l.Prev)
			for _, was := range l.Was {
				ch.know(was)
			}
		}
		if len(links) > 0 {
			ch.hash = links[len(links)-1].Hash
		}
		ch.loaded = true
	}
	return ch, nil
}

// add records a message of the conversation: seq (0 while not stored),
// its direction, id, hash and the chain hash it carries; it wakes those
// waiting for it. ch.mu is held.
func (ch *chain) add(seq uint64, dir delivery.Direction, id, hash, prev []byte) {
	if dir == delivery.In {
		if _, ok := ch.incoming[string(id)]; !ok {
			ch.incoming[string(id)] = incomingLink{seq: seq, hash: string(hash)}
		}
		if _, ok := ch.named[string(prev)]; !ok && len(prev) > 0 {
			ch.named[string(prev)] = string(hash)
		}
	}
	ch.know(hash)
}

// know records hash as a hash of the conversation's messages (its own, or
// an earlier one of a message signed again), and wakes those waiting for
// it. ch.mu is held.
func (ch *chain) know(hash []byte) {
	if ch.known(hash) {
		return
	}
	ch.hashes[string(hash)] = struct{}{}
	close(ch.changed)
	ch.changed = make(chan struct{})
}

func (ch *chain) known(hash []byte) bool {
	_, ok := ch.hashes[string(hash)]
	return ok
}

// next locks peer's chain and returns the hash the next message to it
// carries; the caller calls done with the message it signed (nil if it
// signed none) to unlock it, and then the turn's done once the message
// is queued in the store (or not to be stored), after the turn's wait.
func (c *chains) next(peer identity.PublicKey) (hash []byte, done func(signed []byte), t *turn, err error) {
	ch, err := c.get(peer)
	if err != nil {
		return nil, nil, nil, err
	}
	t = &turn{prev: ch.queued, mine: make(chan struct{})}
	ch.queued = t.mine
	return ch.hash, func(signed []byte) {
		if signed != nil {
			ch.hash = wire.ChainHash(signed)
			ch.add(0, delivery.Out, nil, ch.hash, nil)
		}
		ch.mu.Unlock()
	}, t, nil
}

// admission is what admit decided about an arriving message.
type admission struct {
	duplicate bool               // its hash is known: it was stored before (and may have been deleted since)
	resigned  uint64             // a duplicate: the seq of the message it is, signed anew (store.RehashLink)
	changed   uint64             // the seq of the message from the peer with its id and other content
	warnings  []delivery.Warning // what it reveals about the chain, if it is stored
}

// admit checks a text or file message m from peer, whose signed bytes
// hash to hash, against the conversation's chain. A message that names
// one the conversation does not have waits for it up to reorderWait; if
// ctx ends first, admit returns its error. The caller stores a message
// that is neither a duplicate nor changed, and then calls stored.
func (c *chains) admit(ctx context.Context, peer identity.PublicKey, m *wire.Message, hash []byte) (admission, error) {
	ch, err := c.get(peer)
	if err != nil {
		return admission{}, err
	}
	dup := ch.known(hash)
	ch.mu.Unlock()
	if dup {
		return admission{duplicate: true}, nil
	}
	if err := c.await(ctx, peer, m.Chain); err != nil {
		return admission{}, err
	}
	if ch, err = c.get(peer); err != nil {
		return admission{}, err
	}
	defer ch.mu.Unlock()
	if ch.known(hash) {
		return admission{duplicate: true}, nil
	}
	if in, ok := ch.incoming[string(m.ID)]; ok {
		if c.sameContent(in.seq, m) {
			// Re-sealed: the sender signed it again, for a key of ours
			// or one of its own that changed, as it was. The messages
			// it sent after may name it by its new hash.
			ch.know(hash)
			return admission{duplicate: true, resigned: in.seq}, nil
		}
		return admission{changed: in.seq}, nil
	}
	var a admission
	if len(m.Chain) == 0 {
		return a, nil
	}
	if !ch.known(m.Chain) && len(ch.hashes) > 0 {
		a.warnings = append(a.warnings, delivery.WarnGap)
	}
	// Claimed now, so that of two messages naming the same one that
	// arrive together, the second is the fork.
	switch first, ok := ch.named[string(m.Chain)]; {
	case !ok:
		ch.named[string(m.Chain)] = string(hash)
	case first != string(hash):
		a.warnings = append(a.warnings, delivery.WarnFork)
	}
	return a, nil
}

// sameContent reports whether the message stored as seq says what m
// says: the same kind, times, type, name and body; only what a re-seal
// changes (recipient, KEM key id, sender after a rotation, chain) may
// differ. A message deleted since can't be compared: it is not the same.
func (c *chains) sameContent(seq uint64, m *wire.Message) bool {
	if seq == 0 {
		return false
	}
	held, err := c.store.Get(seq)
	if err != nil || len(held.Signed) == 0 {
		return false
	}
	s, err := wire.DecodeSigned(held.Signed)
	if err != nil {
		return false
	}
	hm, err := wire.DecodeMessage(s.Body)
	if err != nil {
		return false
	}
	return hm.Kind == m.Kind && hm.Sent == m.Sent && hm.Expires == m.Expires && hm.ContentType == m.ContentType &&
		hm.FileName == m.FileName && bytes.Equal(hm.Body, m.Body)
}

// await waits until the message whose hash is prev is known in the
// conversation with peer, for at most reorderWait. An empty prev (the
// first message, or a receipt) does not wait. It returns ctx's error if
// ctx ends first: the host is stopping, and the message should not be
// stored before the one it names, likely still on its way.
func (c *chains) await(ctx context.Context, peer identity.PublicKey, prev []byte) error {
	if len(prev) == 0 {
		return nil
	}
	ch, err := c.get(peer)
	if err != nil {
		return err
	}
	timer := time.NewTimer(reorderWait)
	defer timer.Stop()
	held := ch.held
	for {
		if ch.known(prev) {
			ch.mu.Unlock()
			return nil
		}
		if ch.held != held {
			held = ch.held
			timer.Reset(reorderWait)
		}
		changed := ch.changed
		ch.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		if ch, err = c.get(peer); err != nil {
			return err
		}
	}
}

// awaitIncoming waits until the conversation with peer holds the
// incoming message whose id is id (stored, or deleted since), for at most
// afterWait; it reports whether it came. An empty id does not wait. It
// returns ctx's error if ctx ends first.
func (c *chains) awaitIncoming(ctx context.Context, peer identity.PublicKey, id []byte) (bool, error) {
	if len(id) == 0 {
		return true, nil
	}
	timer := time.NewTimer(time.Duration(c.afterWait.Load()))
	defer timer.Stop()
	for {
		ch, err := c.get(peer)
		if err != nil {
			return false, err
		}
		_, ok := ch.incoming[string(id)]
		changed := ch.changed
		ch.mu.Unlock()
		if ok {
			return true, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// queued records message m from peer, with signed bytes hashing to hash,
// as queued in the store, and lets the messages naming it go on, to be
// queued after it: the store commits them together, in order. The caller
// then calls stored, or unqueued if the store failed.
func (c *chains) queued(peer identity.PublicKey, m *wire.Message, hash []byte) {
	ch, err := c.get(peer)
	if err != nil {
		return
	}
	defer ch.mu.Unlock()
	ch.add(0, delivery.In, m.ID, hash, m.Chain)
}

// unqueued forgets message m from peer, which queued recorded and the
// store did not store after all.
func (c *chains) unqueued(peer identity.PublicKey, m *wire.Message, hash []byte) {
	ch, err := c.get(peer)
	if err != nil {
		return
	}
	defer ch.mu.Unlock()
	if l, ok := ch.incoming[string(m.ID)]; ok && l.seq == 0 && l.hash == string(hash) {
		delete(ch.incoming, string(m.ID))
		delete(ch.hashes, string(hash))
		if ch.named[string(m.Chain)] == string(hash) {
			delete(ch.named, string(m.Chain))
		}
	}
}

// stored records message m from peer, stored as seq with signed bytes
// hashing to hash, as the conversation's last, and lets the messages
// naming it go on.
func (c *chains) stored(peer identity.PublicKey, seq uint64, m *wire.Message, hash []byte) {
	ch, err := c.get(peer)
	if err != nil {
		return
	}
	defer ch.mu.Unlock()
	if l, ok := ch.incoming[string(m.ID)]; ok && l.seq == 0 {
		ch.incoming[string(m.ID)] = incomingLink{seq: seq, hash: l.hash}
	}
	ch.add(seq, delivery.In, m.ID, hash, m.Chain)
	ch.hash = hash
}

// imported records a message of the conversation with peer that an
// import stored as seq, and makes it the conversation's last, as it is
// by Seq in the store.
func (c *chains) imported(peer identity.PublicKey, seq uint64, dir delivery.Direction, m *wire.Message, hash []byte) {
	ch, err := c.get(peer)
	if err != nil {
		return
	}
	defer ch.mu.Unlock()
	ch.add(seq, dir, m.ID, hash, m.Chain)
	ch.hash = hash
}

// hold locks peer's chain, so that no message to or from peer is signed
// or admitted while the caller re-signs its queued messages (a rotation);
// release unlocks it, to be read from the store again, which then holds
// the re-signed messages' links.
func (c *chains) hold(peer identity.PublicKey) (release func(), err error) {
	ch, err := c.get(peer)
	if err != nil {
		return nil, err
	}
	return func() {
		ch.loaded = false
		ch.held++
		close(ch.changed)
		ch.changed = make(chan struct{})
		ch.mu.Unlock()
	}, nil
}

// forget makes peer's chain be read from the store again: a message
// signed on it was not stored, or the conversation was deleted.
func (c *chains) forget(peer identity.PublicKey) {
	c.mu.Lock()
	ch := c.peers[peer]
	c.mu.Unlock()
	if ch != nil {
		ch.mu.Lock()
		ch.loaded = false
		ch.mu.Unlock()
	}
}

// forgetAll makes every chain be read from the store again: every
// conversation was deleted.
func (c *chains) forgetAll() {
	c.mu.Lock()
	all := make([]*chain, 0, len(c.peers))
	for _, ch := range c.peers {
		all = append(all, ch)
	}
	c.mu.Unlock()
	for _, ch := range all {
		ch.mu.Lock()
		ch.loaded = false
		ch.mu.Unlock()
	}
}
