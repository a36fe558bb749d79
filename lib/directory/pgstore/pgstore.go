// Package pgstore keeps the directory in PostgreSQL, for when one machine
// is not enough: any number of smvs-dird replicas share one database.
//
// Nothing is cached, so a write through one replica is seen through every
// other at once. Update runs a SERIALIZABLE transaction and retries it when
// a concurrent one got in its way.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"smvs/lib/directory"
)

// Update's retries of a transaction that conflicted with another.
const (
	MaxAttempts = 10
	// firstBackoff doubles on each retry up to maxBackoff; the wait is
	// drawn at random below it so that conflicting replicas drift apart.
	firstBackoff = 2 * time.Millisecond
	maxBackoff   = 100 * time.Millisecond
)

// migrations are the schema's steps in order; the schema_version table
// counts those a database has had. Append new steps; never change one.
var migrations = []string{
	`CREATE TABLE entries (
		identity bytea PRIMARY KEY CHECK (octet_length(identity) = 32),
		name     text COLLATE "C" UNIQUE,
		seq      bigint NOT NULL CHECK (seq >= 0),
		expires  bigint NOT NULL,
		record   bytea
	)`,
}

// migrationLock is the advisory lock key replicas take to migrate one at a
// time ("smvsdir" in ASCII).
const migrationLock = 0x736d7673646972

const (
	columns   = `identity, coalesce(name, ''), seq, expires, record`
	selByName = `SELECT ` + columns + ` FROM entries WHERE name = $1`
	selByKey  = `SELECT ` + columns + ` FROM entries WHERE identity = $1`
	upsert    = `INSERT INTO entries (identity, name, seq, expires, record) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (identity) DO UPDATE SET
			name = excluded.name, seq = excluded.seq, expires = excluded.expires, record = excluded.record`
)

// Store is a directory.Store in a PostgreSQL database, safe for concurrent
// use. Statements are prepared once per pooled connection.
type Store struct {
	pool *pgxpool.Pool
}

var _ directory.Store = (*Store)(nil)

// Open connects to the database at dsn, a postgres:// URL (pool_max_conns
// and the other pgxpool parameters may be added), and brings its schema up
// to date. Replicas may open one database at the same time.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn) // its errors mask the password
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: database %q on %s: %w", cfg.ConnConfig.Database, cfg.ConnConfig.Host, err)
	}
	return &Store{pool: pool}, nil
}

// migrate brings the schema up to date under an advisory lock, so replicas
// starting together apply each step once.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	// READ COMMITTED: each statement after the lock sees what the replica
	// that held it before committed.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
		return err
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (0)`)
	}
	if err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program's (%d)", version, len(migrations))
	}
	for i, step := range migrations[version:] {
		if _, err := tx.Exec(ctx, step); err != nil {
			return fmt.Errorf("schema step %d: %w", version+i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Update runs fn in a SERIALIZABLE transaction. When the transaction
// conflicts with a concurrent one (a serialization failure, a deadlock, or
// a unique name inserted meanwhile), fn is run again after a short random
// wait, up to MaxAttempts times in all; then Update returns
// directory.ErrConflict. So does an fn that puts a name on two rows: the
// database can't tell that from a concurrent insert.
func (s *Store) Update(ctx context.Context, fn func(directory.Tx) error) error {
	backoff := firstBackoff
	var err error
	for attempt := range MaxAttempts {
		if attempt > 0 {
			wait := time.NewTimer(rand.N(backoff))
			select {
			case <-ctx.Done():
				wait.Stop()
				return fmt.Errorf("pgstore: %w (after: %w)", ctx.Err(), err)
			case <-wait.C:
			}
			backoff = min(2*backoff, maxBackoff)
		}
		err = s.try(ctx, fn)
		if !conflict(err) {
			return err
		}
	}
	return fmt.Errorf("%w: pgstore: gave up after %d attempts: %w", directory.ErrConflict, MaxAttempts, err)
}

func (s *Store) try(ctx context.Context, fn func(directory.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		return fmt.Errorf("pgstore: beginning a transaction: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(&txn{ctx: ctx, tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: committing: %w", err)
	}
	return nil
}

// conflict reports whether err means a concurrent transaction got in the
// way, so that running the transaction again may succeed.
func conflict(err error) bool {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"23505": // unique_violation: a name taken since this transaction read it
		return true
	}
	return false
}

// querier is what a pool and a transaction have in common.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func rowByName(ctx context.Context, q querier, name string) (*directory.Row, error) {
	row, err := scan(q.QueryRow(ctx, selByName, name))
	if err != nil {
		return nil, fmt.Errorf("pgstore: looking up a name: %w", err)
	}
	return row, nil
}

func rowByKey(ctx context.Context, q querier, key []byte) (*directory.Row, error) {
	row, err := scan(q.QueryRow(ctx, selByKey, key))
	if err != nil {
		return nil, fmt.Errorf("pgstore: looking up a key: %w", err)
	}
	return row, nil
}

// RowByName implements directory.Store.
func (s *Store) RowByName(ctx context.Context, name string) (*directory.Row, error) {
	return rowByName(ctx, s.pool, name)
}

// RowByKey implements directory.Store.
func (s *Store) RowByKey(ctx context.Context, key []byte) (*directory.Row, error) {
	return rowByKey(ctx, s.pool, key)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}

// Close closes the pool's connections, waiting for those in use.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func scan(r pgx.Row) (*directory.Row, error) {
	var row directory.Row
	var seq int64
	err := r.Scan(&row.Identity, &row.Name, &seq, &row.Expires, &row.Record)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	row.Seq = uint64(seq) // never negative: the schema checks
	return &row, nil
}

// txn is a directory.Tx in a SERIALIZABLE transaction.
type txn struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t *txn) RowByName(name string) (*directory.Row, error) { return rowByName(t.ctx, t.tx, name) }

func (t *txn) RowByKey(key []byte) (*directory.Row, error) { return rowByKey(t.ctx, t.tx, key) }

func (t *txn) Put(r *directory.Row) error {
	if r.Seq > math.MaxInt64 {
		return fmt.Errorf("pgstore: sequence number %d above 2^63-1", r.Seq)
	}
	var name *string // NULL unless set
	if r.Name != "" {
		name = &r.Name
	}
	if _, err := t.tx.Exec(t.ctx, upsert, r.Identity, name, int64(r.Seq), r.Expires, r.Record); err != nil {
		return fmt.Errorf("pgstore: storing a row: %w", err)
	}
	return nil
}
