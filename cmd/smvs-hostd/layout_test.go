package main

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smvs/lib/cli"
	"smvs/lib/directory"
	"smvs/lib/directory/server"
	"smvs/lib/directory/sqlitestore"
	"smvs/lib/hostapi"
	"smvs/lib/store"
	"smvs/lib/tlspin"
	"smvs/lib/wire"
)

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// TestDataDir checks where the store is by default: store in an explicit
// SMVS home, else smvs/store in the user's data directory; never a name a
// linked device's link file has.
func TestDataDir(t *testing.T) {
	home := isolate(t)
	smvsHome, _ := newHome(t, "")
	d := start(t, "--listen", "127.0.0.1:0")
	d.stop()
	if !store.Exists(filepath.Join(smvsHome, "store")) || exists(filepath.Join(smvsHome, "host")) {
		t.Errorf("with SMVS_HOME: want the store in store, and no host")
	}

	os.Unsetenv(cli.HomeEnv)
	r := runHostd(t, "--listen", "127.0.0.1:0", "--home", smvsHome, "--help")
	if !strings.Contains(r.stdout, "default: store in the SMVS home if set, else $XDG_DATA_HOME/smvs/store") {
		t.Errorf("--help does not say where the store is:\n%s", r.stdout)
	}
	// The default SMVS home, under HOME: the store goes to the data directory.
	config := filepath.Join(home, ".config", "smvs")
	os.MkdirAll(config, 0o700)
	os.Rename(filepath.Join(smvsHome, "identity"), filepath.Join(config, "identity"))
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	d = start(t, "--listen", "127.0.0.1:0")
	d.stop()
	if !store.Exists(filepath.Join(home, ".local", "share", "smvs", "store")) {
		t.Errorf("without SMVS_HOME: no store in ~/.local/share/smvs/store")
	}
}

// TestLegacyStore checks that a store where an older version kept it
// ($SMVS_HOME/host) is moved once to the new place, with its history and
// a log line, and that a host that has a store at both places uses the
// new one and leaves the old one alone.
func TestLegacyStore(t *testing.T) {
	isolate(t)
	_, bobKey := newHome(t, "")
	bob := start(t, "--listen", "127.0.0.1:0")
	aliceHome, _ := newHome(t, "")
	os.WriteFile(filepath.Join(aliceHome, "contacts"), []byte("bob "+bobKey.String()+" host="+bob.addr+"\n"), 0o600)

	// An older version: the store in host.
	legacy := filepath.Join(aliceHome, "host")
	old := start(t, "--listen", "127.0.0.1:0", "--data", legacy)
	r, err := request(t, old.socket, &hostapi.Request{Op: hostapi.OpSubmit,
		Submit: &hostapi.Submit{To: "bob", Kind: wire.KindText, Body: []byte("before the move")}})
	if err != nil || r.Sent == nil {
		t.Fatalf("submit: %+v, %v\nstderr:\n%s", r, err, old.stderr)
	}
	if code := old.stop(); code != 0 {
		t.Fatalf("stop: %d\n%s", code, old.stderr)
	}

	alice := start(t, "--listen", "127.0.0.1:0")
	newStore := filepath.Join(aliceHome, "store")
	if exists(legacy) || !store.Exists(newStore) {
		t.Errorf("after the start: host exists %v, store holds a store %v", exists(legacy), store.Exists(newStore))
	}
	log := alice.stderr.String()
	if !strings.Contains(log, `msg="moved the message store from where an older version kept it" from=`+legacy+" to="+newStore) {
		t.Errorf("the log does not say the store moved:\n%s", log)
	}
	r, err = request(t, alice.socket, &hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{}})
	if err != nil || r.Event == nil || r.Event.Item == nil || string(r.Event.Item.Body) != "before the move" {
		t.Errorf("history after the move: %+v, %v", r, err)
	}
	alice.stop()
	// Once only: the next start says nothing of it.
	alice = start(t, "--listen", "127.0.0.1:0")
	alice.stop()
	if strings.Contains(alice.stderr.String(), "older version") {
		t.Errorf("a second start logs about the old store:\n%s", alice.stderr)
	}

	// Both: the new one is used, the old one left as it is, with a warning.
	if err := os.Mkdir(legacy, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(legacy, "messages.db"), []byte("an old store"), 0o600)
	alice = start(t, "--listen", "127.0.0.1:0")
	alice.stop()
	if got, err := os.ReadFile(filepath.Join(legacy, "messages.db")); err != nil || string(got) != "an old store" {
		t.Errorf("the old store was touched: %q, %v", got, err)
	}
	if !strings.Contains(alice.stderr.String(), "level=WARN msg=\"a message store is also at the path an older version used; "+
		"using the new one and leaving the old one as it is\" store="+newStore+" old="+legacy) {
		t.Errorf("no warning naming the old store:\n%s", alice.stderr)
	}

	// With --data, nothing is moved.
	os.RemoveAll(newStore)
	alice = start(t, "--listen", "127.0.0.1:0", "--data", filepath.Join(aliceHome, "elsewhere"))
	alice.stop()
	if !exists(legacy) || exists(newStore) {
		t.Error("a start with --data moved the old store")
	}
}

// TestSecondHostOnTheStore checks that a second host on an identity or a
// store in use, with a socket of its own, says so with a hint and leaves
// no file behind.
func TestSecondHostOnTheStore(t *testing.T) {
	isolate(t)
	home, _ := newHome(t, "")
	d := start(t, "--listen", "127.0.0.1:0")
	other := filepath.Join(t.TempDir(), "other.sock")
	r := runHostd(t, "--listen", "127.0.0.1:0", "--socket", other)
	if r.code != exitIdentityInUse ||
		!strings.Contains(r.stderr, fmt.Sprintf("smvs-hostd: error: the identity %s is in use by process %d\n", filepath.Join(home, "identity"), os.Getpid())) ||
		!strings.Contains(r.stderr, "smvs-hostd: hint: is another smvs-hostd or smvs-agent running? one process owns an identity") {
		t.Errorf("second host on the identity: status %d, stderr:\n%s", r.code, r.stderr)
	}
	// A copy of the identity, in another home, finds the store in use.
	copyHome(t, home)
	r = runHostd(t, "--listen", "127.0.0.1:0", "--socket", other, "--data", filepath.Join(home, "store"))
	newStore := filepath.Join(home, "store")
	if r.code != 1 || !strings.Contains(r.stderr, "smvs-hostd: error: another smvs-hostd already uses the message store in "+newStore+"\n") ||
		!strings.Contains(r.stderr, "smvs-hostd: hint: stop it, or give this host a store of its own with --data DIR or another SMVS_HOME\n") {
		t.Errorf("second host: status %d, stderr:\n%s", r.code, r.stderr)
	}
	entries, _ := os.ReadDir(filepath.Dir(other))
	if len(entries) != 0 {
		t.Errorf("the second host left %v", entries)
	}
	d.stop()
	entries, _ = os.ReadDir(home)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "host.sock") {
			t.Errorf("the host left %s", e.Name())
		}
	}
}

// TestNameTaken checks that a host asked for a name a directory serves for
// another key fails at start, before it serves.
func TestNameTaken(t *testing.T) {
	isolate(t)
	db, err := sqlitestore.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(server.New(&directory.Directory{Store: db}, server.Options{}))
	t.Cleanup(func() { srv.Close(); db.Close() })
	t.Setenv(cli.DirEnv, srv.URL)
	t.Setenv(cli.DirPinEnv, tlspin.Pin(srv.Certificate()))

	newHome(t, "")
	first := start(t, "--listen", "127.0.0.1:0", "--name", "alice")
	// A restart of the name's holder is no conflict.
	first.stop()
	first = start(t, "--listen", "127.0.0.1:0", "--name", "alice")
	defer first.stop()

	home, _ := newHome(t, "")
	r := runHostd(t, "--listen", "127.0.0.1:0", "--name", "alice")
	if r.code != exitNameTaken || !strings.Contains(r.stderr, `smvs-hostd: error: the name "alice" is taken: the directory `+srv.URL+" serves it for "+first.id) ||
		!strings.Contains(r.stderr, "smvs-hostd: hint: the first key to claim a name keeps it") || r.stdout != "" {
		t.Errorf("a taken name: status %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "host.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a host refused at start made its socket: %v", err)
	}
	// Another name is free.
	d := start(t, "--listen", "127.0.0.1:0", "--name", "alice2")
	d.stop()
}

// TestLegacyStoreXDG checks the move in the user's data directory, where
// the store was smvs/host and is now smvs/store, and that a store an
// older host still has open is not moved from under it.
func TestLegacyStoreXDG(t *testing.T) {
	home := isolate(t)
	smvsHome, _ := newHome(t, "")
	os.Unsetenv(cli.HomeEnv)
	config := filepath.Join(home, ".config", "smvs")
	os.MkdirAll(filepath.Dir(config), 0o700)
	if err := os.Rename(smvsHome, config); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	t.Setenv("XDG_DATA_HOME", data)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	legacy, newStore := filepath.Join(data, "smvs", "host"), filepath.Join(data, "smvs", "store")

	old := start(t, "--listen", "127.0.0.1:0", "--data", legacy)
	// While the older host runs, its store stays where it is: the
	// identity is its.
	r := runHostd(t, "--listen", "127.0.0.1:0", "--socket", filepath.Join(t.TempDir(), "s"))
	if r.code != exitIdentityInUse || !strings.Contains(r.stderr, "smvs-hostd: error: the identity "+filepath.Join(config, "identity")+" is in use by process") {
		t.Errorf("a start while the old host runs: status %d, stderr:\n%s", r.code, r.stderr)
	}
	if !store.Exists(legacy) || exists(newStore) {
		t.Error("the store was moved from under a running host")
	}
	old.stop()

	d := start(t, "--listen", "127.0.0.1:0")
	d.stop()
	if exists(legacy) || !store.Exists(newStore) {
		t.Errorf("not moved: %s exists %v, %s holds a store %v", legacy, exists(legacy), newStore, store.Exists(newStore))
	}
	if !strings.Contains(d.stderr.String(), "from="+legacy+" to="+newStore) {
		t.Errorf("the log does not say the store moved:\n%s", d.stderr)
	}
}
