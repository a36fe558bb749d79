// Command storepeek plays someone who got hold of a copy of a host's store
// directory, the host's identity file and its passphrase, for the
// end-to-end tests of deletion: it derives the key the host's store is
// locked with, as smvs-hostd does, tries every key it can unwrap from any
// bytes of any file in the copy (store.Recoverable), and prints the
// sequence numbers of the messages among SEQ... it could open, one a
// line, in order. It is a test tool, never installed.
//
//	storepeek -identity FILE [-passphrase-file F] DIR SEQ...
//
// The passphrase of a protected identity comes from -passphrase-file or
// $SMVS_PASSPHRASE_FILE. Exit status: 0 when the search ran (whatever it
// found), 1 when it could not, 2 for a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"smvs/lib/identity"
	"smvs/lib/passphrase"
	"smvs/lib/store"
)

// errUsage marks the errors that exit with status 2.
var errUsage = errors.New("usage: storepeek -identity FILE [-passphrase-file F] DIR SEQ…")

// passphraseFileEnv is smvs-hostd's twin of --passphrase-file.
const passphraseFileEnv = "SMVS_PASSPHRASE_FILE"

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "storepeek: error:", err)
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	os.Exit(1)
}

// options is what the command line asks for.
type options struct {
	identity, passFile, dir string
	seqs                    []uint64
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("storepeek", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := new(options)
	fs.StringVar(&o.identity, "identity", "", "the host's identity `FILE`")
	fs.StringVar(&o.passFile, "passphrase-file", os.Getenv(passphraseFileEnv), "the identity's passphrase, on the first line of `F`")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if o.identity == "" || fs.NArg() < 2 {
		return nil, errUsage
	}
	o.dir = fs.Arg(0)
	for _, a := range fs.Args()[1:] {
		seq, err := strconv.ParseUint(a, 10, 64)
		if err != nil || seq == 0 {
			return nil, fmt.Errorf("%w: %q is not a sequence number", errUsage, a)
		}
		o.seqs = append(o.seqs, seq)
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if info, err := os.Stat(o.dir); err != nil {
		return err
	} else if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", o.dir)
	}
	var pass identity.PassphraseFunc
	if o.passFile != "" {
		pass = passphrase.File(o.passFile).Func("")
	}
	id, err := identity.ReadFile(o.identity, pass)
	if err != nil {
		return fmt.Errorf("%s: %w", o.identity, err)
	}
	kek := id.StorageKey("store") // as lib/host does
	id.Destroy()
	defer clear(kek)
	found, err := store.Recoverable(o.dir, kek, o.seqs)
	if err != nil {
		return fmt.Errorf("searching %s: %w", o.dir, err)
	}
	slices.Sort(found)
	for _, seq := range slices.Compact(found) {
		fmt.Fprintln(stdout, seq)
	}
	return nil
}
