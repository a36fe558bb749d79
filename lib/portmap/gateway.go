package portmap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// The route flags of /proc/net/route that a default route through a
// gateway has.
const (
	routeUp      = 0x1
	routeGateway = 0x2
)

// parseRoutes returns the gateway of the default IPv4 route in data, a
// copy of Linux's /proc/net/route: of several, the one of lowest metric.
// Columns are found by their names in the first line; each address is 8
// hex digits of the address's bytes read as a number in this machine's
// byte order.
func parseRoutes(data []byte) (netip.Addr, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() {
		return netip.Addr{}, fmt.Errorf("%w: the route table is empty", ErrNoGateway)
	}
	header := strings.Fields(sc.Text())
	col := map[string]int{}
	for _, name := range []string{"Destination", "Gateway", "Flags", "Metric", "Mask"} {
		i := slices.Index(header, name)
		if i < 0 {
			return netip.Addr{}, fmt.Errorf("%w: the route table has no column %q", ErrNoGateway, name)
		}
		col[name] = i
	}
	var best netip.Addr
	var bestMetric uint64
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < len(header) || f[col["Destination"]] != "00000000" || f[col["Mask"]] != "00000000" {
			continue
		}
		flags, err1 := strconv.ParseUint(f[col["Flags"]], 16, 16)
		gw, err2 := strconv.ParseUint(f[col["Gateway"]], 16, 32)
		metric, err3 := strconv.ParseUint(f[col["Metric"]], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil || flags&(routeUp|routeGateway) != routeUp|routeGateway {
			continue
		}
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], uint32(gw))
		addr := netip.AddrFrom4(b)
		if addr.IsUnspecified() || (best.IsValid() && metric >= bestMetric) {
			continue
		}
		best, bestMetric = addr, metric
	}
	if !best.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: no default IPv4 route through a gateway", ErrNoGateway)
	}
	return best, nil
}
