package store

import (
	"sync"
)

// openDirs holds the directories this process has open, so that two Stores never
// share one: flock alone does not exclude within a process on every system.
var openDirs = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: make(map[string]bool)}

// lockDir takes the directory for this Store, within the process and (where
// the system has flock) across processes, and returns the function that
// releases it.
func lockDir(dir string) (func(), error) {
	openDirs.Lock()
	defer openDirs.Unlock()
	if openDirs.dirs[dir] {
		return nil, ErrInUse
	}
	unlock, err := lockFile(dir)
	if err != nil {
		return nil, err
	}
	openDirs.dirs[dir] = true
	return func() {
		unlock()
		openDirs.Lock()
		delete(openDirs.dirs, dir)
		openDirs.Unlock()
	}, nil
}

// Lock takes the directory as Open does, for a caller that must keep every
// Store out of it while it moves the directory, and returns the function
// that releases it; ErrInUse if a Store has it open.
func Lock(dir string) (unlock func(), err error) {
	return lockDir(dir)
}
