package host

import (
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/dirclient"
	"smvs/lib/directory"
	"smvs/lib/directory/server"
	"smvs/lib/directory/sqlitestore"
	"smvs/lib/hostapi"
	"smvs/lib/tlspin"
	"smvs/lib/wire"
)

// flakyDirectory is a real directory that can be taken down: while down,
// it drops every connection without an answer, as a network failure does.
type flakyDirectory struct {
	client *dirclient.Client
	down   atomic.Bool
}

func newFlakyDirectory(t *testing.T) *flakyDirectory {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyDirectory{}
	serve := server.New(&directory.Directory{Store: st}, server.Options{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		serve.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	if f.client, err = dirclient.New(srv.URL, tlspin.Pin(srv.Certificate())); err != nil {
		t.Fatal(err)
	}
	return f
}

func submit(d *device, to, body string) (*hostapi.SubmitResult, error) {
	r, err := d.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: to, Kind: wire.KindText, Body: []byte(body)}})
	if err != nil {
		return nil, err
	}
	return r.Sent, nil
}

// TestDirectoryDown checks that with the directory down a message to a
// peer whose record the host verified before is queued and delivered,
// through a restart of the host, and that a look-up the directory failed
// is not remembered: the first message after it is back gets through.
func TestDirectoryDown(t *testing.T) {
	dir := newFlakyDirectory(t)
	alice := newUser(t, "alice", dir.client).start()
	newUser(t, "bob", dir.client).start()
	carol := newUser(t, "carol", dir.client).start()

	d := alice.device()
	if s := d.status(d.send("bob", "first").ID, waitFor); s != delivery.Delivered {
		t.Fatalf("with the directory up: %v", s)
	}
	dir.down.Store(true)
	alice.stop()
	alice.start()
	d = alice.device()
	sent, err := submit(d, "bob", "while the directory is down")
	if err != nil {
		t.Fatalf("to a verified peer with the directory down: %v", err)
	}
	if s := d.status(sent.ID, waitFor); s != delivery.Delivered {
		t.Fatalf("to a verified peer with the directory down: %v", s)
	}

	// carol is pinned, but her record was never seen by alice's host.
	alice.addContact(contacts.Contact{Name: "carol", Key: carol.key()})
	var apiErr *hostapi.Error
	if _, err := submit(d, "carol", "lost"); !errors.As(err, &apiErr) || apiErr.Code != hostapi.ErrUnavailable {
		t.Fatalf("to a peer never verified, with the directory down: %v, want unavailable", err)
	}
	dir.down.Store(false)
	sent, err = submit(d, "carol", "the directory is back")
	if err != nil {
		t.Fatalf("at once after the directory is back: %v", err)
	}
	if s := d.status(sent.ID, waitFor); s != delivery.Delivered {
		t.Fatalf("at once after the directory is back: %v", s)
	}
}

// TestOwnNameNotPinned: sending to one's own name in a directory resolves
// it, but never pins the user's own key among their contacts.
func TestOwnNameNotPinned(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	submit(alice.device(), "alice", "a note to self")
	data, err := os.ReadFile(contacts.Path(alice.home))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if strings.Contains(string(data), alice.key().String()) {
		t.Errorf("the host pinned its own user's key:\n%s", data)
	}
}
