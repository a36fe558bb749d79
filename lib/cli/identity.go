package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"runtime"
	"strings"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/identity"
)

// ReadIdentity reads the secret key file at path ("-" for standard input)
// with identity.ReadFile. If the file is protected, the passphrase comes
// from where PassphraseSource says. Errors are explained with hints (a file
// others can read, a wrong passphrase, a corrupted or missing file).
func ReadIdentity(c *urfave.Context, path string) (*identity.Identity, error) {
	src, err := PassphraseSource(c)
	if err != nil {
		return nil, err
	}
	if path == "-" && c.IsSet("passphrase-fd") && c.Int("passphrase-fd") == 0 {
		return nil, UsageErrorf(c, "the key and its passphrase can't both come from standard input")
	}
	name := path
	if path == "-" {
		name = "standard input"
	}
	ask := src.Func(fmt.Sprintf("Enter passphrase for %s:", name))
	id, err := identity.ReadFile(path, func() ([]byte, error) {
		p, err := ask()
		if err != nil {
			return nil, passphraseFailure{err}
		}
		return p, nil
	})
	if err != nil {
		return nil, keyFileError(name, err)
	}
	return id, nil
}

// passphraseFailure marks an error getting the passphrase, so that, say, a
// missing passphrase file is not taken for a missing key file.
type passphraseFailure struct{ err error }

func (e passphraseFailure) Error() string { return e.err.Error() }
func (e passphraseFailure) Unwrap() error { return e.err }

// keyFileError explains an error from reading the secret key file path.
func keyFileError(path string, err error) error {
	var (
		pass     passphraseFailure
		insecure *identity.InsecureFileError
	)
	switch {
	case errors.As(err, &pass):
		return PassphraseError(pass.err)
	case errors.As(err, &insecure):
		return Errorf("%w", err).WithHintf("if nobody else could have read it, run: chmod 600 %s", shellArg(insecure.Path))
	case errors.Is(err, identity.ErrWrongPassphrase):
		return Errorf("wrong passphrase for %s", path)
	case errors.Is(err, identity.ErrMalformed):
		detail := strings.TrimPrefix(err.Error(), identity.ErrMalformed.Error()+": ")
		return Errorf("%s is not a valid SMVS key file: %s", path, detail).
			WithHintf("the file may be corrupted or truncated; restore it from a backup")
	case errors.Is(err, fs.ErrNotExist):
		return Errorf("no key file at %s", path).WithHintf("make one with: smvs-keygen -o %s", shellArg(path))
	}
	return err
}

// shellArg quotes s for a command line in a hint, if it needs quoting.
func shellArg(s string) string {
	if s != "" && safeShellArg.MatchString(s) {
		return s
	}
	return shellQuote(s)
}

var safeShellArg = regexp.MustCompile(`^[[:alnum:]_@%+=:,./-]+$`)

// maxKeyFile bounds what ReadIdentityForRewrite reads; identity.ReadFile
// has its own, smaller bound.
const maxKeyFile = 1 << 20

// ReadIdentityForRewrite reads the secret key file at path as ReadIdentity
// does, asking for the passphrase once, and also returns the file's
// contents as read and its passphrase (nil if the file is not protected),
// so that a command that changes the identity can write it back protected
// the same way (see identity.Encrypt). The caller clears raw and pass when
// done.
func ReadIdentityForRewrite(c *urfave.Context, path string) (id *identity.Identity, raw, pass []byte, err error) {
	raw, err = readKeyFile(path)
	if err != nil || !identity.IsEncrypted(raw) {
		// ReadIdentity explains every problem with the file, and asks
		// for no passphrase.
		clear(raw)
		if id, err = ReadIdentity(c, path); err != nil {
			return nil, nil, nil, err
		}
		if raw, err = readKeyFile(path); err != nil {
			id.Destroy()
			return nil, nil, nil, Errorf("%w", err)
		}
		return id, raw, nil, nil
	}
	src, err := PassphraseSource(c)
	if err != nil {
		return nil, nil, nil, err
	}
	pass, err = src.Read(fmt.Sprintf("Enter passphrase for %s:", path))
	if err != nil {
		return nil, nil, nil, PassphraseError(err)
	}
	id, err = identity.Unmarshal(raw, func() ([]byte, error) { return bytes.Clone(pass), nil })
	switch {
	case errors.Is(err, identity.ErrWrongPassphrase):
		err = Errorf("wrong passphrase for %s", path)
	case err != nil:
		err = Errorf("%s: %w", path, err)
	}
	if err != nil {
		clear(pass)
		return nil, nil, nil, err
	}
	return id, raw, pass, nil
}

// readKeyFile reads a secret key file as it is, refusing one others can
// read as identity.ReadFile does.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() || runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: not a regular file only its owner can read", path)
	}
	return io.ReadAll(io.LimitReader(f, maxKeyFile))
}
