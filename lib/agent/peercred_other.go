//go:build !linux

package agent

import (
	"errors"
	"net"
)

// errNoPeerCred means the agent can't check who calls it on this system,
// so it does not serve at all.
var errNoPeerCred = errors.New("agent: this system gives no peer credentials (SO_PEERCRED) the agent could check callers with; it runs only on Linux")

// Supported returns an error where the agent can't check who calls it
// (SO_PEERCRED), and so must not serve: everywhere but Linux.
func Supported() error {
	return errNoPeerCred
}

func peerCred(net.Conn) (caller, error) { return caller{}, errNoPeerCred }
