//go:build !unix

package store

// lockFile does nothing on systems without flock: there, only the Stores of
// one process exclude each other, and running two hosts on one store
// directory at once is the user's mistake to avoid.
func lockFile(string) (func(), error) { return func() {}, nil }

// syncDir does nothing: directories can't be synced on these systems.
func syncDir(string) error { return nil }
