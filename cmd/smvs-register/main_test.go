package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"smvs/lib/agent"
	"smvs/lib/cli"
	"smvs/lib/cli/clitest"
	"smvs/lib/contacts"
	"smvs/lib/directory"
	"smvs/lib/directory/server"
	"smvs/lib/directory/sqlitestore"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/link"
	"smvs/lib/record"
	"smvs/lib/tlspin"
	"smvs/lib/wire"
)

// wrongPin is the pin of no test server's key. (All httptest servers
// share one certificate, so one's pin is every one's.)
var wrongPin = "sha256//" + base64.StdEncoding.EncodeToString(make([]byte, 32))

var quietLog = log.New(io.Discard, "", 0)

// dir is a real directory (lib/directory/server over SQLite) on an
// httptest TLS server.
type dir struct {
	url, pin string
}

func newDir(t *testing.T) dir {
	t.Helper()
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(server.New(&directory.Directory{Store: store}, server.Options{}))
	srv.Config.ErrorLog = quietLog // refused handshakes are what some tests are about
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		store.Close()
	})
	return dir{srv.URL, tlspin.Pin(srv.Certificate())}
}

// user is an SMVS home with an identity in it.
type user struct {
	home   string
	dirs   []dir
	socket string // the host's socket, if not host.sock in home
	agent  string // smvs-agent's socket, if the agent holds the identity
}

func newUser(t *testing.T, dirs ...dir) *user {
	t.Helper()
	u := &user{home: t.TempDir(), dirs: dirs}
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	if err := identity.WriteNewFile(u.identityPath(), id.MarshalText()); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u *user) identityPath() string { return filepath.Join(u.home, "identity") }
func (u *user) contactsPath() string { return filepath.Join(u.home, "contacts") }

func (u *user) identity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.ReadFile(u.identityPath(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return id
}

func (u *user) key(t *testing.T) string { return u.identity(t).Public().String() }

func (u *user) contacts(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(u.contactsPath())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// result is what one run of smvs-register did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs smvs-register in-process as u, with u's directories in the
// environment (SMVS_DIR, SMVS_DIR_PIN), and nothing else from it.
func (u *user) run(t *testing.T, args ...string) result {
	t.Helper()
	var urls, pins []string
	for _, d := range u.dirs {
		urls, pins = append(urls, d.url), append(pins, d.pin)
	}
	t.Setenv(cli.HomeEnv, u.home)
	t.Setenv(cli.DirEnv, strings.Join(urls, ","))
	t.Setenv(cli.DirPinEnv, strings.Join(pins, ","))
	t.Setenv(cli.PassphraseFDEnv, "")
	t.Setenv(cli.PassphraseFileEnv, "")
	t.Setenv(cli.SocketEnv, u.socket)
	t.Setenv(agent.SocketEnv, u.agent)
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"smvs-register"}, args...), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// ok runs smvs-register and fails the test unless it succeeds.
func (u *user) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := u.run(t, args...)
	if r.code != 0 {
		t.Fatalf("%q: status %d, stdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs smvs-register and fails the test unless it exits with code
// and its standard error has want.
func (u *user) fails(t *testing.T, code int, want string, args ...string) result {
	t.Helper()
	r := u.run(t, args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("%q: status %d, stderr:\n%s\nwant status %d and %q", args, r.code, r.stderr, code, want)
	}
	return r
}

func lookupJSON(t *testing.T, u *user, query string) contactJSON {
	t.Helper()
	r := u.ok(t, "lookup", "--json", query)
	var out contactJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("lookup --json: %v\n%s", err, r.stdout)
	}
	return out
}

func TestPublishAndLookup(t *testing.T) {
	d := newDir(t)
	alice, bob := newUser(t, d), newUser(t, d)

	r := alice.ok(t, "publish", "--host", "alice.example.net:7447", "Alice")
	if !strings.Contains(r.stderr, `warning: publishing "Alice" as "alice"`) ||
		!strings.Contains(r.stderr, `published "alice" (`+alice.key(t)+") to "+d.url) {
		t.Errorf("publish stderr:\n%s", r.stderr)
	}

	r = bob.ok(t, "lookup", "alice")
	for _, want := range []string{
		"name:        alice\n",
		"id:          " + alice.key(t) + "\n",
		"host:        alice.example.net:7447\n",
		"directory:   " + d.url + "\n",
		"verified:    no\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("lookup output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "pinned the key of alice on first use") || !strings.Contains(r.stderr, "hint: compare safety numbers") {
		t.Errorf("lookup stderr:\n%s", r.stderr)
	}
	if got, want := bob.contacts(t), "alice "+alice.key(t)+" seq=[0-9]+\n"; !regexp.MustCompile("^" + want + "$").MatchString(got) {
		t.Errorf("bob's contacts:\n%s\nwant\n%s", got, want)
	}

	// Pinned now: no news the second time.
	if r := bob.ok(t, "lookup", "alice"); r.stderr != "" {
		t.Errorf("second lookup stderr:\n%s", r.stderr)
	}

	out := lookupJSON(t, bob, alice.key(t))
	kem, err := alice.identity(t).CurrentKEM(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != "alice" || out.ID != alice.key(t) || out.Host != "alice.example.net:7447" || !out.Contact ||
		out.Verified || out.Change != "" || out.Directory != d.url || out.Record == "" || out.Seq == 0 ||
		out.KEMKeyID != hex.EncodeToString(kem.ID()) {
		t.Errorf("lookup --json by key: %+v", out)
	}

	// Bob's own name is unknown.
	r = bob.fails(t, exitNotFound, `error: "bob" not found in the contacts file or any directory`, "lookup", "bob")
	if !strings.Contains(r.stderr, "hint: check the name; if you have their key, add them: smvs-register add bob smvs1...") {
		t.Errorf("no hint to add bob:\n%s", r.stderr)
	}
	carol := newUser(t).key(t)
	r = bob.fails(t, exitNotFound, "error: "+carol+" not found in the contacts file or any directory", "lookup", carol)
	if !strings.Contains(r.stderr, "hint: to write to a key no directory knows, add it with its host's address: smvs-register add --host ADDR NAME "+carol) {
		t.Errorf("no hint to add carol's key:\n%s", r.stderr)
	}
	// Without a directory, only the contacts file is asked.
	bob.dirs = nil
	bob.ok(t, "lookup", "alice")
	r = bob.fails(t, exitNotFound, `error: "carol" not found in the contacts file`, "lookup", "carol")
	if !strings.Contains(r.stderr, "hint: to look it up in a directory, give --dir URL or set SMVS_DIR") {
		t.Errorf("no hint about --dir:\n%s", r.stderr)
	}
}

func TestUpdate(t *testing.T) {
	d := newDir(t)
	alice, bob := newUser(t, d), newUser(t, d)
	alice.fails(t, exitNotFound, "no directory has a record of yours", "update")
	alice.ok(t, "publish", "--host", "old.example.net:7447", "--lifetime", "2d", "alice")
	before := lookupJSON(t, bob, "alice")

	alice.ok(t, "update", "--host", "new.example.net:7447")
	after := lookupJSON(t, bob, "alice")
	if after.Host != "new.example.net:7447" || after.Seq <= before.Seq || after.Expires <= before.Expires || after.Name != "alice" {
		t.Errorf("before %+v\nafter %+v", before, after)
	}
	// Without --host, the host stays.
	alice.ok(t, "update")
	if got := lookupJSON(t, bob, "alice"); got.Host != "new.example.net:7447" {
		t.Errorf("update without --host changed the host to %q", got.Host)
	}
}

func TestConflict(t *testing.T) {
	d := newDir(t)
	alice, mallory := newUser(t, d), newUser(t, d)
	alice.ok(t, "publish", "alice")
	mallory.fails(t, exitConflict, "name is held by another key", "publish", "alice")
}

func TestSeveralDirectories(t *testing.T) {
	d1, d2 := newDir(t), newDir(t)
	alice := newUser(t, d1, d2)
	r := alice.ok(t, "publish", "--host", "a.example:1", "alice")
	if !strings.Contains(r.stderr, "to "+d1.url) || !strings.Contains(r.stderr, "to "+d2.url) {
		t.Errorf("publish stderr:\n%s", r.stderr)
	}
	for _, d := range []dir{d1, d2} {
		bob := newUser(t, d)
		if got := lookupJSON(t, bob, "alice"); got.ID != alice.key(t) {
			t.Errorf("%s: %+v", d.url, got)
		}
	}

	// A wrong pin for one directory: the other still takes the record.
	alice.dirs = []dir{d1, {d2.url, wrongPin}}
	r = alice.run(t, "update")
	if r.code != 1 || !strings.Contains(r.stderr, "warning: directory "+d2.url) ||
		!strings.Contains(r.stderr, "does not match the pin") || !strings.Contains(r.stderr, "error: published to 1 of 2 directories") {
		t.Errorf("status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestRotateKEM(t *testing.T) {
	d := newDir(t)
	alice, bob := newUser(t, d), newUser(t, d)
	alice.ok(t, "publish", "alice")
	before := lookupJSON(t, bob, "alice")
	oldKEM := alice.identity(t)

	r := alice.ok(t, "rotate", "--kem")
	if !strings.Contains(r.stderr, "new KEM key ") || !strings.Contains(r.stderr, "published \"alice\"") {
		t.Errorf("rotate --kem stderr:\n%s", r.stderr)
	}
	id := alice.identity(t)
	kem, err := id.CurrentKEM(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	after := lookupJSON(t, bob, "alice")
	if after.KEMKeyID == before.KEMKeyID || after.KEMKeyID != hex.EncodeToString(kem.ID()) || after.ID != before.ID {
		t.Errorf("before %+v\nafter %+v", before, after)
	}
	// The old KEM key is kept for the grace period.
	oldID, _ := hex.DecodeString(before.KEMKeyID)
	if _, err := id.KEMKey(oldID, time.Now()); err != nil {
		t.Errorf("the old KEM key is gone: %v", err)
	}
	if id.Public() != oldKEM.Public() {
		t.Error("rotate --kem changed the identity key")
	}
	if info, err := os.Stat(alice.identityPath()); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("identity file: %v, %v", info, err)
	}
}

func TestRotateKEMProtected(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt at full cost")
	}
	alice := newUser(t) // no directory: the rotation is saved, and nothing published
	id := alice.identity(t)
	if err := identity.ReplaceFile(alice.identityPath(), cheaplyProtected(t, id.MarshalText(), "correct horse")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(alice.identityPath())
	alice.fails(t, 1, "wrong passphrase for "+alice.identityPath(), "rotate", "--kem", "--passphrase-file", writeTemp(t, "wrong\n"))
	if after, _ := os.ReadFile(alice.identityPath()); !bytes.Equal(before, after) {
		t.Fatal("a wrong passphrase changed the identity file")
	}

	r := alice.ok(t, "rotate", "--kem", "--passphrase-file", writeTemp(t, "correct horse\n"))
	if !strings.Contains(r.stderr, "warning: no record of yours was found") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	data, err := os.ReadFile(alice.identityPath())
	if err != nil {
		t.Fatal(err)
	}
	if !identity.IsEncrypted(data) {
		t.Fatal("the rotated identity is no longer protected")
	}
	rotated, err := identity.Unmarshal(data, func() ([]byte, error) { return []byte("correct horse"), nil })
	if err != nil {
		t.Fatal(err)
	}
	defer rotated.Destroy()
	k1, _ := id.CurrentKEM(time.Now())
	k2, _ := rotated.CurrentKEM(time.Now())
	if rotated.Public() != id.Public() || bytes.Equal(k1.ID(), k2.ID()) {
		t.Error("the KEM key was not rotated")
	}
}

// cheaplyProtected protects a key file's text as identity.Encrypt does,
// but with a cheap scrypt work factor, so the test spends its time on the
// one full-cost encryption it checks.
func cheaplyProtected(t *testing.T, text []byte, passphrase string) []byte {
	t.Helper()
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func writeTemp(t *testing.T, content string) string {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRotateIdentity(t *testing.T) {
	d := newDir(t)
	alice, bob := newUser(t, d), newUser(t, d)
	alice.ok(t, "publish", "--host", "alice.example.net:7447", "alice")
	bob.ok(t, "lookup", "alice")
	bob.ok(t, "verify", "--yes", "alice")
	a := alice.identity(t)

	r := alice.ok(t, "rotate", "--identity")
	b := rotated(t, alice, r, a, 1)
	for _, ext := range []string{".new", ".old"} {
		if _, err := os.Stat(alice.identityPath() + ext); !os.IsNotExist(err) {
			t.Errorf("identity%s: %v", ext, err)
		}
	}

	// Bob, who pinned the old key, accepts the new one: the old key
	// signed it over.
	r = bob.ok(t, "lookup", "alice")
	if !strings.Contains(r.stdout, "id:          "+b.Public().String()) || !strings.Contains(r.stderr, "alice moved to a new key, with a rotation signed by the pinned one") ||
		!strings.Contains(r.stdout, "host:        alice.example.net:7447") ||
		!strings.Contains(r.stderr, "alice is still marked verified: the key you verified signed the move") || !strings.Contains(r.stdout, "verified:    yes") {
		t.Errorf("lookup after the rotation:\n%s\n%s", r.stdout, r.stderr)
	}
	if got, want := bob.contacts(t), "alice "+b.Public().String()+" verified seq=[0-9]+\n"; !regexp.MustCompile("^" + want + "$").MatchString(got) {
		t.Errorf("bob's contacts:\n%s\nwant\n%s", got, want)
	}

	// Later updates keep the rotation statement, for contacts who have
	// not looked alice up since.
	carol := newUser(t, d)
	if err := os.WriteFile(carol.contactsPath(), []byte("alice "+a.Public().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	alice.ok(t, "update")
	if got := lookupJSON(t, carol, "alice"); got.ID != b.Public().String() || got.Change != "rotated" {
		t.Errorf("carol's lookup after an update: %+v", got)
	}
}

// Two rotations in a row, with no host started in between: the identity
// file carries the chain A→B→C and both retired keys, and a contact who
// pinned A, offline all along, follows the chain to C.
func TestRotateIdentityTwice(t *testing.T) {
	d := newDir(t)
	alice, bob, carol := newUser(t, d), newUser(t, d), newUser(t, d)
	alice.ok(t, "publish", "--host", "alice.example.net:7447", "alice")
	bob.ok(t, "lookup", "alice")
	a := alice.identity(t)

	b := rotated(t, alice, alice.ok(t, "rotate", "--identity"), a, 1)
	carol.ok(t, "lookup", "alice")
	c := rotated(t, alice, alice.ok(t, "rotate", "--identity"), b, 2)
	if first, err := wire.VerifyRotation(c.Rotations()[0]); err != nil || !bytes.Equal(first.Old, a.Public().Bytes()) {
		t.Errorf("the chain does not start at A: %v", err)
	}

	r := bob.ok(t, "lookup", "alice")
	if !strings.Contains(r.stderr, "alice moved to a new key, through 2 rotations, the first signed by the pinned one: "+c.Public().String()+" (was "+a.Public().String()+")") {
		t.Errorf("bob's lookup after two rotations:\n%s", r.stderr)
	}
	for _, u := range []*user{bob, carol} {
		if got := lookupJSON(t, u, "alice"); got.ID != c.Public().String() || got.Host != "alice.example.net:7447" {
			t.Errorf("lookup after two rotations: %+v", got)
		}
	}
	if got := carol.contacts(t); !strings.HasPrefix(got, "alice "+c.Public().String()+" ") {
		t.Errorf("carol's contacts:\n%s", got)
	}
}

// rotated checks u's identity after its n-th rotation, the one from prev
// that r printed, and returns it: the file holds the new identity, with
// its rotations leading from prev and the retired keys, n of each.
func rotated(t *testing.T, u *user, r result, prev *identity.Identity, n int) *identity.Identity {
	t.Helper()
	id := u.identity(t)
	if got := strings.TrimSpace(r.stdout); got != id.Public().String() || id.Public() == prev.Public() {
		t.Fatalf("rotate --identity printed %q; the identity is now %s (was %s)", r.stdout, id.Public(), prev.Public())
	}
	if !strings.Contains(r.stderr, "rotated "+prev.Public().String()+" to a new identity") ||
		!strings.Contains(r.stderr, "published \"alice\" ("+id.Public().String()+")") {
		t.Errorf("rotate --identity stderr:\n%s", r.stderr)
	}
	chain := id.Rotations()
	if len(chain) != n || id.Retired() != n {
		t.Fatalf("after rotation %d: %d rotations, %d retired keys", n, len(chain), id.Retired())
	}
	last, err := wire.VerifyRotation(chain[n-1])
	if err != nil || !bytes.Equal(last.Old, prev.Public().Bytes()) || !bytes.Equal(last.New, id.Public().Bytes()) {
		t.Errorf("rotation %d does not lead from %s to %s: %v", n, prev.Public(), id.Public(), err)
	}
	if info, err := os.Stat(u.identityPath()); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("identity file: %v, %v", info, err)
	}
	return id
}

func TestRotateIdentityFails(t *testing.T) {
	d := newDir(t)
	alice, bob := newUser(t, d), newUser(t, d)
	alice.fails(t, exitNotFound, "no directory has a record of yours", "rotate", "--identity")
	alice.ok(t, "publish", "alice")
	bob.ok(t, "lookup", "alice")
	a := alice.identity(t)
	before, _ := os.ReadFile(alice.identityPath())

	// A directory that can't be trusted: nothing is changed.
	alice.dirs = []dir{{d.url, wrongPin}}
	alice.fails(t, 1, "does not match the pin", "rotate", "--identity")
	if after, _ := os.ReadFile(alice.identityPath()); !bytes.Equal(before, after) {
		t.Error("a rotation that could not read the record changed the identity")
	}

	// A directory that refuses the new record: the new identity is
	// saved, and update publishes it.
	alice.dirs = []dir{d}
	r := alice.fails(t, 1, "record valid for longer than", "rotate", "--identity", "--lifetime", "100d")
	if !strings.Contains(r.stderr, "hint: the new identity is saved; publish it with: smvs-register update") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	b := alice.identity(t)
	if b.Public() == a.Public() || strings.TrimSpace(r.stdout) != b.Public().String() || len(b.Rotations()) != 1 {
		t.Fatalf("after a failed publish the identity is %s (was %s), printed %q", b.Public(), a.Public(), r.stdout)
	}
	alice.ok(t, "update")
	if got := lookupJSON(t, bob, "alice"); got.ID != b.Public().String() || got.Change != "rotated" {
		t.Errorf("bob's lookup after the update: %+v", got)
	}
}

func TestRotateIdentityProtected(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt at full cost")
	}
	d := newDir(t)
	alice := newUser(t, d)
	a := alice.identity(t)
	if err := identity.ReplaceFile(alice.identityPath(), cheaplyProtected(t, a.MarshalText(), "correct horse")); err != nil {
		t.Fatal(err)
	}
	pass := writeTemp(t, "correct horse\n")
	alice.ok(t, "publish", "--passphrase-file", pass, "alice")
	r := alice.ok(t, "rotate", "--identity", "--passphrase-file", pass)
	data, err := os.ReadFile(alice.identityPath())
	if err != nil {
		t.Fatal(err)
	}
	if !identity.IsEncrypted(data) {
		t.Fatal("the rotated identity is no longer protected")
	}
	b, err := identity.Unmarshal(data, func() ([]byte, error) { return []byte("correct horse"), nil })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	if b.Public() == a.Public() || strings.TrimSpace(r.stdout) != b.Public().String() || len(b.Rotations()) != 1 || b.Retired() != 1 {
		t.Errorf("the protected identity was not rotated: %s, %d rotations, %d retired", b.Public(), len(b.Rotations()), b.Retired())
	}
}

// While another process holds the identity file's lock, no command
// changes the identity or its record, and each says who holds it.
func TestIdentityInUse(t *testing.T) {
	d := newDir(t)
	alice := newUser(t, d)
	alice.ok(t, "publish", "alice")
	before, _ := os.ReadFile(alice.identityPath())
	unlock, err := identity.Lock(alice.identityPath())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	held := fmt.Sprintf("%s is in use by process %d", alice.identityPath(), os.Getpid())
	changes := [][]string{{"publish", "alice"}, {"update"}, {"rotate", "--kem"}, {"rotate", "--identity"}, {"remove"}}
	for _, args := range changes {
		r := alice.fails(t, exitInUse, "error: "+held, args...)
		if !strings.Contains(r.stderr, "hint: smvs-hostd, smvs-agent or another smvs-register holds it") {
			t.Errorf("%q: stderr:\n%s", args, r.stderr)
		}
	}

	// smvs-hostd holds it, and its socket does not answer.
	nameProcess(t, os.Getpid(), "smvs-hostd")
	r := alice.fails(t, exitInUse, fmt.Sprintf("error: can't rotate the identity while smvs-hostd runs (process %d)", os.Getpid()), "rotate", "--identity")
	if !strings.Contains(r.stderr, "hint: stop smvs-hostd, run smvs-register rotate --identity, then start it again: it moves its store to the new identity") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	alice.fails(t, exitInUse, "error: can't remove your record while smvs-hostd runs", "remove")
	r = alice.fails(t, exitInUse, held+" (smvs-hostd), which does not answer on "+filepath.Join(alice.home, "host.sock"), "update")
	if !strings.Contains(r.stderr, "hint: point --socket (or SMVS_SOCKET) at the socket smvs-hostd listens on") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	nameProcess(t, os.Getpid(), "smvs-agent")
	r = alice.fails(t, exitInUse, held+" (smvs-agent)", "rotate", "--kem")
	if !strings.Contains(r.stderr, "hint: point --agent (or SMVS_AGENT_SOCK) at the socket smvs-agent listens on") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if after, _ := os.ReadFile(alice.identityPath()); !bytes.Equal(before, after) {
		t.Error("the identity changed while another process held it")
	}

	unlock()
	alice.ok(t, "rotate", "--kem")
}

// nameProcess makes processName name pid name for the rest of the test.
func nameProcess(t *testing.T, pid int, name string) {
	real := processName
	processName = func(p int) string {
		if p == pid {
			return name
		}
		return real(p)
	}
	t.Cleanup(func() { processName = real })
}

// fakeHost answers publish requests on a user's host socket, as a
// running smvs-hostd does, and keeps them. An answer of nil closes the
// connection.
type fakeHost struct {
	mu       sync.Mutex
	requests []hostapi.Publish
	answer   func(*hostapi.Publish) *hostapi.Response
}

func startFakeHost(t *testing.T, u *user) *fakeHost {
	t.Helper()
	dir, err := os.MkdirTemp("", "smvs") // short: a socket's path has room for about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	u.socket = filepath.Join(dir, "host.sock")
	ln, err := net.Listen("unix", u.socket)
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				for {
					req, err := hostapi.ReadRequest(conn, hostapi.MaxFrame)
					if err != nil {
						return
					}
					h.mu.Lock()
					h.requests = append(h.requests, *req.Publish)
					answer := h.answer
					h.mu.Unlock()
					resp := answer(req.Publish)
					if resp == nil || hostapi.WriteResponse(conn, resp) != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		os.RemoveAll(dir)
	})
	return h
}

// answers makes the host answer with res, its record of name made of
// id's keys.
func (h *fakeHost) answers(t *testing.T, id *identity.Identity, name string, res hostapi.PublishResult) {
	t.Helper()
	now := time.Now()
	r, err := record.New(identity.NewKeyring(id, "", nil), name, "alice.example.net:7447", nil, 30*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Record, err = wire.SignRecord(id.Signer(), r); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answer = func(*hostapi.Publish) *hostapi.Response { return &hostapi.Response{Published: &res} }
}

func (h *fakeHost) last() hostapi.Publish {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.requests) == 0 {
		return hostapi.Publish{}
	}
	return h.requests[len(h.requests)-1]
}

// With the identity in smvs-agent and no host running, every change goes
// through the agent, which saves it; the identity file is not read.
func TestThroughAgent(t *testing.T) {
	d := newDir(t)
	alice, bob := newUser(t, d), newUser(t, d)
	held := alice.identity(t)
	a := held.Public()
	// The identity lives with the agent now, out of alice's home.
	path := filepath.Join(t.TempDir(), "identity")
	if err := os.Rename(alice.identityPath(), path); err != nil {
		t.Fatal(err)
	}
	srv, stop := startAgent(t, alice, path)

	r := alice.ok(t, "publish", "--host", "alice.example.net:7447", "alice")
	if !strings.Contains(r.stderr, `published "alice" (`+a.String()+")") {
		t.Errorf("publish stderr:\n%s", r.stderr)
	}
	before := lookupJSON(t, bob, "alice")
	alice.ok(t, "rotate", "--kem")
	if after := lookupJSON(t, bob, "alice"); after.ID != a.String() || after.KEMKeyID == before.KEMKeyID {
		t.Errorf("after rotate --kem: %+v", after)
	}

	r = alice.ok(t, "rotate", "--identity")
	b := srv.Public()
	if b == a || strings.TrimSpace(r.stdout) != b.String() {
		t.Fatalf("rotate --identity printed %q; the agent holds %s (was %s)", r.stdout, b, a)
	}
	saved, err := identity.ReadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Destroy()
	if saved.Public() != b || len(saved.Rotations()) != 1 || saved.Retired() != 1 {
		t.Errorf("the agent's file holds %s, %d rotations, %d retired", saved.Public(), len(saved.Rotations()), saved.Retired())
	}
	if got := lookupJSON(t, bob, "alice"); got.ID != b.String() || got.Change != "rotated" {
		t.Errorf("bob's lookup after the rotation: %+v", got)
	}
	// The agent knows alice's own key: no identity file is needed.
	if got := lookupJSON(t, alice, "alice"); !got.Self {
		t.Errorf("alice's lookup of herself: %+v", got)
	}
	bob.ok(t, "publish", "bob")
	r = alice.ok(t, "verify", "bob")
	if number := contacts.SafetyNumber(b, bob.identity(t).Public()); !strings.Contains(r.stdout, number) {
		t.Errorf("verify through the agent:\n%s", r.stdout)
	}
	alice.ok(t, "remove")
	newUser(t, d).fails(t, exitNotFound, "not found", "lookup", "alice")
	if _, err := os.Stat(alice.identityPath()); !os.IsNotExist(err) {
		t.Errorf("smvs-register wrote an identity file beside the agent: %v", err)
	}

	// An agent that is gone: the identity file is used, with a warning.
	stop()
	alice.fails(t, 1, "warning: no smvs-agent answers on "+alice.agent, "update")
}

// startAgent runs smvs-agent's server for u, holding the identity file
// at path, until the test ends or stop is called.
func startAgent(t *testing.T, u *user, path string) (srv *agent.Server, stop func()) {
	t.Helper()
	id, err := identity.ReadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err = agent.NewServer(agent.Config{Identity: id, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "smvs") // short: a socket's path has room for about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	u.agent = filepath.Join(dir, "agent.sock")
	ln, err := agent.Listen(u.agent)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		srv.Close()
		os.RemoveAll(dir)
	})
	t.Cleanup(stop)
	return srv, stop
}

// While a host runs, publish, update and rotate --kem ask it to make the
// change, and say what it did as they would have; rotate --identity and
// remove are refused.
func TestThroughHost(t *testing.T) {
	alice := newUser(t, dir{"https://a.example", ""})
	id := alice.identity(t)
	before, _ := os.ReadFile(alice.identityPath())
	host := startFakeHost(t, alice)
	host.answers(t, id, "alice", hostapi.PublishResult{Published: []string{"https://a.example", "https://b.example"}})

	r := alice.ok(t, "publish", "Alice")
	for _, d := range []string{"https://a.example", "https://b.example"} {
		if !strings.Contains(r.stderr, `published "alice" (`+id.Public().String()+") to "+d+", valid until ") {
			t.Errorf("publish stderr:\n%s", r.stderr)
		}
	}
	if got := host.last(); got != (hostapi.Publish{Name: "alice"}) {
		t.Errorf("publish asked %+v", got)
	}
	alice.ok(t, "update", "--host", "new.example.net:7447", "--lifetime", "2d")
	if got := host.last(); got != (hostapi.Publish{Host: "new.example.net:7447", Lifetime: (48 * time.Hour).Milliseconds()}) {
		t.Errorf("update asked %+v", got)
	}

	host.answers(t, id, "alice", hostapi.PublishResult{Published: []string{"https://a.example"}, KEMRotated: true, Pruned: 2})
	r = alice.ok(t, "rotate", "--kem")
	kem, _ := id.CurrentKEM(time.Now())
	if !strings.Contains(r.stderr, fmt.Sprintf("new KEM key %x, valid until ", kem.ID())) || !strings.Contains(r.stderr, "destroyed 2 expired KEM keys") {
		t.Errorf("rotate --kem stderr:\n%s", r.stderr)
	}
	if got := host.last(); got != (hostapi.Publish{RotateKEM: true}) {
		t.Errorf("rotate --kem asked %+v", got)
	}

	// Directories that refused the host's record, as summarize says it.
	host.answers(t, id, "alice", hostapi.PublishResult{Published: []string{"https://a.example"}, Failed: []string{"directory https://b.example: busy"}})
	r = alice.fails(t, 1, "error: published to 1 of 2 directories", "update")
	if !strings.Contains(r.stderr, "warning: directory https://b.example: busy") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	host.answers(t, id, "alice", hostapi.PublishResult{Failed: []string{"directory https://b.example: busy"}, KEMRotated: true})
	r = alice.fails(t, 1, "error: directory https://b.example: busy", "rotate", "--kem")
	if !strings.Contains(r.stderr, "hint: the new KEM key is saved\n") ||
		!strings.Contains(r.stderr, "hint: smvs-hostd publishes the record there again later; or run: smvs-register update") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	// A name held by another key: a conflict, as when publishing itself;
	// one of two directories refusing is a failure.
	taken := "directory https://b.example: conflict: the name is held by another key"
	host.answers(t, id, "alice", hostapi.PublishResult{Failed: []string{taken}, Conflicts: []uint64{0}})
	alice.fails(t, 5, "error: "+taken, "publish", "alice")
	host.answers(t, id, "alice", hostapi.PublishResult{Failed: []string{"directory https://a.example: busy", taken}, Conflicts: []uint64{1}})
	alice.fails(t, 1, "error: published to 0 of 2 directories", "publish", "alice")
	host.answers(t, id, "alice", hostapi.PublishResult{})
	alice.fails(t, 1, "error: smvs-hostd made the record but has no directory to publish it in", "update")
	host.answers(t, id, "alice", hostapi.PublishResult{KEMRotated: true})
	if r := alice.ok(t, "rotate", "--kem"); !strings.Contains(r.stderr, "warning: smvs-hostd made the record but has no directory") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	host.answers(t, id, "", hostapi.PublishResult{})
	r = alice.fails(t, 1, "error: smvs-hostd made the record but has no name to publish it under", "update")
	if !strings.Contains(r.stderr, "hint: give one with: smvs-register publish NAME") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	host.mu.Lock()
	host.answer = func(*hostapi.Publish) *hostapi.Response {
		return &hostapi.Response{Err: &hostapi.Error{Code: hostapi.ErrForbidden, Message: "only the owner may publish"}}
	}
	host.mu.Unlock()
	alice.fails(t, 1, "error: smvs-hostd refused to publish: only the owner may publish", "update")

	// A host that takes the request and never answers.
	stuck := make(chan struct{})
	defer close(stuck)
	host.mu.Lock()
	host.answer = func(*hostapi.Publish) *hostapi.Response { <-stuck; return nil }
	host.mu.Unlock()
	defer func(d time.Duration) { hostPublishTimeout = d }(hostPublishTimeout)
	hostPublishTimeout = 100 * time.Millisecond
	r = alice.fails(t, 1, "error: asking the running host to publish: ", "update")
	if !strings.Contains(r.stderr, "hint: smvs-hostd did not answer in 100ms; its log may say why") {
		t.Errorf("stderr:\n%s", r.stderr)
	}

	r = alice.fails(t, exitInUse, "error: can't rotate the identity while smvs-hostd runs", "rotate", "--identity")
	if !strings.Contains(r.stderr, "hint: stop smvs-hostd, run smvs-register rotate --identity, then start it again") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	alice.fails(t, exitInUse, "error: can't remove your record while smvs-hostd runs: it would publish it again", "remove")
	if after, _ := os.ReadFile(alice.identityPath()); !bytes.Equal(before, after) {
		t.Error("smvs-register changed the identity file while the host ran")
	}
}

func TestSubstitutedKey(t *testing.T) {
	d := newDir(t)
	alice, mallory, bob := newUser(t, d), newUser(t, d), newUser(t, d)
	alice.ok(t, "publish", "alice")
	bob.ok(t, "lookup", "alice")
	before := bob.contacts(t)

	// Alice's record goes; mallory takes the name.
	alice.ok(t, "remove")
	mallory.ok(t, "publish", "alice")

	r := bob.fails(t, exitKeyChanged, `error: the key of "alice" changed: pinned `+alice.key(t), "lookup", "alice")
	if !strings.Contains(r.stderr, "hint: if alice really has a new key, compare safety numbers") ||
		!strings.Contains(r.stderr, "smvs-register trust alice "+mallory.key(t)) || r.stdout != "" {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if got := bob.contacts(t); got != before {
		t.Errorf("the contacts file changed:\n%s", got)
	}

	// verify shows the number for the new key, and still refuses it.
	r = bob.fails(t, exitKeyChanged, "the key of \"alice\" changed", "verify", "alice")
	number := contacts.SafetyNumber(bob.identity(t).Public(), mallory.identity(t).Public())
	if !strings.Contains(r.stdout, number) || !strings.Contains(r.stderr, "the number above is for the new key") {
		t.Errorf("verify:\n%s\n%s", r.stdout, r.stderr)
	}
	if got := bob.contacts(t); got != before {
		t.Errorf("the contacts file changed:\n%s", got)
	}

	// After comparing numbers out of band, bob trusts the new key.
	bob.ok(t, "trust", "alice", mallory.key(t))
	if got := lookupJSON(t, bob, "alice"); got.ID != mallory.key(t) || !got.Verified {
		t.Errorf("after trust: %+v", got)
	}
}

func TestRemove(t *testing.T) {
	d := newDir(t)
	alice, bob := newUser(t, d), newUser(t, d)
	alice.fails(t, exitNotFound, "no directory has a record of yours", "remove")
	alice.ok(t, "publish", "alice")
	r := alice.ok(t, "remove")
	if !strings.Contains(r.stderr, `removed "alice" (`+alice.key(t)+") from "+d.url) {
		t.Errorf("remove stderr:\n%s", r.stderr)
	}
	bob.fails(t, exitNotFound, "not found in the contacts file or any directory", "lookup", "alice")
	bob.fails(t, exitNotFound, "not found in the contacts file or any directory", "lookup", alice.key(t))
	alice.fails(t, exitNotFound, "no directory has a record of yours", "remove")

	// Publishing again works: the sequence number is above the tombstone's.
	alice.ok(t, "publish", "alice")
	bob.ok(t, "lookup", "alice")
}

func TestAddVerifyTrust(t *testing.T) {
	me, carol, other := newUser(t), newUser(t), newUser(t)
	me.ok(t, "add", "--host", "carol.example.net:7447", "Carol", carol.key(t))
	if got, want := me.ok(t, "contacts").stdout, "carol "+carol.key(t)+" host=carol.example.net:7447\n"; got != want {
		t.Errorf("contacts:\n%s\nwant\n%s", got, want)
	}
	if r := me.ok(t, "lookup", "carol"); !strings.Contains(r.stdout, "record:      none: from your contacts file alone") ||
		!strings.Contains(r.stdout, "host:        carol.example.net:7447") {
		t.Errorf("lookup:\n%s", r.stdout)
	}

	r := me.ok(t, "verify", "carol")
	number := contacts.SafetyNumber(me.identity(t).Public(), carol.identity(t).Public())
	if number != contacts.SafetyNumber(carol.identity(t).Public(), me.identity(t).Public()) {
		t.Fatal("the two sides see different numbers")
	}
	for _, want := range []string{"    " + number + "\n", "you    " + me.key(t) + "\n", "carol  " + carol.key(t) + "\n", "smvs-register verify --yes carol"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !regexp.MustCompile(`\n    \d{5} \d{5} \d{5} \d{5} \d{5} \d{5}\n`).MatchString(r.stdout) {
		t.Errorf("no safety number of 6 groups of 5 digits:\n%s", r.stdout)
	}
	me.ok(t, "verify", "--yes", "carol")
	if got := me.ok(t, "contacts", "--json").stdout; got != `{"name":"carol","id":"`+carol.key(t)+`","host":"carol.example.net:7447","verified":true,"contact":true}`+"\n" {
		t.Errorf("contacts --json:\n%s", got)
	}
	if r := me.ok(t, "verify", "carol"); !strings.Contains(r.stderr, "carol is marked verified") {
		t.Errorf("verify of a verified contact:\n%s", r.stderr)
	}

	// A different key for carol is refused by add, accepted by trust.
	me.fails(t, exitKeyChanged, "carol is pinned to another key", "add", "carol", other.key(t))
	r = me.ok(t, "trust", "carol", other.key(t))
	if !strings.Contains(r.stderr, "carol is now pinned to "+other.key(t)+" (was "+carol.key(t)+"), marked verified") {
		t.Errorf("trust stderr:\n%s", r.stderr)
	}
	if got, want := me.ok(t, "list").stdout, "carol "+other.key(t)+" host=carol.example.net:7447 verified\n"; got != want {
		t.Errorf("contacts:\n%s\nwant\n%s", got, want)
	}
	me.ok(t, "trust", "dave", carol.key(t))
	me.fails(t, exitNotFound, `"erin" not found in the contacts file`, "verify", "erin")
}

func TestContactsFileErrors(t *testing.T) {
	me := newUser(t)
	if err := os.WriteFile(me.contactsPath(), []byte("# mine\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := me.fails(t, 1, "contacts: line 2: want NAME smvs1...", "contacts")
	if !strings.Contains(r.stderr, "hint: the contacts file is yours, a plain text file") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	me.fails(t, 1, "line 2", "lookup", "alice")
	me.fails(t, 1, "line 2", "add", "alice", newUser(t).key(t))
	if err := os.WriteFile(me.contactsPath(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(me.contactsPath(), 0o622); err != nil {
		t.Fatal(err)
	}
	me.fails(t, 1, "hint: if nobody else could have changed it, run: chmod 600 ", "contacts")
}

func TestUsageErrors(t *testing.T) {
	d := newDir(t)
	u := newUser(t, d)
	key := u.key(t)
	for _, tt := range []struct {
		args    []string
		message string
	}{
		{nil, "missing command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"publish"}, "missing argument: want NAME"},
		{[]string{"publish", "a"}, `invalid name "a"`},
		{[]string{"publish", "admin"}, `invalid name "admin": reserved`},
		{[]string{"publish", "alice", "--host", "x:1"}, "flag --host after an argument: flags come before arguments"},
		{[]string{"publish", "--host", "nowhere", "alice"}, `--host: invalid host address "nowhere"`},
		{[]string{"publish", "--lifetime", "forever", "alice"}, `invalid --lifetime "forever"`},
		{[]string{"publish", "--lifetime", "-1h", "alice"}, `invalid --lifetime "-1h"`},
		{[]string{"update", "alice"}, `unexpected argument "alice"`},
		{[]string{"rotate"}, "say what to rotate: --kem or --identity"},
		{[]string{"rotate", "--kem", "--identity"}, "--kem and --identity can't go together"},
		{[]string{"lookup"}, "missing argument"},
		{[]string{"lookup", "x"}, `invalid name "x"`},
		{[]string{"verify", key}, "is a key; give the contact's name"},
		{[]string{"trust", "alice"}, "missing argument: want NAME smvs1..."},
		{[]string{"trust", "alice", "bobby"}, `"bobby" is not a key: a contact's key starts with smvs1`},
		{[]string{"add", key[:40], key}, `looks like a key, not a name: give NAME smvs1...`},
		{[]string{"add", "alice", key, "extra"}, `unexpected argument "extra"`},
		{[]string{"contacts", "extra"}, `unexpected argument "extra"`},
		{[]string{"lookup", "--dir", "http://dir.example.net", "alice"}, "plain http is allowed only to a loopback address"},
		{[]string{"lookup", "--dir-pin", "a,b", "alice"}, "2 pins for 1 directories"},
		{[]string{"lookup", "--dir", "https://a.example,https://b.example", "--dir-pin", ",sha256//x", "alice"},
			`directory pin for https://b.example: not a valid key pin (want sha256//BASE64): "sha256//x"`},
	} {
		r := u.run(t, tt.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "smvs-register: error: ") || !strings.Contains(r.stderr, tt.message) || !strings.Contains(r.stderr, "hint: see 'smvs-register") || r.stdout != "" {
			t.Errorf("%q: status %d, stdout %q, stderr:\n%s\nwant status 2 and %q", tt.args, r.code, r.stdout, r.stderr, tt.message)
		}
	}
	u.dirs = nil
	r := u.run(t, "publish", "alice")
	if r.code != 2 || !strings.Contains(r.stderr, "error: no directory: give --dir URL or set SMVS_DIR") {
		t.Errorf("publish with no directory: status %d, stderr:\n%s", r.code, r.stderr)
	}
	r = u.run(t, "lookup", "--dir-pin", d.pin, "alice")
	if r.code != 2 || !strings.Contains(r.stderr, "error: --dir-pin given without --dir") {
		t.Errorf("pin without a directory: status %d, stderr:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(u.contactsPath()); !os.IsNotExist(err) {
		t.Errorf("usage errors made a contacts file: %v", err)
	}
}

// A mistyped key is said to be one, with no hint meant for names.
func TestMistypedKey(t *testing.T) {
	d := newDir(t)
	u := newUser(t, d)
	key := newUser(t).key(t)
	typo := mistype(key)
	for _, tt := range []struct {
		args    []string
		message string
	}{
		{[]string{"lookup", typo}, "its checksum does not match, so it was probably mistyped"},
		{[]string{"lookup", key[:40]}, "it has 40 characters where a key has 63"},
		{[]string{"add", "bob", typo}, "its checksum does not match"},
		{[]string{"add", "bob", key + "x"}, "it has 64 characters where a key has 63"},
		{[]string{"trust", "bob", "smvs1bogus"}, `no key has the character 'b'`},
	} {
		r := u.run(t, tt.args...)
		want := "smvs-register: error: malformed key \"" + tt.args[len(tt.args)-1] + "\": " + tt.message
		if r.code != 2 || !strings.HasPrefix(r.stderr, want) ||
			!strings.Contains(r.stderr, "hint: copy the key again; its owner prints it with smvs-keygen -y") ||
			strings.Contains(r.stderr, "3 to 32") || strings.Contains(r.stderr, "name") {
			t.Errorf("%q: status %d, stderr:\n%s\nwant status 2 and %q, with no hint for names", tt.args, r.code, r.stderr, want)
		}
	}
	// Short, it may be a name; if no one has it, it may be a key cut short.
	r := u.fails(t, exitNotFound, key[:20]+`" not found in the contacts file or any directory`, "lookup", key[:20])
	if !strings.Contains(r.stderr, "hint: if "+key[:20]+" is meant as a key, it is cut short: a key has 63 characters") {
		t.Errorf("lookup of a short key: stderr:\n%s", r.stderr)
	}
	if got := u.contacts(t); got != "" {
		t.Errorf("contacts file:\n%s", got)
	}
}

// Looking up one's own name shows one's record, and pins no one.
func TestLookupSelf(t *testing.T) {
	d := newDir(t)
	alice := newUser(t, d)
	alice.ok(t, "publish", "--host", "alice.example.net:7447", "alice")

	for _, query := range []string{"alice", alice.key(t)} {
		r := alice.ok(t, "lookup", query)
		for _, want := range []string{
			"name:        alice\n",
			"id:          " + alice.key(t) + "\n",
			"host:        alice.example.net:7447\n",
			"verified:    not needed: this is you, your own identity key\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("lookup %s: output lacks %q:\n%s", query, want, r.stdout)
			}
		}
		if r.stderr != "" {
			t.Errorf("lookup %s: stderr:\n%s", query, r.stderr)
		}
	}
	if out := lookupJSON(t, alice, "alice"); !out.Self || out.Contact || out.Change != "" {
		t.Errorf("lookup --json: %+v", out)
	}
	if got := alice.contacts(t); got != "" {
		t.Errorf("alice pinned herself:\n%s", got)
	}
	alice.fails(t, 1, "error: alice is you: a safety number is for comparing keys with someone else", "verify", "alice")

	// A linked device knows its user's key from its link to the host.
	device := &user{home: t.TempDir(), dirs: []dir{d}}
	if err := link.Write(device.home, &link.Link{Address: "127.0.0.1:7447", Identity: alice.identity(t).Public(), Name: "laptop"}); err != nil {
		t.Fatal(err)
	}
	if out := lookupJSON(t, device, "alice"); !out.Self || out.Contact {
		t.Errorf("lookup --json on a linked device: %+v", out)
	}
	if got := device.contacts(t); got != "" {
		t.Errorf("the device pinned its user:\n%s", got)
	}
}

func TestPublishWithoutHost(t *testing.T) {
	u := newUser(t, newDir(t))
	r := u.ok(t, "publish", "carol")
	if !strings.Contains(r.stderr, "warning: the record gives no host address: others can find your key, but their hosts can't reach yours\n") ||
		!strings.Contains(r.stderr, "hint: give the address where smvs-hostd listens with --host ADDR, or let smvs-hostd --name carol publish it\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if r := u.ok(t, "update", "--host", "carol.example.net:7447"); strings.Contains(r.stderr, "warning") {
		t.Errorf("with a host address: stderr:\n%s", r.stderr)
	}
	if r := u.ok(t, "update"); strings.Contains(r.stderr, "warning") {
		t.Errorf("keeping the host address: stderr:\n%s", r.stderr)
	}
}

func TestDirectoryDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + ln.Addr().String()
	ln.Close()
	u := newUser(t)
	r := u.fails(t, 1, "error: directory "+url+": ", "lookup", "--dir", url, "bob")
	if !strings.Contains(r.stderr, "hint: check the directory's URL (--dir or SMVS_DIR), and that smvs-dird runs there") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestNoIdentity(t *testing.T) {
	d := newDir(t)
	u := &user{home: t.TempDir(), dirs: []dir{d}}
	r := u.fails(t, 1, "no key file at ", "publish", "alice")
	if !strings.Contains(r.stderr, "hint: make one with: smvs-keygen -o ") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestBadRecordFromDirectory(t *testing.T) {
	// The record served for alice is bob's, renamed: its signature fails.
	d := newDir(t)
	bob := newUser(t, d)
	bob.ok(t, "publish", "bob")
	me := newUser(t)
	key := bob.identity(t)
	kem, _ := key.CurrentKEM(time.Now())
	now := time.Now()
	signed, err := wire.SignRecord(key.Signer(), &wire.Record{
		Name: "alice", Identity: key.Public().Bytes(), KEM: kem.Public(),
		Seq: 1, Issued: now.UnixMilli(), Expires: now.Add(time.Hour).UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := wire.DecodeSigned(signed)
	s.Sig[0] ^= 1
	fake := httptest.NewTLSServer(fakeHandler(s.Encode()))
	defer fake.Close()
	me.dirs = []dir{{fake.URL, tlspin.Pin(fake.Certificate())}}
	r := me.fails(t, 1, "bad record for \"alice\": smvs/1 record: bad signature", "lookup", "alice")
	if !strings.Contains(r.stderr, "hint: the directory is broken or lying; nothing was pinned") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if me.contacts(t) != "" {
		t.Error("a bad record was pinned")
	}
}

// TestRollbackRefused: after bob's record at seq 5 was seen, a directory
// serving his record at seq 3 is refused, by lookup and verify, with exit
// status 4, and the contacts file is left as it was.
func TestRollbackRefused(t *testing.T) {
	bob, me := newUser(t), newUser(t)
	key := bob.identity(t)
	kem, err := key.CurrentKEM(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recordAt := func(seq uint64) *httptest.Server {
		now := time.Now()
		signed, err := wire.SignRecord(key.Signer(), &wire.Record{
			Name: "bob", Identity: key.Public().Bytes(), KEM: kem.Public(), Host: "bob.example.net:7447",
			Seq: seq, Issued: now.UnixMilli(), Expires: now.Add(time.Hour).UnixMilli(),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewTLSServer(fakeHandler(signed))
		t.Cleanup(srv.Close)
		return srv
	}
	fresh, stale := recordAt(5), recordAt(3)
	me.dirs = []dir{{fresh.URL, tlspin.Pin(fresh.Certificate())}}
	me.ok(t, "lookup", "bob")
	if got, want := me.contacts(t), "bob "+key.Public().String()+" seq=5\n"; got != want {
		t.Fatalf("contacts:\n%s\nwant\n%s", got, want)
	}
	if got := me.ok(t, "contacts", "--json").stdout; !strings.Contains(got, `"seq":5`) {
		t.Errorf("contacts --json: %s", got)
	}
	before := me.contacts(t)
	me.dirs = []dir{{stale.URL, tlspin.Pin(stale.Certificate())}}
	for _, args := range [][]string{{"lookup", "bob"}, {"lookup", key.Public().String()}, {"verify", "bob"}} {
		r := me.fails(t, exitKeyChanged, "directory "+stale.URL+": bob's record went back from sequence 5 to 3: refusing it (a directory serving an old record)", args...)
		if !strings.Contains(r.stderr, "hint: the directory is out of date or replaying an old record of bob; nothing was changed") {
			t.Errorf("%q: stderr:\n%s", args, r.stderr)
		}
		if me.contacts(t) != before {
			t.Errorf("%q changed the contacts file:\n%s", args, me.contacts(t))
		}
	}
	// With the fresh directory after the stale one, bob resolves, with a
	// warning.
	me.dirs = []dir{{stale.URL, tlspin.Pin(stale.Certificate())}, {fresh.URL, tlspin.Pin(fresh.Certificate())}}
	if r := me.ok(t, "lookup", "bob"); !strings.Contains(r.stderr, "went back from sequence 5 to 3") {
		t.Errorf("no warning:\n%s", r.stderr)
	}
	// trust with the same key keeps the count.
	me.ok(t, "trust", "bob", key.Public().String())
	if got, want := me.contacts(t), "bob "+key.Public().String()+" verified seq=5\n"; got != want {
		t.Errorf("after trust:\n%s\nwant\n%s", got, want)
	}
}

// fakeHandler is a directory that answers every look-up with signed.
func fakeHandler(signed []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"record": base64.StdEncoding.EncodeToString(signed)})
	})
}

func TestHelpAndVersion(t *testing.T) {
	u := &user{home: t.TempDir()}
	r := u.ok(t, "--help")
	for _, cmd := range []string{"publish", "update", "rotate", "remove", "lookup", "verify", "trust", "add", "contacts"} {
		if !strings.Contains(r.stdout, "   "+cmd) {
			t.Errorf("--help lacks %s:\n%s", cmd, r.stdout)
		}
	}
	if r := u.ok(t, "--version"); !regexp.MustCompile(`^smvs-register \S+\n$`).MatchString(r.stdout) {
		t.Errorf("--version: %q", r.stdout)
	}
	if r := u.ok(t, "publish", "--help"); !strings.Contains(r.stdout, "--lifetime DURATION") {
		t.Errorf("publish --help:\n%s", r.stdout)
	}
	if r := u.ok(t, "--completion", "bash"); !strings.Contains(r.stdout, "--dir-pin") {
		t.Errorf("completion lacks --dir-pin:\n%s", r.stdout)
	}
}

// TestManPage checks that man/smvs-register.1 documents every command and
// flag, and no flag that does not exist, so the manual can't drift from
// --help.
func TestManPage(t *testing.T) {
	clitest.CheckManPage(t, clitest.ManPage{
		Name:      "smvs-register.1",
		App:       newApp(),
		Env:       []string{cli.DirEnv, cli.DirPinEnv, cli.HomeEnv, cli.PassphraseFDEnv, cli.PassphraseFileEnv, cli.SocketEnv, agent.SocketEnv},
		ExitCodes: []int{exitNotFound, exitKeyChanged, exitConflict, exitInUse},
	})
}

// mistype returns key with one character replaced by another, as a slip
// of the finger does.
func mistype(key string) string {
	c := "q"
	if key[20:21] == c {
		c = "p"
	}
	return key[:20] + c + key[21:]
}
