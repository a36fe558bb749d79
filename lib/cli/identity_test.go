package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/identity"
	"smvs/lib/passphrase"
)

func TestPassphraseSource(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		fd, file string // the environment twins
		want     string // the source, or the start of the error
		code     int
	}{
		{nil, "", "", "the terminal", 0},
		{[]string{"--passphrase-fd", "3"}, "", "", "file descriptor 3", 0},
		{[]string{"--passphrase-fd", "0"}, "", "", "file descriptor 0", 0},
		{[]string{"--passphrase-file", "pw"}, "", "", "file pw", 0},
		{nil, "4", "", "file descriptor 4", 0},
		{nil, "", "pw", "file pw", 0},
		{[]string{"--passphrase-file", "flag"}, "", "env", "file flag", 0},
		{[]string{"--passphrase-fd", "3", "--passphrase-file", "pw"}, "", "", "smvs-test: error: --passphrase-fd and --passphrase-file both given", ExitUsage},
		{[]string{"--passphrase-fd", "3"}, "", "pw", "smvs-test: error: --passphrase-fd and --passphrase-file both given", ExitUsage},
		{nil, "three", "", "smvs-test: error: could not parse \"three\"", ExitUsage},
		{[]string{"--passphrase-fd", "three"}, "", "", "smvs-test: error: invalid value \"three\" for flag --passphrase-fd", ExitUsage},
	} {
		t.Setenv(PassphraseFDEnv, tt.fd)
		t.Setenv(PassphraseFileEnv, tt.file)
		app := actionApp(PassphraseFlags(), func(c *urfave.Context) error {
			src, err := PassphraseSource(c)
			if err != nil {
				return err
			}
			fmt.Fprint(c.App.Writer, src)
			return nil
		})
		r := runApp(app, tt.args...)
		got := r.stdout
		if tt.code != 0 {
			got = r.stderr
		}
		if r.code != tt.code || !strings.HasPrefix(got, tt.want) {
			t.Errorf("%q with $%s=%q $%s=%q: status %d, stdout %q, stderr:\n%s\nwant status %d and %q",
				tt.args, PassphraseFDEnv, tt.fd, PassphraseFileEnv, tt.file, r.code, r.stdout, r.stderr, tt.code, tt.want)
		}
	}
}

func TestPassphraseError(t *testing.T) {
	for _, tt := range []struct {
		err         error
		message     string
		hint        string
		isUnchanged bool
	}{
		{passphrase.ErrNoTerminal, "no terminal to ask for the passphrase", "give it with --passphrase-fd N or --passphrase-file FILE", false},
		{&passphrase.InsecureFileError{Path: "my pw", Mode: 0o644}, "passphrase file my pw is readable by others (mode 0644); refusing to use it",
			"if nobody else could have read it, run: chmod 600 'my pw'", false},
		{passphrase.ErrMismatch, "the passphrases do not match", "", true},
		{passphrase.ErrEmpty, "empty passphrase", "", true},
	} {
		got := PassphraseError(tt.err)
		if got.Error() != tt.message {
			t.Errorf("PassphraseError(%v) says %q, want %q", tt.err, got, tt.message)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("PassphraseError(%v) does not wrap it", tt.err)
		}
		var e *Error
		hasHint := errors.As(got, &e) && len(e.Hints()) == 1 && e.Hints()[0] == tt.hint
		if tt.isUnchanged && got != tt.err || !tt.isUnchanged && !hasHint {
			t.Errorf("PassphraseError(%v) = %#v, want hint %q", tt.err, got, tt.hint)
		}
	}
}

func TestKeyFileError(t *testing.T) {
	for _, tt := range []struct {
		err           error
		message, hint string
	}{
		{&identity.InsecureFileError{Path: "id", Mode: 0o644}, "id is readable by others (mode 0644); refusing to use the key",
			"if nobody else could have read it, run: chmod 600 id"},
		{identity.ErrWrongPassphrase, "wrong passphrase for id", ""},
		{fmt.Errorf("%w: line 3: secret key: checksum", identity.ErrMalformed), "id is not a valid SMVS key file: line 3: secret key: checksum",
			"the file may be corrupted or truncated; restore it from a backup"},
		{&os.PathError{Op: "open", Path: "id", Err: os.ErrNotExist}, "no key file at id", "make one with: smvs-keygen -o id"},
		{passphraseFailure{&os.PathError{Op: "open", Path: "pw", Err: os.ErrNotExist}}, "open pw: file does not exist", ""},
		{passphraseFailure{passphrase.ErrNoTerminal}, "no terminal to ask for the passphrase", "give it with --passphrase-fd N or --passphrase-file FILE"},
		{errors.New("disk on fire"), "disk on fire", ""},
	} {
		got := keyFileError("id", tt.err)
		var hints []string
		var e *Error
		if errors.As(got, &e) {
			hints = e.Hints()
		}
		if got.Error() != tt.message || (tt.hint == "") != (len(hints) == 0) || tt.hint != "" && hints[0] != tt.hint {
			t.Errorf("keyFileError(%v) = %q with hints %q, want %q with hint %q", tt.err, got, hints, tt.message, tt.hint)
		}
	}
}

// writeKey writes a new unprotected identity to a file and returns its
// path and public id.
func writeKey(t *testing.T) (string, string) {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer id.Destroy()
	path := filepath.Join(t.TempDir(), "identity")
	if err := identity.WriteNewFile(path, id.MarshalText()); err != nil {
		t.Fatal(err)
	}
	return path, id.Public().String()
}

func readIdentityApp() *urfave.App {
	return actionApp(PassphraseFlags(), func(c *urfave.Context) error {
		id, err := ReadIdentity(c, c.Args().First())
		if err != nil {
			return err
		}
		defer id.Destroy()
		fmt.Fprintln(c.App.Writer, id.Public())
		return nil
	})
}

func TestReadIdentity(t *testing.T) {
	t.Setenv(PassphraseFDEnv, "")
	t.Setenv(PassphraseFileEnv, "")
	path, public := writeKey(t)
	r := runApp(readIdentityApp(), path)
	if r.code != 0 || r.stdout != public+"\n" {
		t.Fatalf("status %d, stdout %q, want %q; stderr:\n%s", r.code, r.stdout, public, r.stderr)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	r = runApp(readIdentityApp(), path)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "hint: if nobody else could have read it, run: chmod 600 ") {
		t.Errorf("readable by others: status %d, stderr:\n%s", r.code, r.stderr)
	}

	r = runApp(readIdentityApp(), path+".missing")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "hint: make one with: smvs-keygen -o "+path+".missing\n") {
		t.Errorf("missing: status %d, stderr:\n%s", r.code, r.stderr)
	}

	r = runApp(readIdentityApp(), "--passphrase-fd", "0", "-")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "the key and its passphrase can't both come from standard input") {
		t.Errorf("key and passphrase on stdin: status %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestReadIdentityPassphraseErrors checks that an error getting the
// passphrase is reported as one, not as a problem of the key file. The
// file only looks protected, so no scrypt runs.
func TestReadIdentityPassphraseErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "identity")
	if err := os.WriteFile(key, []byte("-----BEGIN AGE ENCRYPTED FILE-----\nbm90IGFnZQ==\n-----END AGE ENCRYPTED FILE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"--passphrase-file", pw + ".missing", key}, "smvs-test: error: passphrase file: open " + pw + ".missing: no such file or directory\n"},
		{[]string{"--passphrase-file", pw, key}, "smvs-test: error: " + key + " is not a valid SMVS key file: protected file: "},
	} {
		r := runApp(readIdentityApp(), tt.args...)
		if r.code != ExitFailure || !strings.HasPrefix(r.stderr, tt.stderr) || strings.Contains(r.stderr, "secret") {
			t.Errorf("%q: status %d, stderr:\n%s\nwant status 1 and:\n%s", tt.args, r.code, r.stderr, tt.stderr)
		}
	}
}
