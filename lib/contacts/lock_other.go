//go:build !unix

package contacts

import "sync"

var processLock sync.Mutex

// lock serialises Updates within this process only: on systems without
// flock, two processes updating the contacts file at the same moment may
// lose one of the two changes (never corrupt the file, which is replaced
// atomically).
func lock(string) (func(), error) {
	processLock.Lock()
	return processLock.Unlock, nil
}
