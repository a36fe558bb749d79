package portmap

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeGateway is a PCP and NAT-PMP gateway on 127.0.0.1 for the tests: it
// keeps a table of mappings as a router would, and maps nothing.
type fakeGateway struct {
	t    *testing.T
	conn *net.UDPConn

	mu          sync.Mutex
	pcp, natpmp bool // the protocols it speaks
	silent      bool // it reads requests and answers none
	public      netip.Addr
	epochStart  time.Time // its epoch counts from then
	epochBase   uint32    // plus this
	maxLifetime uint32
	mappings    map[uint16]*fakeMapping // by internal port
	taken       map[uint16]bool         // external ports someone else has
	requests    []fakeRequest
	// answer, if set, answers each request instead of the gateway.
	answer func(req []byte) [][]byte
}

type fakeMapping struct {
	external uint16
	nonce    [12]byte
	expires  time.Time
}

// fakeRequest is a request the gateway got.
type fakeRequest struct {
	protocol string // "PCP" or "NAT-PMP"
	op       byte
	internal uint16
	suggest  uint16
	lifetime uint32
	nonce    [12]byte
}

// newFakeGateway starts a gateway on a port of its own that speaks both
// protocols, with 203.0.113.7 as its external address, an epoch that
// began 10,000 s ago, and lifetimes of up to an hour.
func newFakeGateway(t *testing.T) *fakeGateway {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	gw := &fakeGateway{
		t:           t,
		conn:        conn,
		pcp:         true,
		natpmp:      true,
		public:      netip.MustParseAddr("203.0.113.7"),
		epochStart:  time.Now(),
		epochBase:   10000,
		maxLifetime: 3600,
		mappings:    map[uint16]*fakeMapping{},
		taken:       map[uint16]bool{},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		gw.serve()
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return gw
}

// config is the client's configuration for this gateway: quick tries and
// renewals every 200 ms.
func (gw *fakeGateway) config() config {
	return config{
		port:        uint16(gw.conn.LocalAddr().(*net.UDPAddr).Port),
		tries:       []time.Duration{50 * time.Millisecond, 100 * time.Millisecond},
		maxRefresh:  200 * time.Millisecond,
		retry:       100 * time.Millisecond,
		closeWithin: 500 * time.Millisecond,
		ssdp:        closedUDPPort(gw.t),
		ssdpWait:    100 * time.Millisecond,
		httpTimeout: time.Second,
	}
}

// closedUDPPort returns an address of 127.0.0.1 where nothing listens: an
// SSDP search sent there is never answered.
func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (gw *fakeGateway) serve() {
	buf := make([]byte, 2048)
	for {
		n, from, err := gw.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		for _, a := range gw.handle(slices.Clone(buf[:n]), from) {
			gw.conn.WriteToUDPAddrPort(a, from)
		}
	}
}

func (gw *fakeGateway) handle(req []byte, from netip.AddrPort) [][]byte {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if gw.silent {
		return nil
	}
	if gw.answer != nil {
		return gw.answer(req)
	}
	if len(req) < 2 {
		return nil
	}
	switch {
	case req[0] == natpmpVersion && gw.natpmp:
		return gw.handleNATPMP(req)
	case req[0] == pcpVersion && gw.pcp:
		return gw.handlePCP(req, from.Addr())
	case gw.pcp:
		return [][]byte{marshalPCP(pcpReply{result: pcpUnsupportedVersion, epoch: gw.epoch()}, req[1]&0x7f)}
	default:
		return [][]byte{marshalNATPMP(natpmpReply{op: req[1] & 0x7f, result: natpmpUnsupportedVersion, epoch: gw.epoch()})}
	}
}

func (gw *fakeGateway) handleNATPMP(req []byte) [][]byte {
	r := natpmpReply{op: req[1], epoch: gw.epoch()}
	switch {
	case req[1] == natpmpOpAddress && len(req) == 2:
		gw.requests = append(gw.requests, fakeRequest{protocol: "NAT-PMP", op: natpmpOpAddress})
		r.external = gw.public
	case req[1] == natpmpOpMapUDP && len(req) == 12:
		fr := fakeRequest{
			protocol: "NAT-PMP",
			op:       natpmpOpMapUDP,
			internal: binary.BigEndian.Uint16(req[4:]),
			suggest:  binary.BigEndian.Uint16(req[6:]),
			lifetime: binary.BigEndian.Uint32(req[8:]),
		}
		gw.requests = append(gw.requests, fr)
		r.internal = fr.internal
		m := gw.mapPort(fr, [12]byte{})
		if m != nil {
			r.port, r.lifetime = m.external, min(fr.lifetime, gw.maxLifetime)
		}
	default:
		r.result = 5 // unsupported opcode
	}
	return [][]byte{marshalNATPMP(r)}
}

func (gw *fakeGateway) handlePCP(req []byte, from netip.Addr) [][]byte {
	if len(req) != pcpMapSize || req[1] != pcpOpMap {
		return [][]byte{marshalPCP(pcpReply{result: 3, epoch: gw.epoch()}, req[1]&0x7f)} // malformed request
	}
	fr := fakeRequest{
		protocol: "PCP",
		op:       pcpOpMap,
		lifetime: binary.BigEndian.Uint32(req[4:]),
		internal: binary.BigEndian.Uint16(req[40:]),
		suggest:  binary.BigEndian.Uint16(req[42:]),
		nonce:    [12]byte(req[24:36]),
	}
	gw.requests = append(gw.requests, fr)
	r := pcpReply{epoch: gw.epoch(), hasMapping: true, mapping: pcpMapping{
		nonce:    fr.nonce,
		protocol: req[36],
		internal: fr.internal,
		external: netip.AddrPortFrom(netip.AddrFrom16([16]byte(req[44:60])), fr.suggest),
	}}
	if client := netip.AddrFrom16([16]byte(req[8:24])).Unmap(); client != from {
		r.result = 12 // address mismatch
		return [][]byte{marshalPCP(r, pcpOpMap)}
	}
	if m := gw.mappings[fr.internal]; m != nil && m.nonce != fr.nonce {
		r.result = pcpNotAuthorized
		return [][]byte{marshalPCP(r, pcpOpMap)}
	}
	if m := gw.mapPort(fr, fr.nonce); m != nil {
		r.lifetime = min(fr.lifetime, gw.maxLifetime)
		r.mapping.external = netip.AddrPortFrom(netip.AddrFrom16(gw.public.As16()), m.external)
	}
	return [][]byte{marshalPCP(r, pcpOpMap)}
}

// mapPort makes, renews or deletes the mapping fr asks for; it returns
// nil if deleted.
func (gw *fakeGateway) mapPort(fr fakeRequest, nonce [12]byte) *fakeMapping {
	if fr.lifetime == 0 {
		delete(gw.mappings, fr.internal)
		return nil
	}
	m := gw.mappings[fr.internal]
	if m == nil || time.Now().After(m.expires) {
		m = &fakeMapping{external: fr.suggest, nonce: nonce}
		if m.external == 0 {
			m.external = fr.internal
		}
		for gw.taken[m.external] {
			m.external++
		}
		gw.mappings[fr.internal] = m
	}
	m.expires = time.Now().Add(time.Duration(min(fr.lifetime, gw.maxLifetime)) * time.Second)
	return m
}

func (gw *fakeGateway) epoch() uint32 {
	return gw.epochBase + uint32(time.Since(gw.epochStart)/time.Second)
}

// restart makes the gateway lose its mappings, with its epoch from 0 and
// the external ports it had given taken by someone else.
func (gw *fakeGateway) restart() {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	for _, m := range gw.mappings {
		gw.taken[m.external] = true
	}
	clear(gw.mappings)
	gw.epochStart, gw.epochBase = time.Now(), 0
}

func (gw *fakeGateway) set(f func(gw *fakeGateway)) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	f(gw)
}

// mapping returns the external port of the mapping of internal, or 0.
func (gw *fakeGateway) mapping(internal uint16) uint16 {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if m := gw.mappings[internal]; m != nil {
		return m.external
	}
	return 0
}

func (gw *fakeGateway) requestsSoFar() []fakeRequest {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	return slices.Clone(gw.requests)
}

// marshalNATPMP writes a NAT-PMP answer: an error answer of 8 bytes.
func marshalNATPMP(r natpmpReply) []byte {
	b := make([]byte, natpmpErrorSize)
	b[0] = natpmpVersion
	b[1] = natpmpAnswer | r.op
	binary.BigEndian.PutUint16(b[2:], r.result)
	binary.BigEndian.PutUint32(b[4:], r.epoch)
	if r.result != 0 {
		return b
	}
	switch r.op {
	case natpmpOpAddress:
		a := r.external.As4()
		b = append(b, a[:]...)
	case natpmpOpMapUDP:
		b = binary.BigEndian.AppendUint16(b, r.internal)
		b = binary.BigEndian.AppendUint16(b, r.port)
		b = binary.BigEndian.AppendUint32(b, r.lifetime)
	}
	return b
}

// marshalPCP writes a PCP answer of opcode op, without options.
func marshalPCP(r pcpReply, op byte) []byte {
	b := make([]byte, pcpHeaderSize, pcpMapSize)
	b[0] = pcpVersion
	b[1] = pcpAnswer | op
	b[3] = r.result
	binary.BigEndian.PutUint32(b[4:], r.lifetime)
	binary.BigEndian.PutUint32(b[8:], r.epoch)
	if r.hasMapping {
		b = b[:pcpMapSize]
		putPCPMapping(b[pcpHeaderSize:], r.mapping)
	}
	return b
}
