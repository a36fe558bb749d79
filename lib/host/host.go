// Package host is the user's host, the logic of smvs-hostd: it acts for
// the identity (whose keys it holds in process or asks smvs-agent to use),
// receives sealed envelopes from other hosts over QUIC and
// stores them encrypted, delivers the user's outgoing messages with
// retries, and serves the user's devices over a unix socket (package
// hostapi).
//
// # Promises
//
//   - A Submit is answered only once the message is durably in the store
//     and its outbox (one store call); a delivery is acknowledged to the
//     sending host (StatusStored) only once the message is durably stored.
//     Together with the store's deduplication by (peer, message id), no
//     acknowledged message is lost or stored twice, whenever either host
//     stops.
//   - The user's policy (the files blocked and allowed in the SMVS home)
//     is applied to the peer key the TLS handshake proved, before anything
//     of the envelope is decrypted or stored.
//   - Nothing a peer or a device sends can change what is stored unless it
//     is a valid request: garbage gets an error answer or a closed
//     connection.
//   - Logs never hold message content or key material; peer keys appear
//     only at the debug level.
//   - A message that expired while the host was down is deleted before
//     Start serves anything; one that expires while it runs is deleted
//     within about 2 seconds (expiryPoll, plus the deletion).
//   - A message is never refused for its chain, and a message the host
//     stored once is never stored again, even after it was deleted.
//   - The host uses the identity's keys only through identity.Keys: with
//     an smvs-agent's client it never holds the identity's private key.
//   - After a rotation of the identity, Start moves the store to the new
//     identity (its root key re-wrapped under the new storage key) before
//     the replaced identities' keys are forgotten: no crash leaves the
//     store unopenable with the identity file as it is.
//
// # Delivery
//
// Outgoing envelopes wait in the store's outbox. Each peer has one queue,
// which sends up to deliveryWindow envelopes at once, in batches, over one pooled QUIC
// connection, in the order they were queued; the receiving host stores
// them in the order their chain hashes give (see chains). When the peer's
// host fails to answer, the queue backs off exponentially with jitter
// (Config BackoffMin to BackoffMax) and then probes with one envelope at a time,
// looking the peer's record up afresh each time (it may have moved or
// rotated its KEM key). An envelope is given up (status Failed) when the
// peer's host refuses it for good or after Config.RetryFor.
//
// # Receipts
//
// For every message it stores, the host sends the sender a delivery
// receipt: a sealed KindReceipt message whose body is a wire.Receipt of
// the ids, collected per peer for up to Config.ReceiptDelay or
// wire.MaxReceiptIDs ids. Receipts are stored as outgoing messages of kind
// receipt and travel through the outbox like any other, so they survive a
// restart; devices never see them (List and Status skip them). A receipt
// received marks the messages it names Delivered and is not stored.
// Receipts still being collected when the host is killed (not stopped)
// are lost: their messages stay Sent at the sender.
//
// # Deletion
//
// Every deletion, a device's (OpDelete), an expiry's (the sweeper) or a
// peer's request (KindDelete, honoured by Config.PeerDeletes), is done by
// the store, which destroys the messages' keys and keeps their links, and
// then goes through Host.deleted, which takes them out of the delivery
// queues and tells every following device (hostapi.EventDeleted). Delete
// requests to peers' hosts ("for everyone") are sealed and sent through
// the outbox as receipts are (sendUnchained), and their status is the
// peer's answer; devices see them only through Status.
//
// # Integrity
//
// Each conversation's links, deleted messages' included, are kept by
// chains, which orders arriving messages and checks each against them: a
// duplicate, a changed message, a gap or a fork (PROTOCOL.md section
// 7.1). Warnings are stored with the message, shown to devices and logged.
//
// # Records without a directory
//
// A host answers wire.OpRecord with its user's current signed record, so a
// contact reached by key with host=ADDR in the contacts file can be sealed
// to with no directory at all: the record comes from the host that TLS
// proved holds the contact's key, and is verified like a directory's.
// And when no directory answers, the record the host last verified for a
// peer, which the store keeps with the conversation, serves while it is
// valid (see peerCache).
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"smvs/lib/contacts"
	"smvs/lib/dht"
	"smvs/lib/dirclient"
	"smvs/lib/identity"
	"smvs/lib/portmap"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// Defaults of the Config fields.
const (
	DefaultMaxMessage     = 64 << 20
	DefaultRetryFor       = 7 * 24 * time.Hour
	DefaultBackoffMin     = 200 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Minute
	DefaultPeerRate       = 5000
	DefaultPeerBurst      = 10000
	DefaultPeerStreams    = 64
	DefaultRecordLifetime = 30 * 24 * time.Hour
	DefaultResolveTTL     = time.Minute
	DefaultReceiptDelay   = 50 * time.Millisecond

	// Strangers (keys not in the contacts) share one budget, as fresh keys
	// cost nothing: together about what one busy peer would send (a
	// stranger's host sends up to 64 at once), and a disk quota that
	// bounds what they can fill: 64 MiB for all, 16 MiB for each key, so
	// that one stranger can't take all of it and a stranger can still
	// send a file of several MiB (a message counts about twice its size:
	// its body and its signed bytes). The burst is a contact's, so that a
	// new correspondent's first few thousand lines (smvs-send -l) go
	// through at once: a delivery refused busy is retried later, after
	// the lines behind it, which then wait out of order.
	DefaultStrangerRate     = 100
	DefaultStrangerBurst    = DefaultPeerBurst
	DefaultStrangerStreams  = 64
	DefaultStrangerQuota    = 64 << 20
	DefaultStrangerKeyQuota = 16 << 20
)

// NoLimit turns off a stranger limit in Config, whose zero takes the
// default.
const NoLimit = -1

const (
	// deliveryWindow is how many envelopes one peer's queue has in flight
	// at once, in up to deliveryRequests requests.
	deliveryWindow   = 64
	deliveryRequests = 4
	// batchBytes bounds the envelopes of one batch of deliveries
	// (wire.OpDeliverBatch) together, well within a frame: an envelope
	// over half of it goes alone.
	batchBytes = 512 << 10
	// batchHold bounds how long the receiving host holds its store for a
	// batch's messages to be queued and commit together.
	batchHold = 20 * time.Millisecond
	// A delivery, from dialling to the answer, is given requestBase and
	// a second for each requestRate bytes of its envelope: enough for a
	// slow link, while a dead one is found sooner by the transport (the
	// keep-alives of peerKeepAlive, transport.Pool).
	requestBase = time.Minute
	requestRate = 64 << 10
	// peerKeepAlive is how often a connection to a peer's host that
	// carries nothing is pinged: a host that restarted answers with a
	// stateless reset, and a silent path is found within a few.
	peerKeepAlive = time.Second
	// silentAfter is how long a connection a peer's host opened to this
	// one may go unheard and still be used to reach it (request): its
	// keep-alives come every peerKeepAlive.
	silentAfter = 3 * peerKeepAlive
	// envelopeOverhead is what sealing adds to a body at most: padding to
	// the next 64 KiB, the signature and the headers.
	envelopeOverhead = 128 << 10
	// maintenanceInterval is how often the host checks its KEM key and
	// record.
	maintenanceInterval = time.Hour
	// republishAfter is how old a published record gets before the host
	// publishes it afresh.
	republishAfter = 24 * time.Hour
	// publishTimeout bounds publishing the record to the directories.
	publishTimeout = 30 * time.Second
	// startPublishTimeout bounds the publish at start, which the start
	// line waits for; a publish that fails is retried later.
	startPublishTimeout = 10 * time.Second
)

// Config is what a Host needs. Keys, DataDir, Socket, Home and Listen
// are required; a zero limit takes its default.
type Config struct {
	// Keys are the user's identity's keys: an *identity.Keyring, which
	// saves the identity file on each change, or an smvs-agent's client.
	// The Host rotates the KEM keys through them, and moves its store to
	// the current identity and then forgets the retired ones
	// (ForgetRetired). The caller closes them after Shutdown.
	Keys identity.Keys

	Home    string // the SMVS home: contacts, blocked, allowed
	DataDir string // the store's directory
	Socket  string // the device socket's path

	// Listen is the UDP address for QUIC; Advertise the address published
	// in the record (default: Listen as bound).
	Listen    string
	Advertise string
	// PortMapping says whether to ask the router to forward the port
	// (default PortMapAuto).
	PortMapping PortMapping
	// Relay, if set, is a host that relays for this one, which others
	// can't dial: the host keeps a connection open to it, publishes its
	// address and key in the record, and takes the requests it passes on.
	// Advertise must be empty and PortMapping is not used.
	Relay *Relay
	// RelayFor are the users whose hosts this one relays for: it passes
	// requests for them on over the connections their hosts keep open.
	RelayFor []identity.PublicKey
	// Name is the name to publish the record under (default: the name of
	// the record the directories serve now).
	Name        string
	Directories []*dirclient.Client

	MaxMessage  int64         // bytes of a message body, sent or received
	Quota       int64         // bytes the store may hold; 0 for no limit
	RetryFor    time.Duration // how long an outgoing message is retried
	BackoffMin  time.Duration // the first retry delay
	BackoffMax  time.Duration // the longest retry delay
	PeerRate    float64       // deliveries a second a peer may make on average
	PeerBurst   int           // and at once
	PeerStreams int           // deliveries a peer may have in flight at once

	// What strangers (keys neither in the contacts nor the user's own)
	// may do together, on top of each key's Peer limits: deliveries a
	// second on average (StrangerRate, NoLimit for none), at once
	// (StrangerBurst) and in flight (StrangerStreams); the bytes their
	// received messages may take in the store, all of them together
	// (StrangerQuota) and each key's (StrangerKeyQuota), NoLimit for none.
	StrangerRate     float64
	StrangerBurst    int
	StrangerStreams  int
	StrangerQuota    int64
	StrangerKeyQuota int64

	// MaxConns and MaxConnsPerAddr bound the QUIC connections of peers
	// and remote devices, at once, in all and from one IP address
	// (transport.DefaultMaxConns, transport.DefaultMaxConnsPerAddr).
	MaxConns        int
	MaxConnsPerAddr int

	KEMLifetime    time.Duration // a new KEM key's lifetime (identity.DefaultKEMLifetime)
	KEMGrace       time.Duration // rotate when the KEM key has less left (identity.DefaultKEMGrace)
	RecordLifetime time.Duration // how long a published record is valid
	ResolveTTL     time.Duration // how long a resolved record is used before asking again
	ReceiptDelay   time.Duration // how long receipts to one peer are collected

	// PeerDeletes is what the host does with a peer's request to delete
	// its copies of messages (delete for everyone).
	PeerDeletes PeerDeletes

	// Now is the clock of the protocol's times (sent, stored, record and
	// KEM key times); time.Now if nil. Timers always use the real clock.
	Now func() time.Time
	Log *slog.Logger // nothing is logged if nil
	// DHT is what the host does with the mainline DHT (PROTOCOL.md 24):
	// publish its record's pointer, and look keys up there; DHTNode is
	// how its node joins.
	DHT     DHTMode
	DHTNode dht.Config

	// Metrics, if not nil, gets the host's Prometheus metrics, from Start
	// until Shutdown; no label names a peer.
	Metrics prometheus.Registerer

	// refuseBatches, for a test, makes the host answer a batch (PROTOCOL.md
	// 19.10) as a host from before batches does: a malformed request.
	refuseBatches bool
}

// PeerDeletes is a policy for peers' requests to delete messages.
type PeerDeletes int

// The policies.
const (
	// PeerDeletesOwn, the default, honours a request that names only
	// messages the peer sent: they are deleted here as the user's own
	// deletions are. A request that names any message this user sent is
	// refused, and deletes nothing.
	PeerDeletesOwn PeerDeletes = iota
	// PeerDeletesNone refuses every request.
	PeerDeletesNone
)

var peerDeletesNames = map[PeerDeletes]string{PeerDeletesOwn: "own", PeerDeletesNone: "none"}

func (p PeerDeletes) String() string {
	if n, ok := peerDeletesNames[p]; ok {
		return n
	}
	return fmt.Sprintf("PeerDeletes(%d)", int(p))
}

// ParsePeerDeletes returns the policy named s: own or none.
func ParsePeerDeletes(s string) (PeerDeletes, error) {
	for p, n := range peerDeletesNames {
		if n == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown policy %q for peers' deletions: want own or none", s)
}

func (c *Config) setDefaults() error {
	switch {
	case peerDeletesNames[c.PeerDeletes] == "":
		return fmt.Errorf("host: unknown policy %v for peers' deletions", c.PeerDeletes)
	case c.Keys == nil || c.Keys.Public().Kind() != identity.KindIdentity:
		return errors.New("host: no identity")
	case c.DataDir == "" || c.Socket == "" || c.Home == "" || c.Listen == "":
		return errors.New("host: DataDir, Socket, Home and Listen are required")
	case c.MaxMessage < 0 || c.Quota < 0 || c.RetryFor < 0 || c.BackoffMin < 0 || c.BackoffMax < 0 ||
		c.PeerRate < 0 || c.PeerBurst < 0 || c.PeerStreams < 0 || c.MaxConns < 0 || c.MaxConnsPerAddr < 0:
		return errors.New("host: negative limit")
	case c.StrangerRate < 0 && c.StrangerRate != NoLimit || c.StrangerBurst < 0 || c.StrangerStreams < 0 ||
		c.StrangerQuota < NoLimit || c.StrangerKeyQuota < NoLimit:
		return errors.New("host: negative limit for strangers")
	case c.MaxMessage > MaxMessageLimit:
		return fmt.Errorf("host: message size limit %d above %d", c.MaxMessage, MaxMessageLimit)
	case c.Relay != nil && c.Advertise != "":
		return errors.New("host: a host reached through a relay publishes the relay's address: no Advertise")
	case c.Relay != nil && c.Relay.Key == c.Keys.Public():
		return errors.New("host: a host can't be its own relay")
	}
	setDefault(&c.MaxMessage, DefaultMaxMessage)
	setDefault(&c.RetryFor, DefaultRetryFor)
	setDefault(&c.BackoffMin, DefaultBackoffMin)
	setDefault(&c.BackoffMax, DefaultBackoffMax)
	setDefault(&c.PeerRate, DefaultPeerRate)
	setDefault(&c.PeerBurst, DefaultPeerBurst)
	setDefault(&c.PeerStreams, DefaultPeerStreams)
	setDefault(&c.StrangerRate, DefaultStrangerRate)
	setDefault(&c.StrangerBurst, DefaultStrangerBurst)
	setDefault(&c.StrangerStreams, DefaultStrangerStreams)
	setDefault(&c.StrangerQuota, DefaultStrangerQuota)
	setDefault(&c.StrangerKeyQuota, DefaultStrangerKeyQuota)
	setDefault(&c.KEMLifetime, identity.DefaultKEMLifetime)
	setDefault(&c.KEMGrace, identity.DefaultKEMGrace)
	setDefault(&c.RecordLifetime, DefaultRecordLifetime)
	setDefault(&c.ResolveTTL, DefaultResolveTTL)
	setDefault(&c.ReceiptDelay, DefaultReceiptDelay)
	c.BackoffMax = max(c.BackoffMax, c.BackoffMin)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// MaxMessageLimit is the largest Config.MaxMessage: the largest body a
// stream carries (PROTOCOL.md 23).
const MaxMessageLimit = wire.MaxStreamSize

// FrameLimit is the largest frame a host reads from another: an envelope
// with an inline body, or a frame of a streamed body's chunks.
const FrameLimit = streamAbove + envelopeOverhead

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Host is a running host. Its methods are safe for concurrent use.
type Host struct {
	cfg  Config
	log  *slog.Logger
	me   identity.PublicKey
	keys identity.Keys

	store    *store.Store
	ln       *transport.Listener
	lnReady  chan struct{} // closed once ln is set: its handlers may run before
	pool     *transport.Pool
	devices  *deviceServer
	policy   *policy
	limits   *peerLimits
	peers    *peerCache
	chains   *chains
	out      *deliverer
	receipts *receiptBatcher
	calls    *callHub
	names    *contactNames

	// strangers and strangerQuota are the budgets strangers share.
	strangers     *sharedLimit
	strangerQuota *strangerQuota

	deletions *deletions    // what following devices are told was deleted
	sweepWake chan struct{} // wakes the sweeper of expired messages

	// publishMu makes one record at a time: the maintenance loop's and
	// the owner's (OpPublish).
	publishMu sync.Mutex

	selfMu         sync.Mutex
	self           *wire.Record
	selfSigned     []byte
	name           string    // the name to publish under: Config.Name, or an OpPublish's
	addr           string    // the address to publish: Config.Advertise, or an OpPublish's
	published      time.Time // real time of the last publish every directory took
	publishPending bool
	keysUnsaved    bool // a KEM key change was made but not saved

	metrics    *hostMetrics
	unmetrics  func()       // takes the metrics off Config.Metrics
	busyLogged atomic.Int64 // Unix nanoseconds of the last busy refusal logged
	bodies     incoming     // streamed bodies being received
	pushMu     sync.Mutex
	pushes     map[string]chan struct{} // bodies being pushed ahead of their message, by its id: closed when done

	portMap *portmap.Mapping // the router's forward of the port; nil if none

	dht     *dht.Node     // nil without Config.DHT
	dhtWake chan struct{} // the record changed: put its pointer again

	ctx    context.Context // canceled when Shutdown begins
	cancel context.CancelFunc
	// lookupCtx bounds look-ups, which the last receipts of a stop still
	// need; it is canceled after them.
	lookupCtx    context.Context
	lookupCancel context.CancelFunc
	bg           sync.WaitGroup // background loops
	stopOnce     sync.Once
	stopErr      error
}

// ErrWrongIdentity means the data directory holds a store that none of
// the identity's keys opens, its current one or those it replaced: the
// store of another identity.
var ErrWrongIdentity = errors.New("the data directory belongs to another identity")

// openStore opens the store with the identity's storage keys, the current
// one first and then those of the identities it replaced. When a replaced
// one opens it, the store re-wraps its root key under the current one
// before it returns, and only then are the replaced identities' secrets
// forgotten: a crash in between leaves a store the current key opens, and
// the store reports the move again at the next start, when they are.
func (h *Host) openStore() (*store.Store, error) {
	keks, err := h.keys.StorageKeys("store")
	if err != nil {
		return nil, fmt.Errorf("deriving the store's key: %w", err)
	}
	st, err := store.Open(h.cfg.DataDir, keks, store.Options{Quota: h.cfg.Quota, Now: h.cfg.Now})
	for _, k := range keks {
		clear(k)
	}
	if errors.Is(err, store.ErrWrongKey) {
		return nil, fmt.Errorf("opening the store in %s: %w", h.cfg.DataDir, ErrWrongIdentity)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the store in %s: %w", h.cfg.DataDir, err)
	}
	if !st.Moved() || len(keks) == 1 {
		// Not moved, or moved and the replaced identities forgotten.
		return st, nil
	}
	h.log.Info("the store moved to the new identity", "dir", h.cfg.DataDir)
	if err := h.keys.ForgetRetired(); err != nil {
		// The store no longer needs them; keeping them is no danger to it.
		h.log.Error("forgetting the replaced identities' keys", "err", err)
	} else {
		h.log.Info("forgot the keys of the identities this one replaced", "count", len(keks)-1)
	}
	return st, nil
}

// Start starts a host: it opens the store, takes the device socket, listens
// for QUIC, checks its KEM key, publishes its record, and begins
// delivering what the outbox holds. When it returns, the host serves.
func Start(cfg Config) (_ *Host, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	lookupCtx, lookupCancel := context.WithCancel(context.Background())
	h := &Host{
		cfg: cfg, log: cfg.Log, keys: cfg.Keys, me: cfg.Keys.Public(),
		name: cfg.Name, addr: cfg.Advertise,
		ctx: ctx, cancel: cancel, lookupCtx: lookupCtx, lookupCancel: lookupCancel,
		deletions: newDeletions(), sweepWake: make(chan struct{}, 1), lnReady: make(chan struct{}),
		pushes: make(map[string]chan struct{}), metrics: newHostMetrics(), unmetrics: func() {},
		dhtWake: make(chan struct{}, 1),
	}
	var undo []func()
	defer func() {
		if err != nil {
			cancel()
			lookupCancel()
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	sock, err := takeSocket(cfg.Socket)
	if err != nil {
		return nil, err
	}
	undo = append(undo, sock.release)

	if h.store, err = h.openStore(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { h.store.Close() })

	// What expired while the host was down is deleted before anything is
	// served, or delivered.
	expired, err := h.store.DeleteExpired(cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("deleting expired messages: %w", err)
	}
	if len(expired) > 0 {
		h.log.Info("expired messages deleted", "messages", len(expired))
	}

	h.policy = newPolicy(cfg.Home, h.log)
	h.limits = newPeerLimits(cfg.PeerRate, cfg.PeerBurst, cfg.PeerStreams)
	h.strangers = newSharedLimit(cfg.StrangerRate, cfg.StrangerBurst, cfg.StrangerStreams)
	h.strangerQuota = newStrangerQuota(cfg.StrangerQuota, cfg.StrangerKeyQuota)
	h.names = newContactNames(contacts.Path(cfg.Home))
	h.chains = newChains(h.store)
	h.publishMu.Lock()
	h.checkKEM(false)
	h.publishMu.Unlock()

	tcfg := transport.Config{
		MaxFrame:           FrameLimit,
		MaxIncomingStreams: cfg.PeerStreams,
		OnError: func(peer identity.PublicKey, err error) {
			h.log.Debug("peer connection", "peer", peer, "err", err)
		},
	}
	pcfg := tcfg
	pcfg.KeepAlive = peerKeepAlive
	h.pool, err = transport.NewPool(cfg.Keys.Signer(), pcfg, transport.StreamFunc(h.serveHostStream))
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { h.pool.Close() })
	if cfg.DHT != DHTOff {
		if h.dht, err = dht.Start(cfg.DHTNode); err != nil {
			return nil, fmt.Errorf("starting the DHT node: %w", err)
		}
		undo = append(undo, h.dht.Close)
	}
	h.peers = newPeerCache(h)
	h.peers.rot.restore()
	h.out = newDeliverer(h)
	undo = append(undo, h.out.stop)
	h.receipts = newReceiptBatcher(h)
	h.calls = newCallHub(h)
	undo = append(undo, func() { h.receipts.close(context.Background()) })

	reg, err := openRegistry(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("reading the linked devices: %w", err)
	}
	h.devices = newDeviceServer(h, sock, reg)
	undo = append(undo, func() { h.devices.close(); h.devices.wait() })
	if cfg.Metrics != nil {
		if h.unmetrics, err = h.registerMetrics(cfg.Metrics); err != nil {
			return nil, fmt.Errorf("registering the metrics: %w", err)
		}
		undo = append(undo, h.unmetrics)
	}

	lcfg := tcfg
	lcfg.MaxConns, lcfg.MaxConnsPerAddr = cfg.MaxConns, cfg.MaxConnsPerAddr
	lcfg.Admit = h.admit
	lcfg.Connected = h.out.wake
	lcfg.OnError = func(peer identity.PublicKey, err error) {
		h.log.Debug("peer connection", "peer", peer, "err", err)
		if errors.Is(err, errBlocked) {
			h.log.Info("connection refused by policy", "reason", err)
		}
	}
	h.ln, err = transport.Listen(cfg.Listen, cfg.Keys.Signer(), lcfg, transport.StreamFunc(h.serveStream))
	if err != nil {
		return nil, err
	}
	close(h.lnReady)
	undo = append(undo, func() { h.ln.Close() })

	if cfg.Relay != nil {
		h.addr = cfg.Relay.Addr
	} else {
		h.mapPort(ctx)
		undo = append(undo, func() { h.closePortMap() })
	}
	pctx, pcancel := context.WithTimeout(ctx, startPublishTimeout)
	_, err = h.refreshRecord(pctx, publishRequest{})
	pcancel()
	if err != nil {
		return nil, err
	}

	pending, err := h.store.Outbox()
	if err != nil {
		return nil, fmt.Errorf("reading the outbox: %w", err)
	}
	// Tried again at once: the host was down, and a peer's entries go in
	// order, so one still backing off would hold back those after it.
	now := time.Now()
	for _, o := range pending {
		o.Next = now
		h.out.add(o)
	}

	h.devices.start()

	h.bg.Go(h.maintenance)
	h.bg.Go(h.sweeper)
	if h.dht != nil {
		h.bg.Go(h.dhtPublisher)
	}
	if cfg.Relay != nil {
		h.bg.Go(h.keepRelay)
	}
	h.log.Info("started", "listen", h.Addr().String(), "advertise", h.advertise(), "socket", cfg.Socket,
		"outbox", len(pending), "directories", len(cfg.Directories), "relays for", len(cfg.RelayFor), "dht", cfg.DHT.String())
	if h.dht != nil {
		h.log.Info("running a DHT node", "addr", h.dht.Addr().String(), "serves", cfg.DHTNode.Serve)
	}
	if cfg.Relay != nil {
		h.log.Info("others reach this host through its relay", "relay", cfg.Relay.String())
	} else if class, level := addressClass(h.advertise()); class != "" {
		h.log.Log(ctx, level, "others may not reach this host: the record gives "+class, "advertise", h.advertise())
	}
	return h, nil
}

// request sends req to the host of key and returns its answer: over the
// connection that host has open to this one, if it was heard on lately
// (it may be behind a NAT, where the address its record gives can't be
// dialled), else over the pool's connection to rt's address, through the
// relay there if rt names one.
func (h *Host) request(ctx context.Context, key identity.PublicKey, rt route, req []byte) ([]byte, error) {
	return h.exchange(ctx, key, rt, req, nil)
}

// exchange is request for an exchange of more frames (transport.Conn.Exchange):
// a streamed delivery.
func (h *Host) exchange(ctx context.Context, key identity.PublicKey, rt route, req []byte, more func(*transport.Stream) ([]byte, error)) ([]byte, error) {
	select {
	case <-h.lnReady: // a request served before Start kept ln may lead here
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c := h.ln.ConnFrom(key, silentAfter); c != nil {
		data, err := c.Exchange(ctx, req, more)
		if err == nil || ctx.Err() != nil || !errors.Is(err, transport.ErrClosed) {
			return data, err
		}
	}
	switch {
	case rt.addr == "":
		return nil, errNoHost
	case rt.relayed():
		return h.pool.Exchange(ctx, rt.addr, rt.via, forwardRequest(key, req), more)
	}
	return h.pool.Exchange(ctx, rt.addr, key, req, more)
}

// serveStream serves a QUIC stream: the host protocol to other hosts, the
// device protocol to the user's remote devices. The key's kind says which,
// as the client's application protocol decided it.
func (h *Host) serveStream(ctx context.Context, peer identity.PublicKey, s *transport.Stream) {
	if peer.Kind() == identity.KindDevice {
		h.devices.serveRemote(peer, s)
		return
	}
	h.serveHostStream(ctx, peer, s)
}

// errBlocked is why a peer's connection is refused: the user's block or
// allow list. Its text is what the peer's host is told.
var errBlocked = errors.New("refused by the recipient's policy")

// admit is the listener's Admit, when a handshake has proved the peer's
// key and before any of its frames is read. A host the block or allow
// list refuses is closed at once, so it costs no frame buffer, and its
// host gives its messages up as refused. Contacts, keys the allow list
// names and linked devices are known: a flood of strangers and unlinked
// devices leaves them half of the read budget. A policy file that can't
// be read refuses nobody here; serveHost answers busy.
func (h *Host) admit(peer identity.PublicKey) (known bool, err error) {
	if peer.Kind() == identity.KindDevice {
		return h.devices.notLinked(peer) == nil, nil
	}
	v, why := h.policy.check(peer)
	if v == refuse {
		return false, fmt.Errorf("%w: %s", errBlocked, why)
	}
	if v != accept {
		return false, nil
	}
	if h.names.name(peer.Bytes()) != "" {
		return true, nil
	}
	exists, listed, err := h.policy.allowed.has(peer, h.log)
	return err == nil && exists && listed, nil
}

// Addr returns the UDP address the host listens on for QUIC.
func (h *Host) Addr() net.Addr { return h.ln.Addr() }

// Socket returns the path of the device socket.
func (h *Host) Socket() string { return h.cfg.Socket }

// Record returns the host's current signed record, as it publishes it and
// answers wire.OpRecord with.
func (h *Host) Record() []byte {
	h.selfMu.Lock()
	defer h.selfMu.Unlock()
	return h.selfSigned
}

// advertise returns the address to publish: an OpPublish's or
// Config.Advertise, else the address the listener is bound to.
func (h *Host) advertise() string {
	h.selfMu.Lock()
	addr := h.addr
	h.selfMu.Unlock()
	if addr != "" {
		return addr
	}
	return h.ln.Addr().String()
}

func (h *Host) now() time.Time { return h.cfg.Now() }

// Shutdown stops the host: it stops accepting devices and peers, lets the
// requests in flight finish their store writes (until ctx ends), queues
// the receipts being collected, stops delivering, closes the store and
// removes the socket. It returns the first error of closing the store, or
// ctx's error if the requests in flight did not finish in time.
func (h *Host) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() { h.stopErr = h.shutdown(ctx) })
	return h.stopErr
}

func (h *Host) shutdown(ctx context.Context) error {
	h.log.Info("stopping")
	h.cancel()
	var errs []error
	h.devices.close()
	if err := h.ln.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	h.devices.wait()
	h.calls.close()
	h.receipts.close(ctx)
	h.lookupCancel()
	h.out.stop()
	h.pool.Close()
	h.closePortMap()
	h.bg.Wait()
	if h.dht != nil {
		h.dht.Close()
	}
	if err := h.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the store: %w", err))
	}
	h.devices.sock.release()
	h.unmetrics()
	if len(errs) == 0 {
		h.log.Info("stopped")
	}
	return errors.Join(errs...)
}
