package portmap

import (
	"fmt"
	"net/netip"
	"os"
)

// defaultGateway returns the gateway of the default IPv4 route of this
// process's network namespace.
func defaultGateway() (netip.Addr, error) {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %w", ErrNoGateway, err)
	}
	return parseRoutes(data)
}
