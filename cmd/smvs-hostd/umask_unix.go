//go:build unix

package main

import "syscall"

// restrictUmask makes everything the host creates (the store, the socket)
// its owner's alone from the start, whatever umask it was started with.
func restrictUmask() { syscall.Umask(0o077) }
