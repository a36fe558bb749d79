// Package dirstore opens the directory's store that a configuration names:
// the embedded SQLite file by default, or a PostgreSQL database shared by
// replicas.
package dirstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"smvs/lib/directory"
	"smvs/lib/directory/pgstore"
	"smvs/lib/directory/sqlitestore"
)

// FileName is the SQLite file's name in the data directory.
const FileName = "directory.db"

// ErrUnknownDatabase means a database setting names no store this program
// has.
var ErrUnknownDatabase = errors.New("database must be sqlite:PATH, postgres://… or postgresql://…")

// Open opens the store db names:
//
//   - "" or "sqlite:": the SQLite file FileName in dataDir, which is
//     created (mode 0700) if it does not exist;
//   - "sqlite:PATH": the SQLite file PATH;
//   - "postgres://…" or "postgresql://…": that PostgreSQL database.
//
// Errors never show a password db contains.
func Open(ctx context.Context, db, dataDir string) (directory.Store, error) {
	switch {
	case db == "" || db == "sqlite:":
		if dataDir == "" {
			return nil, errors.New("dirstore: no data directory for the SQLite file")
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("dirstore: %w", err)
		}
		return openSQLite(filepath.Join(dataDir, FileName))
	case strings.HasPrefix(db, "sqlite:"):
		return openSQLite(strings.TrimPrefix(db, "sqlite:"))
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		s, err := pgstore.Open(ctx, db)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	// Only what comes before the first colon, which can't be a password.
	if kind, _, ok := strings.Cut(db, ":"); ok && !strings.ContainsAny(kind, "@/ =") {
		return nil, fmt.Errorf("dirstore: %w, not %q", ErrUnknownDatabase, kind+":…")
	}
	return nil, fmt.Errorf("dirstore: %w", ErrUnknownDatabase)
}

// openSQLite returns a *sqlitestore.Store as a directory.Store: never a nil
// pointer in a non-nil interface.
func openSQLite(path string) (directory.Store, error) {
	s, err := sqlitestore.Open(path)
	if err != nil {
		return nil, err
	}
	return s, nil
}
