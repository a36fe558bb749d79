package host

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrSocketInUse means another host serves the device socket.
var ErrSocketInUse = errors.New("another smvs-hostd serves this socket")

// socket is the device socket, held from takeSocket to release.
type socket struct {
	path   string
	ln     *net.UnixListener
	unlock func()
	once   sync.Once
}

// takeSocket makes the device socket at path, mode 0600, in a directory it
// creates with mode 0700 if missing. A socket file left by a host that
// crashed is replaced; one that answers means another host serves it, and
// ErrSocketInUse. Where the system has file locks, a lock beside the
// socket (path.lock, removed with the socket) makes two hosts starting at
// once exclude each other.
func takeSocket(path string) (*socket, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("making the socket's directory: %w", err)
	}
	unlock, err := lockSocket(path)
	if err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		unlock()
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		unlock()
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		unlock()
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return &socket{path: path, ln: ln, unlock: unlock}, nil
}

// removeStale removes a socket file at path that nothing answers on.
func removeStale(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not touching it", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: %w", path, ErrSocketInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the stale socket: %w", err)
	}
	return nil
}

// release closes the socket, removes its file and its lock file, and
// drops the lock.
func (s *socket) release() {
	s.once.Do(func() {
		s.ln.Close() // removes the file too
		s.unlock()
	})
}
