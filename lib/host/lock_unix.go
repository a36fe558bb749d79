//go:build unix

package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// lockSocket takes an exclusive lock on path.lock without waiting: a host
// holding it is starting or serving path. The function it returns removes
// the lock file and then drops the lock, so no lock file outlives its
// host, whether it served or failed to start.
//
// Removing a lock file while another host may have it open is safe
// because a host only keeps a lock on the file that still has the name:
// one that locks a file after its holder removed it sees the name gone (or
// on another file) and tries again.
func lockSocket(path string) (func(), error) {
	lock := path + ".lock"
	for {
		f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("locking the socket: %w", err)
		}
		if err := flock(f); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s: %w", path, ErrSocketInUse)
			}
			return nil, fmt.Errorf("locking the socket: %w", err)
		}
		held, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking the socket: %w", err)
		}
		named, err := os.Stat(lock)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.Close()
			return nil, fmt.Errorf("locking the socket: %w", err)
		}
		if err != nil || !os.SameFile(held, named) {
			f.Close() // its holder removed it: take the one that has the name now
			continue
		}
		return func() {
			os.Remove(lock)
			f.Close()
		}, nil
	}
}

// flock takes an exclusive flock on f without waiting.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
