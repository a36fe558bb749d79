package identity

import (
	"errors"
	"fmt"
)

// ErrInUse means another process owns the identity file: a running
// smvs-hostd or smvs-agent, which must make the change itself.
var ErrInUse = errors.New("the identity is in use by another process")

// InUseError is ErrInUse with the owner's process id, when known.
type InUseError struct {
	Path string
	PID  int // 0 if unknown
}

func (e *InUseError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s is in use by process %d", e.Path, e.PID)
	}
	return fmt.Sprintf("%s is in use by another process", e.Path)
}

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// LockPath is the lock file of the identity file path.
func LockPath(path string) string { return path + ".lock" }
