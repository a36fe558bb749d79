package host

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/identity"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// rotations follows identity rotations, so that a conversation stays one
// conversation across them (PROTOCOL.md section 5.4):
//
//   - A peer's: when a resolution accepts a record whose rotation chain
//     holds a key this host has a conversation with (a look-up by name to
//     send, by the new key that wrote, or the one a failed delivery asks
//     for, follow), the conversation moves to the record's key
//     (store.MovePeer: messages, links, record, expiry, received bytes),
//     its newest message is marked delivery.WarnRotated (the user is told
//     once, in the history, and the log says so), and the messages queued
//     for the old key are re-signed for the new one and re-sealed to its
//     record, in order, each naming the one before by its new hash. A
//     message that comes later from the old key (sent before the
//     rotation) joins the conversation too.
//   - The host's own: an outbox entry signed by a key this host no longer
//     has (it was stored before smvs-register rotate --identity) is
//     re-signed by the current key with those queued to the same peer,
//     in order, before any of them is delivered.
//
// It is safe for concurrent use.
type rotations struct {
	h *Host

	mu       sync.Mutex
	busy     map[identity.PublicKey]bool               // keys whose entries are being moved or re-sealed
	late     map[identity.PublicKey]bool               // moved keys a message was stored from while busy
	asked    map[identity.PublicKey]time.Time          // when follow last looked a key's contact up
	resealed map[identity.PublicKey]time.Time          // when reseal last failed for a peer
	moved    map[identity.PublicKey]identity.PublicKey // old key → the key its conversation moved to
	watching bool
	// moving counts the moves under way into each key; settled is closed
	// and replaced whenever one ends (see wait).
	moving  map[identity.PublicKey]int
	settled chan struct{}
}

// followEvery is how often follow looks up the contact of one key, and
// resealRetry how long after a failed re-seal of its own entries to a
// peer the host delivers them as they are (the peer's host still takes a
// message signed by a key the sender rotated away from).
const (
	followEvery = 5 * time.Second
	resealRetry = time.Minute
)

func newRotations(h *Host) *rotations {
	return &rotations{h: h, busy: make(map[identity.PublicKey]bool), late: make(map[identity.PublicKey]bool), asked: make(map[identity.PublicKey]time.Time),
		resealed: make(map[identity.PublicKey]time.Time), moved: make(map[identity.PublicKey]identity.PublicKey),
		moving: make(map[identity.PublicKey]int), settled: make(chan struct{})}
}

// claim marks key busy; it reports false if it was.
func (r *rotations) claim(key identity.PublicKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy[key] {
		return false
	}
	r.busy[key] = true
	return true
}

// claimWait claims key once it is not busy; it reports false if the host
// stopped first.
func (r *rotations) claimWait(key identity.PublicKey) bool {
	for !r.claim(key) {
		select {
		case <-r.h.ctx.Done():
			return false
		case <-time.After(holdPoll):
		}
	}
	return true
}

// release ends a claim of key. If a message was stored from key while it
// was busy and key's conversation had moved (join), key stays claimed
// while that message follows the conversation: whoever held the claim
// may have moved it already, and no one else could.
func (r *rotations) release(key identity.PublicKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	to, moved := r.moved[key]
	if !r.late[key] || !moved {
		delete(r.busy, key)
		delete(r.late, key)
		return
	}
	delete(r.late, key)
	go func() {
		defer r.release(key)
		r.move(key, to, nil)
	}()
}

// join has the messages stored from key, whose conversation moved, follow
// it (move), in the background; if key is busy, once its claim is
// released.
func (r *rotations) join(key identity.PublicKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	to, moved := r.moved[key]
	switch {
	case !moved:
		return
	case r.busy[key]:
		r.late[key] = true
		return
	}
	r.busy[key] = true
	go func() {
		defer r.release(key)
		r.move(key, to, nil)
	}()
}

// seen is told of each record a resolution accepted. For each earlier key
// of its chain that this host has a conversation with, it moves that
// conversation to the record's key, in the background. The move counts
// as under way (wait) from now, even while the old key is busy with
// something else: a submit that found the new key must not sign a
// message before those queued for the old one.
func (r *rotations) seen(res *contacts.Resolved) {
	if res == nil || res.Record == nil || len(res.Record.Rotation) == 0 || res.Self || r.h.store == nil {
		return
	}
	to, err := identity.NewPublicKey(identity.KindIdentity, res.Record.Identity)
	if err != nil {
		return
	}
	for _, prev := range res.Record.PreviousKeys() {
		old, err := identity.NewPublicKey(identity.KindIdentity, prev)
		if err != nil || old == r.h.me || !r.h.store.Has(prev) {
			continue
		}
		r.mu.Lock()
		r.moving[to]++
		r.mu.Unlock()
		go func() {
			defer r.moved1(to)
			if !r.claimWait(old) {
				return
			}
			defer r.release(old)
			r.move(old, to, res)
		}()
	}
}

// restore learns, from the records kept with the conversations, which
// keys the peers rotated away from (section 5.4's chains), so that a
// message arriving late from one, after a restart, joins its
// conversation as one arriving before the restart does.
func (r *rotations) restore() {
	n := 0
	for _, peer := range r.h.store.Peers() {
		signed, err := r.h.store.PeerRecord(peer)
		if err != nil || signed == nil {
			continue
		}
		rec, err := wire.VerifyRecord(signed)
		if err != nil || !bytes.Equal(rec.Identity, peer) {
			continue
		}
		to, err := identity.NewPublicKey(identity.KindIdentity, peer)
		if err != nil {
			continue
		}
		for _, prev := range rec.PreviousKeys() {
			old, err := identity.NewPublicKey(identity.KindIdentity, prev)
			if err != nil || old == r.h.me || r.h.store.Has(prev) {
				continue // a conversation still with old moves when its record is next seen
			}
			r.mu.Lock()
			r.moved[old] = to
			r.mu.Unlock()
			n++
		}
	}
	if n > 0 {
		r.watch()
	}
}

// moved1 marks the end of one move into to.
func (r *rotations) moved1(to identity.PublicKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.moving[to]--; r.moving[to] <= 0 {
		delete(r.moving, to)
	}
	close(r.settled)
	r.settled = make(chan struct{})
}

// wait returns once no move into key is under way, or ctx ends: a message
// submitted to a contact's new key goes after those re-sealed from the
// old one, so that the conversation keeps its order. The move was
// registered before the resolution that found key returned (seen).
func (r *rotations) wait(ctx context.Context, key identity.PublicKey) error {
	for {
		r.mu.Lock()
		n, settled := r.moving[key], r.settled
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-settled:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// moveWait bounds how long a message from a contact's new key waits for
// the conversation to move there (settle): well within the sender's
// request timeout.
const moveWait = 30 * time.Second

// settle waits, for at most moveWait, until no move into key is under
// way: a message or receipt from a contact's new key is taken in after
// the conversation moved to it, so that it joins the conversation in
// order, after the old key's messages, and a receipt finds the messages
// it names.
func (r *rotations) settle(key identity.PublicKey) {
	ctx, cancel := context.WithTimeout(r.h.ctx, moveWait)
	defer cancel()
	_ = r.wait(ctx, key) // past moveWait, it is taken in as it is
}

// follow looks up, in the background and at most every followEvery, the
// contact that key was pinned as (or that key's kept record names, if
// that name is a contact's), by name: a delivery to key found no record
// or another key at its host, as when the contact rotated. The
// resolution re-pins the contact if its record's chain leads from key,
// and seen moves the conversation.
func (r *rotations) follow(key identity.PublicKey) {
	r.mu.Lock()
	if time.Since(r.asked[key]) < followEvery || r.busy[key] {
		r.mu.Unlock()
		return
	}
	r.asked[key] = time.Now()
	r.mu.Unlock()
	go func() {
		h := r.h
		f, err := contacts.Load(h.peers.resolver.Path)
		if err != nil {
			return
		}
		c, ok := f.LookupKey(key)
		if !ok {
			signed, err := h.store.PeerRecord(key.Bytes())
			if err != nil || signed == nil {
				return
			}
			rec, err := wire.VerifyRecord(signed)
			if err != nil || rec.Name == "" {
				return
			}
			if c, ok = f.Lookup(rec.Name); !ok || c.Key == key {
				return
			}
		}
		ctx, cancel := context.WithTimeout(h.lookupCtx, resolveTimeout)
		defer cancel()
		if _, err := h.peers.resolve(ctx, c.Name, true); err != nil {
			h.log.Debug("following a peer's rotation", "peer", key, "err", err)
		}
	}()
}

// move moves the conversation with old to to, whose verified record res
// carries a chain from old (or, with res nil, a record of to's looked up
// now), and re-seals the messages queued for old to to, holding the
// deliveries to both and to's chain meanwhile.
func (r *rotations) move(old, to identity.PublicKey, res *contacts.Resolved) {
	h := r.h
	if res == nil {
		to = r.final(to)
		ctx, cancel := context.WithTimeout(h.lookupCtx, resolveTimeout)
		var err error
		res, err = h.peers.byKey(ctx, to, false)
		cancel()
		if err != nil || res.Record == nil {
			h.log.Debug("moving a late message of a rotated peer: no record of its new key", "peer", to, "err", err)
			return
		}
	}
	r.mu.Lock()
	_, again := r.moved[old]
	r.mu.Unlock()
	warn := delivery.WarnRotated
	if again {
		warn = 0 // told already: a message came late from the old key
	}

	defer h.out.hold(old, to)()
	unchain, err := h.chains.hold(to)
	if err != nil {
		if !errors.Is(err, store.ErrClosed) {
			h.log.Error("moving a conversation to a peer's new key", "err", err)
		}
		return
	}
	defer unchain()
	marked, err := h.store.MovePeer(old.Bytes(), to.Bytes(), warn)
	switch {
	case errors.Is(err, store.ErrNotFound) && again:
		// Moved before: an entry for old may still be queued (one
		// submitted as the conversation moved); it is to's now.
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrClosed):
		return
	case err != nil:
		h.log.Error("moving a conversation to a peer's new key", "err", err)
		return
	default:
		h.chains.forget(old)
		h.peers.forget(old)
		r.mu.Lock()
		r.moved[old] = to
		r.mu.Unlock()
		r.watch()
		if err := h.store.SetPeerRecord(to.Bytes(), res.Signed); err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrNotFound) {
			h.log.Error("keeping a peer's record", "err", err)
		}
		if !again {
			h.log.Warn("a peer moved to a new identity key, by rotations signed by the old one: its conversation goes on with the new key")
		}
		h.log.Debug("peer rotated", "old", old, "new", to, "warned", marked)
	}

	queued, err := r.resealQueued(to, res.Record)
	h.out.replace(queued)
	switch {
	case errors.Is(err, store.ErrClosed):
	case err != nil:
		h.log.Error("re-sealing the messages queued for a peer's old key", "err", err)
	case len(queued) > 0:
		h.log.Info("messages queued for a peer's old key re-sealed to its new one", "count", len(queued))
	}
}

// final returns the key that key's conversation moved to last, following
// the moves from one to the next; key if it did not move.
func (r *rotations) final(key identity.PublicKey) identity.PublicKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range wire.MaxRotations {
		next, ok := r.moved[key]
		if !ok {
			break
		}
		key = next
	}
	return key
}

// movedTo reports whether the conversation with key moved to another key,
// and if so, has what is still queued for key follow it (move), in the
// background, at most every followEvery. It returns what becomes of the
// caller's entry for key: put back to be re-sealed (resealing), or, while
// the last try is recent, to be retried later (retry).
func (r *rotations) movedTo(key identity.PublicKey) (moved bool, then outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	to, ok := r.moved[key]
	switch {
	case !ok:
		return false, 0
	case r.busy[key]:
		return true, resealing
	case time.Since(r.asked[key]) < followEvery:
		return true, retry
	}
	r.busy[key], r.asked[key] = true, time.Now()
	go func() {
		defer r.release(key)
		r.move(key, to, nil)
	}()
	return true, resealing
}

// resealCause is why the entries queued to a peer are re-sealed together
// (reseal), and so how the peer's record is looked up and how long after
// a failure they are not tried again.
type resealCause struct {
	why   string
	fresh bool          // the record is asked for again, not taken from the cache
	retry time.Duration // after a failure
}

var (
	// Signed before this host's identity rotated: after a failure they
	// are delivered as they are (the peer's host still takes a message
	// signed by a key the sender rotated away from).
	ownRotation = resealCause{why: "messages signed before this identity rotated re-signed by the current key", retry: resealRetry}
	// Sealed to a KEM key the peer's host no longer has: after a failure
	// (the record found names that key still) they are tried again later.
	staleKEM = resealCause{why: "messages re-sealed to the peer's new KEM key", fresh: true, retry: followEvery}
)

// reseal re-signs and re-seals, in the background, the messages queued
// to peer, in order, to peer's record (resealQueued): all of them, so that
// each names the one before it by the hash the peer's host gets. It
// reports false if that failed within the last how.retry.
func (r *rotations) reseal(peer identity.PublicKey, how resealCause) bool {
	r.mu.Lock()
	if r.busy[peer] {
		r.mu.Unlock()
		return true
	}
	if time.Since(r.resealed[peer]) < how.retry {
		r.mu.Unlock()
		return false
	}
	r.busy[peer] = true
	r.mu.Unlock()
	go func() {
		defer r.release(peer)
		if err := r.resealNow(peer, how); err != nil {
			r.mu.Lock()
			r.resealed[peer] = time.Now()
			r.mu.Unlock()
			if !errors.Is(err, store.ErrClosed) && !errors.Is(err, context.Canceled) {
				r.h.log.Info("queued messages could not be re-sealed", "why", how.why, "err", err)
			}
		}
	}()
	return true
}

func (r *rotations) resealNow(peer identity.PublicKey, how resealCause) error {
	h := r.h
	// Held first, so that its entries wait rather than come back while
	// the peer's record is looked up.
	defer h.out.hold(peer)()
	ctx, cancel := context.WithTimeout(h.lookupCtx, resolveTimeout)
	res, err := h.peers.byKey(ctx, peer, how.fresh)
	cancel()
	if err == nil && res.Record == nil {
		err = errNoHost
	}
	if err != nil {
		return err
	}
	unchain, err := h.chains.hold(peer)
	if err != nil {
		return err
	}
	defer unchain()
	queued, err := r.resealQueued(peer, res.Record)
	h.out.replace(queued)
	if len(queued) > 0 {
		h.log.Info(how.why, "count", len(queued))
	}
	if err == nil && len(queued) == 0 {
		// Nothing was left to re-seal: the peer's record names the key
		// an entry is sealed to, or it is signed by this host's key.
		err = errors.New("no queued message needed re-sealing")
	}
	return err
}

// resealQueued re-signs and re-seals to rec, in seq order, each outbox
// entry to peer that is not signed by this host's key and sealed to
// rec's keys (identity and KEM), or that names (Chain) a message
// re-signed before it, and returns them. The caller holds the deliveries to peer and peer's chain.
func (r *rotations) resealQueued(peer identity.PublicKey, rec *wire.Record) ([]*store.Outgoing, error) {
	h := r.h
	all, err := h.store.Outbox()
	if err != nil {
		return nil, err
	}
	mine := slices.DeleteFunc(all, func(o *store.Outgoing) bool { return !bytes.Equal(o.Peer, peer.Bytes()) })
	slices.SortFunc(mine, func(a, b *store.Outgoing) int { return cmp.Compare(a.Seq, b.Seq) })
	if len(mine) == 0 {
		return nil, nil
	}
	links, err := h.store.Links(peer.Bytes())
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(links))
	for _, l := range links {
		known[string(l.Hash)] = true
	}
	// before returns the hash of the conversation's last message before
	// seq, as chains.next gave it when that message was signed.
	before := func(seq uint64) []byte {
		i, _ := slices.BinarySearchFunc(links, seq, func(l store.Link, seq uint64) int { return cmp.Compare(l.Seq, seq) })
		if i == 0 {
			return nil
		}
		return links[i-1].Hash
	}
	remap := make(map[string][]byte) // a re-signed message's old chain hash → its new one
	now := h.now()
	var out []*store.Outgoing
	for _, o := range mine {
		sent, signed, err := h.storedMessage(o.Seq)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		chained := sent.Kind == wire.KindText || sent.Kind == wire.KindFile
		next, rechain := remap[string(sent.Chain)]
		if chained && !rechain && !known[string(sent.Chain)] {
			// It names no message of the conversation: it was signed on
			// a conversation with the old key made again after it moved
			// (a submit that had looked the old key up). It names the one
			// before it now.
			if prev := before(o.Seq); !bytes.Equal(prev, sent.Chain) {
				next, rechain = prev, true
			}
		}
		if env, err := wire.DecodeEnvelope(o.Envelope); err == nil && !rechain &&
			bytes.Equal(env.Sender, h.me.Bytes()) && bytes.Equal(env.Recipient, rec.Identity) && bytes.Equal(env.KEMKeyID, rec.KEM.ID) {
			continue
		}
		if rechain {
			sent.Chain = next
		}
		sealed, err := h.seal(rec, sent, now)
		if err != nil {
			return out, err
		}
		if err := h.store.ReplaceEnvelope(o.Seq, sealed.Envelope, sealed.Signed); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return out, err
		}
		if signed != nil {
			hash := wire.ChainHash(sealed.Signed)
			remap[string(wire.ChainHash(signed))] = hash
			if i := slices.IndexFunc(links, func(l store.Link) bool { return l.Seq == o.Seq }); i >= 0 {
				links[i].Hash = hash
			}
			known[string(hash)] = true
		}
		o.Envelope = sealed.Envelope
		out = append(out, o)
	}
	return out, nil
}

// watch starts, once, watching the store for messages stored from a key
// whose conversation moved (sent before the rotation, arriving after):
// each joins the conversation with the new key.
func (r *rotations) watch() {
	r.mu.Lock()
	if r.watching {
		r.mu.Unlock()
		return
	}
	r.watching = true
	r.mu.Unlock()
	h := r.h
	go func() {
		for h.ctx.Err() == nil {
			changes, stop := h.store.Subscribe()
			// What was stored while no one watched: a subscription
			// that fell behind was closed.
			r.mu.Lock()
			olds := slices.Collect(maps.Keys(r.moved))
			r.mu.Unlock()
			for _, old := range olds {
				if h.store.Has(old.Bytes()) {
					r.join(old)
				}
			}
			r.watchChanges(changes)
			stop()
			select {
			case <-h.ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

func (r *rotations) watchChanges(changes <-chan store.Change) {
	h := r.h
	for {
		var c store.Change
		var ok bool
		select {
		case c, ok = <-changes:
		case <-h.ctx.Done():
			return
		}
		if !ok {
			return
		}
		if c.Status || c.Read || c.Deleted {
			continue
		}
		m, err := h.store.Head(c.Seq)
		if err != nil {
			continue
		}
		old, err := identity.NewPublicKey(identity.KindIdentity, m.Peer)
		if err != nil {
			continue
		}
		r.join(old)
	}
}

// signedBefore reports whether envelope is sealed by a key other than the
// host's own: one it held before its identity rotated.
func (h *Host) signedBefore(envelope []byte) bool {
	env, err := wire.DecodeEnvelope(envelope)
	return err == nil && !bytes.Equal(env.Sender, h.me.Bytes())
}
