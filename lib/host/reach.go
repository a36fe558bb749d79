package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Reach is what a reach check found (CheckReach): whether hosts elsewhere
// can reach this one at the address its record gives.
type Reach struct {
	Advertised string // the address the record gives
	Seen       string // where the directory dialled: the address this host's requests come from, the advertised port
	Reachable  bool   // the directory completed a handshake at Seen
	Reason     string // why not, in the directory's words (escaped)
	// Elsewhere: reachable at Seen, which is not the address the
	// record gives (a forwarded port, unadvertised).
	Elsewhere bool
	// Relay is the relay the record names (KEY@HOST:PORT), if any: then
	// Reachable says that a request sent through it came back to this
	// host, and Reason why not.
	Relay string
}

// String says what r means, in a line.
func (r *Reach) String() string {
	switch {
	case r.Relay != "" && r.Reachable:
		return fmt.Sprintf("others can reach this host through its relay %s: a request sent through it came back", r.Relay)
	case r.Relay != "":
		return fmt.Sprintf("others can't reach this host: its relay %s did not pass a request on to it: %s", r.Relay, r.Reason)
	case r.Reachable && !r.Elsewhere:
		return fmt.Sprintf("others can reach this host at %s", r.Advertised)
	case r.Reachable:
		return fmt.Sprintf("others can reach this host at %s, but its record gives %s: give --advertise %s", r.Seen, r.Advertised, r.Seen)
	}
	s := fmt.Sprintf("others can't reach this host: a handshake at %s found %s; its record gives %s", r.Seen, r.Reason, r.Advertised)
	if class, _ := addressClass(r.Advertised); class != "" {
		s += ", " + class
	}
	return s
}

// reachTimeout bounds a reach check.
const reachTimeout = 15 * time.Second

// CheckReach asks the first directory to dial this host back at the
// address its requests come from and the port its record gives (the
// directory's POST /v1/reach), and says what it found. A host reached
// through a relay asks the relay instead to pass a request for its record
// on to it (checkRelay), as any sender's would be.
func (h *Host) CheckReach(ctx context.Context) (*Reach, error) {
	if r := h.cfg.Relay; r != nil {
		ctx, cancel := context.WithTimeout(ctx, reachTimeout)
		defer cancel()
		res := &Reach{Advertised: h.advertise(), Relay: r.String(), Reachable: true}
		if err := h.checkRelay(ctx); err != nil {
			res.Reachable, res.Reason = false, err.Error()
		}
		return res, nil
	}
	if len(h.cfg.Directories) == 0 {
		return nil, errors.New("no directory to ask: a reach check needs one (--dir)")
	}
	adv := h.advertise()
	host, portText, err := net.SplitHostPort(adv)
	if err != nil {
		return nil, fmt.Errorf("the advertised address %q: %w", adv, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("the advertised address %q has no port to check", adv)
	}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	res, err := h.cfg.Directories[0].Reach(ctx, h.me, int(port))
	if err != nil {
		return nil, err
	}
	r := &Reach{Advertised: adv, Seen: res.Address, Reachable: res.Reachable, Reason: res.Reason}
	if r.Reachable {
		seen, _ := netip.ParseAddrPort(res.Address) // checked by dirclient
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		r.Elsewhere = err != nil || uint16(port) != seen.Port() ||
			!containsAddr(ips, seen.Addr())
	}
	return r, nil
}

func containsAddr(ips []netip.Addr, a netip.Addr) bool {
	for _, ip := range ips {
		if ip.Unmap() == a.Unmap() {
			return true
		}
	}
	return false
}

// addressClass says what kind of address the host part of addr is, if
// others can't reach it for that, and how loudly to say so at start:
// loopback (the default, for one machine: info), or private (behind a
// NAT, or in a network of its own: a warning); "" otherwise, names
// included.
func addressClass(addr string) (string, slog.Level) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", 0
	}
	a := ap.Addr().Unmap()
	switch {
	case a.IsLoopback():
		return "a loopback address: only this machine reaches it", slog.LevelInfo
	case a.IsUnspecified():
		return "no address at all: give --advertise", slog.LevelWarn
	case a.IsPrivate(), a.IsLinkLocalUnicast(), cgnat.Contains(a):
		return "a private address: hosts outside its network reach this one only over the connections it opens " +
			"(behind a NAT?); see smvs-hostd(8), Reaching a host behind a NAT", slog.LevelWarn
	}
	return "", 0
}

// cgnat is the shared address space of carrier-grade NATs (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")
