package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/dirclient"
	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/store"
	"smvs/lib/wire"
)

// resolveTimeout bounds one resolution, shared by all who wait for it.
const resolveTimeout = 30 * time.Second

// refreshMin is how recent a resolution may be and still serve a caller
// that asks for a fresh one, so that a burst of failures asks once.
const refreshMin = time.Second

// peerCache resolves recipients and peers with contacts.Resolver, exactly
// as smvs-register does (contacts file, then the directories, pinning on
// first use), and keeps what it found for Config.ResolveTTL, so that
// messages do not each cost a look-up. Callers asking for the same thing
// at once share one look-up. It is safe for concurrent use.
//
// A look-up that a directory failed (a network error or a bad record, not
// "not found") is not kept that long: with no record it is not used again,
// so the next caller asks afresh, and with a record from elsewhere it is
// used for refreshMin at most. A contact found with no record anywhere is
// also kept for refreshMin only; an error is never kept.
//
// When no directory answers, the peer's record as the host last verified
// it, which the store keeps with the conversation (knownRecords), serves
// while it is valid: a directory outage does not stop messages to known
// peers.
type peerCache struct {
	h        *Host
	resolver *contacts.Resolver

	mu       sync.Mutex
	entries  map[string]*resolution       // by query: a name as given, or a key string
	known    map[identity.PublicKey]route // where a key's host was last seen
	failures map[identity.PublicKey]hostFailure
	names    map[identity.PublicKey]string    // the name of each peer's record, as last seen
	asked    map[identity.PublicKey]time.Time // when a peer with no known name was looked up
	kept     map[identity.PublicKey][]byte    // the record the store keeps for a key, once seen

	// rot follows the rotation chains of the records resolved (seen).
	rot *rotations
}

type resolution struct {
	done chan struct{}
	res  *contacts.Resolved
	err  error
	at   time.Time // real time it finished
}

func newPeerCache(h *Host) *peerCache {
	c := &peerCache{
		h: h, entries: make(map[string]*resolution),
		known: make(map[identity.PublicKey]route), failures: make(map[identity.PublicKey]hostFailure),
		names: make(map[identity.PublicKey]string), asked: make(map[identity.PublicKey]time.Time),
		kept: make(map[identity.PublicKey][]byte), rot: newRotations(h),
	}
	// The directories first (but with DHTOnly), then the DHT, then the
	// peer's own host, then what the store kept: the first that serves a
	// record that verifies and is no rollback wins.
	dirs := make([]contacts.Directory, 0, len(h.cfg.Directories)+3)
	if h.cfg.DHT != DHTOnly {
		for _, d := range h.cfg.Directories {
			dirs = append(dirs, d)
		}
	}
	if h.cfg.DHT.looksUp() {
		dirs = append(dirs, dhtDirectory{c})
	}
	dirs = append(dirs, hostDirectory{c}, knownRecords{c})
	c.resolver = &contacts.Resolver{Path: contacts.Path(h.cfg.Home), Directories: dirs, Now: h.cfg.Now, Self: h.me}
	return c
}

// resolve resolves query, a contact name, an smvs1 key or a directory
// name. With fresh, a result older than refreshMin is not used.
func (c *peerCache) resolve(ctx context.Context, query string, fresh bool) (*contacts.Resolved, error) {
	c.mu.Lock()
	r := c.entries[query]
	if r != nil {
		select {
		case <-r.done:
			if !c.reusable(r, fresh) {
				r = nil
			}
		default: // in progress: wait for it
		}
	}
	if r == nil {
		r = &resolution{done: make(chan struct{})}
		c.entries[query] = r
		go c.run(query, r)
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// reusable reports whether the finished resolution r may answer a
// caller now.
func (c *peerCache) reusable(r *resolution, fresh bool) bool {
	age := time.Since(r.at)
	switch {
	case r.err != nil, lookupFailed(r.res):
		return false
	case fresh, r.res.Record == nil, len(r.res.Skipped) > 0:
		return age <= refreshMin
	}
	return age <= c.h.cfg.ResolveTTL
}

// lookupFailed reports whether res found no record because a directory failed.
func lookupFailed(res *contacts.Resolved) bool { return res.Record == nil && len(res.Skipped) > 0 }

func (c *peerCache) run(query string, r *resolution) {
	ctx, cancel := context.WithTimeout(c.h.lookupCtx, resolveTimeout)
	defer cancel()
	r.res, r.err = c.resolver.Resolve(ctx, query)
	r.at = time.Now()
	if r.err == nil {
		c.keep(r.res)
		c.rot.seen(r.res)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if (r.err != nil || lookupFailed(r.res)) && c.entries[query] == r {
		delete(c.entries, query) // failures are not remembered
	}
	if r.res != nil {
		if rt := routeOf(r.res); rt.addr != "" {
			c.known[r.res.Contact.Key] = rt
		}
		if r.res.Record != nil && r.res.Record.Name != "" {
			c.names[r.res.Contact.Key] = r.res.Record.Name
		}
		// A look-up by name also answers look-ups by the key it found.
		if key := r.res.Contact.Key.String(); key != query && r.res.Record != nil {
			c.entries[key] = r
		}
	}
	close(r.done)
}

// keep has the store keep res's record, if it is new and did not come from
// the store, with the conversation with its key. With no conversation yet
// it is kept later: submit calls keep again once the message is stored.
func (c *peerCache) keep(res *contacts.Resolved) {
	if res.Record == nil || res.Directory == knownRecordsName {
		return
	}
	key := res.Contact.Key
	c.mu.Lock()
	same := bytes.Equal(c.kept[key], res.Signed)
	c.mu.Unlock()
	if same {
		return
	}
	err := c.h.store.SetPeerRecord(key.Bytes(), res.Signed)
	switch {
	case err == nil:
		c.mu.Lock()
		c.kept[key] = res.Signed
		c.mu.Unlock()
	case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrClosed):
		c.h.log.Error("keeping a peer's record", "err", err)
	}
}

// forget drops what the cache holds for key, a key its peer rotated away
// from, so that nothing resolves it from memory.
func (c *peerCache) forget(key identity.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for query, r := range c.entries {
		select {
		case <-r.done:
			// key's, or a name that resolved to it: a submit must
			// look the name up again and find the new key.
			if query == key.String() || (r.res != nil && r.res.Contact.Key == key) {
				delete(c.entries, query)
			}
		default: // in progress: it ends on its own
		}
	}
	delete(c.kept, key)
}

// byKey resolves a peer by its key.
func (c *peerCache) byKey(ctx context.Context, key identity.PublicKey, fresh bool) (*contacts.Resolved, error) {
	return c.resolve(ctx, key.String(), fresh)
}

// nameWait bounds how long storing a peer's first message waits to learn
// the peer's name.
const nameWait = 2 * time.Second

// learnName looks peer up by key, once in ResolveTTL, unless its record's
// name is known already, so that the name is known when its messages
// reach devices. The look-up is the one its receipt needs anyway.
func (c *peerCache) learnName(ctx context.Context, peer identity.PublicKey) {
	c.mu.Lock()
	_, named := c.names[peer]
	asked, ok := c.asked[peer]
	fresh := ok && time.Since(asked) < c.h.cfg.ResolveTTL
	if !named && !fresh {
		c.asked[peer] = time.Now()
	}
	var inProgress chan struct{}
	if r := c.entries[peer.String()]; r != nil && fresh {
		inProgress = r.done
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, nameWait)
	defer cancel()
	switch {
	case named:
	case fresh:
		// Another message from peer started the look-up: this one waits
		// for it too, as the look-up may find that peer is a contact's
		// new key and start moving the conversation (rotations.seen).
		if inProgress != nil {
			select {
			case <-inProgress:
			case <-ctx.Done():
			}
		}
	default:
		c.byKey(ctx, peer, false)
	}
}

// recordName returns the name of key's record as last seen, or "".
func (c *peerCache) recordName(key identity.PublicKey) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.names[key]
}

// knownHost returns where key's host was last seen, or the zero route.
func (c *peerCache) knownHost(key identity.PublicKey) route {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known[key]
}

// recordTimeout bounds asking a peer's host for its record, and
// failureMemory is how long a host that did not answer is not asked again,
// so that one resolution (which may ask twice) waits for it once.
const (
	recordTimeout = 5 * time.Second
	failureMemory = 5 * time.Second
)

// failed remembers that key's host did not give its record.
func (c *peerCache) failed(key identity.PublicKey, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures[key] = hostFailure{err: err, at: time.Now()}
}

// recentFailure returns the error of key's host if it failed lately.
func (c *peerCache) recentFailure(key identity.PublicKey) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.failures[key]
	if ok && time.Since(f.at) < failureMemory {
		return f.err
	}
	delete(c.failures, key)
	return nil
}

type hostFailure struct {
	err error
	at  time.Time
}

// hostDirectory is the last directory a peerCache asks: the peer's own
// host, at the address the contacts file gives it (host=) or the one last
// seen in its record, for its current record (wire.OpRecord). The
// transport proves the host holds the key, and the resolver verifies the
// record as any other.
type hostDirectory struct{ c *peerCache }

var errNoHost = fmt.Errorf("no known host address: %w", dirclient.ErrNotFound)

func (d hostDirectory) LookupName(context.Context, string) ([]byte, error) { return nil, errNoHost }

func (d hostDirectory) LookupKey(ctx context.Context, key identity.PublicKey) ([]byte, error) {
	var rt route
	if f, err := contacts.Load(d.c.resolver.Path); err == nil {
		if ct, ok := f.LookupKey(key); ok {
			rt.addr = ct.Host
		}
	}
	if rt.addr == "" {
		rt = d.c.knownHost(key)
	}
	if rt.addr == "" {
		return nil, errNoHost
	}
	if err := d.c.recentFailure(key); err != nil {
		return nil, err
	}
	return d.c.fetchRecord(ctx, key, rt)
}

// fetchRecord asks the host of key at rt for its current record
// (wire.OpRecord), and returns it as signed: the transport proves the
// host holds the key (or the relay's), and the caller verifies the record.
func (c *peerCache) fetchRecord(ctx context.Context, key identity.PublicKey, rt route) ([]byte, error) {
	addr := rt.String()
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	req := &wire.HostRequest{Op: wire.OpRecord}
	data, err := c.h.request(ctx, key, rt, req.Encode())
	if err != nil {
		err = fmt.Errorf("asking the host at %s for its record: %w", addr, err)
		c.failed(key, err)
		return nil, err
	}
	resp, err := wire.DecodeHostResponse(data)
	if err != nil {
		return nil, fmt.Errorf("the host at %s: %w", addr, err)
	}
	if resp.Status != wire.StatusStored || len(resp.Record) == 0 {
		return nil, fmt.Errorf("the host at %s gave no record: %s", addr, resp.Status)
	}
	return resp.Record, nil
}

func (d hostDirectory) String() string { return "the contact's host" }

// knownRecords is the directory a peerCache asks after every other: the
// store, for the record of a key that the host verified last (keep). The
// resolver verifies it again, so an expired one is not used. It answers
// look-ups by key only: a name is the directories' to give.
type knownRecords struct{ c *peerCache }

const knownRecordsName = "the record this host verified last"

func (d knownRecords) LookupName(context.Context, string) ([]byte, error) {
	return nil, dirclient.ErrNotFound
}

func (d knownRecords) LookupKey(_ context.Context, key identity.PublicKey) ([]byte, error) {
	signed, err := d.c.h.store.PeerRecord(key.Bytes())
	if err == nil && signed == nil {
		err = dirclient.ErrNotFound
	}
	return signed, err
}

func (d knownRecords) String() string { return knownRecordsName }

// contactNames maps keys to contact names for devices, reading the
// contacts file again when it changes. It is safe for concurrent use.
type contactNames struct {
	path string

	mu      sync.Mutex
	checked time.Time
	modTime time.Time
	size    int64
	names   map[identity.PublicKey]string
	keys    map[string]identity.PublicKey
}

// namesRecheck is how often the contacts file is looked at again.
const namesRecheck = time.Second

func newContactNames(path string) *contactNames { return &contactNames{path: path} }

func (n *contactNames) load() {
	if time.Since(n.checked) < namesRecheck && n.names != nil {
		return
	}
	n.checked = time.Now()
	info, err := os.Stat(n.path)
	if err != nil {
		n.names, n.keys = map[identity.PublicKey]string{}, map[string]identity.PublicKey{}
		return
	}
	if n.names != nil && info.ModTime().Equal(n.modTime) && info.Size() == n.size {
		return
	}
	f, err := contacts.Load(n.path)
	if err != nil {
		return // keep what was known
	}
	n.modTime, n.size = info.ModTime(), info.Size()
	n.names, n.keys = map[identity.PublicKey]string{}, map[string]identity.PublicKey{}
	for _, c := range f.Contacts() {
		if _, dup := n.names[c.Key]; !dup {
			n.names[c.Key] = c.Name
		}
		n.keys[c.Name] = c.Key
	}
}

// name returns the contact name of key, or "".
func (n *contactNames) name(key []byte) string {
	k, err := identity.NewPublicKey(identity.KindIdentity, key)
	if err != nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.load()
	return n.names[k]
}

// errUnknownPeer means a name is neither a contact nor a key.
var errUnknownPeer = errors.New("no contact or key")

// key returns the key a contact name or key string stands for, from the
// contacts file alone.
func (n *contactNames) key(s string) (identity.PublicKey, error) {
	if k, err := identity.ParsePublicKey(s); err == nil && k.Kind() == identity.KindIdentity {
		return k, nil
	}
	name, err := names.Normalize(s)
	if err != nil {
		return identity.PublicKey{}, fmt.Errorf("%q: %w", s, errUnknownPeer)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.load()
	if _, ok := n.keys[name]; !ok {
		// A name the user just added (smvs-register add, a look-up that
		// pinned it) must not be unknown for up to namesRecheck: a miss
		// looks at the file again.
		n.checked = time.Time{}
		n.load()
	}
	if k, ok := n.keys[name]; ok {
		return k, nil
	}
	return identity.PublicKey{}, fmt.Errorf("%q: %w", s, errUnknownPeer)
}
