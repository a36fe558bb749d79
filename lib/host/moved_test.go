package host

import (
	"errors"
	"strings"
	"testing"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/store"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// rotate replaces u's identity with the one it rotates to, saved in its
// file, as smvs-register rotate --identity does with the host stopped.
func (u *user) rotate() {
	u.t.Helper()
	next, err := u.id.Rotate(time.Now())
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(next.Destroy)
	if err := identity.ReplaceFile(u.idPath, next.MarshalText()); err != nil {
		u.t.Fatal(err)
	}
	u.useIdentity(next, u.idPath)
}

// savedRetired is how many replaced identities' keys u's identity file
// holds.
func (u *user) savedRetired() int {
	u.t.Helper()
	saved, err := identity.ReadFile(u.idPath, nil)
	if err != nil {
		u.t.Fatal(err)
	}
	defer saved.Destroy()
	return saved.Retired()
}

func TestStoreMovesToTheRotatedIdentity(t *testing.T) {
	alice := newUser(t, "").start()
	carol := newPeer(t)
	c := carol.conn(alice, transport.Config{})
	for _, body := range []string{"one", "two"} {
		if r := carol.deliver(c, carol.seal(alice, body, time.Now())); r.Status != wire.StatusStored {
			t.Fatalf("delivery: %v", r.Status)
		}
	}
	alice.stop()

	// Rotated twice with the host stopped, A to B to C: the store is
	// still under A, whose key C's file keeps.
	alice.rotate()
	alice.rotate()
	if n := alice.savedRetired(); n != 2 {
		t.Fatalf("the rotated identity file keeps %d replaced keys, want 2", n)
	}
	alice.start()
	if n := len(alice.messages()); n != 2 {
		t.Fatalf("after the move the store holds %d messages, want 2", n)
	}
	if !alice.logHas(`msg="the store moved to the new identity"`, `msg="forgot the keys of the identities this one replaced" count=2`) {
		t.Errorf("log:\n%s", alice.log)
	}
	if n := alice.savedRetired(); n != 0 {
		t.Errorf("after the move the identity file keeps %d replaced keys", n)
	}

	// The next start opens it with the current key alone.
	alice.stop()
	alice.useIdentity(alice.id, alice.idPath)
	alice.log.reset()
	alice.start()
	if n := len(alice.messages()); n != 2 || alice.logHas("the store moved") {
		t.Errorf("restart after the move: %d messages, log:\n%s", n, alice.log)
	}
}

func TestStoreOfAnotherIdentity(t *testing.T) {
	alice := newUser(t, "").start()
	alice.stop()
	other := newUser(t, "")
	other.cfg.DataDir = alice.cfg.DataDir
	_, err := Start(other.cfg)
	if !errors.Is(err, ErrWrongIdentity) || !strings.Contains(err.Error(), alice.cfg.DataDir) {
		t.Fatalf("Start on another identity's store: %v, want ErrWrongIdentity", err)
	}
}

// TestStoreMoveCutShort starts a host whose last start moved the store and
// was killed before it forgot the replaced identity: this start forgets it.
func TestStoreMoveCutShort(t *testing.T) {
	alice := newUser(t, "").start()
	alice.stop()
	alice.rotate()
	replaced := alice.keys
	// The move, as Start does it, without the forgetting that follows.
	keks, err := replaced.StorageKeys("store")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(alice.cfg.DataDir, keks, store.Options{})
	if err != nil || !st.Moved() {
		t.Fatalf("the move: %v", err)
	}
	st.Close()
	if n := alice.savedRetired(); n != 1 {
		t.Fatalf("the identity file keeps %d replaced keys, want 1", n)
	}

	alice.start()
	if n := alice.savedRetired(); n != 0 || !alice.logHas(`msg="forgot the keys of the identities this one replaced" count=1`) {
		t.Errorf("after the start the identity file keeps %d replaced keys; log:\n%s", n, alice.log)
	}
}

// TestRemoteDeviceFollowsRotation: a device linked before the user rotated
// the identity finds its host presenting the new key; it follows the
// rotation the host's record carries, and still works. A host with
// another key and no rotation from the pinned one is refused.
func TestRemoteDeviceFollowsRotation(t *testing.T) {
	alice := newUser(t, "alice").start()
	laptop := newDeviceKey(t)
	if _, err := alice.owner().Devices(testCtx(t), &hostapi.DevicesRequest{Action: hostapi.DevicesAdd, Name: "laptop", Key: laptop.Public().Bytes()}); err != nil {
		t.Fatal(err)
	}
	pinned := alice.key()
	alice.stop()
	alice.rotate()
	alice.rotate() // twice: the record carries the whole chain
	alice.start()
	addr := alice.host.Addr().String()

	_, err := hostapi.DialRemote(testCtx(t), addr, pinned, laptop)
	mismatch, ok := errors.AsType[*transport.KeyMismatchError](err)
	if !ok || mismatch.Got != alice.key() {
		t.Fatalf("dialing the old key: %v", err)
	}
	c, err := hostapi.FollowRotation(testCtx(t), addr, pinned, mismatch.Got, laptop)
	if err != nil {
		t.Fatalf("following the rotation: %v", err)
	}
	defer c.Close()
	if l, err := c.Link(testCtx(t), &hostapi.Link{}); err != nil || l.Name != "laptop" {
		t.Fatalf("the device after following: %+v, %v", l, err)
	}

	// Another user's host at the address the device knows: no rotation
	// from the pinned key.
	mallory := newUser(t, "mallory").start()
	if _, err := mallory.owner().Devices(testCtx(t), &hostapi.DevicesRequest{Action: hostapi.DevicesAdd, Name: "laptop", Key: laptop.Public().Bytes()}); err != nil {
		t.Fatal(err)
	}
	_, err = hostapi.FollowRotation(testCtx(t), mallory.host.Addr().String(), pinned, mallory.key(), laptop)
	if err == nil || !strings.Contains(err.Error(), "no rotation signed by "+pinned.String()) {
		t.Errorf("following a host with no rotation from the pinned key: %v", err)
	}
}
