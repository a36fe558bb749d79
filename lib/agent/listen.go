package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// SocketEnv names the agent's socket for its clients, as SSH_AUTH_SOCK
// does ssh-agent's.
const SocketEnv = "SMVS_AGENT_SOCK"

// ErrRunning means another agent already serves the socket.
var ErrRunning = errors.New("another smvs-agent serves this socket")

// Listen makes the agent's socket at path, mode 0666 (the uid check of
// each connection is the access control, so that another user may be
// allowed), in a directory it makes 0755 if missing. A socket left by an
// agent that died is replaced; one a live agent serves is ErrRunning.
// Closing the listener removes the socket.
func Listen(path string) (*net.UnixListener, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// removeStale removes the socket at path if no process serves it; it
// never removes anything but a socket.
func removeStale(path string) error {
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case info.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: %w", path, ErrRunning)
	}
	return os.Remove(path)
}
