package directory_test

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/directory"
	"smvs/lib/directory/sqlitestore"
	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/wire"
)

var start = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// lifetime is how long the test records are valid.
const lifetime = time.Hour

// env is a directory over a new SQLite store, with a clock that moves
// only when a test moves it.
type env struct {
	t   *testing.T
	d   *directory.Directory
	now time.Time
}

func newEnv(t *testing.T) *env {
	s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{t: t, now: start}
	e.d = &directory.Directory{Store: s, Now: func() time.Time { return e.now }}
	return e
}

func (e *env) identity() *identity.Identity {
	e.t.Helper()
	id, err := identity.Generate(identity.KindIdentity, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// record returns id's record for name with seq, issued now, for the test
// to change before signing it.
func (e *env) record(id *identity.Identity, name string, seq uint64) *wire.Record {
	e.t.Helper()
	kem, err := id.CurrentKEM(e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return &wire.Record{
		Name: name, Identity: id.Public().Bytes(), KEM: kem.Public(), Host: "203.0.113.7:4433", Seq: seq,
		Issued: e.now.UnixMilli(), Expires: e.now.Add(lifetime).UnixMilli(),
	}
}

func (e *env) sign(id *identity.Identity, r *wire.Record) []byte {
	e.t.Helper()
	signed, err := wire.SignRecord(id.Signer(), r)
	if err != nil {
		e.t.Fatal(err)
	}
	return signed
}

// signed returns id's signed record for name with seq, issued now.
func (e *env) signed(id *identity.Identity, name string, seq uint64) []byte {
	e.t.Helper()
	return e.sign(id, e.record(id, name, seq))
}

func (e *env) rotation(from, to *identity.Identity) []byte {
	e.t.Helper()
	rot, err := wire.SignRotation(from.Signer(), &wire.Rotation{Old: from.Public().Bytes(), New: to.Public().Bytes(), Issued: e.now.UnixMilli()})
	if err != nil {
		e.t.Fatal(err)
	}
	return rot
}

func (e *env) tombstone(id *identity.Identity, name string, seq uint64) []byte {
	e.t.Helper()
	tomb, err := wire.SignTombstone(id.Signer(), &wire.Tombstone{Name: name, Identity: id.Public().Bytes(), Seq: seq, Issued: e.now.UnixMilli()})
	if err != nil {
		e.t.Fatal(err)
	}
	return tomb
}

// publish publishes signed and checks the outcome: nil or an error that
// is want.
func (e *env) publish(signed []byte, want error) {
	e.t.Helper()
	r, err := e.d.Publish(e.t.Context(), signed)
	if !errors.Is(err, want) {
		e.t.Fatalf("Publish = %v, want %v", err, want)
	}
	if err == nil && r == nil {
		e.t.Fatal("Publish returned no record")
	}
}

func (e *env) remove(tomb []byte, want error) {
	e.t.Helper()
	if _, err := e.d.Remove(e.t.Context(), tomb); !errors.Is(err, want) {
		e.t.Fatalf("Remove = %v, want %v", err, want)
	}
}

// served checks the record served for name, and for id if not nil: want,
// or none if want is nil.
func (e *env) served(name string, id *identity.Identity, want []byte) {
	e.t.Helper()
	check := func(what string, got []byte, err error) {
		e.t.Helper()
		switch {
		case want == nil && !errors.Is(err, directory.ErrNotFound):
			e.t.Fatalf("%s = %.16x…, %v; want ErrNotFound", what, got, err)
		case want != nil && err != nil:
			e.t.Fatalf("%s: %v", what, err)
		case want != nil && !bytes.Equal(got, want):
			e.t.Fatalf("%s serves another record", what)
		}
	}
	if name != "" {
		got, err := e.d.LookupName(e.t.Context(), name)
		check("LookupName("+name+")", got, err)
	}
	if id != nil {
		got, err := e.d.LookupKey(e.t.Context(), id.Public().Bytes())
		check("LookupKey("+id.Public().String()+")", got, err)
	}
}

func TestPublish(t *testing.T) {
	e := newEnv(t)
	alice := e.identity()
	signed := e.signed(alice, "alice", 1)
	r, err := e.d.Publish(t.Context(), signed)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "alice" || r.Seq != 1 || !bytes.Equal(r.Identity, alice.Public().Bytes()) {
		t.Errorf("Publish returned %+v", r)
	}
	e.served("alice", alice, signed)
}

func TestRealClock(t *testing.T) {
	e := newEnv(t)
	e.now = time.Now()
	e.d.Now = nil
	alice := e.identity()
	signed := e.signed(alice, "alice", 1)
	e.publish(signed, nil)
	e.served("alice", alice, signed)
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	alice := e.identity()
	e.publish(e.signed(alice, "alice", 1), nil)
	r := e.record(alice, "alice", 5)
	r.Host = "198.51.100.1:4433"
	five := e.sign(alice, r)
	e.publish(five, nil)
	e.served("alice", alice, five)

	for _, seq := range []uint64{5, 4, 1} {
		r := e.record(alice, "alice", seq)
		r.Host = "192.0.2.1:1"
		e.publish(e.sign(alice, r), directory.ErrStale)
	}
	e.served("alice", alice, five)
}

func TestNameTaken(t *testing.T) {
	e := newEnv(t)
	alice, mallory := e.identity(), e.identity()
	signed := e.signed(alice, "alice", 1)
	e.publish(signed, nil)
	e.publish(e.signed(mallory, "alice", 1), directory.ErrNameTaken)
	e.publish(e.signed(mallory, "alice", 99), directory.ErrNameTaken)
	e.served("alice", alice, signed)
	e.served("", mallory, nil)
}

// TestRename checks that a key taking a new name frees its old one.
func TestRename(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.identity(), e.identity()
	e.publish(e.signed(alice, "alice", 1), nil)
	renamed := e.signed(alice, "alice2", 2)
	e.publish(renamed, nil)
	e.served("alice2", alice, renamed)
	e.served("alice", nil, nil)
	b := e.signed(bob, "alice", 1)
	e.publish(b, nil)
	e.served("alice", bob, b)
}

func TestTakeoverAfterExpiry(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.identity(), e.identity()
	a := e.signed(alice, "alice", 1)
	e.publish(a, nil)

	e.now = e.now.Add(lifetime - time.Millisecond)
	e.served("alice", alice, a)
	e.publish(e.signed(bob, "alice", 1), directory.ErrNameTaken)

	e.now = e.now.Add(time.Millisecond) // a record expires at its expiry time
	e.served("alice", alice, nil)
	b := e.signed(bob, "alice", 2)
	e.publish(b, nil)
	e.served("alice", bob, b)
	e.served("", alice, nil)

	// Alice's key kept its sequence number, but not the name.
	e.publish(e.signed(alice, "alice", 1), directory.ErrStale)
	e.publish(e.signed(alice, "alice", 2), directory.ErrNameTaken)
	a3 := e.signed(alice, "alice3", 3)
	e.publish(a3, nil)
	e.served("alice3", alice, a3)
}

func TestRotation(t *testing.T) {
	e := newEnv(t)
	old, next, mallory := e.identity(), e.identity(), e.identity()
	e.publish(e.signed(old, "alice", 1), nil)

	// A rotation statement by someone else's key is worth nothing.
	r := e.record(next, "alice", 1)
	r.Rotation = e.rotation(mallory, next)
	e.publish(e.sign(next, r), directory.ErrNameTaken)

	// A forged one, naming the old key but signed by another, is invalid.
	forged, err := wire.Sign(mallory.Signer(), wire.PurposeRotation,
		(&wire.Rotation{Old: old.Public().Bytes(), New: next.Public().Bytes(), Issued: e.now.UnixMilli()}).Encode())
	if err != nil {
		t.Fatal(err)
	}
	r.Rotation = forged.Encode()
	e.publish(e.sign(next, r), directory.ErrInvalid)

	// One to another new key is invalid too.
	r.Rotation = e.rotation(old, mallory)
	e.publish(e.sign(next, r), directory.ErrInvalid)

	r.Rotation = e.rotation(old, next)
	rotated := e.sign(next, r)
	e.publish(rotated, nil)
	e.served("alice", next, rotated)
	e.served("", old, nil) // superseded, though unexpired

	// The old key is retired: it can't publish again, under any name.
	e.publish(e.signed(old, "alice", 1), directory.ErrStale)
	e.publish(e.signed(old, "alice", 2), directory.ErrStale)
	e.publish(e.signed(old, "oldalice", 1<<40), directory.ErrStale)

	// A rotation retires the old key even when it holds another name.
	bob, bob2 := e.identity(), e.identity()
	e.publish(e.signed(bob, "bob", 1), nil)
	r2 := e.record(bob2, "robert", 1)
	r2.Rotation = e.rotation(bob, bob2)
	e.publish(e.sign(bob2, r2), nil)
	e.served("", bob, nil)
	e.served("robert", bob2, e.sign(bob2, r2))
	carol := e.identity()
	e.publish(e.signed(carol, "bob", 1), nil) // bob's old name is free
}

// TestRotationChain: a record carries its whole chain; the directory
// checks it whole, and the name passes only from the key that signed the
// last statement, so an owner publishes after each rotation.
func TestRotationChain(t *testing.T) {
	e := newEnv(t)
	a, b, c, mallory := e.identity(), e.identity(), e.identity(), e.identity()
	e.publish(e.signed(a, "alice", 1), nil)

	// A→B→C straight from A's name: the name's holder did not sign the
	// last statement.
	r := e.record(c, "alice", 1)
	r.Rotations, r.Rotation = [][]byte{e.rotation(a, b)}, e.rotation(b, c)
	skipped := e.sign(c, r)
	e.publish(skipped, directory.ErrNameTaken)

	// A chain that does not link, or holds a statement in the future, is
	// invalid.
	r.Rotations = [][]byte{e.rotation(a, mallory)}
	e.publish(e.sign(c, r), directory.ErrInvalid)
	future, err := wire.SignRotation(a.Signer(), &wire.Rotation{Old: a.Public().Bytes(), New: b.Public().Bytes(),
		Issued: e.now.Add(time.Hour).UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	r.Rotations = [][]byte{future}
	e.publish(e.sign(c, r), directory.ErrInvalid)

	// A→B published, then the chain A→B→C: served whole.
	rb := e.record(b, "alice", 1)
	rb.Rotation = e.rotation(a, b)
	e.publish(e.sign(b, rb), nil)
	e.publish(skipped, nil)
	e.served("alice", c, skipped)
	e.served("", b, nil)
}

func TestBadNames(t *testing.T) {
	e := newEnv(t)
	alice := e.identity()
	for _, name := range []string{
		"", "Alice", "ＡＬＩＣＥ", "al", strings.Repeat("a", names.MaxLen+1), "admin", "root",
		"al ice", "al!ce", "ali/ce", "-alice", "alice.", "_alice", "alicé",
	} {
		_, err := e.d.Publish(t.Context(), e.signed(alice, name, 1))
		if !errors.Is(err, directory.ErrInvalid) || !errors.Is(err, names.ErrInvalid) {
			t.Errorf("publishing name %q: %v, want directory.ErrInvalid and names.ErrInvalid", name, err)
		}
	}
	e.served("", alice, nil)
}

func TestInvalid(t *testing.T) {
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	tests := []struct {
		name   string
		want   string // in the error
		change func(e *env, r *wire.Record)
		signed func(signed []byte) []byte // changes the signed record, if not nil
	}{
		{name: "expired", want: "record expired", change: func(e *env, r *wire.Record) {
			r.Issued, r.Expires = e.now.Add(-2*time.Hour).UnixMilli(), e.now.Add(-time.Hour).UnixMilli()
		}},
		{name: "expires now", want: "record expired", change: func(e *env, r *wire.Record) {
			r.Issued, r.Expires = e.now.Add(-time.Hour).UnixMilli(), e.now.UnixMilli()
		}},
		{name: "issued in the future", want: "issued in the future", change: func(e *env, r *wire.Record) {
			r.Issued += ms(directory.MaxSkew + time.Millisecond)
			r.Expires += ms(directory.MaxSkew)
		}},
		{name: "lifetime too long", want: "valid for longer", change: func(e *env, r *wire.Record) {
			r.Expires = r.Issued + ms(directory.DefaultMaxLifetime+time.Millisecond)
		}},
		{name: "KEM key expired", want: "KEM key expired", change: func(e *env, r *wire.Record) { r.KEM.Expires = e.now.UnixMilli() }},
		{name: "KEM id mismatch", want: "KEM key id", change: func(e *env, r *wire.Record) { r.KEM.ID[0] ^= 1 }},
		{name: "not a KEM key", want: "KEM key:", change: func(e *env, r *wire.Record) {
			r.KEM.Key = bytes.Repeat([]byte{0xff}, wire.KEMPublicKeySize)
			r.KEM.ID = identity.KEMKeyID(r.KEM.Key)
		}},
		{name: "seq above 2^63-1", want: "sequence number", change: func(e *env, r *wire.Record) { r.Seq = math.MaxInt64 + 1 }},
		{name: "bad signature", want: "bad signature", signed: func(s []byte) []byte { s[len(s)-1] ^= 1; return s }},
		{name: "not a record", want: "truncated", signed: func(s []byte) []byte { return s[:len(s)-1] }},
		{name: "oversized", want: "limit 8192", signed: func(s []byte) []byte { return append(s, make([]byte, dirclient.MaxRecordSize)...) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			alice := e.identity()
			r := e.record(alice, "alice", 1)
			if tt.change != nil {
				tt.change(e, r)
			}
			signed := e.sign(alice, r)
			if tt.signed != nil {
				signed = tt.signed(signed)
			}
			if _, err := e.d.Check(signed); !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want ErrInvalid saying %q", err, tt.want)
			}
			e.publish(signed, directory.ErrInvalid)
			e.served("alice", alice, nil)
		})
	}
}

// TestLimits checks records just inside the limits.
func TestLimits(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.identity(), e.identity()
	r := e.record(alice, "alice", math.MaxInt64)
	r.Issued = e.now.Add(directory.MaxSkew).UnixMilli()
	r.Expires = r.Issued + directory.DefaultMaxLifetime.Milliseconds()
	e.publish(e.sign(alice, r), nil)

	e.d.MaxLifetime = 2 * time.Hour
	r = e.record(bob, "bob", 1)
	r.Expires = r.Issued + (2*time.Hour + time.Millisecond).Milliseconds()
	e.publish(e.sign(bob, r), directory.ErrInvalid)
	r.Expires -= 1
	e.publish(e.sign(bob, r), nil)
}

func TestRemove(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.identity(), e.identity()
	a := e.signed(alice, "alice", 5)
	e.publish(a, nil)

	e.remove(e.tombstone(alice, "alice", 5), directory.ErrStale)
	e.remove(e.tombstone(alice, "alice", 4), directory.ErrStale)
	e.remove(e.tombstone(alice, "alice2", 6), directory.ErrInvalid)
	e.remove(e.tombstone(bob, "alice", 6), directory.ErrNotFound)
	tomb := e.tombstone(alice, "alice", 6)
	bad := bytes.Clone(tomb)
	bad[len(bad)-1] ^= 1
	e.remove(bad, directory.ErrInvalid)
	e.remove(append(bytes.Clone(tomb), make([]byte, dirclient.MaxRecordSize)...), directory.ErrInvalid)
	e.served("alice", alice, a)

	e.remove(tomb, nil)
	e.served("alice", alice, nil)
	e.remove(e.tombstone(alice, "", 7), directory.ErrNotFound) // nothing left to remove
	e.publish(a, directory.ErrStale)                           // no replay

	b := e.signed(bob, "alice", 1)
	e.publish(b, nil)
	e.served("alice", bob, b)

	// A tombstone need not name the name; a removed key may come back.
	e.remove(e.tombstone(bob, "", 2), nil)
	e.served("alice", bob, nil)
	a7 := e.signed(alice, "alice", 7)
	e.publish(a7, nil)
	e.served("alice", alice, a7)
}

func TestLookupNameNormalises(t *testing.T) {
	e := newEnv(t)
	alice := e.identity()
	a := e.signed(alice, "alice", 1)
	e.publish(a, nil)
	for _, name := range []string{"alice", "Alice", "ALICE", "Ａｌｉｃｅ"} {
		e.served(name, nil, a)
	}
	for _, name := range []string{"alic", "alice ", "a", "", "al ice", "admin"} {
		e.served(name, nil, nil)
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t)
	alice, bob, carol := e.identity(), e.identity(), e.identity()
	e.served("alice", alice, nil) // unknown
	if _, err := e.d.LookupKey(t.Context(), []byte("short")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("LookupKey of a malformed key: %v", err)
	}

	e.publish(e.signed(alice, "alice", 1), nil)
	e.now = e.now.Add(time.Minute)
	e.publish(e.signed(bob, "bob", 1), nil)
	e.publish(e.signed(carol, "carol", 1), nil)
	e.remove(e.tombstone(carol, "carol", 2), nil)
	e.now = e.now.Add(lifetime - time.Minute)
	e.served("alice", alice, nil) // expired
	e.served("carol", carol, nil) // removed
	if _, err := e.d.LookupName(t.Context(), "bob"); err != nil {
		t.Errorf("bob's record is still valid: %v", err)
	}
}
