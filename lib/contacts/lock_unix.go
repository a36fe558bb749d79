//go:build unix

package contacts

import (
	"os"
	"sync"
	"syscall"
)

// processLock serialises Updates within one process: flock locks belong
// to open files, and two of them in one process would not exclude each
// other on every system.
var processLock sync.Mutex

// lock takes an exclusive lock beside the contacts file at path (the file
// itself is replaced by rename, so it can't hold a lock), waiting for it,
// and returns the function that releases it.
func lock(path string) (func(), error) {
	processLock.Lock()
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		processLock.Unlock()
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		processLock.Unlock()
		return nil, err
	}
	return func() {
		f.Close() // releases the lock
		processLock.Unlock()
	}, nil
}
