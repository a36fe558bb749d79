// Command smvs-register publishes, updates, rotates, removes and looks up
// signed records in SMVS directories, and pins and verifies contacts' keys
// in the user's contacts file. See man/smvs-register.1.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/contacts"
	"smvs/lib/dirclient"
	"smvs/lib/tlspin"
)

// Exit statuses beyond cli's, documented in the man page.
const (
	exitNotFound   = 3 // no such contact or record
	exitKeyChanged = 4 // the key differs from the pinned one, or a directory served an older record than one seen
	exitConflict   = 5 // a directory refused: name held by another key, or sequence number not above the stored one
	exitInUse      = 6 // another process owns the identity and can't make this change
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run runs smvs-register with args and returns its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

// Flags shared by several commands.
func identityFlags() []urfave.Flag {
	return append(cli.PassphraseFlags(), cli.HomeFlag())
}

func hostFlag(usage string) urfave.Flag {
	return &urfave.StringFlag{Name: "host", Usage: usage}
}

func lifetimeFlag() urfave.Flag {
	return &urfave.StringFlag{
		Name:        "lifetime",
		Usage:       "make the record valid for `DURATION` (as 90d, 36h or 45m)",
		Value:       "90d",
		DefaultText: "90d",
	}
}

func jsonFlag(usage string) urfave.Flag {
	return &urfave.BoolFlag{Name: "json", Usage: usage}
}

func flags(groups ...[]urfave.Flag) []urfave.Flag {
	var out []urfave.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func newApp() *urfave.App {
	return &urfave.App{
		Name:  "smvs-register",
		Usage: "publish your SMVS record in directories; pin and verify your contacts' keys",
		Description: "Publishes this identity's signed record (name, keys, host address) in one or more\n" +
			"directories, keeps it up to date, rotates its keys and removes it; looks contacts up,\n" +
			"pinning the key first seen for each in $SMVS_HOME/contacts and refusing a changed one.",
		Commands: []*urfave.Command{
			{
				Name:      "publish",
				Usage:     "publish this identity's record under NAME",
				ArgsUsage: "NAME",
				Flags: flags([]urfave.Flag{
					hostFlag("the address `ADDR` (HOST:PORT) where your host listens (default: the published one)"),
					lifetimeFlag(),
				}, cli.DirFlags(), identityFlags(), ownerFlags()),
				Action: publish,
			},
			{
				Name:  "update",
				Usage: "republish the current record with a fresh expiry and the current KEM key",
				Flags: flags([]urfave.Flag{
					hostFlag("change the host address to `ADDR` (HOST:PORT)"),
					lifetimeFlag(),
				}, cli.DirFlags(), identityFlags(), ownerFlags()),
				Action: update,
			},
			{
				Name:  "rotate",
				Usage: "replace the KEM key (--kem) or the identity key (--identity), and publish",
				Flags: flags([]urfave.Flag{
					&urfave.BoolFlag{Name: "kem", Usage: "make a new KEM key; the old ones stay for a grace period"},
					&urfave.BoolFlag{Name: "identity", Usage: "make a new identity, signed over to by the old one"},
					hostFlag("change the host address to `ADDR` (HOST:PORT)"),
					lifetimeFlag(),
				}, cli.DirFlags(), identityFlags(), ownerFlags()),
				Action: rotate,
			},
			{
				Name:   "remove",
				Usage:  "remove this identity's record from the directories",
				Flags:  flags(cli.DirFlags(), identityFlags(), ownerFlags()),
				Action: remove,
			},
			{
				Name:      "lookup",
				Usage:     "look a contact up, pinning its key on first use",
				ArgsUsage: "NAME|smvs1...",
				Flags: flags([]urfave.Flag{jsonFlag("print one JSON object")},
					cli.DirFlags(), []urfave.Flag{cli.HomeFlag(), agentFlag()}),
				Action: lookup,
			},
			{
				Name:      "verify",
				Usage:     "print the safety number to compare with a contact; --yes marks the contact verified",
				ArgsUsage: "NAME",
				Flags: flags([]urfave.Flag{
					&urfave.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "mark the contact verified: the numbers matched"},
				}, cli.DirFlags(), identityFlags(), []urfave.Flag{agentFlag()}),
				Action: verify,
			},
			{
				Name:      "trust",
				Usage:     "pin NAME to the key smvs1... and mark it verified, after comparing safety numbers",
				ArgsUsage: "NAME smvs1...",
				Flags:     []urfave.Flag{cli.HomeFlag()},
				Action:    trust,
			},
			{
				Name:      "add",
				Usage:     "add a contact by its key",
				ArgsUsage: "NAME smvs1...",
				Flags: []urfave.Flag{
					hostFlag("reach the contact's host at `ADDR` (HOST:PORT), whatever its record says"),
					cli.HomeFlag(),
				},
				Action: add,
			},
			{
				Name:    "contacts",
				Aliases: []string{"list"},
				Usage:   "print the contacts",
				Flags: []urfave.Flag{
					jsonFlag("print one JSON object a line"),
					cli.HomeFlag(),
				},
				Action: listContacts,
			},
		},
	}
}

// needDirectories is cli.Directories, but at least one is required.
func needDirectories(c *urfave.Context) ([]*dirclient.Client, error) {
	dirs, err := cli.Directories(c)
	if err == nil && len(dirs) == 0 {
		err = cli.UsageErrorf(c, "no directory: give --dir URL or set %s", cli.DirEnv)
	}
	return dirs, err
}

// lifetime parses --lifetime: a Go duration, or a whole number of days
// ("90d").
func lifetime(c *urfave.Context) (time.Duration, error) {
	s := c.String("lifetime")
	d, err := cli.ParseDuration(s)
	if err != nil {
		return 0, cli.UsageErrorf(c, "invalid --lifetime %q: want a positive duration such as 90d, 36h or 45m", s)
	}
	return d, nil
}

// host returns --host, checked, or "" if it is not given.
func host(c *urfave.Context) (string, error) {
	h := c.String("host")
	if !c.IsSet("host") {
		return "", nil
	}
	if err := contacts.CheckHost(h); err != nil {
		return "", cli.UsageErrorf(c, "--host: %w", err)
	}
	return h, nil
}

// contactsPath returns the path of the contacts file.
func contactsPath(c *urfave.Context) (string, error) {
	home, err := cli.Home(c)
	if err != nil {
		return "", err
	}
	return contacts.Path(home), nil
}

// dirError explains an error from a directory with the hints that help,
// and the exit status scripts can tell apart.
func dirError(err error) *cli.Error {
	var (
		limited    *dirclient.RateLimitedError
		unverified *tls.CertificateVerificationError
		e          *cli.Error
	)
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &limited):
		e := cli.Errorf("%w", err)
		if limited.RetryAfter > 0 {
			e.WithHintf("the directory asks to wait %s before trying again", limited.RetryAfter)
		}
		return e
	case errors.Is(err, dirclient.ErrNotFound):
		return cli.Errorf("%w", err).WithExitCode(exitNotFound)
	case errors.Is(err, dirclient.ErrConflict):
		return cli.Errorf("%w", err).WithExitCode(exitConflict)
	case errors.Is(err, tlspin.ErrMismatch):
		return cli.Errorf("%w", err).WithHintf("the directory's TLS key is not the one --dir-pin names; ask its operator for the right pin")
	case errors.As(err, &unverified):
		return cli.Errorf("%w", err).WithHintf("if the directory has a self-signed certificate, give its pin with --dir-pin (smvs-dird prints it when it starts)")
	case errors.Is(err, context.DeadlineExceeded):
		return cli.Errorf("%w", err).WithHintf("the directory did not answer in time; try again later")
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, new(*net.DNSError)):
		return cli.Errorf("%w", err).WithHintf("check the directory's URL (--dir or %s), and that smvs-dird runs there", cli.DirEnv)
	}
	return cli.Errorf("%w", err)
}

// formatTime formats Unix milliseconds for people and scripts alike.
func formatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// say prints a line about what the command did on standard error, where
// it does not mix with the data on standard output.
func say(c *urfave.Context, format string, a ...any) {
	fmt.Fprintf(c.App.ErrWriter, format+"\n", a...)
}
