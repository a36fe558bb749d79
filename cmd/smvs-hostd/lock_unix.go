//go:build unix

package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// errStoreInUse means another process holds a store's lock.
var errStoreInUse = errors.New("the store is in use")

// storeLockName is the lock file lib/store keeps in a store's directory
// and holds an flock on while the store is open.
const storeLockName = "lock"

// lockStore takes the lock of the store in dir without waiting, as
// opening it does; errStoreInUse if another process holds it. A store
// with no lock file was never opened, and needs none.
func lockStore(dir string) (func(), error) {
	f, err := os.Open(filepath.Join(dir, storeLockName))
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errStoreInUse
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

// storeLocked reports whether another process holds the lock of the
// store in dir.
func storeLocked(dir string) bool {
	unlock, err := lockStore(dir)
	if err != nil {
		return errors.Is(err, errStoreInUse)
	}
	unlock()
	return false
}
