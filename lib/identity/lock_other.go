//go:build !unix

package identity

// Lock does nothing where there is no flock: one writer is up to the user.
func Lock(path string) (func(), error) { return func() {}, nil }
