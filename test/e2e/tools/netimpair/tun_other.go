//go:build !linux

package main

import (
	"errors"
	"os"
)

func openTUN(string) (*os.File, error) {
	return nil, errors.New("TUN devices are attached on Linux only")
}
