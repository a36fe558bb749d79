package host

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/identity"
)

func testKey(t *testing.T) identity.PublicKey {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	return id.Public()
}

// TestPolicyChmod checks that a block list made writable by others stops
// deliveries, and that mending it with chmod alone, which changes neither
// its size nor its modification time, is noticed at once.
func TestPolicyChmod(t *testing.T) {
	home := t.TempDir()
	blocked, other := testKey(t), testKey(t)
	path := filepath.Join(home, BlockedFile)
	if err := os.WriteFile(path, []byte(blocked.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newPolicy(home, slog.New(slog.NewTextHandler(io.Discard, nil)))
	want := func(step string, key identity.PublicKey, v verdict) {
		t.Helper()
		if got, why := p.check(key); got != v {
			t.Fatalf("%s: verdict %d (%s), want %d", step, got, why, v)
		}
	}
	want("0600", blocked, refuse)
	want("0600", other, accept)
	for _, step := range []struct {
		mode os.FileMode
		v    verdict
	}{{0o666, unknown}, {0o600, accept}, {0o620, unknown}, {0o600, accept}} {
		if err := os.Chmod(path, step.mode); err != nil {
			t.Fatal(err)
		}
		want(step.mode.String(), other, step.v)
	}
	want("0600 again", blocked, refuse)
}

// TestPolicyRetry checks that a policy file that could not be used is
// read again after policyRetry even if nothing about it looks changed:
// what mended it (a directory's permissions, an ACL, a passing read
// error) need not show in its own metadata.
func TestPolicyRetry(t *testing.T) {
	home := t.TempDir()
	key := testKey(t)
	if err := os.WriteFile(filepath.Join(home, BlockedFile), []byte(key.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newPolicy(home, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if v, _ := p.check(key); v != refuse {
		t.Fatalf("verdict %d, want refuse", v)
	}
	p.blocked.err = errors.New("a read error that has passed")
	if v, _ := p.check(key); v != unknown {
		t.Fatalf("within policyRetry of the failure: verdict %d, want unknown", v)
	}
	p.blocked.read = time.Now().Add(-policyRetry)
	if v, _ := p.check(key); v != refuse {
		t.Fatalf("policyRetry after the failure: verdict %d, want refuse", v)
	}
}

// TestRefusedByPolicy checks that a message the peer's host refuses by
// its policy ends as Refused, not as Failed (which says the peer's host
// may be down), and that the sender's log says so.
func TestRefusedByPolicy(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	bob.writeFile(BlockedFile, alice.key().String()+"\n")

	d := alice.device()
	sent := d.send("bob", "let me in")
	if s := d.status(sent.ID, waitFor); s != delivery.Refused {
		t.Fatalf("status %v, want refused", s)
	}
	if !alice.logHas("message refused by the peer's host: its user's policy") {
		t.Errorf("alice's log lacks the refusal:\n%s", alice.log)
	}
}
