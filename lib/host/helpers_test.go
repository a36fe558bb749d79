package host

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/dirclient"
	"smvs/lib/directory"
	"smvs/lib/directory/server"
	"smvs/lib/directory/sqlitestore"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/seal"
	"smvs/lib/store"
	"smvs/lib/tlspin"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// waitFor bounds every wait of these tests.
const waitFor = 15 * time.Second

// clock is a protocol clock that runs with the real one, plus an offset a
// test can move forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// newDirectory starts a real directory (lib/directory/server over SQLite)
// on an httptest TLS server, on clock's time if not nil, and returns a
// client of it.
func newDirectory(t testing.TB, c *clock) *dirclient.Client {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	dir := &directory.Directory{Store: st}
	if c != nil {
		dir.Now = c.Now
	}
	srv := httptest.NewUnstartedServer(server.New(dir, server.Options{}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	d, err := dirclient.New(srv.URL, tlspin.Pin(srv.Certificate()))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// logBuffer collects a host's log for a test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// user is an SMVS home with an identity, and the host that runs for it.
type user struct {
	t       testing.TB
	name    string
	home    string
	id      *identity.Identity
	keys    *identity.Keyring // id, saved to idPath on each change
	idPath  string
	cfg     Config
	host    *Host
	log     *logBuffer
	stopped bool
}

// newUser makes a user. Its host listens on a free port of 127.0.0.1,
// retries fast, and publishes as name in dirs, if any.
func newUser(t testing.TB, name string, dirs ...*dirclient.Client) *user {
	t.Helper()
	home := t.TempDir()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	if err := identity.WriteNewFile(filepath.Join(home, "identity"), id.MarshalText()); err != nil {
		t.Fatal(err)
	}
	// A unix socket path must be short: keep it out of the test's long
	// temporary directory.
	sockDir, err := os.MkdirTemp("", "smvs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	u := &user{t: t, name: name, home: home, log: &logBuffer{}}
	u.useIdentity(id, filepath.Join(home, "identity"))
	u.cfg = Config{
		Keys:         u.keys,
		Home:         home,
		DataDir:      filepath.Join(home, "data"),
		Socket:       filepath.Join(sockDir, "host.sock"),
		Listen:       "127.0.0.1:0",
		Name:         name,
		Directories:  dirs,
		BackoffMin:   10 * time.Millisecond,
		BackoffMax:   100 * time.Millisecond,
		ReceiptDelay: 5 * time.Millisecond,
		Log:          slog.New(slog.NewTextHandler(u.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return u
}

// useIdentity makes id, kept in the file path ("" for none), u's identity.
func (u *user) useIdentity(id *identity.Identity, path string) {
	u.id, u.idPath, u.keys = id, path, identity.NewKeyring(id, path, nil)
	u.cfg.Keys = u.keys
}

// start starts u's host, and stops it when the test ends.
func (u *user) start() *user {
	u.t.Helper()
	h, err := Start(u.cfg)
	if err != nil {
		u.t.Fatalf("starting %s's host: %v\nlog:\n%s", u.name, err, u.log)
	}
	u.host, u.stopped = h, false
	// Restarts keep the port, so peers find the host where its record says.
	u.cfg.Listen = h.Addr().String()
	u.t.Cleanup(u.stop)
	return u
}

// stop stops u's host cleanly.
func (u *user) stop() {
	if u.host == nil || u.stopped {
		return
	}
	u.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := u.host.Shutdown(ctx); err != nil {
		u.t.Errorf("stopping %s's host: %v", u.name, err)
	}
}

func (u *user) key() identity.PublicKey { return u.id.Public() }

// addContact writes a contact line to u's contacts file.
func (u *user) addContact(c contacts.Contact) {
	u.t.Helper()
	err := contacts.Update(contacts.Path(u.home), func(f *contacts.File) error { return f.Set(c) })
	if err != nil {
		u.t.Fatal(err)
	}
}

// writeFile writes one of u's files in the SMVS home.
func (u *user) writeFile(name, content string) {
	u.t.Helper()
	if err := os.WriteFile(filepath.Join(u.home, name), []byte(content), 0o600); err != nil {
		u.t.Fatal(err)
	}
}

// messages returns the visible messages of u's store.
func (u *user) messages() []*store.Message {
	u.t.Helper()
	ms, err := u.host.store.List(0, 1<<20)
	if err != nil {
		u.t.Fatal(err)
	}
	var out []*store.Message
	for _, m := range ms {
		if visible(m) {
			out = append(out, m)
		}
	}
	return out
}

// incoming returns the messages u's store holds from peer.
func (u *user) incoming(peer *user) []*store.Message {
	var out []*store.Message
	for _, m := range u.messages() {
		if m.Direction == delivery.In && bytes.Equal(m.Peer, peer.key().Bytes()) {
			out = append(out, m)
		}
	}
	return out
}

// eventually waits until cond holds, failing the test after waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// device is a connection to a host's device socket.
type device struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func (u *user) device() *device {
	u.t.Helper()
	c, err := net.Dial("unix", u.cfg.Socket)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { c.Close() })
	return &device{t: u.t, c: c, br: bufio.NewReader(c)}
}

// do sends r and reads one response; an error answer is a *hostapi.Error.
func (d *device) do(r *hostapi.Request) (*hostapi.Response, error) {
	d.t.Helper()
	if err := hostapi.WriteRequest(d.c, r); err != nil {
		d.t.Fatal(err)
	}
	return d.read()
}

func (d *device) read() (*hostapi.Response, error) {
	d.c.SetReadDeadline(time.Now().Add(waitFor))
	return hostapi.ReadResponse(d.br, hostapi.MaxFrame)
}

// send submits a text message and fails the test if it is refused.
func (d *device) send(to, body string) *hostapi.SubmitResult {
	d.t.Helper()
	r, err := d.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: to, Kind: wire.KindText, Body: []byte(body)}})
	if err != nil {
		d.t.Fatalf("submit to %s: %v", to, err)
	}
	return r.Sent
}

// status returns a message's delivery status, waiting up to wait for a
// final one.
func (d *device) status(id []byte, wait time.Duration) delivery.Status {
	d.t.Helper()
	r, err := d.do(&hostapi.Request{Op: hostapi.OpStatus, Status: &hostapi.Status{ID: id, Wait: wait.Milliseconds()}})
	if err != nil {
		d.t.Fatalf("status: %v", err)
	}
	return r.Status.Status
}

// peer is a bare transport endpoint with its own identity, to send hosts
// whatever a test wants.
type peer struct {
	t  testing.TB
	id *identity.Identity
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return &peer{t: t, id: id}
}

func (p *peer) key() identity.PublicKey { return p.id.Public() }

// conn dials u's host.
func (p *peer) conn(u *user, cfg transport.Config) *transport.Conn {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := transport.Dial(ctx, u.host.Addr().String(), p.id.Signer(), u.key(), cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.Close() })
	return c
}

// seal seals a text message to u's current record.
func (p *peer) seal(u *user, body string, now time.Time) []byte {
	p.t.Helper()
	rec, err := wire.VerifyRecord(u.host.Record())
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := seal.Seal(p.id.Signer(), rec, &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindText, Body: []byte(body)}, now)
	if err != nil {
		p.t.Fatal(err)
	}
	return s.Envelope
}

// deliver sends an envelope to u's host as p and returns the answer.
func (p *peer) deliver(c *transport.Conn, envelope []byte) *wire.HostResponse {
	p.t.Helper()
	return p.request(c, (&wire.HostRequest{Op: wire.OpDeliver, Envelope: envelope}).Encode())
}

func (p *peer) request(c *transport.Conn, req []byte) *wire.HostResponse {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	data, err := c.Request(ctx, req)
	if err != nil {
		p.t.Fatalf("request: %v", err)
	}
	resp, err := wire.DecodeHostResponse(data)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp
}

// logHas reports whether u's log has every one of want.
func (u *user) logHas(want ...string) bool {
	log := u.log.String()
	for _, w := range want {
		if !strings.Contains(log, w) {
			return false
		}
	}
	return true
}
