package transport

import (
	"bufio"
	"context"
	"errors"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// A device key dials under DeviceALPN; the handler sees a device key, and
// a byte stream view of the stream carries frames of a protocol of its
// own.
func TestDeviceStream(t *testing.T) {
	server := newIdentity(t)
	device, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kinds := make(chan identity.Kind, 1)
	l := listen(t, server, Config{}, StreamFunc(func(_ context.Context, peer identity.PublicKey, s *Stream) {
		kinds <- peer.Kind()
		c := s.NetConn()
		line, err := wire.ReadFrame(bufio.NewReader(c), 1<<10)
		if err != nil {
			return
		}
		wire.WriteFrame(c, append([]byte("echo "), line...))
	}))
	c := dialListener(t, l, server, device, Config{})
	if c.TLS().NegotiatedProtocol != DeviceALPN {
		t.Fatalf("protocol %q, want %q", c.TLS().NegotiatedProtocol, DeviceALPN)
	}
	s, err := c.OpenStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	nc := s.NetConn()
	defer nc.Close()
	if err := wire.WriteFrame(nc, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := wire.ReadFrame(bufio.NewReader(nc), 1<<10)
	if err != nil || string(got) != "echo hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	if k := <-kinds; k != identity.KindDevice {
		t.Fatalf("handler saw a %v key, want a device key", k)
	}
}

// A listener closing a connection with CodeRevoked makes the client's reads
// fail with ErrRevoked and the reason.
func TestRevokedConnection(t *testing.T) {
	server := newIdentity(t)
	device, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l := listen(t, server, Config{}, StreamFunc(func(ctx context.Context, _ identity.PublicKey, s *Stream) {
		c := s.NetConn()
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			return
		}
		s.Conn().CloseWithError(CodeRevoked, "device revoked")
	}))
	c := dialListener(t, l, server, device, Config{})
	s, err := c.OpenStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	nc := s.NetConn()
	defer nc.Close()
	wire.WriteFrame(nc, []byte{1})
	nc.SetReadDeadline(time.Now().Add(testTimeout))
	_, err = nc.Read(make([]byte, 1))
	if !errors.Is(err, ErrRevoked) {
		t.Fatalf("read after revocation: %v, want ErrRevoked", err)
	}
}
