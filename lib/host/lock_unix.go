//go:build unix

package host

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockSocket takes an exclusive lock on path.lock without waiting: a host
// holding it is starting or serving path.
func lockSocket(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the socket: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrSocketInUse)
		}
		return nil, fmt.Errorf("locking the socket: %w", err)
	}
	// The lock file stays: removing it would let a second host lock a new
	// file while a third still holds the old one.
	return func() { f.Close() }, nil
}
