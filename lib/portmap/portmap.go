// Package portmap asks the router a host sits behind for a UDP port
// mapping, so that others can reach the host at the router's public
// address, and keeps the mapping while the host runs.
//
// # Promises
//
// Map asks the gateway (Options.Gateway, or the default route's) by PCP
// (RFC 6887) first, by NAT-PMP (RFC 6886) when the gateway answers that it
// speaks only that, and by UPnP IGD (WANIPConnection:2 or :1,
// WANPPPConnection:1) when it answers neither; it returns a Mapping once
// the gateway has granted one, with the public address: the gateway's
// external IPv4 address and the external port it assigned. The Mapping
// renews itself at half the lifetime granted, and at least every two
// minutes, so that a changed public address or a gateway that lost its
// mappings (a reboot: each answer's epoch is checked as the RFCs say) is
// noticed within two minutes; each renewal asks for the mapping again, so
// it also makes it again where the gateway forgot it. OnChange tells every
// change of the public address. Close deletes the mapping at the gateway.
//
// Every wait is bounded. A request is sent at most four times, waiting
// 250 ms, 500 ms, 1 s and 2 s for an answer (RFC 6886's schedule cut from
// nine tries to four, and PCP's too, which starts at 3 s: a gateway on the
// link answers in milliseconds, and a host without one should start in
// seconds); so PCP and NAT-PMP fail within 4 s where nothing answers,
// and at once where the gateway's port is closed. UPnP IGD is searched for
// (SSDP) for at most 2 s more, and each of its HTTP requests (the device
// description, the SOAP actions) is bounded by 3 s; so Map fails within
// about 6 s where nothing answers.
//
// UPnP IGD's answers count only from the gateway: an SSDP answer from
// another address is dropped unread, and a description or control URL on
// another host is refused, so that another device on the network can't
// claim to be the router. Its mapping is asked for on the internal port
// first, on random others where that is taken (error 718, four ports at
// most), and with a lease of 0 where the gateway takes only permanent
// ones (error 725); it is renewed as the others are, which also notices a
// changed external address. A description or SOAP answer longer than
// 64 KiB is refused.
//
// The gateway's answers are untrusted bytes. An answer of the wrong size,
// version or opcode, or about another mapping (its internal port, or PCP's
// nonce), is ignored: an exchange that gets no other fails with an error
// that says what came. A refusal (a result code) ends the exchange with a
// *GatewayError. An external address that is not a unicast IPv4 address,
// an external port 0 or a lifetime of 0 is refused; so is an external
// address that is private or in carrier-grade NAT's shared space, unless
// Options.AllowPrivate (ErrNotPublic).
//
// # What it does not do
//
// IPv4 only: an IPv6 host has no NAT to cross. It does not listen for
// the gateway's multicast announcements of a new address (NAT-PMP's or
// UPnP's events): the next renewal notices it. A UPnP IGD that answers
// the search from another address than the gateway's is not used. Only on
// Linux does it find the default gateway itself (from /proc/net/route);
// elsewhere Options.Gateway must say it.
// PCP's nonce lives as long as the Mapping: a host that crashed and
// restarted asks with a new one, which a strict PCP gateway may refuse
// (not authorized) until the old mapping expires; Close avoids that.
package portmap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"time"
)

var (
	// ErrNoGateway means there is no gateway to ask: no default IPv4
	// route, or a system where it isn't looked up.
	ErrNoGateway = errors.New("no default gateway")
	// ErrNoAnswer means the gateway didn't answer: nothing there speaks
	// PCP, NAT-PMP or UPnP IGD, or it is switched off, or the gateway is
	// gone. The error says which gateway, how often it was asked, and
	// what came back if anything did that wasn't an answer.
	ErrNoAnswer = errors.New("no PCP, NAT-PMP or UPnP IGD gateway answered")
	// ErrNotAuthorized means the gateway speaks PCP, NAT-PMP or UPnP IGD
	// but refuses to map ports for this host (often: switched off in its
	// settings). A *GatewayError of PCP's or NAT-PMP's result code 2, or
	// UPnP's error 606, matches it.
	ErrNotAuthorized = errors.New("the gateway refuses to map ports")
	// ErrNotPublic means the gateway's external address is private or
	// carrier-grade NAT's: another NAT lies beyond the gateway, and a
	// mapping on this one alone doesn't make the host reachable.
	ErrNotPublic = errors.New("the gateway's external address is not public")
)

// GatewayError is a gateway's refusal: an answer with a result code other
// than success.
type GatewayError struct {
	Gateway  netip.Addr
	Protocol string // "PCP", "NAT-PMP" or "UPnP IGD"
	Code     int    // the protocol's result code, or UPnP's error code
	Text     string // what the code means; UPnP's is the gateway's own words
}

func (e *GatewayError) Error() string {
	return fmt.Sprintf("the %s gateway at %s refused: %s (result code %d)", e.Protocol, e.Gateway, e.Text, e.Code)
}

// Is matches ErrNotAuthorized to PCP's and NAT-PMP's code 2 and UPnP's
// 606.
func (e *GatewayError) Is(target error) bool {
	if target != ErrNotAuthorized {
		return false
	}
	if e.Protocol == upnpName {
		return e.Code == upnpNotAuthorized
	}
	return e.Code == natpmpNotAuthorized // PCP's is 2 as well
}

// Options are what Map is to map and how.
type Options struct {
	// Port is the local UDP port to map. The gateway is asked for the
	// same external port, and may give another.
	Port uint16
	// Gateway is the router to ask; if zero, the gateway of the default
	// IPv4 route (Linux only), looked up again at each renewal so that a
	// host that moved to another network maps its port there.
	Gateway netip.Addr
	// Lifetime is the lifetime to ask for, in whole seconds; if zero, two
	// hours (RFC 6886's recommendation). It bounds how long a mapping
	// outlives a host that died without Close.
	Lifetime time.Duration
	// AllowPrivate accepts a private or carrier-grade NAT external address
	// as the public address: for a test network, or peers inside the same
	// larger private network. Otherwise Map fails with ErrNotPublic.
	AllowPrivate bool
	// OnChange, if set, is called with the new public address whenever it
	// changes after Map returned, and with the zero AddrPort when the
	// mapping can't be counted on any more (see Mapping.Public). Calls
	// come one at a time from the Mapping's goroutine, none once Close
	// has returned; OnChange must not call Close.
	OnChange func(public netip.AddrPort)
	// Log, if set, tells of renewals that failed, gateways that lost their
	// mappings and addresses that changed.
	Log *slog.Logger
}

// config is what the tests change.
type config struct {
	port        uint16          // the gateway's (5351, both protocols')
	tries       []time.Duration // how long to wait for an answer after each send
	maxRefresh  time.Duration   // the longest time between renewals
	retry       time.Duration   // the first wait after a failed renewal, doubled up to maxRefresh
	closeWithin time.Duration   // how long Close waits for the gateway
	ssdp        netip.AddrPort  // where UPnP's SSDP search goes
	ssdpWait    time.Duration   // how long it waits for the gateway's answer
	httpTimeout time.Duration   // bounds each of UPnP's HTTP requests
}

var defaults = config{
	port:        5351,
	tries:       []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second},
	maxRefresh:  2 * time.Minute,
	retry:       2 * time.Second,
	closeWithin: 2 * time.Second,
	ssdp:        netip.MustParseAddrPort("239.255.255.250:1900"),
	ssdpWait:    2 * time.Second,
	httpTimeout: 3 * time.Second,
}

const defaultLifetime = 2 * time.Hour

// A protocol is PCP, NAT-PMP or UPnP IGD: how a mapping is asked for.
type protocol interface {
	// request asks g for the mapping for lifetime seconds, or deletes it
	// with 0.
	request(ctx context.Context, g *gateway, lifetime uint32) (grant, error)
	String() string
}

// grant is what the gateway granted: the public address and how long
// the mapping lasts, in seconds.
type grant struct {
	public   netip.AddrPort
	lifetime uint32
}

// A Mapping is a UDP port mapped at the gateway, renewed by a goroutine of
// its own until Close.
type Mapping struct {
	opts     Options
	cfg      config
	lifetime uint32 // asked for, in seconds
	log      *slog.Logger
	cancel   context.CancelFunc
	done     chan struct{} // closed when the goroutine has ended

	// The goroutine's alone until done is closed, then Close's.
	gw      *gateway
	pcp     *pcp
	natpmp  *natpmp
	upnp    *upnp
	current protocol  // the protocol the gateway speaks; nil to find out
	expires time.Time // when the last lifetime granted runs out

	mu     sync.Mutex
	public netip.AddrPort
	speaks string

	closeOnce sync.Once
	closeErr  error
}

// Map asks the gateway to map UDP port opts.Port and returns the Mapping
// once it has, or an error matching ErrNoGateway, ErrNoAnswer,
// ErrNotAuthorized or ErrNotPublic, a *GatewayError, or another error
// saying what the gateway answered that can't be. ctx bounds this first
// request only; the Mapping lives until Close.
func Map(ctx context.Context, opts Options) (*Mapping, error) {
	return start(ctx, opts, defaults)
}

func start(ctx context.Context, opts Options, cfg config) (*Mapping, error) {
	if opts.Port == 0 {
		return nil, errors.New("no port to map: port 0")
	}
	if opts.Lifetime == 0 {
		opts.Lifetime = defaultLifetime
	}
	if opts.Lifetime < time.Second || opts.Lifetime > math.MaxUint32*time.Second {
		return nil, fmt.Errorf("a mapping's lifetime is from 1 s to %d s, not %s", uint32(math.MaxUint32), opts.Lifetime)
	}
	m := &Mapping{
		opts:     opts,
		cfg:      cfg,
		lifetime: uint32(opts.Lifetime / time.Second),
		log:      opts.Log,
		done:     make(chan struct{}),
		natpmp:   &natpmp{internal: opts.Port},
		pcp:      &pcp{internal: opts.Port},
		upnp:     newUPnP(opts.Port, cfg),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	rand.Read(m.pcp.nonce[:])
	gw, err := m.gatewayAddr()
	if err != nil {
		return nil, err
	}
	m.gw = newGateway(gw, cfg)
	g, err := m.request(ctx, m.lifetime)
	if err == nil {
		err = m.check(g.public)
		if err != nil {
			// Granted, but of no use: don't leave it behind.
			dctx, cancel := context.WithTimeout(context.Background(), cfg.closeWithin)
			m.current.request(dctx, m.gw, 0)
			cancel()
		}
	}
	if err != nil {
		return nil, err
	}
	m.public = g.public
	m.expires = time.Now().Add(time.Duration(g.lifetime) * time.Second)
	var loop context.Context
	loop, m.cancel = context.WithCancel(context.Background())
	go m.run(loop, m.refreshAfter(g.lifetime))
	return m, nil
}

// Public returns the public address: the gateway's external address and
// the port it mapped. It is the zero AddrPort while the mapping can't be
// counted on: its last lifetime ran out without a renewal, the gateway
// refused to renew it, its external address is no longer public, or the
// default gateway changed and the new one hasn't mapped the port yet.
func (m *Mapping) Public() netip.AddrPort {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.public
}

// Protocol returns the protocol the gateway last answered in: "PCP",
// "NAT-PMP" or "UPnP IGD".
func (m *Mapping) Protocol() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.speaks
}

// Close stops the renewals and asks the gateway to delete the mapping,
// waiting at most 2 s for it to confirm. An error says it didn't; the
// mapping then lasts until its lifetime runs out. Calls after the first
// return the first's error.
func (m *Mapping) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		<-m.done
		m.setPublic(netip.AddrPort{}, false)
		if m.current == nil {
			return // a new default gateway that hasn't mapped the port yet
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.closeWithin)
		defer cancel()
		if _, err := m.current.request(ctx, m.gw, 0); err != nil {
			m.closeErr = fmt.Errorf("deleting the mapping of port %d: %w (it lapses by itself within %s)",
				m.opts.Port, err, max(time.Until(m.expires), 0).Round(time.Second))
		}
	})
	return m.closeErr
}

// run renews the mapping after wait, and then again and again until ctx
// ends.
func (m *Mapping) run(ctx context.Context, wait time.Duration) {
	defer close(m.done)
	backoff := m.cfg.retry
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		g, err := m.renew(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			m.expires = time.Now().Add(time.Duration(g.lifetime) * time.Second)
			m.setPublic(g.public, true)
			wait, backoff = m.refreshAfter(g.lifetime), m.cfg.retry
			continue
		}
		wait, backoff = backoff, min(2*backoff, m.cfg.maxRefresh)
		m.log.Warn("port mapping not renewed", "port", m.opts.Port, "err", err, "retry_in", wait)
		if time.Now().After(m.expires) || errors.Is(err, ErrNotPublic) || errors.As(err, new(*GatewayError)) {
			m.setPublic(netip.AddrPort{}, true)
		}
	}
}

// renew asks the gateway for the mapping again: the default gateway's if
// Options.Gateway is not set, which may have changed.
func (m *Mapping) renew(ctx context.Context) (grant, error) {
	gw, err := m.gatewayAddr()
	if err != nil {
		return grant{}, err
	}
	if gw != m.gw.addr.Addr() {
		m.log.Info("port mapping: the default gateway changed", "was", m.gw.addr.Addr(), "now", gw)
		m.gw, m.current, m.expires = newGateway(gw, m.cfg), nil, time.Time{}
		m.natpmp.port, m.pcp.assigned = 0, netip.AddrPort{}
		m.upnp = newUPnP(m.opts.Port, m.cfg)
		m.setPublic(netip.AddrPort{}, true)
	}
	g, err := m.request(ctx, m.lifetime)
	if err != nil {
		return grant{}, err
	}
	if m.gw.takeRestarted() {
		m.log.Info("port mapping: the gateway lost its mappings (its epoch went back); mapped again", "gateway", gw, "public", g.public)
	}
	return g, m.check(g.public)
}

// gatewayAddr returns the address of the gateway to ask.
func (m *Mapping) gatewayAddr() (netip.Addr, error) {
	gw := m.opts.Gateway.Unmap()
	if !gw.IsValid() {
		var err error
		if gw, err = defaultGateway(); err != nil {
			return netip.Addr{}, err
		}
	}
	if !gw.Is4() {
		return netip.Addr{}, fmt.Errorf("the gateway %s is not an IPv4 address: port mapping is for IPv4", gw)
	}
	return gw, nil
}

// request asks the gateway for the mapping in the protocol it speaks, or
// if that isn't known (or it says it speaks the other now), in PCP and
// then in NAT-PMP if it says it speaks only that.
func (m *Mapping) request(ctx context.Context, lifetime uint32) (grant, error) {
	if m.current != nil {
		g, err := m.current.request(ctx, m.gw, lifetime)
		if !errors.Is(err, errNATPMPOnly) && !errors.Is(err, errPCPOnly) {
			return g, err
		}
		m.current = nil
	}
	var g grant
	var err error
	for _, p := range []protocol{m.pcp, m.natpmp} {
		g, err = p.request(ctx, m.gw, lifetime)
		if errors.Is(err, errNATPMPOnly) {
			continue
		}
		if err == nil {
			m.current = p
			m.mu.Lock()
			m.speaks = p.String()
			m.mu.Unlock()
		}
		break
	}
	if errors.Is(err, errPCPOnly) {
		err = fmt.Errorf("the gateway at %s answered PCP with NAT-PMP's unsupported version, and NAT-PMP with PCP's", m.gw.addr.Addr())
	}
	if !errors.Is(err, ErrNoAnswer) {
		return g, err
	}
	g, uerr := m.upnp.request(ctx, m.gw, lifetime)
	switch {
	case uerr == nil:
		m.current = m.upnp
		m.mu.Lock()
		m.speaks = m.upnp.String()
		m.mu.Unlock()
		return g, nil
	case errors.Is(uerr, ErrNoAnswer):
		return g, fmt.Errorf("%w; %w", err, uerr)
	}
	// A UPnP IGD answered: its error says more than PCP's silence.
	return g, fmt.Errorf("%w (%v)", uerr, err)
}

// check refuses a public address that can't be one.
func (m *Mapping) check(public netip.AddrPort) error {
	a := public.Addr()
	if why := unusable(a); why != "" {
		return fmt.Errorf("the gateway at %s gave %s as the public address: %s", m.gw.addr.Addr(), public, why)
	}
	if why := notPublic(a); why != "" && !m.opts.AllowPrivate {
		return fmt.Errorf("%w: the gateway at %s gave %s, %s", ErrNotPublic, m.gw.addr.Addr(), a, why)
	}
	return nil
}

// refreshAfter is how long after a grant of lifetime seconds the mapping
// is renewed.
func (m *Mapping) refreshAfter(lifetime uint32) time.Duration {
	return min(time.Duration(lifetime)*time.Second/2, m.cfg.maxRefresh)
}

// setPublic records the public address, and tells OnChange if it changed
// and tell is set.
func (m *Mapping) setPublic(public netip.AddrPort, tell bool) {
	m.mu.Lock()
	changed := public != m.public
	m.public = public
	m.mu.Unlock()
	if !changed || !tell {
		return
	}
	if public.IsValid() {
		m.log.Info("port mapping: public address", "port", m.opts.Port, "public", public)
	} else {
		m.log.Warn("port mapping lost", "port", m.opts.Port)
	}
	if m.opts.OnChange != nil {
		m.opts.OnChange(public)
	}
}

var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	reserved    = netip.MustParsePrefix("240.0.0.0/4") // with the broadcast address
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
	ietfSpace   = netip.MustParsePrefix("192.0.0.0/24")
)

// unusable says why a cannot be anyone's public address, or "".
func unusable(a netip.Addr) string {
	switch {
	case !a.Is4():
		return "not an IPv4 address"
	case thisNetwork.Contains(a), reserved.Contains(a), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast():
		return "not a unicast address others can reach"
	}
	return ""
}

// notPublic says why a is not public, or "".
func notPublic(a netip.Addr) string {
	switch {
	case a.IsPrivate():
		return "a private address (RFC 1918): another NAT lies beyond the gateway"
	case sharedSpace.Contains(a):
		return "an address of carrier-grade NAT (RFC 6598): the provider's NAT lies beyond the gateway"
	case ietfSpace.Contains(a):
		return "an address of 192.0.0.0/24, as DS-Lite's tunnel has: the provider's NAT lies beyond the gateway"
	}
	return ""
}
