package hostapi_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/hostapi/hostapitest"
	"smvs/lib/wire"
)

func TestDelete(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	c := dial(t, h.Path())
	ctx := context.Background()
	for _, body := range []string{"one", "two", "three"} {
		if _, err := c.Submit(ctx, text("bob", body)); err != nil {
			t.Fatal(err)
		}
	}
	h.AnswerDeletions(delivery.Sent)
	res, err := c.Delete(ctx, &hostapi.Delete{Seqs: []uint64{1, 3, 9}, ForEveryone: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 2 || !slices.Equal(res.Missing, []uint64{9}) || len(res.Requests) != 1 ||
		res.Requests[0].Messages != 2 || !bytes.Equal(res.Requests[0].Peer, bobKey) {
		t.Errorf("result %+v", res)
	}
	// The request to bob's host has a status of its own.
	it, err := c.Status(ctx, res.Requests[0].ID, time.Second)
	if err != nil || it.Status != delivery.Sent {
		t.Errorf("status of the request: %+v, %v", it, err)
	}
	// A refusal leaves the connection usable; a malformed request is not sent.
	var hostErr *hostapi.Error
	if _, err := c.Delete(ctx, &hostapi.Delete{All: true, Peer: "carol"}); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrUnknownRecipient {
		t.Errorf("unknown peer: %v", err)
	}
	if _, err := c.Delete(ctx, &hostapi.Delete{All: true, Before: 1}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("two modes: %v", err)
	}
	if res, err := c.Delete(ctx, &hostapi.Delete{All: true}); err != nil || res.Deleted != 1 {
		t.Errorf("all: %+v, %v", res, err)
	}
}

func TestImportFingerprintExpiry(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	c := dial(t, h.Path())
	ctx := context.Background()
	items := []*hostapi.Item{{ID: bytes.Repeat([]byte{1}, 16), Direction: delivery.In, Peer: bobKey, Sent: 1000, Kind: wire.KindText, Body: []byte("hi")}}
	if res, err := c.Import(ctx, items); err != nil || res.Added != 1 || res.Present != 0 {
		t.Errorf("import: %+v, %v", res, err)
	}
	if res, err := c.Import(ctx, items); err != nil || res.Added != 0 || res.Present != 1 {
		t.Errorf("import again: %+v, %v", res, err)
	}
	if _, err := c.Import(ctx, nil); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("empty import: %v", err)
	}

	fp, err := c.Fingerprint(ctx, &hostapi.Fingerprint{Peer: "bob"})
	if err != nil || fp.Messages != 1 || len(fp.Hash) != 32 || fp.PeerName != "bob" {
		t.Errorf("fingerprint: %+v, %v", fp, err)
	}

	ex, err := c.Expiry(ctx, &hostapi.Expiry{Peer: "bob", Set: true, After: 60000})
	if err != nil || ex.After != 60000 || ex.Was != 0 {
		t.Errorf("set expiry: %+v, %v", ex, err)
	}
	if ex, err := c.Expiry(ctx, &hostapi.Expiry{Peer: "bob"}); err != nil || ex.After != 60000 {
		t.Errorf("read expiry: %+v, %v", ex, err)
	}

	h.RefuseOp(hostapi.OpImport, &hostapi.Error{Code: hostapi.ErrForbidden, Message: "only on the host's machine"})
	var hostErr *hostapi.Error
	if _, err := c.Import(ctx, items); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrForbidden {
		t.Errorf("forbidden import: %v", err)
	}
}
