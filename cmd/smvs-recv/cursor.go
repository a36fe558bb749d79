package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A cursor file holds the sequence number of the last message printed, in
// decimal, and a newline. It is replaced atomically (a new file renamed
// over it), so that whenever smvs-recv is killed it holds a number whose
// message was printed, and no later one was skipped.

// readCursor returns the sequence number in the cursor file at path: 0 if
// the file does not exist or is empty.
func readCursor(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0, nil
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cursor file %s holds %q, not a sequence number", path, s)
	}
	return seq, nil
}

// writeCursor replaces the cursor file at path with seq.
func writeCursor(path string, seq uint64) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatUint(seq, 10) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
