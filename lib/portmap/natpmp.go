package portmap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// NAT-PMP (RFC 6886): a request is version 0, an opcode and the opcode's
// fields; an answer carries the opcode plus 128, a result code and the
// seconds since the gateway's epoch began (when it last lost its mappings).
const (
	natpmpVersion   = 0
	natpmpOpAddress = 0 // what is your external address?
	natpmpOpMapUDP  = 1 // map a UDP port
	natpmpAnswer    = 128

	natpmpErrorSize   = 8 // an error answer may stop after the epoch (§3.5)
	natpmpAddressSize = 12
	natpmpMapSize     = 16
)

// natpmpAddressRequest asks for the gateway's external address.
func natpmpAddressRequest() []byte {
	return []byte{natpmpVersion, natpmpOpAddress}
}

// natpmpMapRequest asks for UDP port internal to be mapped for lifetime
// seconds, from external if the gateway can; lifetime 0 deletes the
// mapping, and external must then be 0 (§3.4).
func natpmpMapRequest(internal, external uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[0] = natpmpVersion
	b[1] = natpmpOpMapUDP
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], external)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b
}

// natpmpReply is a NAT-PMP answer. Which fields it has depends on op and
// result: an error answer has only its result and epoch for certain.
type natpmpReply struct {
	op       byte // of the request answered
	result   uint16
	epoch    uint32
	external netip.Addr // of an address answer
	internal uint16     // of a mapping answer
	port     uint16     // the external port mapped
	lifetime uint32     // granted, in seconds
}

// parseNATPMP reads b as an answer to a NAT-PMP request of opcode op. A
// successful answer has exactly its opcode's size; an error answer has at
// least the epoch, and what follows it is not read.
func parseNATPMP(b []byte, op byte) (natpmpReply, error) {
	r := natpmpReply{op: op}
	if len(b) < natpmpErrorSize {
		return r, fmt.Errorf("a NAT-PMP answer of %d bytes, too short", len(b))
	}
	if b[0] != natpmpVersion {
		return r, fmt.Errorf("an answer of version %d to a NAT-PMP request", b[0])
	}
	if b[1] != natpmpAnswer|op {
		return r, fmt.Errorf("a NAT-PMP answer of opcode %d to a request of opcode %d", b[1], op)
	}
	r.result = binary.BigEndian.Uint16(b[2:])
	r.epoch = binary.BigEndian.Uint32(b[4:])
	if r.result != 0 {
		return r, nil
	}
	switch op {
	case natpmpOpAddress:
		if len(b) != natpmpAddressSize {
			return r, fmt.Errorf("a NAT-PMP address answer of %d bytes, want %d", len(b), natpmpAddressSize)
		}
		r.external = netip.AddrFrom4([4]byte(b[8:12]))
	case natpmpOpMapUDP:
		if len(b) != natpmpMapSize {
			return r, fmt.Errorf("a NAT-PMP mapping answer of %d bytes, want %d", len(b), natpmpMapSize)
		}
		r.internal = binary.BigEndian.Uint16(b[8:])
		r.port = binary.BigEndian.Uint16(b[10:])
		r.lifetime = binary.BigEndian.Uint32(b[12:])
	default:
		return r, fmt.Errorf("a NAT-PMP answer of opcode %d, which this client never sends", op)
	}
	return r, nil
}

// isNATPMPUnsupportedVersion reports whether b is a NAT-PMP gateway's
// "unsupported version" answer (§3.5), as one that speaks only NAT-PMP
// gives to a PCP request (RFC 6887, Appendix A).
func isNATPMPUnsupportedVersion(b []byte) bool {
	return len(b) >= natpmpErrorSize && b[0] == natpmpVersion && b[1]&natpmpAnswer != 0 &&
		binary.BigEndian.Uint16(b[2:]) == natpmpUnsupportedVersion
}

// The NAT-PMP result codes (§3.5).
const (
	natpmpUnsupportedVersion = 1
	natpmpNotAuthorized      = 2
)

func natpmpResult(code uint16) string {
	switch code {
	case 1:
		return "unsupported version"
	case natpmpNotAuthorized:
		return "not authorized or refused"
	case 3:
		return "network failure: the gateway has no external address"
	case 4:
		return "out of resources"
	case 5:
		return "unsupported opcode"
	}
	return "an unknown result code"
}

// natpmp makes and keeps a mapping by NAT-PMP.
type natpmp struct {
	internal uint16
	port     uint16 // the external port last mapped, asked for again; 0 before
}

func (p *natpmp) String() string { return "NAT-PMP" }

// request asks for the mapping with lifetime seconds, or deletes it with
// 0. A mapping answer has no external address, so an address request goes
// before it.
func (p *natpmp) request(ctx context.Context, g *gateway, lifetime uint32) (grant, error) {
	var external netip.Addr
	if lifetime > 0 {
		err := g.exchange(ctx, func(netip.Addr) []byte { return natpmpAddressRequest() }, func(b []byte) error {
			r, err := p.answer(b, natpmpOpAddress, g)
			external = r.external
			return err
		})
		if err != nil {
			return grant{}, err
		}
	}
	suggest := p.port
	if suggest == 0 {
		suggest = p.internal
	}
	if lifetime == 0 {
		suggest = 0
	}
	var got natpmpReply
	err := g.exchange(ctx, func(netip.Addr) []byte {
		return natpmpMapRequest(p.internal, suggest, lifetime)
	}, func(b []byte) error {
		r, err := p.answer(b, natpmpOpMapUDP, g)
		switch {
		case err != nil:
			return err
		case r.internal != p.internal:
			return ignoref("a NAT-PMP mapping answer for port %d, not %d", r.internal, p.internal)
		case lifetime > 0 && (r.port == 0 || r.lifetime == 0):
			return fmt.Errorf("the NAT-PMP gateway at %s mapped port %d to port %d for %d s", g.addr.Addr(), r.internal, r.port, r.lifetime)
		}
		got = r
		return nil
	})
	if err != nil || lifetime == 0 {
		return grant{}, err
	}
	p.port = got.port
	return grant{public: netip.AddrPortFrom(external, got.port), lifetime: got.lifetime}, nil
}

// answer parses b as the answer to a request of opcode op and notes its
// epoch. Its error is an ignoredError when b doesn't answer the request,
// a *GatewayError when the gateway refused it, errPCPOnly when the gateway
// speaks only PCP.
func (p *natpmp) answer(b []byte, op byte, g *gateway) (natpmpReply, error) {
	if isPCPUnsupportedVersion(b) {
		return natpmpReply{}, errPCPOnly
	}
	r, err := parseNATPMP(b, op)
	if err != nil {
		return r, ignoredError{err}
	}
	g.observe(natpmpEpoch, r.epoch)
	if r.result != 0 {
		return r, &GatewayError{Gateway: g.addr.Addr(), Protocol: "NAT-PMP", Code: int(r.result), Text: natpmpResult(r.result)}
	}
	g.speaks = "NAT-PMP"
	return r, nil
}

// errPCPOnly is a gateway's answer to a NAT-PMP request that it speaks
// only PCP (RFC 6887 §9): a gateway replaced under the mapping.
var errPCPOnly = errors.New("the gateway speaks only PCP")
