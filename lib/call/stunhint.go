package call

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// A caller names, in its offer, the STUN servers the callee may ask for
// its public address: a session-level SDP attribute per server,
//
//	a=smvs-stun:192.0.2.1:3478
//
// an IP address and a UDP port, never a name and never a credential.
// They are the caller's own STUN servers and the addresses of its TURN
// servers, which answer STUN too. A callee behind a NAT that has nothing
// configured then gets a server-reflexive candidate: the NAT's address,
// which the caller's TURN relay can let in, where its private address is
// never let in. The SDP is signed by the caller's device, so no host on
// the way can add, change or remove a hint.
const stunHintAttr = "a=smvs-stun:"

// maxSTUNHints bounds the hints a caller sends and a callee takes.
const maxSTUNHints = 4

// resolveTimeout bounds the look-up of a server's name for a hint.
const resolveTimeout = 2 * time.Second

// stunHints returns the hints for servers: the address of each UDP STUN
// or TURN server (TLS and TCP ones answer no plain STUN over UDP), its
// name resolved, at most maxSTUNHints of them.
func stunHints(ctx context.Context, servers []webrtc.ICEServer) []netip.AddrPort {
	var hints []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	for _, s := range servers {
		for _, u := range s.URLs {
			host, port, ok := udpServer(u)
			if !ok {
				continue
			}
			for _, ip := range resolve(ctx, host) {
				ap := netip.AddrPortFrom(ip, port)
				if len(hints) < maxSTUNHints && validHint(ap) && !seen[ap] {
					seen[ap] = true
					hints = append(hints, ap)
				}
			}
		}
	}
	return hints
}

// udpServer returns the host and port of a stun: or turn: URL over UDP
// (3478 when the URL gives none).
func udpServer(u string) (host string, port uint16, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(u, "stun:"):
		rest = u[len("stun:"):]
	case strings.HasPrefix(u, "turn:"):
		rest = u[len("turn:"):]
	default:
		return "", 0, false
	}
	rest, query, _ := strings.Cut(rest, "?")
	for _, kv := range strings.Split(query, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == "transport" && v != "udp" {
			return "", 0, false
		}
	}
	host, p, err := net.SplitHostPort(rest)
	if err != nil {
		host, p = strings.Trim(rest, "[]"), "3478"
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 || host == "" {
		return "", 0, false
	}
	return host, uint16(n), true
}

// resolve returns host's addresses: itself if it is an IP address.
func resolve(ctx context.Context, host string) []netip.Addr {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips
}

// validHint reports whether a hint names one server a STUN request can
// go to: no zone, no unspecified, multicast or broadcast address, a port.
func validHint(ap netip.AddrPort) bool {
	ip := ap.Addr()
	return ip.IsValid() && ip.Zone() == "" && !ip.IsUnspecified() && !ip.IsMulticast() &&
		ip != netip.AddrFrom4([4]byte{255, 255, 255, 255}) && ap.Port() != 0
}

// withSTUNHints puts the hints into sdp at the session level, after its
// t= line (or at its end, for an SDP without one).
func withSTUNHints(sdp string, hints []netip.AddrPort) string {
	if len(hints) == 0 {
		return sdp
	}
	var lines strings.Builder
	for _, h := range hints {
		lines.WriteString(stunHintAttr + h.String() + "\r\n")
	}
	at := len(sdp)
	if i := strings.Index(sdp, "\nt="); i >= 0 {
		if j := strings.IndexByte(sdp[i+1:], '\n'); j >= 0 {
			at = i + 1 + j + 1
		}
	}
	return sdp[:at] + lines.String() + sdp[at:]
}

// peerSTUNHints returns the hints of an offer's SDP, at most maxSTUNHints:
// the valid ones at the session level (before the first m= line); others
// are ignored.
func peerSTUNHints(sdp string) []netip.AddrPort {
	var hints []netip.AddrPort
	for line := range strings.Lines(sdp) {
		if len(hints) == maxSTUNHints || strings.HasPrefix(line, "m=") {
			break
		}
		v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), stunHintAttr)
		if !ok {
			continue
		}
		ap, err := netip.ParseAddrPort(v)
		if err != nil || ap.Addr().Is4In6() || !validHint(ap) || ap.String() != v {
			continue
		}
		hints = append(hints, ap)
	}
	return hints
}

// peerSTUNServers returns the ICE server a callee asks for its public
// address, from the hints of the caller's offer: none when the callee
// relays only (it gathers no address of its own) or keeps to its own
// servers. A loopback server is taken only by a callee that offers
// loopback candidates.
func peerSTUNServers(cfg Config, offerSDP string) []webrtc.ICEServer {
	if cfg.RelayOnly || cfg.IgnorePeerSTUN {
		return nil
	}
	var urls []string
	for _, h := range peerSTUNHints(offerSDP) {
		if h.Addr().IsLoopback() && !cfg.IncludeLoopback {
			continue
		}
		urls = append(urls, "stun:"+h.String())
	}
	if len(urls) == 0 {
		return nil
	}
	return []webrtc.ICEServer{{URLs: urls}}
}
