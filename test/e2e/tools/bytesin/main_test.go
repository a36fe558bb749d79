package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
	"testing/iotest"
)

func TestContains(t *testing.T) {
	body := make([]byte, 3<<20)
	rand.Read(body)
	readers := map[string]func(io.Reader) io.Reader{
		"plain": func(r io.Reader) io.Reader { return r },
		"half":  iotest.HalfReader,
		"short": iotest.DataErrReader,
	}
	// At the start, across the first and second block join, at the end.
	for _, at := range []int{0, 1<<20 - 100, 2<<20 + 7, len(body) - 4096} {
		sample := bytes.Clone(body[at : at+4096])
		for name, wrap := range readers {
			if found, err := contains(wrap(bytes.NewReader(body)), sample); err != nil || !found {
				t.Errorf("%s: sample at %d: found %v, err %v", name, at, found, err)
			}
		}
	}
	sample := bytes.Clone(body[:4096])
	sample[2048] ^= 1
	if found, err := contains(bytes.NewReader(body), sample); err != nil || found {
		t.Errorf("a changed sample: found %v, err %v", found, err)
	}
	// A sample with lines in it, an empty one among them: grep -F would
	// match any file; bytesin only the one holding all of it.
	lines := []byte("a\n\nb\n")
	if found, _ := contains(bytes.NewReader([]byte("xx a\nb\n yy")), lines); found {
		t.Error("a sample of lines matched a file holding only some of them")
	}
	if found, _ := contains(bytes.NewReader([]byte("xx a\n\nb\n yy")), lines); !found {
		t.Error("a sample of lines not found where it is")
	}
}
