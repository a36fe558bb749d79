package store

import (
	"fmt"
	"os"
	"path/filepath"
)

// Exists reports whether dir is a directory that holds a store.
func Exists(dir string) bool {
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return false
	}
	for _, name := range []string{rootName, dbName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// Move renames the store in from to to, which must not exist, while it
// holds the store's lock, so that no Store has it open (ErrInUse if one
// has). With both in one directory the rename is atomic; it is synced
// before Move returns.
func Move(from, to string) error {
	unlock, err := Lock(from)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Rename(from, to); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return fmt.Errorf("store: moved to %s, but syncing its directory: %w", to, err)
	}
	return nil
}
