// Command smvs-device links the user's devices to their host: on the
// host's machine it makes pairing codes, adds, lists and revokes devices;
// on a new device it links the device with a code. See man/smvs-device.1.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/cli/hostcli"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/link"
)

// Exit statuses beyond cli's, documented in the man page.
const (
	exitNotFound       = 3 // no such device (revoke)
	exitHostNotRunning = 5 // the host's socket, or the remote host, can't be reached
	exitNotLinked      = 8 // the host refused the device: wrong, spent or expired code, unknown or revoked key
)

// requestTimeout bounds a request to the host.
const requestTimeout = 30 * time.Second

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run runs smvs-device with args and returns its exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin)
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

func jsonFlag() urfave.Flag { return &urfave.BoolFlag{Name: "json", Usage: "print JSON"} }

func ownerFlags(more ...urfave.Flag) []urfave.Flag {
	return append(more, cli.SocketFlag(), cli.HomeFlag())
}

func newApp(stdin io.Reader) *urfave.App {
	return &urfave.App{
		Name:  "smvs-device",
		Usage: "link your devices to your SMVS host, list and revoke them",
		Description: "On the host's machine, smvs-device pair makes a one-time code and smvs-device link, run on\n" +
			"the new device with that code, links it; add, list and revoke manage the devices. A linked\n" +
			"device runs smvs-send, smvs-recv and smvs-call as if it were on the host's machine.",
		Commands: []*urfave.Command{
			{
				Name:  "pair",
				Usage: "make a one-time pairing code for a new device (on the host's machine)",
				Flags: ownerFlags(
					&urfave.StringFlag{Name: "name", Usage: "the new device's `NAME` (default: the name it asks for)"},
					&urfave.StringFlag{Name: "expires", Usage: "the code expires after `DURATION`", Value: "10m"},
					jsonFlag(),
				),
				Action: pair,
			},
			{
				Name:      "add",
				Usage:     "link a device by its key (on the host's machine)",
				ArgsUsage: "smvsdev1...",
				Flags:     ownerFlags(&urfave.StringFlag{Name: "name", Usage: "the device's `NAME` (default: device-N)"}),
				Action:    add,
			},
			{
				Name:   "list",
				Usage:  "list the devices, linked and revoked (on the host's machine)",
				Flags:  ownerFlags(jsonFlag()),
				Action: list,
			},
			{
				Name:      "revoke",
				Usage:     "revoke a device: the host refuses it from now on (on the host's machine)",
				ArgsUsage: "NAME|smvsdev1...",
				Flags:     ownerFlags(),
				Action:    revoke,
			},
			{
				Name:      "link",
				Usage:     "link this device to its host, with a pairing code or after add (on the new device)",
				ArgsUsage: "HOST:PORT smvs1... [CODE|-]",
				Flags: append([]urfave.Flag{
					&urfave.StringFlag{Name: "name", Usage: "the `NAME` to ask for (default: this machine's host name)"},
				}, append(cli.PassphraseFlags(), cli.HomeFlag())...),
				Action: func(c *urfave.Context) error { return linkDevice(c, stdin) },
			},
			{
				Name:   "unlink",
				Usage:  "forget this device's host (on the device; the owner revokes it on the host)",
				Flags:  []urfave.Flag{cli.HomeFlag()},
				Action: unlink,
			},
		},
	}
}

// owner connects to the host's unix socket, where the owner's requests
// are served.
func owner(ctx context.Context, c *urfave.Context) (*hostapi.Client, error) {
	socket, err := cli.SocketPath(c)
	if err != nil {
		return nil, err
	}
	client, err := hostapi.Dial(ctx, socket)
	if err != nil {
		if errors.Is(err, hostapi.ErrHostNotRunning) {
			e := hostcli.NotRunning(err).WithExitCode(exitHostNotRunning)
			if home, herr := cli.Home(c); herr == nil {
				if _, lerr := link.Read(home); lerr == nil {
					e.WithHintf("this SMVS home is a linked device: run smvs-device %s on the host's machine", c.Command.Name)
				}
			}
			return nil, e
		}
		return nil, err
	}
	return client, nil
}

// devices makes an owner's request.
func devices(c *urfave.Context, r *hostapi.DevicesRequest) (*hostapi.DevicesResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	client, err := owner(ctx, c)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	res, err := client.Devices(ctx, r)
	if err != nil {
		return nil, hostError(err)
	}
	return res, nil
}

func pair(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	ttl, err := cli.ParseDuration(c.String("expires"))
	if err != nil || ttl <= 0 {
		return cli.UsageErrorf(c, "invalid --expires %q: want a positive duration such as 10m or 1h", c.String("expires"))
	}
	res, err := devices(c, &hostapi.DevicesRequest{Action: hostapi.DevicesPair, Name: c.String("name"), TTL: ttl.Milliseconds()})
	if err != nil {
		return err
	}
	p := res.Pairing
	if p == nil {
		return cli.Errorf("the host answered without a pairing code")
	}
	key, err := identity.NewPublicKey(identity.KindIdentity, p.Identity)
	if err != nil {
		return cli.Errorf("the host sent a bad identity key: %w", err)
	}
	expires := time.UnixMilli(p.Expires)
	if c.Bool("json") {
		return writeJSON(c.App.Writer, pairingJSON{Code: p.Code, Name: p.Name, Address: p.Address, Identity: key.String(),
			Expires: expires.UTC().Format(time.RFC3339)})
	}
	w := c.App.Writer
	fmt.Fprintf(w, "pairing code: %s (works once, until %s)\n", p.Code, expires.Local().Format("15:04:05"))
	fmt.Fprintf(w, "on the new device, run:\n  smvs-device link %s %s %s\n", p.Address, key, p.Code)
	return nil
}

type pairingJSON struct {
	Code     string `json:"code"`
	Name     string `json:"name,omitempty"`
	Address  string `json:"address"`
	Identity string `json:"identity"`
	Expires  string `json:"expires"`
}

func add(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 1, 1); err != nil {
		return err
	}
	key, err := identity.ParsePublicKey(c.Args().First())
	if err != nil || key.Kind() != identity.KindDevice {
		return cli.UsageErrorf(c, "%q is not a device key: want the smvsdev1... id smvs-keygen --device printed", c.Args().First())
	}
	res, err := devices(c, &hostapi.DevicesRequest{Action: hostapi.DevicesAdd, Name: c.String("name"), Key: key.Bytes()})
	if err != nil {
		return err
	}
	d := res.Devices[0]
	fmt.Fprintf(c.App.Writer, "linked %s %s\n", d.Name, key)
	cli.Hintf(c, "on the device, run: smvs-device link HOST:PORT YOUR-SMVS1-ID (no code)")
	return nil
}

func list(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	res, err := devices(c, &hostapi.DevicesRequest{Action: hostapi.DevicesList})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		for _, d := range res.Devices {
			if err := writeJSON(c.App.Writer, toJSON(d)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDEVICE\tADDED\tSTATE")
	for _, d := range res.Devices {
		j := toJSON(d)
		state := "linked"
		switch {
		case d.Revoked != 0:
			state = "revoked " + time.UnixMilli(d.Revoked).Local().Format("2006-01-02 15:04")
		case d.Connected > 0:
			state = fmt.Sprintf("linked, %d connection(s)", d.Connected)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, j.Key, time.UnixMilli(d.Added).Local().Format("2006-01-02 15:04"), state)
	}
	return tw.Flush()
}

type deviceJSON struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Added     string `json:"added"`
	Revoked   string `json:"revoked,omitempty"`
	LastSeen  string `json:"last_seen,omitempty"`
	Connected int    `json:"connected"`
}

func toJSON(d *hostapi.Device) deviceJSON {
	j := deviceJSON{Name: d.Name, Added: jsonTime(d.Added), Connected: d.Connected}
	if key, err := identity.NewPublicKey(identity.KindDevice, d.Key); err == nil {
		j.Key = key.String()
	}
	if d.Revoked != 0 {
		j.Revoked = jsonTime(d.Revoked)
	}
	if d.LastSeen != 0 {
		j.LastSeen = jsonTime(d.LastSeen)
	}
	return j
}

func jsonTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

func revoke(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 1, 1); err != nil {
		return err
	}
	arg := c.Args().First()
	r := &hostapi.DevicesRequest{Action: hostapi.DevicesRevoke, Name: arg}
	if key, err := identity.ParsePublicKey(arg); err == nil {
		if key.Kind() != identity.KindDevice {
			return cli.UsageErrorf(c, "%s is an identity, not a device key", arg)
		}
		r = &hostapi.DevicesRequest{Action: hostapi.DevicesRevoke, Key: key.Bytes()}
	}
	res, err := devices(c, r)
	if err != nil {
		return err
	}
	d := res.Devices[0]
	key, _ := identity.NewPublicKey(identity.KindDevice, d.Key)
	fmt.Fprintf(c.App.Writer, "revoked %s %s\n", d.Name, key)
	return nil
}

// linkDevice links this device: it dials the host with the device key,
// pinning the host's key, redeems the code (or checks an add), and writes
// the link file.
func linkDevice(c *urfave.Context, stdin io.Reader) error {
	if err := cli.CheckArgs(c, 2, 3); err != nil {
		return err
	}
	addr, keyArg, code := c.Args().Get(0), c.Args().Get(1), c.Args().Get(2)
	hostKey, err := identity.ParsePublicKey(keyArg)
	if err != nil || hostKey.Kind() != identity.KindIdentity {
		return cli.UsageErrorf(c, "%q is not an identity: want the host's smvs1... id (smvs-device pair prints it)", keyArg)
	}
	if !strings.Contains(addr, ":") {
		return cli.UsageErrorf(c, "invalid address %q: want HOST:PORT, where smvs-hostd listens", addr)
	}
	if code == "-" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return cli.Errorf("reading the pairing code from standard input: %w", err)
		}
		code = strings.TrimSpace(line)
	}
	name := c.String("name")
	if name == "" {
		name, _ = os.Hostname()
		name = strings.Split(name, ".")[0]
	}
	home, err := cli.Home(c)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(home, link.DeviceKeyFile)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		return cli.Errorf("this device has no key at %s", keyPath).
			WithHintf("make one with: smvs-keygen --device -o %s", keyPath)
	}
	device, err := cli.ReadIdentity(c, keyPath)
	if err != nil {
		return err
	}
	defer device.Destroy()
	if device.Kind() != identity.KindDevice {
		return cli.Errorf("%s holds an identity, not a device key", keyPath).
			WithHintf("a linked device has a key of its own: smvs-keygen --device")
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	client, err := hostapi.DialRemote(ctx, addr, hostKey, device)
	if err != nil {
		e := cli.Errorf("%w", err)
		if errors.Is(err, hostapi.ErrHostNotRunning) {
			e.WithExitCode(exitHostNotRunning).WithHintf("is smvs-hostd running at %s, and is its UDP port open to this machine?", addr)
		}
		return e
	}
	defer client.Close()
	linked, err := client.Link(ctx, &hostapi.Link{Code: code, Name: name})
	if err != nil {
		return hostError(err)
	}
	if err := link.Write(home, &link.Link{Address: addr, Identity: hostKey, Name: linked.Name}); err != nil {
		return cli.Errorf("writing the link file: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "linked as %s to %s at %s\n", linked.Name, hostKey, addr)
	return nil
}

func unlink(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	home, err := cli.Home(c)
	if err != nil {
		return err
	}
	if _, err := link.Path(home); errors.Is(err, link.ErrNotLinked) {
		return cli.Errorf("this device is not linked to a remote host (no link file %s)", filepath.Join(home, link.FileName))
	}
	if err := link.Remove(home); err != nil {
		return cli.Errorf("removing this device's link to its host: %w", err)
	}
	cli.Hintf(c, "the host still lists the device: the owner revokes it with smvs-device revoke")
	return nil
}

// hostError explains a refusal of the host.
func hostError(err error) error {
	var hostErr *hostapi.Error
	if !errors.As(err, &hostErr) {
		return cli.Errorf("%w", err)
	}
	e := cli.Errorf("%s", hostErr.Message)
	if hostErr.Hint != "" {
		e.WithHintf("%s", hostErr.Hint)
	}
	switch hostErr.Code {
	case hostapi.ErrNotFound:
		e.WithExitCode(exitNotFound).WithHintf("smvs-device list shows the devices")
	case hostapi.ErrNotLinked:
		e.WithExitCode(exitNotLinked)
	case hostapi.ErrBadRequest:
		e.WithExitCode(cli.ExitUsage)
	}
	return e
}

func writeJSON(w io.Writer, v any) error { return cli.WriteJSON(w, v) }
