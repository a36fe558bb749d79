package record

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/directory"
	"smvs/lib/directory/server"
	"smvs/lib/directory/sqlitestore"
	"smvs/lib/identity"
	"smvs/lib/tlspin"
	"smvs/lib/wire"
)

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return id
}

func TestNew(t *testing.T) {
	id := newIdentity(t)
	now := time.Now()
	r, err := New(identity.NewKeyring(id, "", nil), "alice", "alice.example.net:7447", nil, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	kem, _ := id.CurrentKEM(now)
	if r.Name != "alice" || r.Host != "alice.example.net:7447" || r.Seq != uint64(now.UnixMilli()) ||
		r.Expires != now.Add(time.Hour).UnixMilli() || string(r.KEM.ID) != string(kem.ID()) {
		t.Errorf("record %+v", r)
	}
	if _, err := wire.SignRecord(id.Signer(), r); err != nil {
		t.Errorf("the record does not sign: %v", err)
	}

	// Above the previous record's sequence number, with its rotation
	// statements if the identity holds none.
	prev := *r
	prev.Seq, prev.Rotation = r.Seq+1000, []byte("rotation")
	next, err := New(identity.NewKeyring(id, "", nil), "alice", "", &prev, time.Hour, now)
	if err != nil || next.Seq != prev.Seq+1 || string(next.Rotation) != "rotation" {
		t.Errorf("after a newer record: %+v, %v", next, err)
	}
	// Another key's record lends nothing.
	prev.Identity = newIdentity(t).Public().Bytes()
	if other, err := New(identity.NewKeyring(id, "", nil), "alice", "", &prev, time.Hour, now); err != nil || other.Seq != r.Seq || other.Rotation != nil {
		t.Errorf("after another key's record: %+v, %v", other, err)
	}
	// No current KEM key, no record.
	if _, err := New(identity.NewKeyring(id, "", nil), "alice", "", nil, time.Hour, now.Add(365*24*time.Hour)); !errors.Is(err, identity.ErrNoKEMKey) {
		t.Errorf("with the KEM key expired: %v", err)
	}
}

// TestNewChain: after three rotations the record carries all three
// statements, the last in Rotation, and verifies with the chain leading
// from the first key to the last.
func TestNewChain(t *testing.T) {
	now := time.Now()
	first := newIdentity(t)
	id := first
	keys := [][]byte{first.Public().Bytes()}
	for range 3 {
		next, err := id.Rotate(now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(next.Destroy)
		id = next
		keys = append(keys, id.Public().Bytes())
	}
	r, err := New(identity.NewKeyring(id, "", nil), "alice", "", nil, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rotations) != 2 || len(r.Rotation) == 0 {
		t.Fatalf("record carries %d earlier statements and rotation %x", len(r.Rotations), r.Rotation)
	}
	signed, err := wire.SignRecord(id.Signer(), r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.VerifyRecord(signed)
	if err != nil {
		t.Fatal(err)
	}
	prev := got.PreviousKeys()
	if len(prev) != 3 {
		t.Fatalf("previous keys %d, want 3", len(prev))
	}
	for i, k := range prev {
		if string(k) != string(keys[i]) {
			t.Errorf("previous key %d is not the identity's key %d", i, i)
		}
	}
	// The identity's chain, not the previous record's.
	old := *r
	old.Rotation, old.Rotations = []byte("stale"), nil
	if next, err := New(identity.NewKeyring(id, "", nil), "alice", "", &old, time.Hour, now); err != nil ||
		string(next.Rotation) != string(r.Rotation) || len(next.Rotations) != 2 {
		t.Errorf("after a record with another chain: %+v, %v", next, err)
	}
}

func TestNewNoKEM(t *testing.T) {
	id := newIdentity(t)
	now := time.Now()
	// No current KEM key, no record.
	if _, err := New(identity.NewKeyring(id, "", nil), "alice", "", nil, time.Hour, now.Add(365*24*time.Hour)); !errors.Is(err, identity.ErrNoKEMKey) {
		t.Errorf("with the KEM key expired: %v", err)
	}
}

func newDirectory(t *testing.T) *dirclient.Client {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(server.New(&directory.Directory{Store: st}, server.Options{}))
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

func TestCurrent(t *testing.T) {
	ctx := context.Background()
	id := newIdentity(t)
	older, newer := newDirectory(t), newDirectory(t)
	if r, err := Current(ctx, []*dirclient.Client{older, newer}, id.Public()); r != nil || err != nil {
		t.Fatalf("no record anywhere: %v, %v", r, err)
	}
	now := time.Now()
	for _, p := range []struct {
		d   *dirclient.Client
		seq uint64
	}{{older, 5}, {newer, 7}} {
		r, err := New(identity.NewKeyring(id, "", nil), "alice", "", nil, time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		r.Seq = p.seq
		signed, err := wire.SignRecord(id.Signer(), r)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.d.Publish(ctx, signed); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Current(ctx, []*dirclient.Client{older, newer}, id.Public())
	if err != nil || r == nil || r.Seq != 7 {
		t.Fatalf("current: %+v, %v; want seq 7", r, err)
	}
	// A directory that fails counts only when none has the record.
	down, err := dirclient.New("http://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Current(ctx, []*dirclient.Client{down, older}, id.Public()); err != nil || r == nil || r.Seq != 5 {
		t.Errorf("with a directory down: %+v, %v", r, err)
	}
	if _, err := Current(ctx, []*dirclient.Client{down}, id.Public()); err == nil {
		t.Error("only a directory down: no error")
	}
}
