// Package dht publishes and finds SMVS items in BitTorrent's mainline DHT
// (BEP 44, PROTOCOL.md section 24), through anacrolix/dht. lib/bep44 makes
// and checks the items; this package only moves them, and checks every
// item it gets again, whatever the library checked.
//
// It works around what the library does that would hurt here: each node
// has a send limiter of its own (the library's default is shared by every
// node of a process); it asks only for IPv4 nodes on an IPv4 socket (the
// library would take IPv4 peers written as ::ffff:a.b.c.d in IPv6 lists
// for other nodes); it never sets cas (the library checks it against the
// previous put, not the stored seq); and the items it keeps for others
// are bounded in number, oldest dropped first.
package dht

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	adht "github.com/anacrolix/dht/v2"
	abep44 "github.com/anacrolix/dht/v2/bep44"
	"github.com/anacrolix/dht/v2/exts/getput"
	"github.com/anacrolix/dht/v2/krpc"
	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent/bencode"
	"golang.org/x/time/rate"

	"smvs/lib/bep44"
)

// DefaultBootstrap are the public routers a node joins the mainline DHT
// through, when none is given.
var DefaultBootstrap = []string{"router.bittorrent.com:6881", "dht.transmissionbt.com:6881", "router.utorrent.com:6881"}

// Limits.
const (
	// MaxItems bounds the items a serving node keeps for others.
	MaxItems = 4096
	// sendRate and sendBurst bound a node's queries: its own limiter.
	sendRate, sendBurst = 25, 25
)

// ErrNotFound means no node near the target holds a valid item.
var ErrNotFound = errors.New("dht: no item found")

// Config says how a node joins the DHT.
type Config struct {
	// Listen is the UDP address of the node's socket (host:port; port 0
	// picks one). An IPv4 host makes an IPv4-only node.
	Listen string
	// Bootstrap are the nodes it joins through (host:port); none means
	// DefaultBootstrap, unless First.
	Bootstrap []string
	// First makes the first node of a private DHT: it joins no one, and
	// the others join it.
	First bool
	// Serve makes the node answer other nodes' queries and keep their
	// items (at most MaxItems); else it only asks.
	Serve bool
}

// Node is a running DHT node.
type Node struct {
	s    *adht.Server
	conn net.PacketConn
	done chan struct{}
	once sync.Once
}

// Start starts a node and joins the DHT through its bootstrap nodes.
func Start(cfg Config) (*Node, error) {
	conn, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("dht: %w", err)
	}
	boot := cfg.Bootstrap
	if len(boot) == 0 {
		boot = DefaultBootstrap
	}
	sc := adht.NewDefaultServerConfig()
	sc.Conn = conn
	sc.Passive = !cfg.Serve
	sc.Store = newStore(MaxItems)
	sc.SendLimiter = rate.NewLimiter(sendRate, sendBurst)
	sc.Logger = alog.Default.FilterLevel(alog.Critical)
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok && ua.IP.To4() != nil {
		sc.DefaultWant = []krpc.Want{krpc.WantNodes}
	}
	sc.StartingNodes = func() ([]adht.Addr, error) { return resolve(boot) }
	if cfg.First {
		sc.StartingNodes = func() ([]adht.Addr, error) { return nil, nil }
	}
	s, err := adht.NewServer(sc)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dht: %w", err)
	}
	n := &Node{s: s, conn: conn, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		s.TableMaintainer()
	}()
	return n, nil
}

// resolve turns host:port addresses into the library's.
func resolve(addrs []string) ([]adht.Addr, error) {
	var out []adht.Addr
	var errs []error
	for _, a := range addrs {
		ua, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ip4 := ua.IP.To4(); ip4 != nil {
			ua.IP = ip4 // one form per address: never ::ffff:a.b.c.d
		}
		out = append(out, adht.NewAddr(ua))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dht: no bootstrap node resolves: %w", errors.Join(errs...))
	}
	return out, nil
}

// Addr is the node's UDP address.
func (n *Node) Addr() *net.UDPAddr { return n.conn.LocalAddr().(*net.UDPAddr) }

// Join fills the node's routing table from its bootstrap nodes, within
// ctx; a node also joins by itself, over time. If the node is joining
// already, Join waits for that and joins again.
func (n *Node) Join(ctx context.Context) error {
	for {
		_, err := n.s.BootstrapContext(ctx)
		// The library says so in words only.
		if err == nil || err.Error() != "already bootstrapping" {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Publish puts the item of v (bencoded) under signer's key and salt, with
// seq, at the nodes nearest its target. Nodes that hold a higher seq
// refuse it; Publish does not learn which did.
func (n *Node) Publish(ctx context.Context, signer crypto.Signer, salt []byte, seq int64, v []byte) (*bep44.Item, error) {
	it, err := bep44.Sign(signer, salt, seq, v)
	if err != nil {
		return nil, err
	}
	var k [32]byte
	copy(k[:], it.Key)
	put := abep44.Put{V: bencode.Bytes(it.V), K: &k, Salt: it.Salt, Seq: it.Seq}
	copy(put.Sig[:], it.Sig)
	target := it.Target()
	if _, err := getput.Put(ctx, krpc.ID(target), n.s, it.Salt, func(int64) abep44.Put { return put }); err != nil {
		return nil, fmt.Errorf("dht: putting the item: %w", err)
	}
	return it, nil
}

// Lookup gets the item of key and salt with the highest seq from the
// nodes nearest its target, checked again as BEP 44 says.
func (n *Node) Lookup(ctx context.Context, key ed25519.PublicKey, salt []byte) (*bep44.Item, error) {
	target := bep44.Target(key, salt)
	res, _, err := getput.Get(ctx, target, n.s, nil, salt)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("dht: %w", ctx.Err())
	case err != nil || !res.Mutable:
		return nil, ErrNotFound
	}
	it := &bep44.Item{Key: key, Salt: salt, Seq: res.Seq, V: res.V, Sig: res.Sig[:]}
	if err := it.Verify(); err != nil {
		return nil, err
	}
	return it, nil
}

// StartLocal starts a private DHT of n serving nodes on 127.0.0.1, for
// tests and benchmarks: the first joins no one, the others join it (within
// ctx). It never reaches the public DHT.
func StartLocal(ctx context.Context, n int) ([]*Node, error) {
	var nodes []*Node
	fail := func(err error) ([]*Node, error) {
		for _, node := range nodes {
			node.Close()
		}
		return nil, err
	}
	for i := range n {
		cfg := Config{Listen: "127.0.0.1:0", Serve: true, First: i == 0}
		if i > 0 {
			cfg.Bootstrap = []string{nodes[0].Addr().String()}
		}
		node, err := Start(cfg)
		if err != nil {
			return fail(err)
		}
		nodes = append(nodes, node)
	}
	// Each joins twice: the second time it learns of those that joined
	// after it. The first learns of them all from their queries.
	for range 2 {
		for _, node := range nodes[1:] {
			if err := node.Join(ctx); err != nil {
				return fail(err)
			}
		}
	}
	return nodes, nil
}

// Close stops the node.
func (n *Node) Close() {
	n.once.Do(func() {
		n.s.Close()
		<-n.done
	})
}

// store keeps other nodes' items for a serving node: at most max, the
// oldest put dropped first.
type store struct {
	mu    sync.Mutex
	max   int
	m     map[abep44.Target]*abep44.Item
	order []abep44.Target // oldest first; may hold targets since replaced or deleted
}

func newStore(max int) *store {
	return &store{max: max, m: make(map[abep44.Target]*abep44.Item)}
}

func (s *store) Put(i *abep44.Item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := i.Target()
	if _, ok := s.m[t]; !ok {
		for len(s.m) >= s.max && len(s.order) > 0 {
			delete(s.m, s.order[0])
			s.order = s.order[1:]
		}
		s.order = append(s.order, t)
	}
	s.m[t] = i
	if len(s.order) > 2*s.max { // compact what replaced and deleted items left
		kept := s.order[:0]
		for _, o := range s.order {
			if _, ok := s.m[o]; ok {
				kept = append(kept, o)
			}
		}
		s.order = kept
	}
	return nil
}

func (s *store) Get(t abep44.Target) (*abep44.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.m[t]
	if !ok {
		return nil, abep44.ErrItemNotFound
	}
	return i, nil
}

func (s *store) Del(t abep44.Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, t)
	return nil
}
