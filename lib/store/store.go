// Package store keeps a host's messages and outbox in one directory,
// encrypted, durably, and so that a deletion can't be undone:
//
//	root.key                 the root key, wrapped by the caller's key (KEK)
//	                         (see Open and Moved for a new KEK)
//	messages.db (-wal, -shm) SQLite in WAL mode: conversations (with the peer's
//	                         record and the default expiry), messages, their
//	                         links, which of them expire, outbox
//	lock                     held while a Store has the directory open
//
// # Encryption
//
// Nothing is stored in plaintext. Each message has its own random data key,
// which encrypts (AES-256-GCM) its metadata (id, direction, status, times,
// expiry, kind, content type, file name, read mark, warnings), its body, its
// signed bytes, and, while it waits in the outbox, its envelope and retry
// schedule. The data key is wrapped by its conversation's key, each
// conversation key by the root key, and the root key, in root.key, by the
// 32-byte KEK given to Open (the host derives it from its identity). The
// peer of a conversation, the peer's signed record kept with it
// (SetPeerRecord), its default expiry (SetExpireAfter) and its messages'
// links (Links) are stored only encrypted, under keys derived from the
// conversation key; a conversation is found by an HMAC of the peer key
// under a key derived from the root key, and a message, or its link, by an
// HMAC of its direction and id under a key derived from its conversation
// key.
//
// What the files do show, to anyone: how many conversations and messages
// there are, which messages belong to the same conversation, their order, the
// sizes of their bodies, signed bytes and envelopes, which ones wait in the
// outbox, which ones have a link (text and file messages with signed bytes)
// and which were deleted leaving it (a link with no message), which ones
// expire (table expiring; not when), which conversations keep a peer's
// record and its size, which have a default expiry, and when the files were
// written.
//
// # Links
//
// A text or file message stored with signed bytes leaves a link: its
// direction, id and send time, the chain hash of its signed bytes and the
// one it carries (Link). A deletion of messages keeps their links, so that
// the conversation's chain can still be checked: it leaves the hash, not the
// content. Only DeleteConversation and DeleteAll remove links, with the
// conversation; a conversation that keeps links or a default expiry is kept
// when its last message is deleted. Import skips a message whose link is
// left: what was deleted stays deleted.
//
// # Expiry
//
// The store keeps each message's expiry (Message.Expires) in its head and
// marks in the table expiring which messages have one; at Open it decrypts
// those heads into an in-memory heap, so NextExpiry answers at once.
// DeleteExpired deletes what is due, as a deletion; the host calls it.
//
// # Received bytes
//
// Received counts, for each peer, the bytes of the messages received from
// it that the store holds (a host bounds them for senders it does not
// know). Directions are in the encrypted heads, so Open decrypts every
// message's head once to count them (about 10 µs of CPU a message: 0.1 s
// for 10,000, 10 s for a million), and a deletion decrypts the heads of
// the messages it deletes.
//
// # Deletion
//
// Delete, DeleteMessages, DeleteBefore, DeleteExpired, DeleteConversation
// and DeleteAll crypto-shred. In one transaction they remove the rows (with
// a few statements however many: a set, not a row at a time), give each
// conversation that lost a message a new key (re-wrapping its remaining
// data keys and re-encrypting its links, record and default expiry; no body
// is re-encrypted), and rotate the root key: a new root key wraps every
// conversation key and recomputes every conversation's HMAC. The new root
// key is written to root.key, replacing the old one (write, fsync, rename,
// fsync the directory). Old ciphertext of a deleted message may stay behind
// in SQLite's free pages and WAL, but the only key that opened it was
// wrapped by a conversation key that was wrapped by a root key that no
// longer exists. Subscribers get a Change with Deleted for every message
// deleted. Recoverable checks it from a copy of the directory.
//
// A deletion takes time in proportion to the messages of the conversations
// it re-keys (about 0.3 s for a conversation of 10,000 and their links) and
// to the number of conversations, and other writes wait for it; deletions
// waiting together share one rotation. Deleting a whole conversation
// re-keys no other (about 0.15 s for 10,000 messages).
//
// What that promises: once a deletion returns nil, nothing the directory
// holds afterwards opens the deleted messages, even together with the KEK,
// and that includes any copy of messages.db, old or new. What it does not
// promise:
//
//   - A copy of root.key taken before the deletion (a backup or snapshot of
//     the whole directory, say) still opens the deleted message with the
//     KEK: it holds the old root key.
//   - The old root.key's blocks may survive on the storage device (file
//     systems and SSDs don't overwrite in place); someone who reads the raw
//     device and has the KEK may find them: the store replaces the file but
//     can't erase flash.
//   - Keys in the running process's memory: key slices are cleared when no
//     longer needed, but Go keeps AES key schedules and may have copied
//     values until the memory is reused.
//   - That a message existed (a gap in the sequence numbers), or copies
//     outside the store: devices that received it, exports, the peer.
//   - Its link, unless its whole conversation was deleted: with the KEK,
//     its direction, id, send time and chain hashes can still be read.
//   - A deleted incoming message is not remembered by AddIncoming: if the
//     peer's host delivers it again, it is stored again (Import, though,
//     skips it).
//
// # Durability
//
// AddOutgoing, AddIncoming, Import, SetStatus, MarkRead, AddWarning,
// SetExpireAfter and the outbox and delete methods return once their change
// is committed and fsync'd (SQLite synchronous=FULL in WAL mode). One
// writer goroutine commits them: it takes every request waiting, applies
// them in one transaction and commits once (group commit), so many
// concurrent callers share one fsync. A request that fails on its
// own (a duplicate, a missing message) does not fail the others; if the
// transaction itself fails (a full disk, say), each request is retried in a
// transaction of its own, so only the ones that don't fit fail.
//
// # Concurrency
//
// A Store is safe for concurrent use. One Store at a time has a directory:
// Open fails while another process or Store has it open.
package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"smvs/lib/delivery"
	"smvs/lib/wire"
)

// The files in a store's directory.
const (
	rootName = "root.key"
	dbName   = "messages.db"
	lockName = "lock"
)

var (
	// ErrNotFound means there is no such message, conversation or outbox
	// entry.
	ErrNotFound = errors.New("store: not found")
	// ErrWrongKey means the key encryption key does not open root.key.
	ErrWrongKey = errors.New("store: wrong key: the key does not open this store")
	// ErrQuota means the store is at its quota or the disk is full; nothing
	// already stored changed.
	ErrQuota = errors.New("store: quota or disk full")
	// ErrClosed means the Store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrInUse means another Store, in this process or another, has the
	// directory open.
	ErrInUse = errors.New("store: in use by another process")

	errCorrupt = errors.New("store: corrupt")
)

// Options tune a Store.
type Options struct {
	// Quota bounds messages.db in bytes (SQLite's max_page_count); 0 is no
	// limit. Space freed by deletions is reused. The WAL and root.key are
	// not counted.
	Quota int64
	// Now is the clock for Message.Stored and new outbox entries; time.Now
	// if nil.
	Now func() time.Time
}

// Message is a stored message.
type Message struct {
	Seq         uint64 // assigned on add: increasing, never reused; device cursors are these
	ID          []byte // 16-byte message id
	Peer        []byte // 32-byte identity key of the other party
	Direction   delivery.Direction
	Status      delivery.Status
	Sent        int64 // Unix ms, as the sender said
	Stored      int64 // Unix ms, set by the store
	Kind        wire.Kind
	ContentType string
	FileName    string
	Body        []byte
	Expires     int64              // Unix ms, 0 never; the store knows the next (NextExpiry), the host deletes what expires (DeleteExpired)
	Signed      []byte             // the signed message as sent or received
	Read        bool               // a received message the user marked read (MarkRead)
	Warnings    []delivery.Warning // what the message revealed about its conversation's chain (AddWarning)
	// Size is the size of a streamed body (PROTOCOL.md 23), which rests in
	// the blob named Blob (a BlobFile's Name) instead of Body; 0 for an
	// inline body.
	Size int64
	Blob []byte
}

// Outgoing is an outbox entry: an envelope waiting to be delivered.
type Outgoing struct {
	Seq      uint64 // the message's
	Peer     []byte
	ID       []byte
	Kind     wire.Kind // the message's
	Envelope []byte
	Size     int64 // a streamed body's size: its blob goes beside the envelope (OpenBlob)
	Attempts int
	Next     time.Time // when to try again
	Until    time.Time // give up after this
	Stored   time.Time // when it was queued
}

// Change is a new message (Status false) or a change of message Seq's
// status or read state (Status true; Read too when it was marked read).
type Change struct {
	Seq     uint64
	Status  bool
	Read    bool
	Deleted bool // message Seq was deleted
}

// Store is an open store directory.
type Store struct {
	dir     string
	kek     []byte
	now     func() time.Time
	release func() // the directory's lock

	write *sql.DB
	wconn *sql.Conn // the one write connection, used only by the writer goroutine
	read  *sql.DB   // query-only connections
	wstmt *stmts    // the statements run on wconn
	rstmt *stmts    // the statements run on read

	quotaPages int64 // max_page_count for Options.Quota; 0 none
	quota      int64 // Options.Quota: messages.db and the blobs together
	blobs      blobs
	blobUsed   atomic.Int64 // bytes of blobs and partial bodies

	reqs      chan *request
	quit      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the writer goroutine has returned
	closeOnce sync.Once
	closeErr  error

	// Owned by the writer goroutine.
	nextSeq     uint64
	nextConv    int64
	held        *request      // taken from reqs but left for the next batch
	holds       holds         // Hold: the writer waits before it commits
	commits     atomic.Uint64 // transactions the writer began
	expireAfter expireCache   // the conversations' default expiries
	rootStale   bool          // root.key holds a root key besides the current one

	moved bool // root.key was re-wrapped under the first KEK (Moved)

	// mu guards what readers use. The writer changes these only under mu
	// and reads them without it.
	mu     sync.RWMutex
	closed bool
	root   *root
	convs  map[int64]*conversation
	byPeer map[string]*conversation
	// received is what Received counts, by conversation id; receivedTotal
	// their sum. The writer changes them after each commit (applyReceived).
	received      map[int64]int64
	receivedTotal int64

	subMu sync.Mutex
	subs  map[*subscriber]struct{} // nil once closed

	expiry *expiries // updated by the writer after each commit
}

// busyTimeout is how long SQLite waits for a lock held by another
// connection (checkpoints) before failing.
const busyTimeout = 5000 // milliseconds

// Open opens the store in dir, creating dir (mode 0700) and a new store if
// there is none. keks are the 32-byte key encryption keys: the first is
// the current one, the others those it replaced (a host's identity's,
// then its retired identities'), tried in order against root.key. When
// one but the first opens it, Open re-wraps root.key under the first
// before it returns (see Moved); a crash on the way leaves root.key
// wrapped by the one or the other. The store keeps a copy of the first
// until Close. When none opens an existing store's root.key, Open returns
// ErrWrongKey and nothing in dir is changed.
func Open(dir string, keks [][]byte, opts Options) (*Store, error) {
	if len(keks) == 0 {
		return nil, errors.New("store: no key encryption key")
	}
	for _, kek := range keks {
		if len(kek) != keySize {
			return nil, fmt.Errorf("store: a key encryption key is %d bytes, want %d", len(kek), keySize)
		}
	}
	if opts.Quota < 0 {
		return nil, fmt.Errorf("store: negative quota %d", opts.Quota)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// A wrong key changes nothing, not even the lock file; root.key is read
	// again under the lock.
	keys, _, _, err := readRootFileAny(filepath.Join(abs, rootName), keks)
	if errors.Is(err, ErrWrongKey) {
		return nil, err
	}
	for _, k := range keys {
		clear(k)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	release, err := lockDir(abs)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", abs, err)
	}
	s := &Store{
		dir:     abs,
		kek:     bytes.Clone(keks[0]),
		now:     opts.Now,
		release: release,
		reqs:    make(chan *request, 1024),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
		subs:    make(map[*subscriber]struct{}),
		quota:   opts.Quota,
		blobs:   blobs{pending: make(map[string]bool)},
		expiry:  newExpiries(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.open(opts.Quota, keks); err != nil {
		close(s.stopped)
		s.shutdown()
		if errors.Is(err, ErrWrongKey) {
			return nil, err
		}
		return nil, fmt.Errorf("store: %s: %w", abs, err)
	}
	go s.run()
	return s, nil
}

// open reads root.key, opens the database and loads the conversation keys.
// A root.key that one of keks but the first opened is re-wrapped under the
// first (s.kek).
func (s *Store) open(quota int64, keks [][]byte) error {
	// The KEKs are checked before the database is touched.
	keys, which, moved, err := readRootFileAny(filepath.Join(s.dir, rootName), keks)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.moved = moved || which > 0
	rewrap := which > 0
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	os.Remove(filepath.Join(s.dir, rootName+".new")) // a crash's leftover

	if err := s.openDB(quota); err != nil {
		return err
	}
	ctx := context.Background()
	var gen uint64
	var verifier []byte
	err = s.wstmt.queryRow(ctx, `SELECT gen, verifier FROM root`).Scan(&gen, &verifier)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// A new store, or one whose first Open stopped after writing root.key.
		switch len(keys) {
		case 0:
			gen, keys = 1, map[uint64][]byte{1: newKey()}
			if err := s.writeRootFile(&root{gen: 1, key: keys[1]}); err != nil {
				return err
			}
		case 1:
			for gen = range keys {
			}
		default:
			return fmt.Errorf("%w: root.key is mid-rotation but the database is new", errCorrupt)
		}
		s.root = newRoot(gen, bytes.Clone(keys[gen]))
		if _, err := s.wstmt.exec(ctx, `INSERT INTO root (id, gen, verifier) VALUES (1, ?, ?)`, gen, s.root.verifier); err != nil {
			return err
		}
	case err != nil:
		return err
	case len(keys) == 0:
		return fmt.Errorf("%w: %s is missing", errCorrupt, rootName)
	default:
		key, ok := keys[gen]
		if !ok {
			return fmt.Errorf("%w: %s does not belong to this database (generation %d)", errCorrupt, rootName, gen)
		}
		s.root = newRoot(gen, bytes.Clone(key))
		if !bytes.Equal(s.root.verifier, verifier) {
			return fmt.Errorf("%w: %s does not belong to this database", errCorrupt, rootName)
		}
		// With two keys a rotation was interrupted: finish it, or forget
		// the root key whose transaction never committed.
		rewrap = rewrap || len(keys) > 1
	}
	if rewrap {
		if err := s.writeRoot(s.moved, s.root); err != nil {
			return err
		}
	}
	if err := s.loadConversations(ctx); err != nil {
		return err
	}
	var last int64
	err = s.wstmt.queryRow(ctx, `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
		coalesce((SELECT max(seq) FROM messages), 0))`).Scan(&last)
	if err != nil {
		return err
	}
	s.nextSeq = uint64(last) + 1
	if err := s.wstmt.queryRow(ctx, `SELECT coalesce(max(id), 0) + 1 FROM conversations`).Scan(&s.nextConv); err != nil {
		return err
	}
	if err := s.backfill(ctx); err != nil {
		return err
	}
	if err := s.loadReceived(ctx); err != nil {
		return err
	}
	s.blobUsed.Store(s.blobBytes())
	s.sweepBlobs() // what a crash left
	return s.loadExpiries()
}

// openDB opens messages.db: one write connection and a pool of readers.
func (s *Store) openDB(quota int64) error {
	path := filepath.Join(s.dir, dbName)
	// SQLite would create the file with the umask's mode; its -wal and -shm
	// files take the mode of the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	s.write, err = sql.Open("sqlite", dsn(path, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeout)},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_foreign_keys": {"1"},
		"_pragma": {
			"secure_delete(1)",             // zero what is deleted, where SQLite can; not relied on
			"journal_size_limit(16777216)", // don't keep a WAL grown by a large write
		},
	}))
	if err != nil {
		return err
	}
	s.write.SetMaxOpenConns(1)
	ctx := context.Background()
	if s.wconn, err = s.write.Conn(ctx); err != nil {
		return err
	}
	s.wstmt = &stmts{conn: s.wconn}
	var mode string
	if err := s.wstmt.queryRow(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not WAL (is the file system local?)", mode)
	}
	if err := migrate(ctx, s.wconn); err != nil {
		return err
	}
	if quota > 0 {
		var pageSize int64
		if err := s.wstmt.queryRow(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
			return err
		}
		s.quotaPages = max(1, quota/pageSize)
		if err := s.setMaxPages(ctx, s.quotaPages); err != nil {
			return err
		}
	}
	// The new files' entries, and the directory's own, are durable.
	if err := errors.Join(syncDir(s.dir), syncDir(filepath.Dir(s.dir))); err != nil {
		return err
	}
	s.read, err = sql.Open("sqlite", dsn(path, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeout)},
		"_query_only":   {"1"},
	}))
	if err != nil {
		return err
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.read.SetMaxOpenConns(readers)
	s.read.SetMaxIdleConns(readers)
	s.rstmt = &stmts{conn: s.read}
	return nil
}

// setMaxPages bounds the database file to pages pages (SQLite keeps it at
// least as large as the file already is). A pragma takes no parameters,
// so its text carries the value and is not kept prepared (stmts).
func (s *Store) setMaxPages(ctx context.Context, pages int64) error {
	_, err := s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages))
	return err
}

// dsn is the driver's name for the file at the absolute path abs with the
// driver's parameters; the file: form keeps any '?' or '#' in the path.
func dsn(abs string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), OmitHost: true, RawQuery: params.Encode()}
	return u.String()
}

// loadConversations opens every conversation key under the root key.
func (s *Store) loadConversations(ctx context.Context) error {
	s.convs = make(map[int64]*conversation)
	s.byPeer = make(map[string]*conversation)
	rows, err := s.wstmt.query(ctx, `SELECT id, tag, key, peer FROM conversations`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var tag, key, peer []byte
		if err := rows.Scan(&id, &tag, &key, &peer); err != nil {
			return err
		}
		c, err := openConversation(s.root, id, tag, key, peer)
		if err != nil {
			return err
		}
		s.convs[id] = c
		s.byPeer[string(c.peer)] = c
	}
	return rows.Err()
}

// readRootFile reads root.key and unwraps its keys, by generation.
func readRootFile(path string, kek []byte) (map[uint64][]byte, error) {
	keys, _, err := readRoot(path, kek)
	return keys, err
}

// readRoot is readRootFile, and also says whether root.key is marked moved.
func readRoot(path string, kek []byte) (map[uint64][]byte, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	var f rootFile
	if err := wire.Unmarshal(rootName, data, &f); err != nil {
		return nil, false, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	keys := make(map[uint64][]byte, len(f.Keys))
	for _, w := range f.Keys {
		k, err := unwrapRoot(kek, w.Gen, w.Key)
		if err != nil {
			for _, k := range keys {
				clear(k)
			}
			return nil, false, err
		}
		keys[w.Gen] = k
	}
	return keys, f.Moved, nil
}

// writeRootFile replaces root.key with the given root keys wrapped by the
// KEK: write a new file, fsync it, rename it over root.key, fsync the
// directory. A crash leaves the old file or the new one.
func (s *Store) writeRootFile(roots ...*root) error {
	return s.writeRoot(false, roots...)
}

// writeRoot is writeRootFile, marking root.key moved if moved.
func (s *Store) writeRoot(moved bool, roots ...*root) error {
	f := rootFile{V: wire.Version, Moved: moved}
	for _, r := range roots {
		f.Keys = append(f.Keys, wrappedKey{Gen: r.gen, Key: wrapRoot(s.kek, r.gen, r.key)})
	}
	path := filepath.Join(s.dir, rootName)
	tmp := path + ".new" // the directory is locked, so the name is ours
	if err := writeSynced(tmp, wire.Marshal(&f)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", rootName, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", rootName, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("writing %s: %w", rootName, err)
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Close stops the writer (requests it has not taken fail with ErrClosed),
// closes the database, clears the keys and closes every subscriber's
// channel.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.stopped
		s.closeErr = s.shutdown()
	})
	return s.closeErr
}

// shutdown releases everything Open acquired.
func (s *Store) shutdown() error {
	s.mu.Lock()
	s.closed = true
	if s.root != nil {
		s.root.wipe()
	}
	for _, c := range s.convs {
		c.wipe()
	}
	s.convs, s.byPeer = nil, nil
	clear(s.kek)
	s.mu.Unlock()

	s.subMu.Lock()
	for sub := range s.subs {
		close(sub.ch)
	}
	s.subs = nil
	s.subMu.Unlock()

	var errs []error
	for _, c := range []*stmts{s.wstmt, s.rstmt} {
		if c != nil {
			c.close()
		}
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	for _, db := range []*sql.DB{s.read, s.write} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	s.release()
	return errors.Join(errs...)
}

// storageError is a failure of the database or the files, as opposed to a
// refused request: it aborts the writer's transaction.
type storageError struct {
	doing string
	err   error
}

func (e *storageError) Error() string { return fmt.Sprintf("store: %s: %v", e.doing, e.err) }

func (e *storageError) Unwrap() []error {
	if full(e.err) {
		return []error{ErrQuota, e.err}
	}
	return []error{e.err}
}

// full reports whether err says the database or the disk is full.
func full(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func fail(doing string, err error) error { return &storageError{doing, err} }

// readerState takes the read lock and reports ErrClosed once closed; the
// caller unlocks.
func (s *Store) readerState() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// checkSeq converts a sequence number for SQLite, whose integers are
// signed; none above 2^63-1 exists.
func checkSeq(seq uint64) (int64, error) {
	if seq == 0 || seq > math.MaxInt64 {
		return 0, fmt.Errorf("%w: message %d", ErrNotFound, seq)
	}
	return int64(seq), nil
}
