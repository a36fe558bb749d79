// Command smvs-keygen makes an SMVS identity or device key, or prints the
// public id of an existing one. See man/smvs-keygen.1.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/identity"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run runs smvs-keygen with args and returns its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

func newApp() *urfave.App {
	flags := []urfave.Flag{
		&urfave.PathFlag{
			Name:      "output",
			Aliases:   []string{"o"},
			Usage:     "write the key to `FILE`, which must not exist (default: standard output)",
			TakesFile: true,
		},
		&urfave.BoolFlag{Name: "device", Usage: "make a device key, not an identity"},
		&urfave.BoolFlag{
			Name:    "passphrase",
			Aliases: []string{"p"},
			Usage:   "protect the key with a passphrase, asked twice on the terminal",
		},
	}
	flags = append(flags, cli.PassphraseFlags()...)
	flags = append(flags,
		&urfave.BoolFlag{Name: "y", Usage: "print the public id of the key in FILE (default: $SMVS_HOME/identity)"},
		cli.HomeFlag(),
	)
	return &urfave.App{
		Name:  "smvs-keygen",
		Usage: "make an SMVS identity or device key",
		UsageText: "smvs-keygen [-o FILE] [--device] [--passphrase | --passphrase-fd N | --passphrase-file FILE]\n" +
			"smvs-keygen -y [--passphrase-fd N | --passphrase-file FILE] [FILE]",
		Description: "Makes a new secret key, an identity (or with --device a device key), and writes it to FILE\n" +
			"or standard output; its public id goes to standard error. With -y, prints the public id of\n" +
			"the key in FILE (default: $SMVS_HOME/identity) instead.",
		ArgsUsage: "[FILE]",
		Flags:     flags,
		Action: func(c *urfave.Context) error {
			if c.Bool("y") {
				return printPublic(c)
			}
			return generate(c)
		},
	}
}

// generate makes a key and writes it to --output or standard output.
func generate(c *urfave.Context) error {
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return err
	}
	src, err := cli.PassphraseSource(c)
	if err != nil {
		return err
	}
	path := c.Path("output")
	if path == "-" {
		path = ""
	}
	// Fail before asking for a passphrase; WriteNewFile checks again.
	if path != "" {
		if _, err := os.Lstat(path); err == nil {
			return exists(path)
		}
	}
	kind, label := identity.KindIdentity, "Public id"
	if c.Bool("device") {
		kind, label = identity.KindDevice, "Device id"
	}

	var pass []byte
	if c.Bool("passphrase") || !src.IsTerminal() {
		if pass, err = src.ReadNew("Enter a passphrase for the new key:"); err != nil {
			return cli.PassphraseError(err)
		}
		defer clear(pass)
	}

	id, err := identity.Generate(kind, time.Now())
	if err != nil {
		return cli.Errorf("making the key: %w", err)
	}
	defer id.Destroy()
	text := id.MarshalText()
	defer clear(text)
	data := text
	if pass != nil {
		if data, err = identity.Encrypt(text, pass); err != nil {
			return cli.Errorf("protecting the key: %w", err)
		}
	}

	if path == "" {
		warnIfReadable(c, c.App.Writer)
		if _, err := c.App.Writer.Write(data); err != nil {
			return cli.Errorf("writing the key to standard output: %w", err)
		}
	} else if err := identity.WriteNewFile(path, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return exists(path)
		}
		return cli.Errorf("writing the key: %w", err)
	}
	fmt.Fprintf(c.App.ErrWriter, "%s: %s\n", label, id.Public())
	return nil
}

func exists(path string) error {
	return cli.Errorf("%s already exists; refusing to overwrite a key", path).
		WithHintf("choose another file, or remove %s first if you really mean to replace that key", path)
}

// warnIfReadable warns when w is a file others can read, as standard output
// redirected by a shell often is: SMVS commands refuse such a key file.
func warnIfReadable(c *urfave.Context, w io.Writer) {
	f, ok := w.(*os.File)
	if !ok || runtime.GOOS == "windows" {
		return
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o077 == 0 {
		return
	}
	cli.Warningf(c, "writing the key to a file others can read (mode %04o)", info.Mode().Perm())
	cli.Hintf(c, "SMVS commands refuse such a key file: run chmod 600 on it, or use -o FILE next time")
}

// printPublic prints the public id of an existing key.
func printPublic(c *urfave.Context) error {
	for _, name := range []string{"output", "device", "passphrase"} {
		if c.IsSet(name) {
			return cli.UsageErrorf(c, "-y can't be used with --%s", name)
		}
	}
	if err := cli.CheckArgs(c, 0, 1); err != nil {
		return err
	}
	path := c.Args().First()
	if c.NArg() == 0 {
		var err error
		if path, err = cli.IdentityPath(c); err != nil {
			return err
		}
	}
	id, err := cli.ReadIdentity(c, path)
	if err != nil {
		return err
	}
	defer id.Destroy()
	fmt.Fprintln(c.App.Writer, id.Public())
	return nil
}
