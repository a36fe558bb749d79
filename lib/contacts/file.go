package contacts

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"smvs/lib/identity"
)

// FileName is the name of the contacts file in the SMVS home directory.
const FileName = "contacts"

// maxFileSize bounds the contacts file: about 100 bytes a contact.
const maxFileSize = 4 << 20

// Path returns the path of the contacts file in the SMVS home directory.
func Path(home string) string { return filepath.Join(home, FileName) }

// InsecureFileError means others than its owner may write the contacts
// file, so they could change whose keys the user trusts; it is refused.
type InsecureFileError struct {
	Path string
	Mode fs.FileMode
}

func (e *InsecureFileError) Error() string {
	return fmt.Sprintf("%s is writable by others (mode %04o); refusing to trust the keys in it", e.Path, e.Mode.Perm())
}

// Load reads the contacts file at path. A file that does not exist is
// empty. Errors name the file and, for a parse error, the line.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return new(File), nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o022 != 0 {
		return nil, &InsecureFileError{Path: path, Mode: info.Mode()}
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Save writes f to path atomically, mode 0600: a crash leaves the old
// file or the new one, never a mix. It creates a missing parent directory
// with mode 0700. Writers that may run at once use Update instead.
func Save(path string, f *File) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return identity.ReplaceFile(path, f.Format())
}

// Update changes the contacts file at path: under a lock that other
// Updates (in this process or others) respect, it loads the file, calls
// fn, and saves the file if fn returns nil. fn sees the file as it is
// now, not as it was when the caller last read it.
func Update(path string, fn func(*File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	unlock, err := lock(path)
	if err != nil {
		return fmt.Errorf("locking %s: %w", path, err)
	}
	defer unlock()
	f, err := Load(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	return Save(path, f)
}
