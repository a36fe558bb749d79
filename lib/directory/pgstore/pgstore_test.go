package pgstore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"smvs/lib/directory"
	"smvs/lib/directory/pgtest"
	"smvs/lib/directory/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) directory.Store { return open(t, pgtest.Start(t)) })
}

func BenchmarkRowByName(b *testing.B) {
	s := open(b, pgtest.Start(b))
	defer s.Close()
	storetest.BenchmarkRowByName(b, s)
}

// TestReplicas has several replicas start on one new database at once,
// then checks that what one writes the others see at once.
func TestReplicas(t *testing.T) {
	dsn := pgtest.Start(t)
	replicas := make([]*Store, 4)
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { replicas[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer replicas[i].Close()
	}
	for i, s := range replicas {
		r := &directory.Row{Identity: bytes.Repeat([]byte{byte(i + 1)}, 32), Name: "alice", Seq: uint64(i + 1), Expires: 1, Record: []byte{byte(i)}}
		err := s.Update(t.Context(), func(tx directory.Tx) error {
			holder, err := tx.RowByName("alice")
			if err != nil {
				return err
			}
			if holder != nil {
				holder.Name = ""
				if err := tx.Put(holder); err != nil {
					return err
				}
			}
			return tx.Put(r)
		})
		if err != nil {
			t.Fatal(err)
		}
		for j, other := range replicas {
			got, err := other.RowByName(t.Context(), "alice")
			if err != nil || got == nil || !bytes.Equal(got.Identity, r.Identity) {
				t.Fatalf("replica %d wrote alice, replica %d reads %v, %v", i, j, got, err)
			}
		}
	}
}

// TestMigrateOnce checks that opening a database again leaves its schema
// and rows as they were.
func TestMigrateOnce(t *testing.T) {
	dsn := pgtest.Start(t)
	s := open(t, dsn)
	r := &directory.Row{Identity: bytes.Repeat([]byte{1}, 32), Name: "alice", Seq: 1, Expires: 1, Record: []byte("a")}
	if err := s.Update(t.Context(), func(tx directory.Tx) error { return tx.Put(r) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dsn)
	defer s.Close()
	if got, err := s.RowByName(t.Context(), "alice"); err != nil || got == nil {
		t.Fatalf("after reopening: %v, %v", got, err)
	}
	var version int
	if err := s.pool.QueryRow(t.Context(), "SELECT version FROM schema_version").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(migrations))
	}
	if _, err := s.pool.Exec(t.Context(), "UPDATE schema_version SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a newer schema: %v", err)
	}
}

// TestConflict checks that Update gives up with ErrConflict on a conflict
// that never clears, after trying MaxAttempts times.
func TestConflict(t *testing.T) {
	s := open(t, pgtest.Start(t))
	defer s.Close()
	a := &directory.Row{Identity: bytes.Repeat([]byte{1}, 32), Name: "alice", Seq: 1, Expires: 1}
	b := &directory.Row{Identity: bytes.Repeat([]byte{2}, 32), Name: "alice", Seq: 1, Expires: 1}
	attempts := 0
	err := s.Update(t.Context(), func(tx directory.Tx) error {
		attempts++
		if err := tx.Put(a); err != nil {
			return err
		}
		return tx.Put(b)
	})
	if !errors.Is(err, directory.ErrConflict) || attempts != MaxAttempts {
		t.Fatalf("Update = %v after %d attempts, want ErrConflict after %d", err, attempts, MaxAttempts)
	}
	ctx, cancel := context.WithCancel(t.Context())
	attempts = 0
	err = s.Update(ctx, func(tx directory.Tx) error {
		attempts++
		cancel()
		return tx.Put(b)
	})
	if err == nil || attempts != 1 {
		t.Fatalf("canceled Update = %v after %d attempts, want an error after 1", err, attempts)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{
		"postgres://smvs:s3cret@127.0.0.1:1/smvs?sslmode=disable&connect_timeout=2",
		"postgres://smvs:s3cret@127.0.0.1:bad/smvs",
		"postgres://smvs:s3c ret@127.0.0.1/smvs",
		"postgres://smvs:s3cret@127.0.0.1/smvs?sslmode=bogus",
		"postgresql://smvs@127.0.0.1/smvs?password=s3cret&connect_timeout=x",
	} {
		s, err := Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3c") {
			t.Errorf("Open(%q) = %v: shows the password", dsn, err)
		}
	}
}
