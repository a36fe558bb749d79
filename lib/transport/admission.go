package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// The flow-control windows of a listener's connections. quic-go buffers
// what a peer sends up to these windows whether or not the handler reads
// it, so they start small: MaxConns connections hold at most MaxConns ×
// firstConnWindow bytes that nobody has read. A window grows (quic-go's
// auto-tuning, when the handler reads fast) only while the listener's
// window budget has room, which it gets back when the connection closes.
const (
	firstStreamWindow = 64 << 10
	firstConnWindow   = 64 << 10
	maxStreamWindow   = 6 << 20
	maxConnWindow     = 15 << 20
)

// retryAbove is how many handshakes may be in progress before a listener
// asks new clients to prove their address (QUIC's Retry, one round trip)
// before it keeps any state for them: under a flood of Initial packets
// from spoofed addresses, each costs a Retry packet and nothing more.
const retryAbove = 32

// ErrRefused means the listener closed the connection with CodeRefused:
// its owner's policy refuses this side's key, for the reason the error
// carries. (A listener with as many connections as it takes refuses the
// handshake instead, with QUIC's CONNECTION_REFUSED: ErrHandshake.)
var ErrRefused = errors.New("the peer refused the connection")

// shared is what all the connections of a Listener draw on.
type shared struct {
	all             *budget // frames being read: Config.ReadBudget
	strangers       *budget // of which peers not known: half of it
	windows         *budget // flow-control window growth beyond the first windows
	strangerWindows *budget // of strangers' connections, apart

	strangerStreams    atomic.Int64
	maxStrangerStreams int64

	maxConns, maxPerAddr int

	mu          sync.Mutex
	conns       int
	handshaking int
	perAddr     map[netip.Addr]int
}

func newShared(cfg Config) *shared {
	return &shared{
		all:             newBudget(cfg.ReadBudget),
		strangers:       newBudget(cfg.ReadBudget / 2),
		windows:         newBudget(cfg.ReadBudget / 2),
		strangerWindows: newBudget(cfg.ReadBudget / 4),
		maxConns:        cfg.MaxConns,
		maxPerAddr:      cfg.MaxConnsPerAddr,

		maxStrangerStreams: int64(cfg.MaxStrangerStreams),
		perAddr:            make(map[netip.Addr]int),
	}
}

// connSlot is one connection's place among a listener's connections and
// the window growth it was granted.
type connSlot struct {
	sh        *shared
	addr      netip.Addr
	known     atomic.Bool            // set when Admit calls the peer known
	grows     atomic.Pointer[budget] // the budget its window grew from
	grown     atomic.Int64
	handshake sync.Once // handshaking was decremented
	release   sync.Once
}

type connSlotKey struct{}

// sourceKey is what connections are counted by: the IP address, or for
// IPv6 its /64, which one machine usually has whole.
func sourceKey(addr net.Addr) netip.Addr {
	var ip netip.Addr
	if u, ok := addr.(*net.UDPAddr); ok {
		ip = u.AddrPort().Addr().Unmap()
	}
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// connContext is quic-go's Transport.ConnContext: it runs on a client's
// first packet, before any TLS, and refuses the connection (quic-go
// answers CONNECTION_REFUSED) when the listener or the client's address
// has as many connections as it takes.
func (sh *shared) connContext(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	key := sourceKey(info.RemoteAddr)
	sh.mu.Lock()
	switch {
	case sh.conns >= sh.maxConns:
		sh.mu.Unlock()
		return nil, fmt.Errorf("refused: %d connections, the most this listener takes", sh.maxConns)
	case sh.perAddr[key] >= sh.maxPerAddr:
		sh.mu.Unlock()
		return nil, fmt.Errorf("refused: %d connections from %s, the most this listener takes from one address", sh.maxPerAddr, key)
	}
	sh.conns++
	sh.handshaking++
	sh.perAddr[key]++
	sh.mu.Unlock()
	slot := &connSlot{sh: sh, addr: key}
	// quic-go cancels ctx when the connection is over, however it ends.
	context.AfterFunc(ctx, slot.close)
	return context.WithValue(ctx, connSlotKey{}, slot), nil
}

// verifySource is quic-go's Transport.VerifySourceAddress: a client must
// prove its address with a Retry when many handshakes are in progress or
// its address has half its connections, so that spoofed packets can't
// fill the counts of an address or of the listener.
func (sh *shared) verifySource(addr net.Addr) bool {
	key := sourceKey(addr)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.handshaking >= retryAbove || sh.perAddr[key] >= max(sh.maxPerAddr/2, 1)
}

// allowWindowIncrease is quic-go's Config.AllowConnectionWindowIncrease:
// a window grows while the budget of window growth has room, strangers'
// windows from a budget of their own. It may not call into the
// connection but Context, which only returns a field.
func (sh *shared) allowWindowIncrease(qc *quic.Conn, delta uint64) bool {
	slot, ok := qc.Context().Value(connSlotKey{}).(*connSlot)
	if !ok {
		return false
	}
	b := sh.strangerWindows
	if slot.known.Load() {
		b = sh.windows
	}
	if delta > uint64(b.size) || !b.tryAcquire(int64(delta)) {
		return false
	}
	slot.grows.Store(b)
	slot.grown.Add(int64(delta))
	return true
}

// takeStream counts a stream of a stranger, unless there are as many as
// the listener takes.
func (sh *shared) takeStream() bool {
	if sh.strangerStreams.Add(1) > sh.maxStrangerStreams {
		sh.strangerStreams.Add(-1)
		return false
	}
	return true
}

func (sh *shared) releaseStream() { sh.strangerStreams.Add(-1) }

// slotOf returns the slot of a connection the listener accepted.
func slotOf(qc *quic.Conn) *connSlot {
	slot, _ := qc.Context().Value(connSlotKey{}).(*connSlot)
	return slot
}

// handshakeDone takes the connection out of the handshakes in progress.
func (s *connSlot) handshakeDone() {
	s.handshake.Do(func() {
		s.sh.mu.Lock()
		s.sh.handshaking--
		s.sh.mu.Unlock()
	})
}

// close gives back the connection's place and window growth.
func (s *connSlot) close() {
	s.handshakeDone()
	s.release.Do(func() {
		s.sh.mu.Lock()
		s.sh.conns--
		if s.sh.perAddr[s.addr]--; s.sh.perAddr[s.addr] <= 0 {
			delete(s.sh.perAddr, s.addr)
		}
		s.sh.mu.Unlock()
		if b := s.grows.Load(); b != nil {
			b.release(s.grown.Swap(0))
		}
	})
}

// connections returns how many connections the listener has, for tests.
func (sh *shared) connections() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.conns
}
