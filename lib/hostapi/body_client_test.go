package hostapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"smvs/lib/hostapi"
	"smvs/lib/hostapi/hostapitest"
	"smvs/lib/wire"
)

// bigBody is a body over the streaming threshold, not a whole number of
// parts.
func bigBody() []byte {
	b := make([]byte, 3*hostapi.MaxBodyPart+777)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestSubmitStreamAndBody(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	c := dial(t, h.Path())
	ctx := context.Background()
	body := bigBody()

	var progress []int64
	res, err := c.SubmitStream(ctx, &hostapi.Submit{To: "bob", Kind: wire.KindFile, FileName: "big.bin"}, bytes.NewReader(body),
		func(sent int64) { progress = append(progress, sent) })
	if err != nil {
		t.Fatal(err)
	}
	sub := h.Submitted()
	if len(sub) != 1 || !sub[0].Submit.Stream || !bytes.Equal(sub[0].Submit.Body, body) || sub[0].Item.Size != int64(len(body)) {
		t.Fatalf("the host got %+v", sub)
	}
	if want := []int64{1 << 20, 2 << 20, 3 << 20, int64(len(body))}; !slices.Equal(progress, want) {
		t.Errorf("progress %v, want %v", progress, want)
	}

	// The connection goes on: read the body back, twice, then another request.
	for range 2 {
		r, size, err := c.Body(ctx, res.Seq)
		if err != nil || size != int64(len(body)) {
			t.Fatalf("Body: size %d, %v", size, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read %d bytes back, %v", len(got), err)
		}
	}
	var hostErr *hostapi.Error
	if _, _, err := c.Body(ctx, res.Seq+100); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrNotFound {
		t.Errorf("no such body: %v", err)
	}
	if _, err := c.Submit(ctx, text("bob", "after")); err != nil {
		t.Errorf("a request after the bodies: %v", err)
	}

	// A body left unread closes the connection.
	r, _, err := c.Body(ctx, res.Seq)
	if err != nil {
		t.Fatal(err)
	}
	r.Read(make([]byte, 10))
	r.Close()
	if _, err := c.Submit(ctx, text("bob", "x")); err == nil {
		t.Error("the connection went on after a body left unread")
	}
}

func TestSubmitStreamFails(t *testing.T) {
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	ctx := context.Background()
	body := bigBody()

	// A body that can't be read is not stored.
	c := dial(t, h.Path())
	broken := io.MultiReader(bytes.NewReader(body[:2<<20]), iotest.ErrReader(errors.New("disk on fire")))
	var bodyErr *hostapi.BodyError
	if _, err := c.SubmitStream(ctx, &hostapi.Submit{To: "bob", Kind: wire.KindFile}, broken, nil); !errors.As(err, &bodyErr) {
		t.Fatalf("a broken body: %v", err)
	}
	if _, err := dial(t, h.Path()).Submit(ctx, text("bob", "sync")); err != nil {
		t.Fatal(err)
	}
	if sub := h.Submitted(); len(sub) != 1 || string(sub[0].Submit.Body) != "sync" {
		t.Fatalf("stored after a broken body: %d messages", len(sub))
	}

	// A body over the host's limit is refused once it passes it.
	h.LimitBody(2 << 20)
	c = dial(t, h.Path())
	var hostErr *hostapi.Error
	if _, err := c.SubmitStream(ctx, &hostapi.Submit{To: "bob", Kind: wire.KindFile}, bytes.NewReader(body), nil); !errors.As(err, &hostErr) || hostErr.Code != hostapi.ErrTooLarge {
		t.Fatalf("over the limit: %v", err)
	}
}
