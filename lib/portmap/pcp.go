package portmap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// PCP (RFC 6887): a 24-byte header (version 2, opcode, lifetime, the
// client's address), the opcode's fields and options; an answer's header
// has the opcode with the high bit set, a result code, the lifetime granted
// and the gateway's epoch. This client sends only MAP requests, with no
// options.
const (
	pcpVersion    = 2
	pcpOpMap      = 1
	pcpAnswer     = 0x80
	pcpUDP        = 17 // the MAP request's protocol: an IANA protocol number
	pcpHeaderSize = 24
	pcpMapSize    = pcpHeaderSize + 36
	pcpMaxSize    = 1100 // §7
)

// pcpMapping is what a MAP request and its answer carry: the request
// suggests an external address and port, the answer assigns them.
type pcpMapping struct {
	nonce    [12]byte // names the mapping: only its client knows it
	protocol byte
	internal uint16
	external netip.AddrPort // IPv4 as an IPv4-mapped IPv6 address
}

// pcpMapRequest asks for a mapping from the client at address client for
// lifetime seconds; 0 deletes it.
func pcpMapRequest(client netip.Addr, lifetime uint32, m pcpMapping) []byte {
	b := make([]byte, pcpMapSize)
	b[0] = pcpVersion
	b[1] = pcpOpMap
	binary.BigEndian.PutUint32(b[4:], lifetime)
	c := client.As16()
	copy(b[8:24], c[:])
	putPCPMapping(b[pcpHeaderSize:], m)
	return b
}

func putPCPMapping(b []byte, m pcpMapping) {
	copy(b[0:12], m.nonce[:])
	b[12] = m.protocol
	binary.BigEndian.PutUint16(b[16:], m.internal)
	binary.BigEndian.PutUint16(b[18:], m.external.Port())
	e := m.external.Addr().As16()
	copy(b[20:36], e[:])
}

// pcpReply is a PCP answer to a MAP request: an error answer may stop
// after the header, and then has no mapping.
type pcpReply struct {
	result     byte
	lifetime   uint32
	epoch      uint32
	hasMapping bool
	mapping    pcpMapping
}

// parsePCP reads b as a PCP answer to a MAP request, with the checks of
// §8.3: its size, version, opcode and options' framing.
func parsePCP(b []byte) (pcpReply, error) {
	var r pcpReply
	if len(b) < pcpHeaderSize || len(b) > pcpMaxSize || len(b)%4 != 0 {
		return r, fmt.Errorf("a PCP answer of %d bytes: want a multiple of 4 from %d to %d", len(b), pcpHeaderSize, pcpMaxSize)
	}
	if b[0] != pcpVersion {
		return r, fmt.Errorf("an answer of version %d to a PCP request", b[0])
	}
	if b[1] != pcpAnswer|pcpOpMap {
		return r, fmt.Errorf("a PCP answer of opcode %#x to a MAP request", b[1])
	}
	r.result = b[3]
	r.lifetime = binary.BigEndian.Uint32(b[4:])
	r.epoch = binary.BigEndian.Uint32(b[8:])
	if len(b) < pcpMapSize {
		return r, nil
	}
	r.hasMapping = true
	m := b[pcpHeaderSize:]
	copy(r.mapping.nonce[:], m[0:12])
	r.mapping.protocol = m[12]
	r.mapping.internal = binary.BigEndian.Uint16(m[16:])
	r.mapping.external = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[20:36])), binary.BigEndian.Uint16(m[18:]))
	for opts := b[pcpMapSize:]; len(opts) > 0; {
		// An option: code, reserved, length, then its data padded to 4.
		if len(opts) < 4 {
			return r, fmt.Errorf("a PCP answer with %d bytes after its last option", len(opts))
		}
		n := 4 + (int(binary.BigEndian.Uint16(opts[2:]))+3)/4*4
		if n > len(opts) {
			return r, fmt.Errorf("a PCP answer whose option %d runs past its end", opts[0])
		}
		opts = opts[n:]
	}
	return r, nil
}

// isPCPUnsupportedVersion reports whether b is a PCP gateway's
// "unsupported version" answer (§9), as one that speaks only PCP gives to
// a NAT-PMP request.
func isPCPUnsupportedVersion(b []byte) bool {
	return len(b) >= pcpHeaderSize && b[0] == pcpVersion && b[1]&pcpAnswer != 0 && b[3] == pcpUnsupportedVersion
}

// The PCP result codes (§7.4).
const (
	pcpUnsupportedVersion = 1
	pcpNotAuthorized      = 2
)

func pcpResult(code byte) string {
	switch code {
	case 1:
		return "unsupported version"
	case pcpNotAuthorized:
		return "not authorized"
	case 3:
		return "malformed request"
	case 4:
		return "unsupported opcode"
	case 5:
		return "unsupported option"
	case 6:
		return "malformed option"
	case 7:
		return "network failure"
	case 8:
		return "no resources"
	case 9:
		return "unsupported protocol"
	case 10:
		return "user exceeded quota"
	case 11:
		return "cannot provide the external address or port"
	case 12:
		return "address mismatch: another NAT lies between this host and the gateway"
	case 13:
		return "excessive remote peers"
	}
	return "an unknown result code"
}

// pcp makes and keeps a mapping by PCP.
type pcp struct {
	nonce    [12]byte       // the same for every request about the mapping (§11.2)
	internal uint16         // the port mapped
	assigned netip.AddrPort // what the gateway last assigned, asked for again; zero before
}

func (p *pcp) String() string { return "PCP" }

// request asks for the mapping with lifetime seconds, or deletes it with
// 0. Its error is errNATPMPOnly if the gateway answers that it speaks
// only NAT-PMP.
func (p *pcp) request(ctx context.Context, g *gateway, lifetime uint32) (grant, error) {
	suggest := p.assigned
	if !suggest.IsValid() {
		// No preference for the address, but IPv4 (§11.1).
		suggest = netip.AddrPortFrom(netip.IPv4Unspecified(), p.internal)
	}
	m := pcpMapping{nonce: p.nonce, protocol: pcpUDP, internal: p.internal, external: suggest}
	var got pcpReply
	err := g.exchange(ctx, func(local netip.Addr) []byte {
		return pcpMapRequest(local, lifetime, m)
	}, func(b []byte) error {
		if isNATPMPUnsupportedVersion(b) {
			return errNATPMPOnly
		}
		r, err := parsePCP(b)
		switch {
		case err != nil:
			return ignoredError{err}
		case r.hasMapping && (r.mapping.nonce != p.nonce || r.mapping.protocol != pcpUDP || r.mapping.internal != p.internal):
			return ignoref("a PCP answer about another mapping")
		}
		g.observe(pcpEpoch, r.epoch)
		switch {
		case r.result != 0:
			return &GatewayError{Gateway: g.addr.Addr(), Protocol: "PCP", Code: int(r.result), Text: pcpResult(r.result)}
		case !r.hasMapping:
			return ignoref("a PCP answer of %d bytes to a MAP request, too short", len(b))
		case lifetime == 0:
		case !r.mapping.external.Addr().Is4In6():
			return fmt.Errorf("the PCP gateway at %s assigned the external address %s, not an IPv4 one", g.addr.Addr(), r.mapping.external.Addr())
		case r.mapping.external.Port() == 0 || r.lifetime == 0:
			return fmt.Errorf("the PCP gateway at %s mapped port %d to port %d for %d s", g.addr.Addr(), p.internal, r.mapping.external.Port(), r.lifetime)
		}
		got = r
		return nil
	})
	if err != nil {
		return grant{}, err
	}
	g.speaks = "PCP"
	if lifetime == 0 {
		return grant{}, nil
	}
	p.assigned = netip.AddrPortFrom(got.mapping.external.Addr().Unmap(), got.mapping.external.Port())
	return grant{public: p.assigned, lifetime: got.lifetime}, nil
}

// errNATPMPOnly is a gateway's answer to a PCP request that it speaks
// only NAT-PMP.
var errNATPMPOnly = errors.New("the gateway speaks only NAT-PMP")
