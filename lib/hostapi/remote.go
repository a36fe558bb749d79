package hostapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"smvs/lib/identity"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// ErrRevoked means the host closed the connection because the owner
// revoked this device. Errors of a remote Client wrap it then.
var ErrRevoked = errors.New("the owner revoked this device")

// remoteKeepAlive keeps a remote device's idle connection (a quiet
// --follow) and the NAT mappings on its way open.
const remoteKeepAlive = 20 * time.Second

// DialRemote connects a remote device to its host over QUIC: the device
// presents its device key, and the handshake fails unless the host
// presents hostKey (the user's identity, pinned when the device was
// linked). When the host can't be reached, the error wraps
// ErrHostNotRunning.
func DialRemote(ctx context.Context, addr string, hostKey identity.PublicKey, device *identity.Identity) (*Client, error) {
	if device.Kind() != identity.KindDevice {
		return nil, errors.New("hostapi: a remote device dials with a device key")
	}
	cfg := transport.Config{MaxFrame: MaxFrame, KeepAlive: remoteKeepAlive, HandshakeTimeout: 5 * time.Second}
	conn, err := transport.DialDevice(ctx, addr, device.Signer(), hostKey, cfg)
	if err != nil {
		if _, mismatch := errors.AsType[*transport.KeyMismatchError](err); mismatch {
			return nil, fmt.Errorf("the host at %s is not the one this device was linked to: %w", addr, err)
		}
		return nil, fmt.Errorf("%w: can't reach the host at %s: %w", ErrHostNotRunning, addr, err)
	}
	s, err := conn.OpenStream(ctx)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connecting to the host at %s: %w", addr, err)
	}
	return &Client{conn: remoteConn{Conn: s.NetConn(), qc: conn}}, nil
}

// FollowRotation connects a remote device whose host presented got, not
// the key it was linked to (pinned): it dials again accepting got, and
// keeps the connection only if the host's record (Linked.Record) is got's
// and carries rotation statements leading from pinned to got, each signed
// by the key before it: the user rotated their identity, and the device
// follows. Anything else is the error DialRemote gives for a host that
// is not the one linked.
func FollowRotation(ctx context.Context, addr string, pinned, got identity.PublicKey, device *identity.Identity) (*Client, error) {
	notOurs := func(why string) error {
		return fmt.Errorf("the host at %s is not the one this device was linked to: it presents %s, %s", addr, got, why)
	}
	c, err := DialRemote(ctx, addr, got, device)
	if err != nil {
		return nil, err
	}
	l, err := c.Link(ctx, &Link{})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("asking the host at %s for its record: %w", addr, err)
	}
	rec, err := wire.VerifyRecord(l.Record)
	switch {
	case err != nil:
		c.Close()
		return nil, notOurs(fmt.Sprintf("with no valid record (%v)", err))
	case !bytes.Equal(rec.Identity, got.Bytes()):
		c.Close()
		return nil, notOurs("with a record of another key")
	case !slices.ContainsFunc(rec.PreviousKeys(), func(k []byte) bool { return bytes.Equal(k, pinned.Bytes()) }):
		c.Close()
		return nil, notOurs(fmt.Sprintf("and no rotation signed by %s", pinned))
	}
	return c, nil
}

// remoteConn is the stream a remote Client talks on; closing it closes
// the QUIC connection, which is the Client's alone, and its errors say
// when the host revoked the device.
type remoteConn struct {
	net.Conn
	qc *transport.Conn
}

func (c remoteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, revoked(err)
}

func (c remoteConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, revoked(err)
}

func (c remoteConn) Close() error {
	err := c.Conn.Close()
	c.qc.Close()
	return err
}

func revoked(err error) error {
	if errors.Is(err, transport.ErrRevoked) {
		return fmt.Errorf("%w: %w", ErrRevoked, err)
	}
	return err
}

// Devices makes an owner's request about devices. Only the host's unix
// socket serves it; a remote device gets an *Error with ErrForbidden.
func (c *Client) Devices(ctx context.Context, d *DevicesRequest) (*DevicesResult, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpDevices, Devices: d})
	if err != nil {
		return nil, err
	}
	if resp.Devices == nil {
		return nil, c.fail(fmt.Errorf("%w: a device request was not answered with devices", ErrProtocol))
	}
	return resp.Devices, nil
}

// Link links this remote device with a pairing code, or with an empty
// code checks that the owner added its key. A refusal is an *Error with
// ErrNotLinked.
func (c *Client) Link(ctx context.Context, l *Link) (*Linked, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpLink, Link: l})
	if err != nil {
		return nil, err
	}
	if resp.Linked == nil {
		return nil, c.fail(fmt.Errorf("%w: a link request was not answered with the link", ErrProtocol))
	}
	return resp.Linked, nil
}

// MarkRead marks received messages read for every device of the user, and
// returns how many were unread.
func (c *Client) MarkRead(ctx context.Context, seqs []uint64) (int, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpRead, Read: &MarkRead{Seqs: seqs}})
	if err != nil {
		return 0, err
	}
	if resp.Read == nil {
		return 0, c.fail(fmt.Errorf("%w: a read request was not answered with its result", ErrProtocol))
	}
	return resp.Read.Marked, nil
}
