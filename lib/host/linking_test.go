package host

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

func newDeviceKey(t testing.TB) *identity.Identity {
	t.Helper()
	d, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Destroy)
	return d
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// remote dials u's host as the remote device key.
func (u *user) remote(key *identity.Identity) *hostapi.Client {
	u.t.Helper()
	c, err := hostapi.DialRemote(testCtx(u.t), u.host.Addr().String(), u.key(), key)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { c.Close() })
	return c
}

// owner is a client on u's unix socket.
func (u *user) owner() *hostapi.Client {
	u.t.Helper()
	c, err := hostapi.Dial(testCtx(u.t), u.cfg.Socket)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { c.Close() })
	return c
}

func (u *user) pair(name string, ttl time.Duration) *hostapi.Pairing {
	u.t.Helper()
	r, err := u.owner().Devices(testCtx(u.t), &hostapi.DevicesRequest{Action: hostapi.DevicesPair, Name: name, TTL: ttl.Milliseconds()})
	if err != nil {
		u.t.Fatal(err)
	}
	return r.Pairing
}

func hostCode(err error) hostapi.ErrorCode {
	var e *hostapi.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestPairAndUseRemoteDevice(t *testing.T) {
	c := &clock{}
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir)
	alice.cfg.Now = c.Now
	alice.start()
	bob := newUser(t, "bob", dir).start()
	laptop := newDeviceKey(t)

	// Before linking, the device can do nothing but link.
	_, err := alice.remote(laptop).Submit(testCtx(t), &hostapi.Submit{To: "bob", Kind: wire.KindText, Body: []byte("x")})
	if hostCode(err) != hostapi.ErrNotLinked || !strings.Contains(err.Error(), "not linked") {
		t.Fatalf("unlinked submit: %v", err)
	}

	p := alice.pair("laptop", 0)
	if !bytes.Equal(p.Identity, alice.key().Bytes()) || p.Address != alice.host.Addr().String() || len(p.Code) != 19 {
		t.Fatalf("pairing %+v", p)
	}
	if _, err := alice.remote(laptop).Link(testCtx(t), &hostapi.Link{Code: "AAAA-BBBB-CCCC-DDDD"}); hostCode(err) != hostapi.ErrNotLinked {
		t.Fatalf("a wrong code: %v", err)
	}
	linked, err := alice.remote(laptop).Link(testCtx(t), &hostapi.Link{Code: strings.ToLower(p.Code), Name: "ignored"})
	if err != nil || linked.Name != "laptop" {
		t.Fatalf("link: %+v, %v", linked, err)
	}
	// The code was spent.
	other := newDeviceKey(t)
	if _, err := alice.remote(other).Link(testCtx(t), &hostapi.Link{Code: p.Code}); hostCode(err) != hostapi.ErrNotLinked {
		t.Fatalf("a spent code: %v", err)
	}
	// A code expires.
	p2 := alice.pair("", time.Minute)
	c.advance(2 * time.Minute)
	if _, err := alice.remote(other).Link(testCtx(t), &hostapi.Link{Code: p2.Code}); hostCode(err) != hostapi.ErrNotLinked {
		t.Fatalf("an expired code: %v", err)
	}

	// The laptop follows while the socket device sends: it sees the message
	// as sent, and bob's reply.
	stream, err := alice.remote(laptop).List(testCtx(t), &hostapi.List{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if ev, err := stream.Next(); err != nil || ev.Kind != hostapi.EventLive {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	alice.device().send("bob", "from the desk")
	next := func(kind hostapi.EventKind) *hostapi.Item {
		t.Helper()
		for range 20 {
			ev, err := stream.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind == kind {
				return ev.Item
			}
		}
		t.Fatalf("no %d event", kind)
		return nil
	}
	if it := next(hostapi.EventMessage); it.Direction != delivery.Out || string(it.Body) != "from the desk" {
		t.Fatalf("laptop saw %+v", it)
	}
	bob.device().send("alice", "hi both")
	in := next(hostapi.EventMessage)
	for in.Direction != delivery.In {
		in = next(hostapi.EventMessage)
	}
	if string(in.Body) != "hi both" || in.Read {
		t.Fatalf("laptop saw %+v", in)
	}
	// Reading it on the laptop marks it read everywhere.
	if n, err := alice.remote(laptop).MarkRead(testCtx(t), []uint64{in.Seq}); err != nil || n != 1 {
		t.Fatalf("mark read: %d, %v", n, err)
	}
	it := next(hostapi.EventStatus)
	for it.Seq != in.Seq {
		it = next(hostapi.EventStatus) // the desk's message was delivered
	}
	if !it.Read {
		t.Fatalf("read event %+v", it)
	}
	// The laptop sends too, and may not manage devices.
	if _, err := alice.remote(laptop).Submit(testCtx(t), &hostapi.Submit{To: "bob", Kind: wire.KindText, Body: []byte("from the laptop")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob to get the laptop's message", func() bool { return len(bob.incoming(alice)) == 2 })
	if _, err := alice.remote(laptop).Devices(testCtx(t), &hostapi.DevicesRequest{Action: hostapi.DevicesList}); hostCode(err) != hostapi.ErrForbidden {
		t.Fatalf("a remote device listing devices: %v", err)
	}
	list, err := alice.owner().Devices(testCtx(t), &hostapi.DevicesRequest{Action: hostapi.DevicesList})
	if err != nil || len(list.Devices) != 1 || list.Devices[0].Name != "laptop" || list.Devices[0].Connected < 1 || list.Devices[0].LastSeen == 0 {
		t.Fatalf("devices: %+v, %v", list, err)
	}
}

func TestRevokeClosesOpenConnections(t *testing.T) {
	alice := newUser(t, "alice").start()
	phone := newDeviceKey(t)
	add, err := alice.owner().Devices(testCtx(t), &hostapi.DevicesRequest{Action: hostapi.DevicesAdd, Name: "phone", Key: phone.Public().Bytes()})
	if err != nil || add.Devices[0].Name != "phone" {
		t.Fatalf("add: %+v, %v", add, err)
	}
	// Added by key, the device only checks it is linked.
	if l, err := alice.remote(phone).Link(testCtx(t), &hostapi.Link{}); err != nil || l.Name != "phone" {
		t.Fatalf("link check: %+v, %v", l, err)
	}
	stream, err := alice.remote(phone).List(testCtx(t), &hostapi.List{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if ev, err := stream.Next(); err != nil || ev.Kind != hostapi.EventLive {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	if _, err := alice.owner().Devices(testCtx(t), &hostapi.DevicesRequest{Action: hostapi.DevicesRevoke, Name: "phone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Next(); !errors.Is(err, hostapi.ErrRevoked) {
		t.Fatalf("the open stream after revocation: %v", err)
	}
	c := alice.remote(phone)
	_, err = c.Submit(testCtx(t), &hostapi.Submit{To: alice.key().String(), Kind: wire.KindText, Body: []byte("x")})
	if hostCode(err) != hostapi.ErrNotLinked || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked device's request: %v", err)
	}
	// The revocation is in the devices file and survives a restart.
	alice.stop()
	data, err := os.ReadFile(filepath.Join(alice.cfg.DataDir, DevicesFile))
	if err != nil || !strings.Contains(string(data), "phone "+phone.Public().String()) || !strings.Contains(string(data), "revoked=") {
		t.Fatalf("devices file %q, %v", data, err)
	}
	alice.start()
	if _, err := alice.remote(phone).Link(testCtx(t), &hostapi.Link{}); hostCode(err) != hostapi.ErrNotLinked {
		t.Fatalf("after a restart: %v", err)
	}
}

// Another user's device, or their identity, is refused by alice's host.
func TestForeignDeviceRefused(t *testing.T) {
	alice := newUser(t, "alice").start()
	bob := newUser(t, "bob").start()
	bobs := newDeviceKey(t)
	if _, err := bob.owner().Devices(testCtx(t), &hostapi.DevicesRequest{Action: hostapi.DevicesAdd, Key: bobs.Public().Bytes()}); err != nil {
		t.Fatal(err)
	}
	stream, err := alice.remote(bobs).List(testCtx(t), &hostapi.List{})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if ev, err := stream.Next(); hostCode(err) != hostapi.ErrNotLinked {
		t.Fatalf("bob's device listing alice's messages: %+v, %v", ev, err)
	}
	_, err = alice.remote(bobs).Status(testCtx(t), make([]byte, 16), 0)
	if hostCode(err) != hostapi.ErrNotLinked {
		t.Fatalf("bob's device on alice's host: %v", err)
	}
}

func TestDevicesFile(t *testing.T) {
	key := newDeviceKey(t).Public()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	r, err := openRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.add("bad name", key, now); !errors.Is(err, errDeviceName) {
		t.Fatalf("a name with a space: %v", err)
	}
	if _, err := r.add("", newPeerKey(t), now); !errors.Is(err, identity.ErrBadPublicKey) {
		t.Fatalf("an identity key as a device: %v", err)
	}
	d, err := r.add("", key, now)
	if err != nil || d.name != "device-1" {
		t.Fatalf("add: %+v, %v", d, err)
	}
	if _, err := r.revoke("device-1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.revoke("device-1", now); !errors.Is(err, errNoSuchDevice) {
		t.Fatalf("revoking twice: %v", err)
	}
	again, err := openRegistry(filepath.Dir(r.path))
	if err != nil {
		t.Fatal(err)
	}
	want := "device-1 " + key.String() + " added=2026-11-26T10:00:00Z revoked=2026-11-26T11:00:00Z"
	if got := again.all(); len(got) != 1 || got[0].String() != want {
		t.Fatalf("reloaded %v, want %q", got, want)
	}
	for _, bad := range []string{
		"laptop",
		"laptop smvs1notakey added=2026-11-26T10:00:00Z",
		"laptop " + key.String(),
		"laptop " + key.String() + " added=yesterday",
		"laptop " + key.String() + " added=2026-11-26T10:00:00Z color=red",
		"a " + key.String() + " added=2026-11-26T10:00:00Z\nb " + key.String() + " added=2026-11-26T10:00:00Z",
	} {
		if _, err := parseDevices(strings.NewReader(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

func newPeerKey(t testing.TB) identity.PublicKey {
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id.Public()
}

func TestPairingCodes(t *testing.T) {
	now := time.Now()
	r, err := openRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.pair("", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	typed := strings.ToLower(formatCode(p.code))
	typed = strings.ReplaceAll(typed, "0", "o")
	if _, err := r.redeem(typed, "tablet", newDeviceKey(t).Public(), now); err != nil {
		t.Fatalf("a code typed in lower case with O for 0: %v", err)
	}
	// Too many wrong tries burn every pending code.
	p, _ = r.pair("", 0, now)
	for range maxPairingFailures {
		r.redeem("0000-0000-0000-0000", "", newDeviceKey(t).Public(), now)
	}
	if _, err := r.redeem(p.code, "", newDeviceKey(t).Public(), now); !errors.Is(err, errBadPairingCode) {
		t.Fatalf("a code after %d wrong tries: %v", maxPairingFailures, err)
	}
}

func FuzzDevicesFile(f *testing.F) {
	key, _ := identity.Generate(identity.KindDevice, time.Now())
	f.Add("laptop " + key.Public().String() + " added=2026-11-26T10:00:00Z\n# comment\n")
	f.Add("x " + key.Public().String() + " added=2026-11-26T10:00:00Z revoked=2026-11-27T10:00:00+01:00")
	f.Fuzz(func(t *testing.T, s string) {
		list, err := parseDevices(strings.NewReader(s))
		if err != nil {
			return
		}
		var b strings.Builder
		for _, d := range list {
			b.WriteString(d.String() + "\n")
		}
		again, err := parseDevices(strings.NewReader(b.String()))
		if err != nil || len(again) != len(list) {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		for i := range list {
			if again[i].String() != list[i].String() {
				t.Fatalf("%q became %q", list[i], again[i])
			}
		}
	})
}
