package host

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// TestKEMKeyNotSaved checks that a new KEM key the Keys could not save is
// used and published all the same, and saved at the next check.
func TestKEMKeyNotSaved(t *testing.T) {
	clk := new(clock)
	bob := newUser(t, "")
	// The file's directory is missing until the disk "has room".
	later := filepath.Join(t.TempDir(), "later")
	bob.useIdentity(bob.id, filepath.Join(later, "identity"))
	bob.cfg.Now = clk.Now
	bob.start()
	old, err := wire.VerifyRecord(bob.host.Record())
	if err != nil {
		t.Fatal(err)
	}

	clk.advance(24 * 24 * time.Hour)
	bob.host.maintain(testCtx(t))
	rec, err := wire.VerifyRecord(bob.host.Record())
	if err != nil {
		t.Fatal(err)
	}
	if !bob.host.unsaved() || !bob.logHas(`msg="saving the identity; will try again"`) {
		t.Fatalf("an unsaved rotation is not noted; log:\n%s", bob.log)
	}
	if bytes.Equal(rec.KEM.ID, old.KEM.ID) {
		t.Fatal("the record does not carry the new KEM key")
	}

	if err := os.Mkdir(later, 0o700); err != nil {
		t.Fatal(err)
	}
	bob.host.maintain(testCtx(t))
	if bob.host.unsaved() {
		t.Fatalf("still unsaved; log:\n%s", bob.log)
	}
	saved, err := identity.ReadFile(bob.idPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Destroy()
	if k, err := saved.CurrentKEM(clk.Now()); err != nil || !bytes.Equal(k.ID(), rec.KEM.ID) {
		t.Fatalf("the saved identity's KEM key after the retry: %v", err)
	}
}
