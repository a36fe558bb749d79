package contacts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// withSeq returns id's record for name at sequence number seq.
func withSeq(t *testing.T, id *identity.Identity, name string, seq uint64) []byte {
	return record(t, id, name, func(r *wire.Record) { r.Seq = seq })
}

func asRollback(t *testing.T, err error) *RollbackError {
	t.Helper()
	var rb *RollbackError
	if !errors.As(err, &rb) {
		t.Fatalf("error %v, want a *RollbackError", err)
	}
	if !errors.Is(err, ErrBadRecord) {
		t.Errorf("%v does not match ErrBadRecord", err)
	}
	return rb
}

// TestRollback: each record accepted raises the contact's seq=; a lower
// one is refused from any directory, by name and by key, while a good
// record from another directory is taken; the file changes only on its
// contact's seq=.
func TestRollback(t *testing.T) {
	bob, carol := newKey(t), newKey(t)
	stale, good := newFakeDir(t), newFakeDir(t)
	r := resolver(t, stale, good)
	bobKey := bob.Public().String()
	writeContacts(t, r, "# friends\nbob  "+bobKey+"\t verified\n\ncarol "+carol.Public().String()+" host=c.example:1\n")
	want := func(seq uint64) string {
		return fmt.Sprintf("# friends\nbob  %s\t verified seq=%d\n\ncarol %s host=c.example:1\n", bobKey, seq, carol.Public())
	}

	// Published three times: each look-up raises the mark.
	for _, seq := range []uint64{3, 4, 5} {
		stale.serve(t, withSeq(t, bob, "bob", seq))
		res, err := r.Resolve(context.Background(), "bob")
		if err != nil || res.Record.Seq != seq || res.Contact.Seq != seq || !res.Contact.Verified {
			t.Fatalf("seq %d: %+v, %v", seq, res, err)
		}
		if got := readContacts(t, r); got != want(seq) {
			t.Fatalf("contacts file after seq %d:\n%q\nwant\n%q", seq, got, want(seq))
		}
	}

	// The first directory goes back to seq 3; the second has nothing.
	stale.serve(t, withSeq(t, bob, "bob", 3))
	before := readContacts(t, r)
	for _, q := range []string{"bob", bobKey} {
		_, err := r.Resolve(context.Background(), q)
		rb := asRollback(t, err)
		if rb.Directory != stale.client.String() || rb.Who != "bob" || rb.Seen != 5 || rb.Served != 3 {
			t.Errorf("%s: %+v", q, rb)
		}
		wantMsg := "directory " + stale.client.String() + ": bob's record went back from sequence 5 to 3: refusing it (a directory serving an old record)"
		if !strings.Contains(err.Error(), wantMsg) || !strings.Contains(rb.Hint(), "nothing was changed") {
			t.Errorf("%s: message %q, hint %q", q, err, rb.Hint())
		}
		if got := readContacts(t, r); got != before {
			t.Errorf("%s: a rollback changed the contacts file:\n%s", q, got)
		}
	}

	// The second directory serves seq 7: it is taken, the rollback is
	// reported, and the mark rises.
	good.serve(t, withSeq(t, bob, "bob", 7))
	res, err := r.Resolve(context.Background(), "bob")
	if err != nil || res.Directory != good.client.String() || res.Record.Seq != 7 || len(res.Skipped) != 1 {
		t.Fatalf("with a good second directory: %+v, %v", res, err)
	}
	asRollback(t, res.Skipped[0])
	if got := readContacts(t, r); got != want(7) {
		t.Errorf("contacts file:\n%q\nwant\n%q", got, want(7))
	}

	// The same number again, even in another record: only bob's key can
	// sign it, so it is no rollback, and nothing is written.
	stale.serve(t, withSeq(t, bob, "bob", 7))
	good.serve(t, record(t, bob, "bob", func(r *wire.Record) { r.Seq, r.Host = 7, "moved.example:1" }))
	info, err := os.Stat(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"bob", bobKey} {
		if res, err := r.Resolve(context.Background(), q); err != nil || res.Record.Seq != 7 || len(res.Skipped) != 0 {
			t.Errorf("%s at the same seq: %+v, %v", q, res, err)
		}
	}
	if after, err := os.Stat(r.Path); err != nil || !after.ModTime().Equal(info.ModTime()) || readContacts(t, r) != want(7) {
		t.Errorf("the contacts file was written for a seq that did not rise: %v", err)
	}

	// By key, a higher number raises it too.
	stale.serve(t, withSeq(t, bob, "bob", 9))
	if res, err := r.Resolve(context.Background(), bobKey); err != nil || res.Contact.Seq != 9 || !res.InFile {
		t.Errorf("by key: %+v, %v", res, err)
	}
	if got := readContacts(t, r); got != want(9) {
		t.Errorf("contacts file:\n%q\nwant\n%q", got, want(9))
	}

	// A file edited by hand to a higher mark is respected by a new
	// Resolver, which has no memory of its own.
	writeContacts(t, r, "bob "+bobKey+" seq=20\n")
	fresh := resolver(t, stale, good)
	fresh.Path = r.Path
	if _, err := fresh.Resolve(context.Background(), "bob"); asRollback(t, err).Seen != 20 {
		t.Errorf("a mark from the file: %v", err)
	}
}

// TestRollbackStranger: a key not in the contacts file is marked in the
// Resolver's memory; the contacts file is not made.
func TestRollbackStranger(t *testing.T) {
	dave := newKey(t)
	d := newFakeDir(t)
	r := resolver(t, d)
	d.serve(t, withSeq(t, dave, "dave", 5))
	if res, err := r.Resolve(context.Background(), dave.Public().String()); err != nil || res.InFile || res.Record.Seq != 5 {
		t.Fatalf("%+v, %v", res, err)
	}
	d.serve(t, withSeq(t, dave, "dave", 3))
	_, err := r.Resolve(context.Background(), dave.Public().String())
	if rb := asRollback(t, err); rb.Who != dave.Public().String() || rb.Seen != 5 || rb.Served != 3 {
		t.Errorf("%+v", rb)
	}
	// By name, before pinning, the mark is the key's as well.
	if _, err := r.Resolve(context.Background(), "dave"); asRollback(t, err).Who != "dave" {
		t.Errorf("by name: %v", err)
	}
	if _, err := os.Stat(r.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("looking a stranger up made a contacts file: %v", err)
	}
	// Once pinned, the mark moves to the contacts file.
	d.serve(t, withSeq(t, dave, "dave", 6))
	if _, err := r.Resolve(context.Background(), "dave"); err != nil {
		t.Fatal(err)
	}
	if got, want := readContacts(t, r), "dave "+dave.Public().String()+" seq=6\n"; got != want {
		t.Errorf("contacts file:\n%q\nwant\n%q", got, want)
	}
}

// TestMarksBounded: the memory keeps at most maxMarks keys, forgetting
// the one used least recently.
func TestMarksBounded(t *testing.T) {
	r := new(Resolver)
	var f File
	keep := newKey(t).Public()
	r.remember(keep, 99)
	for i := range maxMarks {
		var b [32]byte
		b[0], b[1], b[2] = byte(i), byte(i>>8), 1
		k, err := identity.NewPublicKey(identity.KindIdentity, b[:])
		if err != nil {
			t.Fatal(err)
		}
		r.remember(k, uint64(i))
		if i%100 == 0 && r.seen(&f, keep) != 99 { // used, so not the least recently
			t.Fatalf("the mark in use was forgotten after %d others", i)
		}
	}
	if len(r.marks) != maxMarks {
		t.Errorf("%d marks, want %d", len(r.marks), maxMarks)
	}
	if r.seen(&f, keep) != 99 {
		t.Error("the mark in use was forgotten")
	}
}

// TestRollbackRotation: a key that a rotation pins starts its own count,
// below the old key's; a record of it below that is then refused.
func TestRollbackRotation(t *testing.T) {
	old, next := newKey(t), newKey(t)
	d := newFakeDir(t)
	r := resolver(t, d)
	writeContacts(t, r, "alice "+old.Public().String()+" seq=900\n")
	rot, err := wire.SignRotation(old.Signer(), &wire.Rotation{Old: old.Public().Bytes(), New: next.Public().Bytes(), Issued: 1})
	if err != nil {
		t.Fatal(err)
	}
	rotatedAt := func(seq uint64) []byte {
		return record(t, next, "alice", func(r *wire.Record) { r.Rotation, r.Seq = rot, seq })
	}
	d.serve(t, rotatedAt(5))
	res, err := r.Resolve(context.Background(), "alice")
	if err != nil || res.Change != Rotated || res.Contact.Seq != 5 {
		t.Fatalf("%+v, %v", res, err)
	}
	if got, want := readContacts(t, r), "alice "+next.Public().String()+" seq=5\n"; got != want {
		t.Errorf("contacts file:\n%q\nwant\n%q", got, want)
	}
	d.serve(t, rotatedAt(4))
	if _, err := r.Resolve(context.Background(), "alice"); asRollback(t, err).Seen != 5 {
		t.Errorf("%v", err)
	}
}

// TestRollbackConcurrent: resolvers in parallel, each served another
// sequence number, leave the highest in the file, refuse only with a
// *RollbackError, and keep the file's other lines.
func TestRollbackConcurrent(t *testing.T) {
	bob := newKey(t)
	path := Path(t.TempDir())
	head := "# mine\ncarol " + newKey(t).Public().String() + " verified\n\n"
	if err := os.WriteFile(path, []byte(head+"bob "+bob.Public().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 8
	shared := &Resolver{Path: path}
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		d := newFakeDir(t)
		d.serve(t, withSeq(t, bob, "bob", uint64(100+i)))
		own := &Resolver{Path: path, Directories: []Directory{d.client}}
		shared.Directories = append(shared.Directories, d.client)
		for _, q := range []string{"bob", bob.Public().String()} {
			wg.Go(func() {
				_, err := own.Resolve(context.Background(), q)
				errs <- err
			})
		}
	}
	for range n {
		wg.Go(func() {
			_, err := shared.Resolve(context.Background(), bob.Public().String())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			asRollback(t, err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), head+fmt.Sprintf("bob %s seq=%d\n", bob.Public(), 100+n-1); got != want {
		t.Errorf("contacts file:\n%q\nwant\n%q", got, want)
	}
}
