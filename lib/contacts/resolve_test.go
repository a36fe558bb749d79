package contacts

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/identity"
	"smvs/lib/tlspin"
	"smvs/lib/wire"
)

// fakeDir is a directory that serves whatever records a test puts in it,
// crafted or not, over HTTPS as doc/DIRECTORY.md says.
type fakeDir struct {
	mu     sync.Mutex
	byName map[string][]byte
	byKey  map[string][]byte
	asked  []string
	client *dirclient.Client
}

func newFakeDir(t *testing.T) *fakeDir {
	t.Helper()
	d := &fakeDir{byName: map[string][]byte{}, byKey: map[string][]byte{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.asked = append(d.asked, r.URL.Path)
		var rec []byte
		if name, ok := strings.CutPrefix(r.URL.Path, "/v1/records/name/"); ok {
			rec = d.byName[name]
		} else if key, ok := strings.CutPrefix(r.URL.Path, "/v1/records/key/"); ok {
			rec = d.byKey[key]
		}
		w.Header().Set("Content-Type", "application/json")
		if rec == nil {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error": "not found"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"record": base64.StdEncoding.EncodeToString(rec)})
	}))
	t.Cleanup(srv.Close)
	c, err := dirclient.New(srv.URL, tlspin.Pin(srv.Certificate()))
	if err != nil {
		t.Fatal(err)
	}
	d.client = c
	return d
}

// serve makes the directory answer for signed's name and key with it.
func (d *fakeDir) serve(t *testing.T, signed []byte) {
	t.Helper()
	s, err := wire.DecodeSigned(signed)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := wire.DecodeRecord(s.Body)
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.NewPublicKey(identity.KindIdentity, rec.Identity)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byName[rec.Name] = signed
	d.byKey[key.String()] = signed
}

func (d *fakeDir) serveName(name string, signed []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byName[name] = signed
}

func (d *fakeDir) serveKey(key identity.PublicKey, signed []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byKey[key.String()] = signed
}

// record returns id's signed record for name, changed by edit if not nil.
func record(t *testing.T, id *identity.Identity, name string, edit func(*wire.Record)) []byte {
	t.Helper()
	now := time.Now()
	kem, err := id.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	r := &wire.Record{
		Name:     name,
		Identity: id.Public().Bytes(),
		KEM:      kem.Public(),
		Host:     name + ".example.net:7447",
		Seq:      uint64(now.UnixMilli()),
		Issued:   now.UnixMilli(),
		Expires:  now.Add(24 * time.Hour).UnixMilli(),
	}
	if edit != nil {
		edit(r)
	}
	signed, err := wire.SignRecord(id.Signer(), r)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// rotated returns newID's record for name carrying a rotation signed by
// oldID.
func rotated(t *testing.T, oldID, newID *identity.Identity, name string) []byte {
	t.Helper()
	rot, err := wire.SignRotation(oldID.Signer(), &wire.Rotation{
		Old: oldID.Public().Bytes(), New: newID.Public().Bytes(), Issued: time.Now().UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return record(t, newID, name, func(r *wire.Record) { r.Rotation = rot })
}

// seqOf returns the sequence number of a signed record.
func seqOf(t *testing.T, signed []byte) uint64 {
	t.Helper()
	s, err := wire.DecodeSigned(signed)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := wire.DecodeRecord(s.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Seq
}

// seqAttr is the seq= attribute of a contact line for signed.
func seqAttr(t *testing.T, signed []byte) string {
	return " seq=" + strconv.FormatUint(seqOf(t, signed), 10)
}

func resolver(t *testing.T, dirs ...*fakeDir) *Resolver {
	r := &Resolver{Path: Path(t.TempDir())}
	for _, d := range dirs {
		r.Directories = append(r.Directories, d.client)
	}
	return r
}

func writeContacts(t *testing.T, r *Resolver, text string) {
	t.Helper()
	if err := os.WriteFile(r.Path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readContacts(t *testing.T, r *Resolver) string {
	t.Helper()
	b, err := os.ReadFile(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTrustOnFirstUse(t *testing.T) {
	alice := newKey(t)
	d := newFakeDir(t)
	signed := record(t, alice, "alice", nil)
	d.serve(t, signed)
	r := resolver(t, d)
	writeContacts(t, r, "# my contacts\n")

	res, err := r.Resolve(context.Background(), "Alice")
	if err != nil {
		t.Fatal(err)
	}
	if res.Change != Pinned || res.Contact != (Contact{Name: "alice", Key: alice.Public(), Seq: seqOf(t, signed)}) || !res.InFile ||
		!bytes.Equal(res.Signed, signed) || res.Record == nil || res.Host() != "alice.example.net:7447" ||
		res.Directory != d.client.String() {
		t.Errorf("first resolve: %+v", res)
	}
	if got, want := readContacts(t, r), "# my contacts\nalice "+alice.Public().String()+seqAttr(t, signed)+"\n"; got != want {
		t.Errorf("contacts file:\n%s\nwant\n%s", got, want)
	}

	res, err = r.Resolve(context.Background(), "alice")
	if err != nil || res.Change != Unchanged || res.Contact.Key != alice.Public() {
		t.Errorf("second resolve: %+v, %v", res, err)
	}
}

func TestSubstitutedKey(t *testing.T) {
	alice, mallory := newKey(t), newKey(t)
	d := newFakeDir(t)
	d.serve(t, record(t, mallory, "alice", nil))
	r := resolver(t, d)
	before := "alice " + alice.Public().String() + " verified\n"
	writeContacts(t, r, before)

	_, err := r.Resolve(context.Background(), "alice")
	var changed *KeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("error %v, want a *KeyChangedError", err)
	}
	if changed.Name != "alice" || changed.Pinned != alice.Public() || changed.Got != mallory.Public() {
		t.Errorf("KeyChangedError %+v", changed)
	}
	if !strings.Contains(err.Error(), `the key of "alice" changed`) ||
		!strings.Contains(changed.Hint(), "smvs-register trust alice "+mallory.Public().String()) ||
		!strings.Contains(changed.Hint(), "safety numbers") {
		t.Errorf("message %q, hint %q", err, changed.Hint())
	}
	if got := readContacts(t, r); got != before {
		t.Errorf("the contacts file changed:\n%s", got)
	}
}

func TestRotation(t *testing.T) {
	old, next := newKey(t), newKey(t)
	d := newFakeDir(t)
	rot := rotated(t, old, next, "alice")
	d.serve(t, rot)
	r := resolver(t, d)
	writeContacts(t, r, "# alice\nalice "+old.Public().String()+" host=mine.example:1 verified\nbob "+old.Public().String()+"\n")

	res, err := r.Resolve(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if res.Change != Rotated || res.Previous != old.Public() ||
		res.Contact != (Contact{Name: "alice", Key: next.Public(), Host: "mine.example:1", Verified: true, Seq: seqOf(t, rot)}) ||
		res.Host() != "mine.example:1" {
		t.Errorf("resolved %+v", res)
	}
	// verified stays: the new key is vouched for by the verified one.
	want := "# alice\nalice " + next.Public().String() + " host=mine.example:1 verified" + seqAttr(t, rot) + "\nbob " + old.Public().String() + "\n"
	if got := readContacts(t, r); got != want {
		t.Errorf("contacts file:\n%s\nwant\n%s", got, want)
	}

	// A rotation signed by some other key is no rotation of alice's.
	other := newKey(t)
	d.serve(t, rotated(t, other, newKey(t), "alice"))
	_, err = r.Resolve(context.Background(), "alice")
	var changed *KeyChangedError
	if !errors.As(err, &changed) || changed.Pinned != next.Public() {
		t.Errorf("rotation from another key: %v, want a *KeyChangedError", err)
	}
	if got := readContacts(t, r); got != want {
		t.Errorf("contacts file changed:\n%s", got)
	}
}

// chainRecord returns the record of the last of ids for name, carrying
// the rotations from the first to the last, each signed by the one
// before, changed by edit if not nil.
func chainRecord(t *testing.T, ids []*identity.Identity, name string, edit func(*wire.Record)) []byte {
	t.Helper()
	var chain [][]byte
	for i := 1; i < len(ids); i++ {
		s, err := wire.SignRotation(ids[i-1].Signer(), &wire.Rotation{
			Old: ids[i-1].Public().Bytes(), New: ids[i].Public().Bytes(), Issued: time.Now().UnixMilli(),
		})
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, s)
	}
	return record(t, ids[len(ids)-1], name, func(r *wire.Record) {
		r.Rotation, r.Rotations = chain[len(chain)-1], chain[:len(chain)-1]
		if edit != nil {
			edit(r)
		}
	})
}

// TestRotationChain: bob rotates A→B→C and is seen only as C; a contact
// pinned to A follows the chain to C, by name and by key, verified kept
// and the mark starting at C's record.
func TestRotationChain(t *testing.T) {
	a, b, c := newKey(t), newKey(t), newKey(t)
	d := newFakeDir(t)
	signed := chainRecord(t, []*identity.Identity{a, b, c}, "bob", nil)
	d.serve(t, signed)

	r := resolver(t, d)
	writeContacts(t, r, "bob "+a.Public().String()+" verified seq=5\n")
	res, err := r.Resolve(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if res.Change != Rotated || res.Previous != a.Public() || res.Steps != 2 || res.Contact.Key != c.Public() || !res.Contact.Verified {
		t.Errorf("by name: %+v", res)
	}
	if got, want := readContacts(t, r), "bob "+c.Public().String()+" verified"+seqAttr(t, signed)+"\n"; got != want {
		t.Errorf("contacts file:\n%s\nwant\n%s", got, want)
	}

	// By key: C writes to a user who pinned B; looking C up finds bob.
	r = resolver(t, d)
	writeContacts(t, r, "bob "+b.Public().String()+"\n")
	res, err = r.Resolve(context.Background(), c.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Change != Rotated || res.Previous != b.Public() || res.Steps != 1 || !res.InFile || res.Contact.Name != "bob" ||
		res.Contact.Key != c.Public() || res.Contact.Verified {
		t.Errorf("by key: %+v", res)
	}
	if got, want := readContacts(t, r), "bob "+c.Public().String()+seqAttr(t, signed)+"\n"; got != want {
		t.Errorf("contacts file:\n%s\nwant\n%s", got, want)
	}
	// A key nobody pinned stays a stranger, and changes nothing.
	r = resolver(t, d)
	writeContacts(t, r, "carol "+newKey(t).Public().String()+"\n")
	before := readContacts(t, r)
	if res, err := r.Resolve(context.Background(), c.Public().String()); err != nil || res.InFile || res.Change != Unchanged {
		t.Errorf("a stranger's chain: %+v, %v", res, err)
	}
	if readContacts(t, r) != before {
		t.Error("a stranger's chain changed the contacts file")
	}
}

// TestRotationChainRefused: a chain that skips a key, or has a step
// signed by a stranger, is no chain of the pinned key's; a pinned key
// more rotations ago than a record carries is a key change that says so.
func TestRotationChainRefused(t *testing.T) {
	a, b, c, x := newKey(t), newKey(t), newKey(t), newKey(t)
	pinned := "bob " + a.Public().String() + " verified\n"
	check := func(name string, signed []byte, want string) {
		t.Helper()
		d := newFakeDir(t)
		d.serveName("bob", signed)
		r := resolver(t, d)
		writeContacts(t, r, pinned)
		_, err := r.Resolve(context.Background(), "bob")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
		if got := readContacts(t, r); got != pinned {
			t.Errorf("%s: the contacts file changed:\n%s", name, got)
		}
	}
	// A→B, then X→C: B never signed for C, so the record does not verify.
	skip := chainRecord(t, []*identity.Identity{a, b}, "bob", nil)
	xc := chainRecord(t, []*identity.Identity{x, c}, "bob", func(r *wire.Record) {
		s, _ := wire.DecodeSigned(skip)
		ab, _ := wire.DecodeRecord(s.Body)
		r.Rotations = [][]byte{ab.Rotation}
	})
	d := newFakeDir(t)
	d.serveName("bob", xc)
	r := resolver(t, d)
	writeContacts(t, r, pinned)
	res, err := r.Resolve(context.Background(), "bob")
	if err != nil || res.Change != Unchanged || res.Contact.Key != a.Public() || len(res.Skipped) != 1 ||
		!strings.Contains(res.Skipped[0].Error(), "another key than the one before rotated to") {
		t.Errorf("skipped: %+v, %v; want the pinned key, the record skipped as bad", res, err)
	}
	// X→B→C: signed throughout, but by a stranger: a key change.
	check("stranger", chainRecord(t, []*identity.Identity{x, b, c}, "bob", nil), `the key of "bob" changed`)

	// 16 rotations from B: A is beyond what the record remembers.
	ids := []*identity.Identity{b}
	for range wire.MaxRotations {
		ids = append(ids, newKey(t))
	}
	d = newFakeDir(t)
	d.serveName("bob", chainRecord(t, ids, "bob", nil))
	r = resolver(t, d)
	writeContacts(t, r, pinned)
	_, err = r.Resolve(context.Background(), "bob")
	var changed *KeyChangedError
	if !errors.As(err, &changed) || !changed.ChainFull || !strings.Contains(err.Error(), "rotated more than 16 times") {
		t.Errorf("beyond the chain: %v", err)
	}
	// A chain longer than a record may carry does not verify at all
	// (lib/wire's TestChainRefused).
}

func TestBadRecords(t *testing.T) {
	alice, bob := newKey(t), newKey(t)
	badSig := func() []byte {
		s, err := wire.DecodeSigned(record(t, alice, "alice", nil))
		if err != nil {
			t.Fatal(err)
		}
		s.Sig[0] ^= 1
		return s.Encode()
	}()
	past := time.Now().Add(-time.Hour)
	expired := record(t, alice, "alice", func(r *wire.Record) {
		r.Issued, r.Expires = past.Add(-time.Hour).UnixMilli(), past.UnixMilli()
	})
	badKEM := record(t, alice, "alice", func(r *wire.Record) { r.KEM.ID[0] ^= 1 })
	for _, tt := range []struct {
		name    string
		signed  []byte
		message string
	}{
		{"bad signature", badSig, "bad signature"},
		{"another name", record(t, bob, "bobby", nil), `it is the record of "bobby"`},
		{"expired", expired, "it expired at " + past.UTC().Format(time.RFC3339)},
		{"kem id", badKEM, "KEM key id does not match"},
		{"garbage", []byte("not cbor"), "signed: "},
		{"escape in the name", record(t, alice, "ali\x1b]0;x\x07ce", nil), "invalid name"},
		{"bidi override in the name", record(t, alice, "ali\u202ece", nil), "invalid name"},
		{"escape in the host", record(t, alice, "alice", func(r *wire.Record) { r.Host = "a.example\x1b[5m:7447" }), "invalid host address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDir(t)
			d.serveName("alice", tt.signed)
			r := resolver(t, d)
			_, err := r.Resolve(context.Background(), "alice")
			if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), tt.message) ||
				!strings.Contains(err.Error(), d.client.String()) {
				t.Errorf("error %v, want ErrBadRecord with %q", err, tt.message)
			}
			if _, err := os.Stat(r.Path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a bad record made a contacts file: %v", err)
			}

			// A pinned contact still resolves, from the contacts file,
			// and the bad record is reported.
			writeContacts(t, r, "alice "+alice.Public().String()+" host=a.example:1\n")
			res, err := r.Resolve(context.Background(), "alice")
			if err != nil || res.Record != nil || res.Contact.Key != alice.Public() || len(res.Skipped) != 1 ||
				!errors.Is(res.Skipped[0], ErrBadRecord) {
				t.Errorf("pinned: %+v, %v", res, err)
			}
		})
	}
}

func TestLookupByKey(t *testing.T) {
	alice, bob := newKey(t), newKey(t)
	d := newFakeDir(t)
	aliceRec := record(t, alice, "alice", nil)
	d.serve(t, aliceRec)
	r := resolver(t, d)

	res, err := r.Resolve(context.Background(), alice.Public().String())
	if err != nil || res.InFile || res.Change != Unchanged || res.Contact.Name != "alice" || !bytes.Equal(res.Signed, aliceRec) {
		t.Errorf("by key: %+v, %v", res, err)
	}
	if _, err := os.Stat(r.Path); !errors.Is(err, os.ErrNotExist) {
		t.Error("a look-up by key wrote the contacts file")
	}

	// The directory answers for bob's key with alice's record.
	d.serveKey(bob.Public(), aliceRec)
	if _, err := r.Resolve(context.Background(), bob.Public().String()); !errors.Is(err, ErrBadRecord) ||
		!strings.Contains(err.Error(), "record of another key") {
		t.Errorf("another key's record: %v", err)
	}

	// By key as by name, a record must keep the name and host rules.
	carol := newKey(t)
	d.serveKey(carol.Public(), record(t, carol, "carol", func(r *wire.Record) { r.Host = "c.example\x1b[5m:7447" }))
	if _, err := r.Resolve(context.Background(), carol.Public().String()); !errors.Is(err, ErrBadRecord) ||
		!strings.Contains(err.Error(), "invalid host address") {
		t.Errorf("a host with an escape, by key: %v", err)
	}

	// In the contacts file, the contact is as the file has it.
	writeContacts(t, r, "ally "+alice.Public().String()+" verified\n")
	res, err = r.Resolve(context.Background(), alice.Public().String())
	if err != nil || !res.InFile || res.Contact.Name != "ally" || !res.Contact.Verified || res.Record.Name != "alice" {
		t.Errorf("by key, in the file: %+v, %v", res, err)
	}

	dev, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), dev.Public().String()); err == nil || !strings.Contains(err.Error(), "device key") {
		t.Errorf("device key: %v", err)
	}
	if _, err := r.Resolve(context.Background(), "smvs1"+strings.Repeat("q", 58)); !errors.Is(err, identity.ErrBadPublicKey) {
		t.Errorf("bad key: %v", err)
	}
}

func TestContactByKeyAlone(t *testing.T) {
	carol := newKey(t)
	for _, dirs := range [][]*fakeDir{nil, {newFakeDir(t)}} {
		r := resolver(t, dirs...)
		writeContacts(t, r, "carol "+carol.Public().String()+" host=carol.example:7447\n")
		for _, q := range []string{"carol", carol.Public().String()} {
			res, err := r.Resolve(context.Background(), q)
			if err != nil || res.Record != nil || !res.InFile || res.Contact.Key != carol.Public() || res.Host() != "carol.example:7447" {
				t.Errorf("%d directories, %s: %+v, %v", len(dirs), q, res, err)
			}
		}
	}
}

func TestPinnedNameGone(t *testing.T) {
	// The directory no longer serves the name (alice now goes by another),
	// but still serves alice's key.
	alice := newKey(t)
	d := newFakeDir(t)
	d.serveKey(alice.Public(), record(t, alice, "alice2", nil))
	r := resolver(t, d)
	writeContacts(t, r, "alice "+alice.Public().String()+"\n")
	res, err := r.Resolve(context.Background(), "alice")
	if err != nil || res.Record == nil || res.Record.Name != "alice2" || res.Contact.Name != "alice" || res.Change != Unchanged {
		t.Errorf("%+v, %v", res, err)
	}
}

func TestNotFound(t *testing.T) {
	r := resolver(t, newFakeDir(t))
	for _, q := range []string{"nobody", newKey(t).Public().String()} {
		if _, err := r.Resolve(context.Background(), q); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", q, err)
		}
	}
	if _, err := r.Resolve(context.Background(), "no"); err == nil || !strings.Contains(err.Error(), "invalid name") {
		t.Errorf("bad name: %v", err)
	}
}

func TestSeveralDirectories(t *testing.T) {
	alice := newKey(t)
	broken, good := newFakeDir(t), newFakeDir(t)
	s, err := wire.DecodeSigned(record(t, alice, "alice", nil))
	if err != nil {
		t.Fatal(err)
	}
	s.Sig[5] ^= 0x80
	broken.serveName("alice", s.Encode())
	good.serve(t, record(t, alice, "alice", nil))
	r := resolver(t, broken, good)
	res, err := r.Resolve(context.Background(), "alice")
	if err != nil || res.Directory != good.client.String() || len(res.Skipped) != 1 || res.Change != Pinned {
		t.Errorf("%+v, %v", res, err)
	}

	// A directory that can't be reached is skipped too.
	down, err := dirclient.New("https://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	r.Directories = []Directory{down, good.client}
	if res, err := r.Resolve(context.Background(), "alice"); err != nil || len(res.Skipped) != 1 {
		t.Errorf("unreachable first directory: %+v, %v", res, err)
	}
	r.Directories = []Directory{down}
	if _, err := r.Resolve(context.Background(), "bob"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("only an unreachable directory: %v, want its error", err)
	}
}
