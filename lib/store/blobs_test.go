package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// blobMessage stores a message whose streamed body of size bytes rests in
// a blob holding content.
func blobMessage(t *testing.T, s *Store, peer []byte, content []byte, size int64, out bool) *Message {
	t.Helper()
	b, err := s.CreateBlob()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	m := message(peer, "")
	m.Body, m.Size, m.Blob = nil, size, b.Name()
	if out {
		addOut(t, s, m)
	} else {
		addIn(t, s, m)
	}
	return m
}

func blobFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, blobDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return len(entries)
}

// TestBlobSyncsAsWritten: a large blob syncs in the background as it is
// written, and what Commit or Drop leaves is whole or gone.
func TestBlobSyncsAsWritten(t *testing.T) {
	s, _, _ := newStore(t)
	content := random(3*blobSync + 12345)
	for _, commit := range []bool{true, false} {
		b, err := s.CreateBlob()
		if err != nil {
			t.Fatal(err)
		}
		synced := false
		for rest := content; len(rest) > 0; {
			n := min(len(rest), 1<<20)
			if _, err := b.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			synced = synced || b.syncing != nil
		}
		if !synced {
			t.Fatalf("no background sync began in %d bytes", len(content))
		}
		path := s.blobPath(b.Name())
		if !commit {
			b.Drop()
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a dropped blob is still there: %v", err)
			}
			continue
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("the committed blob holds %d bytes, not the %d written (%v)", len(got), len(content), err)
		}
	}
}

// TestBlobs: a streamed body rests in its blob, is read back, counts as
// received, and goes with its message; what a crash left goes at Open.
func TestBlobs(t *testing.T) {
	s, dir, kek := newStore(t)
	alice := random(32)
	content := bytes.Repeat([]byte("sealed"), 20000)
	in := blobMessage(t, s, alice, content, 100000, false)
	out := blobMessage(t, s, alice, content, 100000, true)

	got, err := s.Get(in.Seq)
	if err != nil || got.Size != 100000 || got.Body != nil {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	if h, err := s.Head(out.Seq); err != nil || h.Size != 100000 {
		t.Fatalf("Head: %+v, %v", h, err)
	}
	f, err := s.OpenBlob(in.Seq)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(data, content) {
		t.Fatal("the blob reads back otherwise")
	}
	// 100,000 bytes seal to 2 chunks of 65,552.
	if n := s.Received(alice); n < 2*65552 {
		t.Errorf("Received counts %d bytes for a blob of %d", n, 2*65552)
	}
	plain := message(alice, "inline")
	addIn(t, s, plain)
	if _, err := s.OpenBlob(plain.Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenBlob of an inline body: %v", err)
	}

	if err := s.Delete(in.Seq); err != nil {
		t.Fatal(err)
	}
	if n := blobFiles(t, dir); n != 1 {
		t.Errorf("%d blob files after deleting one of two messages with blobs", n)
	}
	// A blob no row names (a crash between writing it and storing its
	// message) goes at Open; a blob being written does not go meanwhile.
	stray, err := s.CreateBlob()
	if err != nil {
		t.Fatal(err)
	}
	stray.Write([]byte("x"))
	stray.Commit()
	s.sweepBlobs()
	if n := blobFiles(t, dir); n != 2 {
		t.Errorf("a sweep took a blob being written: %d files", n)
	}
	s.Close()
	s = open(t, dir, kek, Options{})
	if n := blobFiles(t, dir); n != 1 {
		t.Errorf("%d blob files after Open, want the one a message names", n)
	}
	if _, err := s.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	if n := blobFiles(t, dir); n != 0 {
		t.Errorf("%d blob files after DeleteAll", n)
	}
}

func TestBlobQuota(t *testing.T) {
	dir, kek := t.TempDir(), random(32)
	s := open(t, dir, kek, Options{Quota: 2 << 20})
	b, err := s.CreateBlob()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Drop()
	_, err = b.Write(make([]byte, 4<<20))
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("4 MiB blob in a 2 MiB store: %v", err)
	}
}

// TestPartial: a body being received resumes from its last Sync, even
// after a crash left more behind it.
func TestPartial(t *testing.T) {
	s, dir, kek := newStore(t)
	key := random(32)
	p, err := s.OpenPartial(key, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Chunks() != 0 || p.State() != nil {
		t.Fatalf("a new partial body holds %d chunks", p.Chunks())
	}
	if err := p.Append([]byte("aaaabbbb")); err != nil {
		t.Fatal(err)
	}
	if err := p.Append([]byte("ccc")); err == nil {
		t.Error("Append took a part of a chunk")
	}
	if err := p.Sync([]byte("state after 2")); err != nil {
		t.Fatal(err)
	}
	p.Append([]byte("dddd")) // not synced: a crash may lose it
	p.Close()
	s.Close()

	s = open(t, dir, kek, Options{})
	p, err = s.OpenPartial(key, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Chunks() != 2 || string(p.State()) != "state after 2" {
		t.Fatalf("resumed at %d chunks, state %q", p.Chunks(), p.State())
	}
	p.Append([]byte("eeee"))
	b, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	m := message(random(32), "")
	m.Body, m.Size, m.Blob = nil, 12, b.Name()
	addIn(t, s, m)
	f, err := s.OpenBlob(m.Seq)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	if string(data) != "aaaabbbbeeee" {
		t.Errorf("finished body %q", data)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, partialDir)); len(entries) != 0 {
		t.Errorf("%d files left in partial/", len(entries))
	}

	old, _ := s.OpenPartial(random(32), 4)
	old.Append([]byte("ffff"))
	old.Close()
	if n := s.SweepPartials(time.Hour); n != 0 {
		t.Errorf("swept %d fresh partial bodies", n)
	}
	if n := s.SweepPartials(0); n != 1 {
		t.Errorf("swept %d stale partial bodies, want 1", n)
	}
}
