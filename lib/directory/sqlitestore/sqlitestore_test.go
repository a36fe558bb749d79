package sqlitestore

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"smvs/lib/directory"
	"smvs/lib/directory/storetest"
)

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) directory.Store {
		return open(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}

func BenchmarkRowByName(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "directory.db"))
	defer s.Close()
	storetest.BenchmarkRowByName(b, s)
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.db")
	s := open(t, path)
	defer s.Close()
	put(t, s, row(1, "alice", 1)) // creates the -wal and -shm files
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

func TestOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?x=1#y", "directory.db")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	defer s.Close()
	put(t, s, row(1, "alice", 1))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not where it was asked to be: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database\n"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	open(t, newer).Close()
	db, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for path, want := range map[string]string{
		filepath.Join(dir, "missing", "directory.db"): "no such file or directory",
		notDB: "not a database",
		newer: "newer than this program's",
	} {
		s, err := Open(path)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", filepath.Base(path))
		} else if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Errorf("Open(%s) = %v, want an error naming the file and saying %q", filepath.Base(path), err, want)
		}
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.db")
	s := open(t, path)
	want := row(1, "alice", 3)
	put(t, s, want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	if got, err := s.RowByName(t.Context(), "alice"); err != nil || got == nil || got.Seq != want.Seq {
		t.Fatalf("after reopening, RowByName = %v, %v", got, err)
	}
}

// TestTwoStores opens one file twice, as two processes would: each sees
// the other's writes at once, and their updates serialize.
func TestTwoStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.db")
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	put(t, a, row(1, "alice", 1))
	if got, err := b.RowByName(t.Context(), "alice"); err != nil || got == nil {
		t.Fatalf("a write through one store is not seen through the other: %v, %v", got, err)
	}
	const each = 25
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		wg.Go(func() {
			for range each {
				if err := increment(t, s); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got, _ := a.RowByKey(t.Context(), key(1)); got == nil || got.Seq != 1+2*each {
		t.Errorf("counter = %v, want %d", got, 1+2*each)
	}
}

// TestProcesses has two processes update one file at once: no update may
// be lost.
func TestProcesses(t *testing.T) {
	if path := os.Getenv("SQLITESTORE_TEST_CHILD"); path != "" {
		s := open(t, path)
		defer s.Close()
		n, _ := strconv.Atoi(os.Getenv("SQLITESTORE_TEST_N"))
		for range n {
			if err := increment(t, s); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	const each = 25
	path := filepath.Join(t.TempDir(), "directory.db")
	s := open(t, path)
	defer s.Close()
	put(t, s, row(1, "alice", 0))

	child := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestProcesses$", "-test.count=1")
	child.Env = append(os.Environ(), "SQLITESTORE_TEST_CHILD="+path, "SQLITESTORE_TEST_N="+strconv.Itoa(each))
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	for range each {
		if err := increment(t, s); err != nil {
			t.Error(err)
			break
		}
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.Bytes())
	}
	if got, _ := s.RowByKey(t.Context(), key(1)); got == nil || got.Seq != 2*each {
		t.Errorf("counter = %v, want %d", got, 2*each)
	}
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func row(b byte, name string, seq uint64) *directory.Row {
	return &directory.Row{Identity: key(b), Name: name, Seq: seq, Expires: 1 << 50, Record: []byte("record of " + name)}
}

func put(t *testing.T, s *Store, r *directory.Row) {
	t.Helper()
	if err := s.Update(t.Context(), func(tx directory.Tx) error { return tx.Put(r) }); err != nil {
		t.Fatal(err)
	}
}

// increment adds one to key(1)'s sequence number.
func increment(t *testing.T, s *Store) error {
	return s.Update(t.Context(), func(tx directory.Tx) error {
		r, err := tx.RowByKey(key(1))
		if err != nil {
			return err
		}
		if r == nil {
			return errors.New("no row to increment")
		}
		r.Seq++
		return tx.Put(r)
	})
}
