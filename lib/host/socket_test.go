package host

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSocketLeavesNothing checks that a socket taken and released leaves
// neither the socket nor its lock file, and that a second host is refused
// while the first holds it.
func TestSocketLeavesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "host.sock")
	s, err := takeSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := takeSocket(path); !errors.Is(err, ErrSocketInUse) {
		t.Errorf("a second take: %v, want ErrSocketInUse", err)
	}
	s.release()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 0 {
		t.Errorf("after release the directory holds %v (%v), want nothing", entries, err)
	}
	// Taken again and again, as hosts that start and fail do.
	for range 3 {
		s, err := takeSocket(path)
		if err != nil {
			t.Fatal(err)
		}
		s.release()
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("after more takes the directory holds %v", entries)
	}
}

// TestSocketLockRace checks that hosts taking and releasing the lock at
// once never hold it together: one that locks a lock file after its
// holder removed it takes the file that has the name now.
func TestSocketLockRace(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	path := filepath.Join(t.TempDir(), "host.sock")
	var holders, taken atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				unlock, err := lockSocket(path)
				if errors.Is(err, ErrSocketInUse) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if holders.Add(1) != 1 {
					t.Error("two hosts hold the socket's lock at once")
				}
				taken.Add(1)
				time.Sleep(20 * time.Microsecond)
				holders.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	if taken.Load() == 0 {
		t.Error("no host took the lock")
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock file is left: %v", err)
	}
}
