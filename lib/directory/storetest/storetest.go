// Package storetest is the test suite every directory.Store passes: the
// Store and Tx contract, the directory's rules run over the store, and both
// under concurrent use.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smvs/lib/directory"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// Run runs the suite. open returns a new, empty store for one test; Run
// closes it when the test ends.
func Run(t *testing.T, open func(t *testing.T) directory.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, directory.Store)
	}{
		{"Empty", testEmpty},
		{"RoundTrip", testRoundTrip},
		{"Replace", testReplace},
		{"MoveName", testMoveName},
		{"NameHeldTwice", testNameHeldTwice},
		{"Rollback", testRollback},
		{"Isolation", testIsolation},
		{"Canceled", testCanceled},
		{"Serializable", testSerializable},
		{"PublishRace", testPublishRace},
		{"SeqRace", testSeqRace},
		{"Directory", testDirectory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

var errBoom = errors.New("boom")

// key returns a made-up identity key.
func key(b byte) []byte { return bytes.Repeat([]byte{b}, wire.KeySize) }

func update(t *testing.T, s directory.Store, fn func(directory.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func put(t *testing.T, s directory.Store, rows ...*directory.Row) {
	t.Helper()
	update(t, s, func(tx directory.Tx) error {
		for _, r := range rows {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// same reports whether two rows are equal, a nil Record only to a nil one.
func same(a, b *directory.Row) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Identity, b.Identity) && a.Name == b.Name && a.Seq == b.Seq &&
		a.Expires == b.Expires && bytes.Equal(a.Record, b.Record) && (a.Record == nil) == (b.Record == nil)
}

func fmtRow(r *directory.Row) string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{%x… %q seq %d expires %d record %q}", r.Identity[:4], r.Name, r.Seq, r.Expires, r.Record)
}

// check checks the rows of the stored keys, through the store and in a
// transaction: want[i] for keys[i], and by name where want[i] has one.
func check(t *testing.T, s directory.Store, keys [][]byte, want []*directory.Row) {
	t.Helper()
	var inTx []*directory.Row
	update(t, s, func(tx directory.Tx) error {
		inTx = inTx[:0]
		for _, k := range keys {
			r, err := tx.RowByKey(k)
			if err != nil {
				return err
			}
			inTx = append(inTx, r)
		}
		return nil
	})
	for i, k := range keys {
		got, err := s.RowByKey(t.Context(), k)
		if err != nil {
			t.Fatalf("RowByKey(%x…): %v", k[:4], err)
		}
		if !same(got, want[i]) {
			t.Errorf("RowByKey(%x…) = %s, want %s", k[:4], fmtRow(got), fmtRow(want[i]))
		}
		if !same(inTx[i], want[i]) {
			t.Errorf("Tx.RowByKey(%x…) = %s, want %s", k[:4], fmtRow(inTx[i]), fmtRow(want[i]))
		}
		if want[i] == nil || want[i].Name == "" {
			continue
		}
		got, err = s.RowByName(t.Context(), want[i].Name)
		if err != nil {
			t.Fatalf("RowByName(%q): %v", want[i].Name, err)
		}
		if !same(got, want[i]) {
			t.Errorf("RowByName(%q) = %s, want %s", want[i].Name, fmtRow(got), fmtRow(want[i]))
		}
	}
}

func checkNoName(t *testing.T, s directory.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		r, err := s.RowByName(t.Context(), n)
		if err != nil || r != nil {
			t.Errorf("RowByName(%q) = %s, %v; want none", n, fmtRow(r), err)
		}
	}
}

func testEmpty(t *testing.T, s directory.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	check(t, s, [][]byte{key(1)}, []*directory.Row{nil})
	checkNoName(t, s, "alice", "")
	update(t, s, func(tx directory.Tx) error {
		r, err := tx.RowByName("alice")
		if err != nil || r != nil {
			t.Errorf("Tx.RowByName on an empty store = %s, %v", fmtRow(r), err)
		}
		return nil
	})
}

func testRoundTrip(t *testing.T, s directory.Store) {
	rows := []*directory.Row{
		{Identity: key(1), Name: "alice", Seq: 1, Expires: 1_800_000_000_000, Record: []byte("alice's record")},
		{Identity: key(2), Seq: 7, Expires: 1_800_000_000_001},                                       // removed: no name, no record
		{Identity: key(3), Seq: 1<<63 - 1, Expires: -1, Record: bytes.Repeat([]byte{0, 0xff}, 2000)}, // extremes
		{Identity: key(4), Name: "a.b-c_d", Seq: 0, Expires: 0, Record: []byte{0}},
	}
	put(t, s, rows...)
	check(t, s, [][]byte{key(1), key(2), key(3), key(4), key(5)}, append(rows, nil))
	checkNoName(t, s, "", "bob", "Alice", "alice ")
}

func testReplace(t *testing.T, s directory.Store) {
	put(t, s, &directory.Row{Identity: key(1), Name: "alice", Seq: 1, Expires: 10, Record: []byte("one")})
	want := &directory.Row{Identity: key(1), Name: "alice2", Seq: 2, Expires: 20, Record: []byte("two")}
	put(t, s, want)
	check(t, s, [][]byte{key(1)}, []*directory.Row{want})
	checkNoName(t, s, "alice")

	want = &directory.Row{Identity: key(1), Seq: 3, Expires: 20}
	put(t, s, want)
	check(t, s, [][]byte{key(1)}, []*directory.Row{want})
	checkNoName(t, s, "alice2")
}

func testMoveName(t *testing.T, s directory.Store) {
	a := &directory.Row{Identity: key(1), Name: "alice", Seq: 1, Expires: 10, Record: []byte("a")}
	put(t, s, a)
	b := &directory.Row{Identity: key(2), Name: "alice", Seq: 1, Expires: 20, Record: []byte("b")}
	update(t, s, func(tx directory.Tx) error {
		holder, err := tx.RowByName("alice")
		if err != nil {
			return err
		}
		if !same(holder, a) {
			t.Errorf("Tx.RowByName(alice) = %s, want %s", fmtRow(holder), fmtRow(a))
		}
		holder.Name = ""
		if err := tx.Put(holder); err != nil {
			return err
		}
		if err := tx.Put(b); err != nil {
			return err
		}
		got, err := tx.RowByName("alice")
		if err == nil && !same(got, b) {
			t.Errorf("Tx.RowByName(alice) after the move = %s, want %s", fmtRow(got), fmtRow(b))
		}
		return err
	})
	a.Name = ""
	check(t, s, [][]byte{key(1), key(2)}, []*directory.Row{a, b})
}

func testNameHeldTwice(t *testing.T, s directory.Store) {
	a := &directory.Row{Identity: key(1), Name: "alice", Seq: 1, Expires: 10, Record: []byte("a")}
	put(t, s, a)
	err := s.Update(t.Context(), func(tx directory.Tx) error {
		if err := tx.Put(&directory.Row{Identity: key(3), Name: "carol", Seq: 1, Expires: 10, Record: []byte("c")}); err != nil {
			return err
		}
		return tx.Put(&directory.Row{Identity: key(2), Name: "alice", Seq: 1, Expires: 10, Record: []byte("b")})
	})
	if err == nil {
		t.Fatal("Update putting two rows with one name succeeded")
	}
	check(t, s, [][]byte{key(1), key(2), key(3)}, []*directory.Row{a, nil, nil})
	checkNoName(t, s, "carol")
}

func testRollback(t *testing.T, s directory.Store) {
	a := &directory.Row{Identity: key(1), Name: "alice", Seq: 1, Expires: 10, Record: []byte("a")}
	put(t, s, a)
	err := s.Update(t.Context(), func(tx directory.Tx) error {
		for _, r := range []*directory.Row{
			{Identity: key(1), Seq: 2, Expires: 10},
			{Identity: key(2), Name: "alice", Seq: 1, Expires: 20, Record: []byte("b")},
		} {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return fmt.Errorf("changed my mind: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	check(t, s, [][]byte{key(1), key(2)}, []*directory.Row{a, nil})
}

// testIsolation checks that what a transaction writes is seen by no one
// else before it commits.
func testIsolation(t *testing.T, s directory.Store) {
	a := &directory.Row{Identity: key(1), Name: "alice", Seq: 1, Expires: 10, Record: []byte("a")}
	put(t, s, a)
	a2 := &directory.Row{Identity: key(1), Name: "alice", Seq: 2, Expires: 20, Record: []byte("a2")}
	update(t, s, func(tx directory.Tx) error {
		if err := tx.Put(a2); err != nil {
			return err
		}
		got, err := s.RowByKey(t.Context(), key(1))
		if err == nil && !same(got, a) {
			t.Errorf("RowByKey during an update = %s, want the committed %s", fmtRow(got), fmtRow(a))
		}
		return err
	})
	check(t, s, [][]byte{key(1)}, []*directory.Row{a2})
}

func testCanceled(t *testing.T, s directory.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := s.Update(ctx, func(tx directory.Tx) error {
		ran = true
		return tx.Put(&directory.Row{Identity: key(1), Name: "alice", Seq: 1, Expires: 10, Record: []byte("a")})
	})
	if err == nil {
		t.Errorf("Update with a canceled context succeeded (fn ran: %v)", ran)
	}
	if _, err := s.RowByName(ctx, "alice"); err == nil {
		t.Error("RowByName with a canceled context succeeded")
	}
	check(t, s, [][]byte{key(1)}, []*directory.Row{nil})
}

// testSerializable increments a counter from many goroutines: no
// increment may be lost, though some may give up with ErrConflict.
func testSerializable(t *testing.T, s directory.Store) {
	const workers, each = 8, 8
	put(t, s, &directory.Row{Identity: key(1), Expires: 1})
	var done atomic.Uint64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.Update(t.Context(), func(tx directory.Tx) error {
					r, err := tx.RowByKey(key(1))
					if err != nil {
						return err
					}
					r.Seq++
					return tx.Put(r)
				})
				switch {
				case err == nil:
					done.Add(1)
				case !errors.Is(err, directory.ErrConflict):
					t.Errorf("Update: %v", err)
				}
			}
		})
	}
	wg.Wait()
	r, err := s.RowByKey(t.Context(), key(1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != done.Load() || r.Seq == 0 {
		t.Errorf("counter = %d after %d successful increments (of %d)", r.Seq, done.Load(), workers*each)
	}
}

// Time in the directory tests: records are issued at base, valid for
// lifetime.
var base = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const lifetime = time.Hour

// clock is a clock for Directory.Now that moves only when told.
type clock struct{ ms atomic.Int64 }

func newClock() *clock {
	c := new(clock)
	c.ms.Store(base.UnixMilli())
	return c
}

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, base)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// record returns id's signed record for name, issued at now.
func record(t *testing.T, id *identity.Identity, now time.Time, name string, seq uint64, rotation []byte) []byte {
	t.Helper()
	kem, err := id.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := wire.SignRecord(id.Signer(), &wire.Record{
		Name: name, Identity: id.Public().Bytes(), KEM: kem.Public(), Seq: seq,
		Issued: now.UnixMilli(), Expires: now.Add(lifetime).UnixMilli(), Rotation: rotation,
	})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// testPublishRace publishes one new name under many keys at once: exactly
// one may get it.
func testPublishRace(t *testing.T, s directory.Store) {
	const n = 16
	clk := newClock()
	d := &directory.Directory{Store: s, Now: clk.now}
	records := make([][]byte, n)
	for i := range records {
		records[i] = record(t, newIdentity(t), base, "alice", 1, nil)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range records {
		wg.Go(func() { _, errs[i] = d.Publish(t.Context(), records[i]) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("publishers %d and %d both got the name", winner, i)
		case !errors.Is(err, directory.ErrNameTaken) && !errors.Is(err, directory.ErrConflict):
			t.Errorf("publisher %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no publisher got the name")
	}
	got, err := d.LookupName(t.Context(), "alice")
	if err != nil || !bytes.Equal(got, records[winner]) {
		t.Errorf("LookupName(alice) = %.20x…, %v; want the winner's record", got, err)
	}
}

// testSeqRace publishes many records of one key at once: the one stored
// must be the accepted one with the highest sequence number.
func testSeqRace(t *testing.T, s directory.Store) {
	const n = 16
	clk := newClock()
	d := &directory.Directory{Store: s, Now: clk.now}
	id := newIdentity(t)
	records := make([][]byte, n)
	for i := range records {
		records[i] = record(t, id, base, "alice", uint64(i+1), nil)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range records {
		wg.Go(func() { _, errs[i] = d.Publish(t.Context(), records[i]) })
	}
	wg.Wait()
	top := -1
	for i, err := range errs {
		switch {
		case err == nil:
			top = i
		case !errors.Is(err, directory.ErrStale) && !errors.Is(err, directory.ErrConflict):
			t.Errorf("publishing seq %d: %v", i+1, err)
		}
	}
	if top < 0 {
		t.Fatal("no record was accepted")
	}
	r, err := s.RowByKey(t.Context(), id.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != uint64(top+1) || !bytes.Equal(r.Record, records[top]) {
		t.Errorf("stored seq %d, want %d, the highest accepted", r.Seq, top+1)
	}
}

// testDirectory runs a name's life through the directory's rules: the
// store must move names between keys and drop records as they say.
func testDirectory(t *testing.T, s directory.Store) {
	clk := newClock()
	d := &directory.Directory{Store: s, Now: clk.now}
	ctx := t.Context()
	alice, bob, carol, dave := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	publish := func(signed []byte, want error) {
		t.Helper()
		if _, err := d.Publish(ctx, signed); !errors.Is(err, want) {
			t.Fatalf("Publish = %v, want %v", err, want)
		}
	}
	served := func(name string, id *identity.Identity, want []byte) {
		t.Helper()
		byName, err := d.LookupName(ctx, name)
		if want == nil && !errors.Is(err, directory.ErrNotFound) || want != nil && (err != nil || !bytes.Equal(byName, want)) {
			t.Fatalf("LookupName(%q) = %.20x…, %v; want %.20x…", name, byName, err, want)
		}
		if id == nil {
			return
		}
		byKey, err := d.LookupKey(ctx, id.Public().Bytes())
		if want == nil && !errors.Is(err, directory.ErrNotFound) || want != nil && (err != nil || !bytes.Equal(byKey, want)) {
			t.Fatalf("LookupKey(%s) = %.20x…, %v; want %.20x…", id.Public(), byKey, err, want)
		}
	}
	notServed := func(id *identity.Identity) {
		t.Helper()
		if got, err := d.LookupKey(ctx, id.Public().Bytes()); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("LookupKey(%s) = %.20x…, %v; want ErrNotFound", id.Public(), got, err)
		}
	}

	a1 := record(t, alice, clk.now(), "alice", 1, nil)
	publish(a1, nil)
	served("alice", alice, a1)
	publish(record(t, bob, clk.now(), "alice", 1, nil), directory.ErrNameTaken)
	a2 := record(t, alice, clk.now(), "alice", 2, nil)
	publish(a2, nil)
	publish(a1, directory.ErrStale)
	served("alice", alice, a2)

	// Alice's record expires; Bob takes the name, Alice's key keeps its seq.
	clk.advance(lifetime)
	served("alice", alice, nil)
	b1 := record(t, bob, clk.now(), "alice", 1, nil)
	publish(b1, nil)
	served("alice", bob, b1)
	notServed(alice)
	publish(record(t, alice, clk.now(), "alice", 2, nil), directory.ErrStale)
	publish(record(t, alice, clk.now(), "alice", 3, nil), directory.ErrNameTaken)

	// Bob rotates to Carol, whose record then replaces his at once.
	rot, err := wire.SignRotation(bob.Signer(), &wire.Rotation{Old: bob.Public().Bytes(), New: carol.Public().Bytes(), Issued: clk.now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	c1 := record(t, carol, clk.now(), "alice", 1, rot)
	publish(c1, nil)
	served("alice", carol, c1)
	notServed(bob)

	// Carol removes hers: the name is free, and her record can't come back.
	tomb, err := wire.SignTombstone(carol.Signer(), &wire.Tombstone{Name: "alice", Identity: carol.Public().Bytes(), Seq: 2, Issued: clk.now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Remove(ctx, tomb); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	served("alice", carol, nil)
	publish(c1, directory.ErrStale)
	d1 := record(t, dave, clk.now(), "alice", 1, nil)
	publish(d1, nil)
	served("alice", dave, d1)
}

// BenchmarkRowByName measures RowByName from 64 goroutines at once, as
// many as the directory's clients in its benchmark, over a store of rows
// with records of a real record's size, and reports look-ups per second.
func BenchmarkRowByName(b *testing.B, s directory.Store) {
	const rows = 1000
	names := make([]string, rows)
	err := s.Update(b.Context(), func(tx directory.Tx) error {
		for i := range names {
			names[i] = fmt.Sprintf("user%04d", i)
			k := make([]byte, wire.KeySize)
			rand.Read(k)
			rec := make([]byte, 1400)
			rand.Read(rec)
			r := &directory.Row{Identity: k, Name: names[i], Seq: 1, Expires: 1 << 62, Record: rec}
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	var next atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(7919)
		for pb.Next() {
			i++
			r, err := s.RowByName(b.Context(), names[i%rows])
			if err != nil || r == nil {
				b.Errorf("RowByName: %v, %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
