package identity

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// InsecureFileError means a secret key file can be read by its group or by
// others, so the key must be considered exposed and is refused.
type InsecureFileError struct {
	Path string
	Mode fs.FileMode
}

func (e *InsecureFileError) Error() string {
	return fmt.Sprintf("%s is readable by others (mode %04o); refusing to use the key", e.Path, e.Mode.Perm())
}

// maxFileSize bounds a secret key file: a few hundred bytes a key.
const maxFileSize = 64 << 10

// PassphraseFunc supplies a passphrase when a file turns out to be protected.
// The caller of the returned slice clears it.
type PassphraseFunc func() ([]byte, error)

// ErrNeedPassphrase means the file is protected and no way to get a
// passphrase was given.
var ErrNeedPassphrase = errors.New("the key file is passphrase-protected and no passphrase was given")

// ReadFile loads the secret key in path. It refuses a file that its group or
// others may read, and asks pass for the passphrase if the file is protected
// (pass may be nil when none can be asked for). path "-" reads standard input.
func ReadFile(path string, pass PassphraseFunc) (*Identity, error) {
	data, err := readSecret(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	return Unmarshal(data, pass)
}

// Unmarshal parses a secret key file's contents, protected or not.
func Unmarshal(data []byte, pass PassphraseFunc) (*Identity, error) {
	if !IsEncrypted(data) {
		return ParseText(data)
	}
	if pass == nil {
		return nil, ErrNeedPassphrase
	}
	p, err := pass()
	if err != nil {
		return nil, err
	}
	defer clear(p)
	plain, err := Decrypt(data, p)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return ParseText(plain)
}

func readSecret(path string) ([]byte, error) {
	var f *os.File
	if path == "-" {
		f = os.Stdin
	} else {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if info.IsDir() {
			return nil, fmt.Errorf("%s is a directory, not a key file", path)
		}
		if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
			return nil, &InsecureFileError{Path: path, Mode: info.Mode()}
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		clear(data)
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, maxFileSize)
	}
	return data, nil
}

// WriteNewFile creates path with mode 0600 and writes data to it, failing if
// path already exists (so a key is never overwritten). It creates missing
// parent directories with mode 0700. On any error it removes what it created.
func WriteNewFile(path string, data []byte) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// ReplaceFile atomically replaces path with data, mode 0600: it writes a new
// file beside it, syncs it, and renames it over path, so a crash leaves
// either the old or the new content, never a mix.
func ReplaceFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a new or renamed entry in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories can't be synced there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
