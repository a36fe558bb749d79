package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// TestSendStreamed checks that a body over 1 MiB is streamed to the host,
// from standard input and from --file, and that one of exactly 1 MiB is
// not.
func TestSendStreamed(t *testing.T) {
	h := newHost(t)
	h.DeliverAfter(20 * time.Millisecond)

	text := strings.Repeat("a line of text é\n", 200000) // 3.4 MB, ends in a newline
	ok(t, text, "--wait", "bob")
	s := h.Submitted()[0]
	if !s.Submit.Stream || s.Submit.Kind != wire.KindText || string(s.Submit.Body) != strings.TrimSuffix(text, "\n") {
		t.Errorf("streamed text: stream %v, kind %v, %d bytes", s.Submit.Stream, s.Submit.Kind, len(s.Submit.Body))
	}

	exact := strings.Repeat("x", hostapi.StreamThreshold)
	ok(t, exact, "bob")
	if s := last(t, h); s.Stream || len(s.Body) != hostapi.StreamThreshold {
		t.Errorf("a body of exactly the threshold: stream %v, %d bytes", s.Stream, len(s.Body))
	}

	bin := bytes.Repeat([]byte{0, 0xff, 1}, 1<<20)
	path := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(path, bin, 0o600); err != nil {
		t.Fatal(err)
	}
	ok(t, "", "--file", path, "bob")
	if s := last(t, h); !s.Stream || s.Kind != wire.KindFile || s.FileName != "data.bin" || !bytes.Equal(s.Body, bin) {
		t.Errorf("streamed file: stream %v, kind %v, name %q, %d bytes", s.Stream, s.Kind, s.FileName, len(s.Body))
	}
	r := runSend(t, bytes.NewReader(bin), "bob")
	if s := last(t, h); r.code != 0 || !s.Stream || s.ContentType != octetStream || !bytes.Equal(s.Body, bin) {
		t.Errorf("streamed binary input: status %d, stream %v, type %q", r.code, s.Stream, s.ContentType)
	}
}

// TestSendStreamedFails checks that standard input failing while it
// streams stores nothing, and says so.
func TestSendStreamedFails(t *testing.T) {
	h := newHost(t)
	broken := io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), iotest.ErrReader(errors.New("input/output error")))
	r := runSend(t, broken, "bob")
	if r.code != 1 || !strings.Contains(r.stderr, "error: reading standard input: input/output error") || strings.Contains(r.stderr, "may have stored") {
		t.Errorf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	if n := len(h.Submitted()); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

// TestSendProgress checks the progress line of a streamed body on a
// terminal, and that it is cleared at the end.
func TestSendProgress(t *testing.T) {
	newHost(t)
	defer func(f func(io.Writer) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(io.Writer) bool { return true }
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, make([]byte, 5<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runSend(t, nil, "--file", path, "bob")
	if r.code != 0 {
		t.Fatalf("status %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"\rsmvs-send: [", "of 5.0 MiB", "\r\x1b[K"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress lacks %q: %q", want, r.stderr)
		}
	}
	if !strings.HasSuffix(r.stderr, "\r\x1b[K") {
		t.Errorf("progress not cleared at the end: %q", r.stderr)
	}
}

func TestTrimReader(t *testing.T) {
	for in, want := range map[string]string{
		"abc\n": "abc", "abc\r\n": "abc", "abc\n\n": "abc\n", "abc": "abc", "\n": "", "a\nb": "a\nb", "abc\r": "abc",
	} {
		got, err := io.ReadAll(&trimReader{r: iotest.OneByteReader(strings.NewReader(in))})
		if err != nil || string(got) != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}
