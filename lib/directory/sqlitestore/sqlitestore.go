// Package sqlitestore keeps the directory in one SQLite file: the default
// store, embedded in smvs-dird, with no server to run.
//
// Update runs an immediate transaction on the one write connection, so
// updates are serializable, also between processes sharing the file, and a
// commit is on disk (synchronous=FULL) before Update returns. Look-ups run
// in parallel on a pool of query-only connections and, in WAL mode, never
// wait for a writer.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"smvs/lib/directory"
)

// BusyTimeout is how long a write waits for another process's write to
// finish before Update gives up with directory.ErrConflict.
const BusyTimeout = 5000 // milliseconds

// migrations are the schema's steps in order; PRAGMA user_version counts
// those a database has had. Append new steps; never change one.
//
// entries is a rowid table, not WITHOUT ROWID: a row of about 1.5 KiB
// would spill onto overflow pages of a WITHOUT ROWID table's b-tree.
var migrations = []string{
	`CREATE TABLE entries (
		identity BLOB PRIMARY KEY CHECK (length(identity) = 32),
		name     TEXT UNIQUE,
		seq      INTEGER NOT NULL CHECK (seq >= 0),
		expires  INTEGER NOT NULL,
		record   BLOB
	) STRICT`,
}

const (
	columns   = `identity, coalesce(name, ''), seq, expires, record`
	selByName = `SELECT ` + columns + ` FROM entries WHERE name = ?`
	selByKey  = `SELECT ` + columns + ` FROM entries WHERE identity = ?`
	upsert    = `INSERT INTO entries (identity, name, seq, expires, record) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (identity) DO UPDATE SET
			name = excluded.name, seq = excluded.seq, expires = excluded.expires, record = excluded.record`
)

// Store is a directory.Store in a SQLite file. It is safe for concurrent
// use, also by several processes sharing the file.
type Store struct {
	path  string
	write *sql.DB // one connection; its transactions begin immediate
	read  *sql.DB // query-only connections
	// Prepared once per connection by database/sql.
	readByName, readByKey, writeByName, writeByKey, put *sql.Stmt
}

var _ directory.Store = (*Store)(nil)

// Open opens the store in the SQLite file at path, creating the file (mode
// 0600) if it does not exist, in a directory that must, and brings its
// schema up to date.
func Open(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	// SQLite would create the file with the umask's mode; its -wal and -shm
	// files take the mode of the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	f.Close()

	s := &Store{path: abs}
	if err := s.open(); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: %s: %w", abs, err)
	}
	return s, nil
}

func (s *Store) open() error {
	var err error
	s.write, err = sql.Open("sqlite", dsn(s.path, url.Values{
		"_busy_timeout": {fmt.Sprint(BusyTimeout)},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return err
	}
	s.write.SetMaxOpenConns(1)

	ctx := context.Background()
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not WAL (is the file system local?)", mode)
	}
	if err := migrate(ctx, s.write); err != nil {
		return err
	}

	s.read, err = sql.Open("sqlite", dsn(s.path, url.Values{
		"_busy_timeout": {fmt.Sprint(BusyTimeout)},
		"_query_only":   {"1"},
	}))
	if err != nil {
		return err
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.read.SetMaxOpenConns(readers)
	s.read.SetMaxIdleConns(readers) // kept open, with their prepared statements

	for _, p := range []struct {
		stmt  **sql.Stmt
		db    *sql.DB
		query string
	}{
		{&s.readByName, s.read, selByName},
		{&s.readByKey, s.read, selByKey},
		{&s.writeByName, s.write, selByName},
		{&s.writeByKey, s.write, selByKey},
		{&s.put, s.write, upsert},
	} {
		if *p.stmt, err = p.db.PrepareContext(ctx, p.query); err != nil {
			return err
		}
	}
	return nil
}

// dsn is the driver's name for the file at the absolute path abs with the
// driver's parameters; the file: form keeps any '?' or '#' in the path.
func dsn(abs string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), OmitHost: true, RawQuery: params.Encode()}
	return u.String()
}

// migrate brings the schema up to date in one immediate transaction, so
// processes opening the file at once apply each step once.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program's (%d)", version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	for i, step := range migrations[version:] {
		if _, err := tx.ExecContext(ctx, step); err != nil {
			return fmt.Errorf("schema step %d: %w", version+i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// Update runs fn in an immediate transaction: it waits up to BusyTimeout
// for other writers, then returns directory.ErrConflict.
func (s *Store) Update(ctx context.Context, fn func(directory.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("beginning a transaction", err)
	}
	defer tx.Rollback()
	if err := fn(&txn{ctx: ctx, tx: tx, s: s}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.fail("committing", err)
	}
	return nil
}

// fail wraps an error of the database, as directory.ErrConflict if it is
// that another process held the database for too long.
func (s *Store) fail(doing string, err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("%w: sqlitestore: %s %s: %w", directory.ErrConflict, doing, s.path, err)
	}
	return fmt.Errorf("sqlitestore: %s %s: %w", doing, s.path, err)
}

// RowByName implements directory.Store.
func (s *Store) RowByName(ctx context.Context, name string) (*directory.Row, error) {
	row, err := scan(s.readByName.QueryRowContext(ctx, name))
	if err != nil {
		return nil, s.fail("looking up a name in", err)
	}
	return row, nil
}

// RowByKey implements directory.Store.
func (s *Store) RowByKey(ctx context.Context, key []byte) (*directory.Row, error) {
	row, err := scan(s.readByKey.QueryRowContext(ctx, key))
	if err != nil {
		return nil, s.fail("looking up a key in", err)
	}
	return row, nil
}

// Ping checks that the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1 FROM sqlite_schema LIMIT 1").Scan(&one); err != nil {
		return s.fail("reading", err)
	}
	return nil
}

// Close closes the database. Calls in progress may fail.
func (s *Store) Close() error {
	var errs []error
	for _, db := range []*sql.DB{s.read, s.write} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

func scan(r *sql.Row) (*directory.Row, error) {
	var row directory.Row
	var seq int64
	err := r.Scan(&row.Identity, &row.Name, &seq, &row.Expires, &row.Record)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	row.Seq = uint64(seq) // never negative: the schema checks
	return &row, nil
}

// txn is a directory.Tx on the write connection.
type txn struct {
	ctx context.Context
	tx  *sql.Tx
	s   *Store
}

func (t *txn) RowByName(name string) (*directory.Row, error) {
	row, err := scan(t.tx.StmtContext(t.ctx, t.s.writeByName).QueryRowContext(t.ctx, name))
	if err != nil {
		return nil, t.s.fail("looking up a name in", err)
	}
	return row, nil
}

func (t *txn) RowByKey(key []byte) (*directory.Row, error) {
	row, err := scan(t.tx.StmtContext(t.ctx, t.s.writeByKey).QueryRowContext(t.ctx, key))
	if err != nil {
		return nil, t.s.fail("looking up a key in", err)
	}
	return row, nil
}

func (t *txn) Put(r *directory.Row) error {
	if r.Seq > math.MaxInt64 {
		return fmt.Errorf("sqlitestore: sequence number %d above 2^63-1", r.Seq)
	}
	var name, record any // NULL unless set
	if r.Name != "" {
		name = r.Name
	}
	if r.Record != nil {
		record = r.Record
	}
	_, err := t.tx.StmtContext(t.ctx, t.s.put).ExecContext(t.ctx, r.Identity, name, int64(r.Seq), r.Expires, record)
	if err != nil {
		return t.s.fail("storing a row in", err)
	}
	return nil
}
