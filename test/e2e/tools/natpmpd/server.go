package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"
)

// server is the gateway: its protocols and its table of mappings. Safe for
// concurrent use.
type server struct {
	public      netip.Addr
	fw          firewall
	out         io.Writer // a line for each mapping made, renewed and removed
	pcp         bool      // speak PCP as well as NAT-PMP
	maxLifetime uint32    // seconds

	mu       sync.Mutex
	epoch    time.Time // when the table was last started afresh
	mappings map[key]*mapping
	external map[uint16]*mapping
}

// key names a mapping: a client's address and internal port.
type key struct {
	client   netip.Addr
	internal uint16
}

type mapping struct {
	client   netip.AddrPort // address and internal port
	external uint16
	nonce    [12]byte // PCP's; zero for NAT-PMP's
	by       string   // "NAT-PMP" or "PCP"
	expires  time.Time
}

// A firewall makes mappings real.
type firewall interface {
	add(m *mapping) error
	remove(m *mapping) error
}

func newServer(public netip.Addr, fw firewall, out io.Writer) *server {
	return &server{
		public:      public,
		fw:          fw,
		out:         out,
		maxLifetime: 3600,
		epoch:       time.Now(),
		mappings:    map[key]*mapping{},
		external:    map[uint16]*mapping{},
	}
}

// Why a mapping was refused, in either protocol's terms.
var (
	errNotAuthorized = errors.New("not authorized")
	errNoPorts       = errors.New("no free external port")
	errFirewall      = errors.New("the firewall failed")
)

// handle answers request req from a client at from; nil for no answer.
func (s *server) handle(req []byte, from netip.AddrPort, now time.Time) []byte {
	if len(req) < 2 || req[1]&0x80 != 0 {
		return nil // too short to answer, or an answer
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case req[0] == 0:
		return s.natpmp(req, from, now)
	case req[0] == 2 && s.pcp:
		return s.pcpMap(req, from, now)
	}
	// NAT-PMP's unsupported version (RFC 6886 §3.5), which tells a PCP
	// client to fall back to NAT-PMP (RFC 6887, Appendix A).
	return s.natpmpHeader(req[1], 1, now)
}

func (s *server) natpmpHeader(op byte, result uint16, now time.Time) []byte {
	a := make([]byte, 8, 16)
	a[1] = 128 + op
	binary.BigEndian.PutUint16(a[2:], result)
	binary.BigEndian.PutUint32(a[4:], s.seconds(now))
	return a
}

func (s *server) natpmp(req []byte, from netip.AddrPort, now time.Time) []byte {
	op := req[1]
	switch {
	case op == 0:
		p := s.public.As4()
		return append(s.natpmpHeader(op, 0, now), p[:]...)
	case op == 1 && len(req) >= 12:
		internal := binary.BigEndian.Uint16(req[4:])
		suggest := binary.BigEndian.Uint16(req[6:])
		lifetime := binary.BigEndian.Uint32(req[8:])
		var result uint16
		m, granted, err := s.mapPort(key{from.Addr(), internal}, suggest, lifetime, [12]byte{}, "NAT-PMP", now)
		switch {
		case errors.Is(err, errNotAuthorized):
			result = 2
		case errors.Is(err, errFirewall):
			result = 3 // network failure
		case errors.Is(err, errNoPorts):
			result = 4 // out of resources
		}
		a := s.natpmpHeader(op, result, now)
		a = binary.BigEndian.AppendUint16(a, internal)
		a = binary.BigEndian.AppendUint16(a, m.external)
		return binary.BigEndian.AppendUint32(a, granted)
	case op == 1:
		return nil // too short to answer
	}
	return s.natpmpHeader(op, 5, now) // unsupported opcode: TCP, among others
}

// pcpMap answers a PCP request: MAP of a UDP port, with no options.
func (s *server) pcpMap(req []byte, from netip.AddrPort, now time.Time) []byte {
	if len(req) < 24 || len(req) > 1100 || len(req)%4 != 0 {
		return nil
	}
	a := make([]byte, 24, 60)
	a[0] = 2
	a[1] = 0x80 | req[1]
	binary.BigEndian.PutUint32(a[8:], s.seconds(now))
	refuse := func(code byte) []byte {
		a[3] = code
		if len(req) >= 60 {
			a = append(a, req[24:60]...)
		}
		return a
	}
	if req[1] != 1 {
		return refuse(4) // unsupported opcode
	}
	if len(req) < 60 {
		return refuse(3) // malformed request
	}
	if len(req) > 60 {
		return refuse(5) // unsupported option
	}
	if client := netip.AddrFrom16([16]byte(req[8:24])).Unmap(); client != from.Addr() {
		return refuse(12) // address mismatch: a NAT between
	}
	if req[36] != 17 {
		return refuse(9) // unsupported protocol
	}
	internal := binary.BigEndian.Uint16(req[40:])
	if internal == 0 {
		return refuse(3) // all ports: not served
	}
	lifetime := binary.BigEndian.Uint32(req[4:])
	suggest := binary.BigEndian.Uint16(req[42:])
	m, granted, err := s.mapPort(key{from.Addr(), internal}, suggest, lifetime, [12]byte(req[24:36]), "PCP", now)
	switch {
	case errors.Is(err, errNotAuthorized):
		return refuse(2)
	case errors.Is(err, errFirewall):
		return refuse(7) // network failure
	case errors.Is(err, errNoPorts):
		return refuse(8) // no resources
	}
	binary.BigEndian.PutUint32(a[4:], granted)
	a = append(a, req[24:60]...)
	binary.BigEndian.PutUint16(a[42:], m.external)
	ext := s.public.As16()
	if lifetime == 0 {
		ext = netip.IPv4Unspecified().As16()
	}
	copy(a[44:], ext[:])
	return a
}

// mapPort makes, renews (lifetime > 0) or deletes (0) the mapping of k:
// it returns the mapping and the lifetime granted, or a zero mapping for
// a deletion. A PCP mapping answers only to its nonce.
func (s *server) mapPort(k key, suggest uint16, lifetime uint32, nonce [12]byte, by string, now time.Time) (mapping, uint32, error) {
	m := s.mappings[k]
	if m != nil && m.by == "PCP" && m.nonce != nonce {
		return mapping{}, 0, errNotAuthorized
	}
	if lifetime == 0 {
		if m != nil {
			s.remove(m, "deleted")
		}
		return mapping{}, 0, nil
	}
	granted := min(lifetime, s.maxLifetime)
	if m == nil {
		ext := s.freePort(suggest, k.internal)
		if ext == 0 {
			return mapping{}, 0, errNoPorts
		}
		m = &mapping{client: netip.AddrPortFrom(k.client, k.internal), external: ext, nonce: nonce, by: by}
		if err := s.fw.add(m); err != nil {
			fmt.Fprintf(s.out, "natpmpd: error: %v\n", err)
			return mapping{}, 0, errFirewall
		}
		s.mappings[k], s.external[ext] = m, m
		fmt.Fprintf(s.out, "natpmpd: map %s to %s for %ds by %s\n", netip.AddrPortFrom(s.public, ext), m.client, granted, by)
	} else {
		fmt.Fprintf(s.out, "natpmpd: renew %s for %ds by %s\n", netip.AddrPortFrom(s.public, m.external), granted, by)
	}
	m.expires = now.Add(time.Duration(granted) * time.Second)
	return *m, granted, nil
}

// freePort returns the external port to map: the one suggested if free,
// else the internal port if free, else the next free one above it; 0 if
// none is.
func (s *server) freePort(suggest, internal uint16) uint16 {
	if suggest != 0 && s.external[suggest] == nil {
		return suggest
	}
	for p := int(internal); p <= 65535; p++ {
		if s.external[uint16(p)] == nil {
			return uint16(p)
		}
	}
	return 0
}

// remove deletes mapping m, for the reason why.
func (s *server) remove(m *mapping, why string) {
	if err := s.fw.remove(m); err != nil {
		fmt.Fprintf(s.out, "natpmpd: error: %v\n", err)
	}
	delete(s.mappings, key{m.client.Addr(), m.client.Port()})
	delete(s.external, m.external)
	fmt.Fprintf(s.out, "natpmpd: unmap %s (%s)\n", netip.AddrPortFrom(s.public, m.external), why)
}

// expire removes the mappings whose lifetime has run out at now.
func (s *server) expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mappings {
		if !now.Before(m.expires) {
			s.remove(m, "expired")
		}
	}
}

// restart forgets every mapping and starts the epoch again.
func (s *server) restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mappings {
		s.remove(m, "restart")
	}
	s.epoch = time.Now()
}

// stop removes every mapping.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mappings {
		s.remove(m, "stopped")
	}
}

// seconds is the epoch of the answers: seconds since the table was last
// started afresh.
func (s *server) seconds(now time.Time) uint32 {
	return uint32(now.Sub(s.epoch) / time.Second)
}
