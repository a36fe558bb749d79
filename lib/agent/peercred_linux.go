package agent

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Supported returns an error where the agent can't check who calls it
// (SO_PEERCRED), and so must not serve; nil on Linux.
func Supported() error { return nil }

// peerCred returns the uid and pid of the process at the other end of a
// unix socket connection, as the kernel recorded them when it connected
// (SO_PEERCRED), so a caller can't claim another's.
func peerCred(c net.Conn) (caller, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return caller{}, fmt.Errorf("agent: a %T is not a unix socket connection", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return caller{}, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return caller{}, err
	}
	if credErr != nil {
		return caller{}, fmt.Errorf("agent: SO_PEERCRED: %w", credErr)
	}
	if cred == nil {
		return caller{}, errors.New("agent: SO_PEERCRED gave nothing")
	}
	return caller{uid: cred.Uid, pid: cred.Pid}, nil
}
