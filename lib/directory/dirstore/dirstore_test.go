package dirstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smvs/lib/directory"
	"smvs/lib/directory/pgstore"
	"smvs/lib/directory/pgtest"
	"smvs/lib/directory/sqlitestore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, db, dataDir string) directory.Store {
	t.Helper()
	s, err := Open(t.Context(), db, dataDir)
	if err != nil {
		t.Fatalf("Open(%q): %v", db, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, db := range []string{"", "sqlite:"} {
		if _, ok := open(t, db, dir).(*sqlitestore.Store); !ok {
			t.Errorf("Open(%q) did not open a SQLite store", db)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Error(err)
	}

	path := filepath.Join(t.TempDir(), "elsewhere.db")
	open(t, "sqlite:"+path, "")
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}

	if _, err := Open(t.Context(), "", ""); err == nil {
		t.Error("Open with no data directory succeeded")
	}
}

func TestPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	for _, db := range []string{dsn, "postgresql://" + strings.TrimPrefix(dsn, "postgres://")} {
		if _, ok := open(t, db, "").(*pgstore.Store); !ok {
			t.Errorf("Open(%q) did not open a PostgreSQL store", db)
		}
	}
}

func TestUnknown(t *testing.T) {
	for _, db := range []string{
		"mysql://smvs:s3cret@db.example/smvs",
		"smvs:s3cret@db.example",
		"host=db.example password=s3cret",
		"postgres:s3cret",
		"data/directory.db",
	} {
		s, err := Open(t.Context(), db, t.TempDir())
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", db)
			continue
		}
		if !errors.Is(err, ErrUnknownDatabase) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v, want ErrUnknownDatabase, and no password", db, err)
		}
	}
}
