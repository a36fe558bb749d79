// Package hostcli connects a device command (smvs-send, smvs-recv,
// smvs-rm, smvs-call, smvs-device) to its user's host, over the host's
// unix socket or, for a linked remote device, over QUIC, and explains in
// the voice of package cli why it could not.
//
// It is apart from package cli so that the commands that never talk to a
// host (smvs-keygen, smvs-agent, smvs-dird) don't link the host protocol,
// nor QUIC through it.
package hostcli

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/link"
	"smvs/lib/transport"
)

// NotRunning explains err, which wraps hostapi.ErrHostNotRunning, with a
// hint to start the host or point at its socket. The command sets the
// exit status it documents for this.
func NotRunning(err error) *cli.Error {
	return cli.Errorf("%w", err).
		WithHintf("start smvs-hostd, or point --socket (or %s) at the socket it listens on", cli.SocketEnv)
}

// Dial connects this device to its host. With --socket (or $SMVS_SOCKET)
// set, or no link file in the SMVS home, that is the host's unix socket on
// this machine; else the host the link file names, over
// QUIC with the device key in the SMVS home (see package link). Errors are
// explained with hints; one wrapping hostapi.ErrHostNotRunning means the
// host can't be reached, and the command sets the exit status it
// documents for that.
func Dial(ctx context.Context, c *urfave.Context) (*hostapi.Client, error) {
	home, err := cli.Home(c)
	if err != nil {
		return nil, err
	}
	l, err := link.Read(home)
	if errors.Is(err, link.ErrNotLinked) || c.Path("socket") != "" {
		socket, err := cli.SocketPath(c)
		if err != nil {
			return nil, err
		}
		client, err := hostapi.Dial(ctx, socket)
		if err != nil {
			if errors.Is(err, hostapi.ErrHostNotRunning) {
				return nil, NotRunning(err)
			}
			return nil, err
		}
		return client, nil
	}
	if err != nil {
		return nil, linkError(home, err)
	}
	device, err := cli.ReadIdentity(c, filepath.Join(home, link.DeviceKeyFile))
	if err != nil {
		return nil, err
	}
	defer device.Destroy()
	if device.Kind() != identity.KindDevice {
		return nil, cli.Errorf("%s holds an identity, not a device key", filepath.Join(home, link.DeviceKeyFile)).
			WithHintf("a remote device has its own key: smvs-keygen --device")
	}
	client, err := hostapi.DialRemote(ctx, l.Address, l.Identity, device)
	if mismatch, ok := errors.AsType[*transport.KeyMismatchError](err); ok {
		client, err = followRotation(ctx, c, home, l, mismatch.Got, device)
	}
	if err != nil {
		if errors.Is(err, hostapi.ErrHostNotRunning) {
			path, _ := link.Path(home)
			return nil, cli.Errorf("%w", err).WithHintf("is smvs-hostd running there, and is its UDP port open? (this device's link: %s)", path)
		}
		return nil, cli.Errorf("%w", err).WithHintf("if the host's identity really changed, link this device again with smvs-device link")
	}
	return client, nil
}

// followRotation connects to the host of link l, which presented got
// rather than the key l pins: if got's record carries rotations signed
// from the pinned key (the user ran smvs-register rotate --identity), the
// device follows, and its link file pins got from now on.
func followRotation(ctx context.Context, c *urfave.Context, home string, l *link.Link, got identity.PublicKey, device *identity.Identity) (*hostapi.Client, error) {
	client, err := hostapi.FollowRotation(ctx, l.Address, l.Identity, got, device)
	if err != nil {
		return nil, err
	}
	next := *l
	next.Identity = got
	if err := link.Write(home, &next); err != nil {
		client.Close()
		return nil, cli.Errorf("keeping the host's new identity key in this device's link: %w", err)
	}
	cli.Warningf(c, "the host's identity rotated from %s to %s, signed by the old key: this device follows it", l.Identity, got)
	return client, nil
}

// linkError explains a link file in home that can't be read. The hints
// name the file, and never suggest removing anything but a link file: a
// directory in its place may be a store.
func linkError(home string, err error) *cli.Error {
	e := cli.Errorf("reading this device's link to its host: %w", err)
	path, perr := link.Path(home)
	if perr != nil {
		return e
	}
	if info, serr := os.Stat(path); serr == nil && !info.Mode().IsRegular() {
		return e.WithHintf("%s is where a linked device keeps its link to its host: move what is there out of the way, "+
			"or point --socket (or %s) at the host's socket on this machine", path, cli.SocketEnv)
	}
	return e.WithHintf("%s is this device's link to its host: link the device again with smvs-device link, "+
		"or forget the host with smvs-device unlink", path)
}

// DeviceError explains the failures every device command shares: an error
// Dial explained already, given exit status hostDown when the host
// can't be reached, and the host revoking this device mid-connection,
// given notLinked. It reports false for any other error.
func DeviceError(err error, hostDown, notLinked int) (*cli.Error, bool) {
	var explained *cli.Error
	switch {
	case errors.As(err, &explained):
		if errors.Is(err, hostapi.ErrHostNotRunning) {
			explained.WithExitCode(hostDown)
		}
		return explained, true
	case errors.Is(err, hostapi.ErrRevoked):
		// Said as the host says it to a revoked device's next request.
		return cli.Errorf("this device was revoked by its owner, who closed its connection").WithExitCode(notLinked).
			WithHintf("ask the owner to link it again: smvs-device pair, then smvs-device link here"), true
	}
	return nil, false
}
