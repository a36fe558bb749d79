package host

import (
	"context"
	"errors"
	"sync"
	"time"

	"smvs/lib/identity"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// chains keeps each conversation's chain: the hash the next message to
// the peer carries (the hash of the last message sealed to or stored from
// the peer; receipts aside), and the hashes of its recent messages, both
// ways. It starts from the store's LastSigned and is then kept in memory.
//
// It orders a conversation both ways. Messages to one peer are signed one
// at a time, each naming the one before, while their store writes and
// sealing run concurrently. And a message from a peer that names one not
// yet stored waits up to reorderWait for the store to have it (it is
// likely in flight on another stream of the same pipeline), so that
// pipelined messages are stored in the order they were sent: one peer's
// chained messages are committed one after another, while different
// peers' share commits. A message whose predecessor does not come (it was
// refused, or the peer chains differently) is stored anyway.
//
// It is safe for concurrent use.
type chains struct {
	store *store.Store

	mu    sync.Mutex
	peers map[identity.PublicKey]*chain
}

// reorderWait is how long a message waits for the message its chain hash
// names; knownPerPeer is how many recent hashes of a conversation are kept
// to know it by (a few times the delivery window).
const (
	reorderWait  = 500 * time.Millisecond
	knownPerPeer = 4 * deliveryWindow
)

type chain struct {
	mu      sync.Mutex // guards what follows; held while a message to the peer is signed
	loaded  bool
	hash    []byte              // what the next message to the peer carries; nil before the first
	known   map[string]struct{} // the hashes of recent messages of the conversation
	recent  []string            // known's keys, oldest first
	changed chan struct{}       // closed when a hash becomes known
}

func newChains(s *store.Store) *chains {
	return &chains{store: s, peers: make(map[identity.PublicKey]*chain)}
}

// get returns peer's chain, locked and loaded from the store.
func (c *chains) get(peer identity.PublicKey) (*chain, error) {
	c.mu.Lock()
	ch := c.peers[peer]
	if ch == nil {
		ch = &chain{known: make(map[string]struct{}), changed: make(chan struct{})}
		c.peers[peer] = ch
	}
	c.mu.Unlock()
	ch.mu.Lock()
	if !ch.loaded {
		last, err := c.store.LastSigned(peer.Bytes())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			ch.mu.Unlock()
			return nil, err
		}
		ch.hash = nil
		if len(last) > 0 {
			ch.hash = wire.ChainHash(last)
			ch.learn(ch.hash)
		}
		ch.loaded = true
	}
	return ch, nil
}

// learn records hash as a message of the conversation and wakes those
// waiting for it. ch.mu is held.
func (ch *chain) learn(hash []byte) {
	if _, ok := ch.known[string(hash)]; ok {
		return
	}
	ch.known[string(hash)] = struct{}{}
	ch.recent = append(ch.recent, string(hash))
	if len(ch.recent) > knownPerPeer {
		delete(ch.known, ch.recent[0])
		ch.recent = ch.recent[1:]
	}
	close(ch.changed)
	ch.changed = make(chan struct{})
}

// next locks peer's chain and returns the hash the next message to it
// carries; the caller calls done with the message it signed (nil if it
// signed none) to unlock it.
func (c *chains) next(peer identity.PublicKey) (hash []byte, done func(signed []byte), err error) {
	ch, err := c.get(peer)
	if err != nil {
		return nil, nil, err
	}
	return ch.hash, func(signed []byte) {
		if signed != nil {
			ch.hash = wire.ChainHash(signed)
			ch.learn(ch.hash)
		}
		ch.mu.Unlock()
	}, nil
}

// await waits until the message whose hash is prev is known in the
// conversation with peer, for at most reorderWait or until ctx ends. An
// empty prev (the first message, or a receipt) does not wait.
func (c *chains) await(ctx context.Context, peer identity.PublicKey, prev []byte) {
	if len(prev) == 0 {
		return
	}
	ch, err := c.get(peer)
	if err != nil {
		return
	}
	timer := time.NewTimer(reorderWait)
	defer timer.Stop()
	for {
		if _, ok := ch.known[string(prev)]; ok {
			ch.mu.Unlock()
			return
		}
		changed := ch.changed
		ch.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
		ch.mu.Lock()
	}
}

// arrived records that the store has answered for a message from peer
// (stored, or not), so that the messages naming it go on.
func (c *chains) arrived(peer identity.PublicKey, signed []byte) {
	ch, err := c.get(peer)
	if err != nil {
		return
	}
	defer ch.mu.Unlock()
	ch.learn(wire.ChainHash(signed))
}

// stored records a message stored from peer as the conversation's last.
func (c *chains) stored(peer identity.PublicKey, signed []byte) {
	ch, err := c.get(peer)
	if err != nil {
		return
	}
	defer ch.mu.Unlock()
	ch.hash = wire.ChainHash(signed)
}

// forget makes peer's chain be read from the store again: a message
// signed on it was not stored.
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
