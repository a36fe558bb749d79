//go:build unix

package passphrase

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// pipeWith returns the number of a file descriptor that reads content from
// a pipe. The descriptor is a duplicate the test hands over to ReadFD,
// which closes it, so no *os.File is left to close the number again.
func pipeWith(t *testing.T, content string) int {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(content); err != nil {
		t.Fatal(err)
	}
	w.Close()
	fd, err := syscall.Dup(int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	return fd
}

func TestReadFD(t *testing.T) {
	fd := pipeWith(t, "secret\nleft for later\n")
	got, err := FD(fd).Read("unused prompt:")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "secret" {
		t.Errorf("got %q, want %q", got, "secret")
	}
}

func TestReadFDEmpty(t *testing.T) {
	fd := pipeWith(t, "\n")
	if _, err := ReadFD(fd); !errors.Is(err, ErrEmpty) {
		t.Errorf("ReadFD of an empty line: %v, want ErrEmpty", err)
	}
}

func TestReadFDCloses(t *testing.T) {
	fd := pipeWith(t, "secret\n")
	if _, err := ReadFD(fd); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != syscall.EBADF {
		t.Errorf("after ReadFD, fstat of the descriptor = %v, want EBADF", err)
	}
}

func TestReadFDBad(t *testing.T) {
	fd := pipeWith(t, "")
	syscall.Close(fd)
	_, err := ReadFD(fd)
	if err == nil || !strings.Contains(err.Error(), "file descriptor") {
		t.Errorf("ReadFD of a closed descriptor = %v, want an error naming it", err)
	}
}

func TestReadFDNegative(t *testing.T) {
	if _, err := ReadFD(-1); err == nil {
		t.Error("ReadFD(-1) succeeded")
	}
}
