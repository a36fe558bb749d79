//go:build !unix

package main

import "errors"

// errStoreInUse means another process holds a store's lock.
var errStoreInUse = errors.New("the store is in use")

// lockStore does nothing where there are no flock locks.
func lockStore(string) (func(), error) { return func() {}, nil }

// storeLocked reports false where there are no flock locks.
func storeLocked(string) bool { return false }
