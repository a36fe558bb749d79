package host

import (
	"bytes"
	"testing"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/record"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// publish asks u's host, as its owner, to publish a record.
func (u *user) publish(p *hostapi.Publish) (*hostapi.PublishResult, *wire.Record) {
	u.t.Helper()
	res, err := u.owner().Publish(testCtx(u.t), p)
	if err != nil {
		u.t.Fatalf("publish %+v: %v", p, err)
	}
	rec, err := wire.VerifyRecord(res.Record)
	if err != nil {
		u.t.Fatalf("the record published: %v", err)
	}
	if !bytes.Equal(res.Record, u.host.Record()) {
		u.t.Error("the host serves another record than the one it published")
	}
	return res, rec
}

func TestPublishThroughTheHost(t *testing.T) {
	dir := newDirectory(t, nil)
	bob := newUser(t, "", dir).start()
	before, err := wire.VerifyRecord(bob.host.Record())
	if err != nil {
		t.Fatal(err)
	}

	// A name, an address and a lifetime, as smvs-register publish gives.
	res, rec := bob.publish(&hostapi.Publish{Name: "bob", Host: "bob.example:7447", Lifetime: time.Hour.Milliseconds()})
	if len(res.Published) != 1 || res.Published[0] != dir.String() || len(res.Failed) != 0 || res.KEMRotated {
		t.Fatalf("result %+v", res)
	}
	if rec.Name != "bob" || rec.Host != "bob.example:7447" || rec.Seq <= before.Seq ||
		time.Duration(rec.Expires-rec.Issued)*time.Millisecond != time.Hour {
		t.Fatalf("record %+v", rec)
	}
	served, err := record.Current(testCtx(t), bob.cfg.Directories, bob.key())
	if err != nil || served == nil || served.Seq != rec.Seq {
		t.Fatalf("the directory serves %+v, %v", served, err)
	}

	// The name and the address stay for the host's later records; the
	// lifetime was that record's alone.
	later, err := bob.host.refreshRecord(testCtx(t), publishRequest{})
	if err != nil {
		t.Fatal(err)
	}
	next, err := wire.VerifyRecord(later.Record)
	if err != nil {
		t.Fatal(err)
	}
	if next.Name != "bob" || next.Host != "bob.example:7447" || next.Seq <= rec.Seq ||
		time.Duration(next.Expires-next.Issued)*time.Millisecond != DefaultRecordLifetime {
		t.Fatalf("the next record %+v", next)
	}
}

func TestPublishRotatesKEM(t *testing.T) {
	dir := newDirectory(t, nil)
	bob := newUser(t, "bob", dir).start()
	old, err := wire.VerifyRecord(bob.host.Record())
	if err != nil {
		t.Fatal(err)
	}
	carol := newPeer(t)
	sealedToOld := carol.seal(bob, "sealed to the old KEM key", time.Now())

	res, rec := bob.publish(&hostapi.Publish{RotateKEM: true})
	if !res.KEMRotated || len(res.Published) != 1 || bytes.Equal(rec.KEM.ID, old.KEM.ID) || rec.Name != "bob" {
		t.Fatalf("result %+v, record KEM %x (was %x)", res, rec.KEM.ID, old.KEM.ID)
	}
	// Saved before the answer, old key kept for its grace period.
	saved, err := identity.ReadFile(bob.idPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Destroy()
	if k, err := saved.CurrentKEM(time.Now()); err != nil || !bytes.Equal(k.ID(), rec.KEM.ID) {
		t.Fatalf("the saved identity's KEM key: %v", err)
	}
	c := carol.conn(bob, transport.Config{})
	for _, env := range [][]byte{sealedToOld, carol.seal(bob, "sealed to the new KEM key", time.Now())} {
		if r := carol.deliver(c, env); r.Status != wire.StatusStored {
			t.Fatalf("delivery after the rotation: %v", r.Status)
		}
	}
	if !bob.logHas(`msg="new KEM key"`) {
		t.Errorf("log:\n%s", bob.log)
	}
}

func TestPublishWithoutDirectories(t *testing.T) {
	bob := newUser(t, "").start()
	res, rec := bob.publish(&hostapi.Publish{Name: "bob"})
	if len(res.Published) != 0 || len(res.Failed) != 0 || rec.Name != "bob" {
		t.Fatalf("result %+v, record %+v", res, rec)
	}
}

func TestPublishFailures(t *testing.T) {
	down, err := dirclient.New("http://127.0.0.1:1", "")
	if err != nil {
		t.Fatal(err)
	}
	up := newDirectory(t, nil)
	bob := newUser(t, "bob", up, down).start()
	res, _ := bob.publish(&hostapi.Publish{})
	if len(res.Published) != 1 || res.Published[0] != up.String() || len(res.Failed) != 1 ||
		!bytes.HasPrefix([]byte(res.Failed[0]), []byte(down.String()+": ")) || len(res.Conflicts) != 0 {
		t.Fatalf("result %+v", res)
	}
	// A name another key holds: the refusal is a conflict.
	carol := newUser(t, "carol", up).start()
	res, _ = carol.publish(&hostapi.Publish{Name: "bob"})
	if len(res.Published) != 0 || len(res.Failed) != 1 || !res.Conflict(0) {
		t.Fatalf("publishing a name another key holds: failed %v, conflicts %v", res.Failed, res.Conflicts)
	}
}

func TestPublishOnlyByTheOwner(t *testing.T) {
	bob := newUser(t, "bob").start()
	_, err := bob.remote(newDeviceKey(t)).Publish(testCtx(t), &hostapi.Publish{Name: "mallory"})
	if hostCode(err) != hostapi.ErrForbidden {
		t.Fatalf("a remote device publishing: %v, want ErrForbidden", err)
	}
	if rec, err := wire.VerifyRecord(bob.host.Record()); err != nil || rec.Name != "bob" {
		t.Fatalf("the record after a refused publish: %+v, %v", rec, err)
	}
}
