// Package passphrase gets a passphrase from one of the places SMVS commands
// accept it from: the terminal (with no echo), an open file descriptor, or a
// file. Never from a command-line argument, where other users could read it
// in the process list.
//
// Every passphrase is returned as a new []byte without its line ending, and
// the caller clears it when done. An empty passphrase is always refused.
package passphrase

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
)

// MaxLen is the length, in bytes, of the longest passphrase accepted.
const MaxLen = 4096

var (
	// ErrEmpty means the passphrase given was empty.
	ErrEmpty = errors.New("empty passphrase")
	// ErrTooLong means the passphrase was longer than MaxLen.
	ErrTooLong = fmt.Errorf("passphrase longer than %d bytes", MaxLen)
	// ErrMismatch means a new passphrase and its confirmation differ.
	ErrMismatch = errors.New("the passphrases do not match")
	// ErrNoTerminal means a passphrase had to be asked for on the terminal
	// and the process has none.
	ErrNoTerminal = errors.New("no terminal to ask for the passphrase")
)

// InsecureFileError means a passphrase file can be read by its group or by
// others, so the passphrase must be considered exposed and is refused.
type InsecureFileError struct {
	Path string
	Mode fs.FileMode
}

func (e *InsecureFileError) Error() string {
	return fmt.Sprintf("passphrase file %s is readable by others (mode %04o); refusing to use it", e.Path, e.Mode.Perm())
}

// Source is where a passphrase comes from: a file descriptor, a file, or
// the terminal. The zero Source is the terminal.
type Source struct {
	fd    int
	hasFD bool
	path  string
}

// FD returns the Source that reads the open file descriptor fd up to its
// first newline, as gpg's --passphrase-fd does. Reading closes the
// descriptor unless it is 0, 1 or 2, so a Source from FD is read once.
func FD(fd int) Source { return Source{fd: fd, hasFD: true} }

// File returns the Source that reads the first line of the file at path.
// A regular file its group or others may read is refused with an
// *InsecureFileError, as secret key files are.
func File(path string) Source { return Source{path: path} }

// IsTerminal reports whether s asks on the terminal.
func (s Source) IsTerminal() bool { return !s.hasFD && s.path == "" }

// String describes s for messages: "file descriptor 3", "file F" or "the
// terminal".
func (s Source) String() string {
	switch {
	case s.hasFD:
		return fmt.Sprintf("file descriptor %d", s.fd)
	case s.path != "":
		return "file " + s.path
	}
	return "the terminal"
}

// Read returns the passphrase of an existing secret. On the terminal it
// shows prompt and asks once.
func (s Source) Read(prompt string) ([]byte, error) {
	switch {
	case s.hasFD:
		return ReadFD(s.fd)
	case s.path != "":
		return ReadFile(s.path)
	}
	return Prompt(prompt)
}

// ReadNew returns the passphrase for a new secret. On the terminal it shows
// prompt, then asks again to confirm, and refuses a mismatch.
func (s Source) ReadNew(prompt string) ([]byte, error) {
	if s.IsTerminal() {
		return PromptNew(prompt)
	}
	return s.Read(prompt)
}

// Func returns a function that calls s.Read(prompt), of the shape
// identity.ReadFile takes.
func (s Source) Func(prompt string) func() ([]byte, error) {
	return func() ([]byte, error) { return s.Read(prompt) }
}

// ReadFD reads a passphrase from the open file descriptor fd, up to the
// first newline or the end of input, and leaves anything after the newline
// unread. It closes fd afterwards unless fd is 0, 1 or 2.
func ReadFD(fd int) ([]byte, error) {
	var f *os.File
	switch fd {
	case 0:
		f = os.Stdin
	case 1:
		f = os.Stdout
	case 2:
		f = os.Stderr
	default:
		if fd < 0 {
			return nil, fmt.Errorf("invalid file descriptor %d", fd)
		}
		f = os.NewFile(uintptr(fd), fmt.Sprintf("file descriptor %d", fd))
		defer f.Close()
	}
	p, err := readLine(f)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase from file descriptor %d: %w", fd, err)
	}
	return p, nil
}

// ReadFile reads a passphrase from the first line of the file at path. It
// refuses a regular file that its group or others may read.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("passphrase file %s is a directory", path)
	}
	if runtime.GOOS != "windows" && info.Mode().IsRegular() && info.Mode().Perm()&0o077 != 0 {
		return nil, &InsecureFileError{Path: path, Mode: info.Mode()}
	}
	p, err := readLine(f)
	if err != nil {
		return nil, fmt.Errorf("passphrase file %s: %w", path, err)
	}
	return p, nil
}

// readLine reads r one byte at a time up to the first "\n" or the end of
// input, so nothing after the line is consumed, and returns the line
// without its "\n" or "\r\n". The buffer never grows, so no copy of the
// passphrase is left behind.
func readLine(r io.Reader) ([]byte, error) {
	line := make([]byte, 0, MaxLen+1) // +1 for a "\r" before the "\n"
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				if len(line) > 0 && line[len(line)-1] == '\r' {
					line[len(line)-1] = 0
					line = line[:len(line)-1]
				}
				break
			}
			if len(line) == cap(line) {
				clear(line)
				return nil, ErrTooLong
			}
			line = append(line, b[0])
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			clear(line)
			return nil, err
		}
	}
	b[0] = 0
	return checkLen(line)
}

// checkLen refuses an empty or too long passphrase, clearing it.
func checkLen(p []byte) ([]byte, error) {
	switch {
	case len(p) == 0:
		return nil, ErrEmpty
	case len(p) > MaxLen:
		clear(p)
		return nil, ErrTooLong
	}
	return p, nil
}
