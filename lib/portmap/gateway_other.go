//go:build !linux

package portmap

import (
	"fmt"
	"net/netip"
)

// defaultGateway finds the default gateway on Linux only: elsewhere it
// must be given (Options.Gateway).
func defaultGateway() (netip.Addr, error) {
	return netip.Addr{}, fmt.Errorf("%w: the default gateway is found only on Linux; give its address", ErrNoGateway)
}
