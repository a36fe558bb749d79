//go:build unix

package identity

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Lock takes the identity file's lock (an exclusive flock on path.lock,
// which holds the owner's process id) without waiting, and returns the
// function that releases it. Whoever holds it is the file's one writer:
// smvs-hostd or smvs-agent for as long as they run, or a command for the
// length of one change. A held lock is an *InUseError.
func Lock(path string) (func(), error) {
	f, err := os.OpenFile(LockPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		var pid int
		if b, err := os.ReadFile(LockPath(path)); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		f.Close()
		return nil, &InUseError{Path: path, PID: pid}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		f.Truncate(0)
		f.Close() // closing releases the lock
	}, nil
}
