package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"smvs/lib/portmap"
)

// PortMapping says whether the host asks its router to forward its UDP
// port (PCP, NAT-PMP or UPnP IGD, lib/portmap) and publishes the router's public
// address and port in its record.
type PortMapping int

const (
	// PortMapAuto asks when the host listens on an address other hosts
	// can't be given as it is (not loopback) and Config.Advertise is
	// empty, and publishes only a public address.
	PortMapAuto PortMapping = iota
	// PortMapOff never asks.
	PortMapOff
	// PortMapAnyAddress asks as PortMapAuto does, and publishes the
	// router's outside address even if it is a private one (a NAT inside
	// a larger private network).
	PortMapAnyAddress
)

var portMappingNames = map[PortMapping]string{PortMapAuto: "auto", PortMapOff: "off", PortMapAnyAddress: "any-address"}

func (p PortMapping) String() string {
	if n, ok := portMappingNames[p]; ok {
		return n
	}
	return fmt.Sprintf("PortMapping(%d)", int(p))
}

// ParsePortMapping returns the port mapping mode named s.
func ParsePortMapping(s string) (PortMapping, error) {
	for p, n := range portMappingNames {
		if n == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown port mapping %q: want auto, off or any-address", s)
}

// mapTimeout bounds the first request to the router, at start: PCP's
// tries (4 s where the router drops them unanswered), UPnP's search (2 s)
// and its HTTP requests.
const mapTimeout = 8 * time.Second

// mapPort asks the router for a mapping of the listening port, if
// Config.PortMapping says to, and advertises its public address. Without
// one the host starts as it would have: a failure is logged, no more.
func (h *Host) mapPort(ctx context.Context) {
	local, ok := h.ln.Addr().(*net.UDPAddr)
	if h.cfg.PortMapping == PortMapOff || h.cfg.Advertise != "" || !ok || local.IP.IsLoopback() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, mapTimeout)
	defer cancel()
	m, err := portmap.Map(ctx, portmap.Options{
		Port:         uint16(local.Port),
		AllowPrivate: h.cfg.PortMapping == PortMapAnyAddress,
		OnChange:     h.portMoved,
		Log:          h.log,
	})
	if err != nil {
		level := "no port mapping by the router: others reach this host only as its listening address says"
		if errors.Is(err, portmap.ErrNoGateway) || errors.Is(err, portmap.ErrNoAnswer) {
			h.log.Info(level, "err", err)
		} else {
			h.log.Warn(level, "err", err)
		}
		return
	}
	h.portMap = m
	h.selfMu.Lock()
	h.addr = m.Public().String()
	h.selfMu.Unlock()
	h.log.Info("the router forwards a port to this host", "protocol", m.Protocol(), "public", m.Public().String())
}

// closePortMap deletes the router's mapping, if there is one.
func (h *Host) closePortMap() {
	if h.portMap == nil {
		return
	}
	if err := h.portMap.Close(); err != nil {
		h.log.Info("deleting the router's port mapping", "err", err)
	}
	h.portMap = nil
}

// portMoved is told of a change of the mapping's public address (zero
// while the mapping can't be counted on) and publishes the new one.
func (h *Host) portMoved(public netip.AddrPort) {
	if !public.IsValid() {
		h.log.Warn("the router's port mapping lapsed: others may not reach this host until it is renewed")
		return
	}
	h.log.Info("the router forwards a port to this host at a new address", "public", public.String())
	h.bg.Go(func() {
		ctx, cancel := context.WithTimeout(h.ctx, startPublishTimeout)
		defer cancel()
		if _, err := h.refreshRecord(ctx, publishRequest{host: public.String()}); err != nil && h.ctx.Err() == nil {
			h.log.Error("publishing the new address", "err", err)
		}
	})
}
