package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Blobs are the bodies sealed in chunks (lib/blob, PROTOCOL.md 23): each
// rests in its own file, blobs/NAME, NAME the hex of 16 random bytes that
// the message's row keeps (column blob). The store neither reads nor
// decrypts them; the key that opens one is in its message's signed bytes,
// which the row keeps encrypted, so deleting the message shreds its blob
// like any body, and the file goes after the deletion commits (sweepBlobs).
//
// Bodies being received rest in partial/ until they are whole (Partial), so
// that a transfer cut by a dropped connection or a restart resumes where
// it stopped.
const (
	blobDir    = "blobs"
	partialDir = "partial"
	// BlobNameSize is the size of a blob's name (Message.Blob).
	BlobNameSize = 16
)

// blobs tracks the blob files of a store: those being written, which a
// sweep leaves alone until their message is stored or they are dropped.
type blobs struct {
	mu      sync.Mutex
	pending map[string]bool // names of blobs written but not yet in a row
	sweep   sync.Mutex      // one sweep at a time
}

func (s *Store) blobPath(name []byte) string {
	return filepath.Join(s.dir, blobDir, hex.EncodeToString(name))
}

// blobSync is how often, in bytes written, a blob being written is synced
// in the background, one sync at a time: so that Commit, at its end, has
// at most this much (and the sync in flight) left to wait for, rather than
// the whole body.
const blobSync = 8 << 20

// BlobFile is a blob being written. It is the caller's to finish:
// Commit makes it durable, ready for the Message that names it; Drop
// removes it.
type BlobFile struct {
	s        *Store
	f        *os.File
	name     []byte
	unsynced int64         // bytes written since the last background sync began
	syncing  chan struct{} // closed when the background sync in flight ends; nil if none
	syncErr  error         // the first background sync's error, read once syncing is closed
}

// CreateBlob makes a new, empty blob file.
func (s *Store) CreateBlob() (*BlobFile, error) {
	if err := os.MkdirAll(filepath.Join(s.dir, blobDir), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	name := make([]byte, BlobNameSize)
	rand.Read(name)
	s.blobs.mu.Lock()
	s.blobs.pending[string(name)] = true
	s.blobs.mu.Unlock()
	f, err := os.OpenFile(s.blobPath(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		s.blobs.release(name)
		return nil, fmt.Errorf("store: %w", err)
	}
	return &BlobFile{s: s, f: f, name: name}, nil
}

// Name is the blob's name, for Message.Blob.
func (b *BlobFile) Name() []byte { return b.name }

// Write appends to the blob, within the store's quota.
func (b *BlobFile) Write(p []byte) (int, error) {
	if err := b.s.blobRoom(int64(len(p))); err != nil {
		return 0, err
	}
	n, err := b.f.Write(p)
	b.unsynced += int64(n)
	if b.unsynced >= blobSync && b.syncDone() {
		b.unsynced = 0
		done := make(chan struct{})
		b.syncing = done
		go func() {
			defer close(done)
			// Sticky: after a failed fsync, Linux may report the next one
			// a success though the pages it dropped are lost.
			if err := b.f.Sync(); err != nil {
				b.syncErr = err
			}
		}()
	}
	return n, err
}

// syncDone reports whether no background sync is in flight.
func (b *BlobFile) syncDone() bool {
	if b.syncing == nil {
		return true
	}
	select {
	case <-b.syncing:
		return true
	default:
		return false
	}
}

// wait waits for the background sync in flight, if any, and returns the
// first error of any.
func (b *BlobFile) wait() error {
	if b.syncing != nil {
		<-b.syncing
	}
	return b.syncErr
}

// Commit syncs the blob and closes it. The blob stays until the message
// naming it is stored and, after that, deleted; Drop it if the message is
// not stored.
func (b *BlobFile) Commit() error {
	err := b.wait()
	if err == nil {
		err = b.f.Sync()
	}
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Join(b.s.dir, blobDir))
	}
	if err != nil {
		return fmt.Errorf("store: writing a blob: %w", err)
	}
	return nil
}

// Reader opens the blob for reading, while it is written too.
func (b *BlobFile) Reader() (*os.File, error) {
	return os.Open(b.s.blobPath(b.name))
}

// Drop removes the blob: its message was not stored.
func (b *BlobFile) Drop() {
	b.wait()
	b.f.Close()
	os.Remove(b.s.blobPath(b.name))
	b.s.blobs.release(b.name)
}

func (bs *blobs) release(name []byte) {
	bs.mu.Lock()
	delete(bs.pending, string(name))
	bs.mu.Unlock()
}

// OpenBlob opens the blob of message seq for reading. ErrNotFound if
// there is no such message or it has no blob.
func (s *Store) OpenBlob(seq uint64) (*os.File, error) {
	n, err := checkSeq(seq)
	if err != nil {
		return nil, err
	}
	if err := s.readerState(); err != nil {
		return nil, err
	}
	var name []byte
	err = s.rstmt.queryRow(context.Background(), `SELECT blob FROM messages WHERE seq = ?`, n).Scan(&name)
	s.mu.RUnlock()
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && name == nil:
		return nil, fmt.Errorf("%w: message %d has no blob", ErrNotFound, seq)
	case err != nil:
		return nil, fmt.Errorf("store: reading message %d: %w", seq, err)
	}
	f, err := os.Open(s.blobPath(name))
	if err != nil {
		return nil, fmt.Errorf("store: the blob of message %d: %w", seq, err)
	}
	return f, nil
}

// blobBytes returns the bytes the blobs and partial bodies take.
func (s *Store) blobBytes() int64 {
	var n int64
	for _, d := range []string{blobDir, partialDir} {
		entries, _ := os.ReadDir(filepath.Join(s.dir, d))
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
	}
	return n
}

// blobRoom reports ErrQuota if n more bytes of blobs would take the store
// over its quota: messages.db and the blobs together.
func (s *Store) blobRoom(n int64) error {
	if s.quota == 0 {
		return nil
	}
	used := s.blobUsed.Add(n)
	if used+s.dbBytes() > s.quota {
		s.blobUsed.Add(-n)
		return ErrQuota
	}
	return nil
}

// dbBytes is messages.db's size.
func (s *Store) dbBytes() int64 {
	info, err := os.Stat(filepath.Join(s.dir, dbName))
	if err != nil {
		return 0
	}
	return info.Size()
}

// sweepBlobs removes the blob files no message names and no writer is
// writing: those of messages just deleted, and what a crash left. Errors
// are left for the next sweep.
func (s *Store) sweepBlobs() {
	s.blobs.sweep.Lock()
	defer s.blobs.sweep.Unlock()
	entries, err := os.ReadDir(filepath.Join(s.dir, blobDir))
	if err != nil || len(entries) == 0 {
		return
	}
	named := make(map[string]bool)
	rows, err := s.rstmt.query(context.Background(), `SELECT blob FROM messages WHERE blob IS NOT NULL`)
	if err != nil {
		return
	}
	for rows.Next() {
		var name []byte
		if rows.Scan(&name) == nil {
			named[hex.EncodeToString(name)] = true
		}
	}
	if rows.Close() != nil || rows.Err() != nil {
		return
	}
	s.blobs.mu.Lock()
	for n := range s.blobs.pending {
		named[hex.EncodeToString([]byte(n))] = true
	}
	s.blobs.mu.Unlock()
	var freed int64
	for _, e := range entries {
		if named[e.Name()] {
			continue
		}
		info, _ := e.Info()
		if os.Remove(filepath.Join(s.dir, blobDir, e.Name())) == nil && info != nil {
			freed += info.Size()
		}
	}
	s.blobUsed.Add(-freed)
}

// Partial is a streamed body being received: the sealed chunks that came,
// kept across attempts and restarts. What Sync made durable survives a
// crash; Chunks and State say how far that is. A Partial is used by one
// goroutine; the caller keeps two transfers of one body from sharing it.
type Partial struct {
	s      *Store
	path   string
	f      *os.File
	chunks int64
	size   int64 // bytes of a chunk
	state  []byte
}

// OpenPartial opens the partial body named key (the caller derives it from
// the sender, the message and the body, so that only the same body
// resumes), or starts one, for chunks of chunkSize bytes. What a crash
// left beyond the last Sync is cut off.
func (s *Store) OpenPartial(key []byte, chunkSize int64) (*Partial, error) {
	dir := filepath.Join(s.dir, partialDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	p := &Partial{s: s, path: filepath.Join(dir, hex.EncodeToString(key)), size: chunkSize}
	if st, err := os.ReadFile(p.path + ".state"); err == nil && len(st) >= 8 {
		p.chunks = int64(binary.BigEndian.Uint64(st))
		p.state = st[8:]
	}
	f, err := os.OpenFile(p.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	info, err := f.Stat()
	if err == nil && info.Size() < p.chunks*chunkSize {
		p.chunks, p.state = 0, nil // the state is ahead of the data: start again
	}
	if err == nil {
		err = f.Truncate(p.chunks * chunkSize)
	}
	if err == nil {
		_, err = f.Seek(p.chunks*chunkSize, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if info.Size() > p.chunks*chunkSize {
		s.blobUsed.Add(p.chunks*chunkSize - info.Size())
	}
	p.f = f
	os.Chtimes(p.path, time.Now(), time.Now())
	return p, nil
}

// Chunks is how many chunks the partial body holds.
func (p *Partial) Chunks() int64 { return p.chunks }

// State is the state the last Sync before OpenPartial kept (a hash's
// state, say); nil for a new partial body.
func (p *Partial) State() []byte { return p.state }

// Append adds whole chunks, within the store's quota.
func (p *Partial) Append(chunks []byte) error {
	if int64(len(chunks))%p.size != 0 {
		return fmt.Errorf("store: %d bytes are not whole chunks of %d", len(chunks), p.size)
	}
	if err := p.s.blobRoom(int64(len(chunks))); err != nil {
		return err
	}
	if _, err := p.f.Write(chunks); err != nil {
		return fmt.Errorf("store: writing a partial body: %w", err)
	}
	p.chunks += int64(len(chunks)) / p.size
	return nil
}

// Sync makes the chunks appended so far durable, and state with them:
// after a crash OpenPartial resumes from here.
func (p *Partial) Sync(state []byte) error {
	return p.SyncTo(p.chunks, state)
}

// SyncTo is Sync for the first chunks chunks, with state theirs: it may
// run while the goroutine that appends goes on appending (and so may not
// call Sync), so that the writer need not wait for the disk.
func (p *Partial) SyncTo(chunks int64, state []byte) error {
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("store: syncing a partial body: %w", err)
	}
	st := binary.BigEndian.AppendUint64(nil, uint64(chunks))
	st = append(st, state...)
	if err := os.WriteFile(p.path+".state.new", st, 0o600); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := os.Rename(p.path+".state.new", p.path+".state"); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Close closes the partial body, keeping it for a later attempt.
func (p *Partial) Close() error { return p.f.Close() }

// Finish syncs the whole body and makes it a blob, for the Message that
// names it; the partial body is gone.
func (p *Partial) Finish() (*BlobFile, error) {
	if err := p.f.Sync(); err != nil {
		p.f.Close()
		return nil, fmt.Errorf("store: syncing a body: %w", err)
	}
	p.f.Close()
	if err := os.MkdirAll(filepath.Join(p.s.dir, blobDir), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	name := make([]byte, BlobNameSize)
	rand.Read(name)
	p.s.blobs.mu.Lock()
	p.s.blobs.pending[string(name)] = true
	p.s.blobs.mu.Unlock()
	if err := os.Rename(p.path, p.s.blobPath(name)); err != nil {
		p.s.blobs.release(name)
		return nil, fmt.Errorf("store: %w", err)
	}
	os.Remove(p.path + ".state")
	if err := syncDir(filepath.Join(p.s.dir, blobDir)); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f, err := os.Open(p.s.blobPath(name))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &BlobFile{s: p.s, f: f, name: name}, nil
}

// Drop removes the partial body: it will not be resumed.
func (p *Partial) Drop() {
	p.f.Close()
	info, err := os.Stat(p.path)
	os.Remove(p.path)
	os.Remove(p.path + ".state")
	if err == nil {
		p.s.blobUsed.Add(-info.Size())
	}
}

// SweepPartials removes the partial bodies nothing was added to for
// longer than age, and returns how many.
func (s *Store) SweepPartials(age time.Duration) int {
	dir := filepath.Join(s.dir, partialDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < age || filepath.Ext(e.Name()) != "" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if os.Remove(path) == nil {
			s.blobUsed.Add(-info.Size())
			n++
		}
		os.Remove(path + ".state")
	}
	return n
}
