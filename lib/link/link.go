// Package link reads and writes a remote device's link to its host: the
// file "link" in the device's SMVS home, written by smvs-device link. It
// holds where the host listens and the host's identity key, which the
// device pins: a host presenting any other key is refused.
//
//	# The host this device is linked to, written by smvs-device link.
//	address 192.0.2.7:7443
//	identity smvs1…
//	name laptop
//
// The file holds no secret (the device key is in the file "device"), but
// it decides whom the device trusts, so it is written 0600 like the rest.
//
// Devices linked before the file was named "link" have it as "host" in
// the SMVS home. Such a file is still read, but only if it is a regular
// file: "host" was also the host's data directory (its message store), and
// a directory is never taken for a link file, nor removed.
package link

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"smvs/lib/identity"
)

// FileName is the link file's name in the SMVS home; LegacyFileName is
// the name it had before, read when FileName is missing; DeviceKeyFile is
// the device key's name.
const (
	FileName       = "link"
	LegacyFileName = "host"
	DeviceKeyFile  = "device"
)

// ErrNotLinked means the SMVS home holds no link file.
var ErrNotLinked = errors.New("this device is not linked to a remote host")

// Link is a device's link to its host.
type Link struct {
	Address  string             // host:port of the host's QUIC listener
	Identity identity.PublicKey // the host's (the user's) identity key
	Name     string             // the device's name on the host
}

// maxFile bounds a link file.
const maxFile = 64 << 10

// Parse reads a link file.
func Parse(data []byte) (*Link, error) {
	if len(data) > maxFile {
		return nil, fmt.Errorf("link file over %d bytes", maxFile)
	}
	l := new(Link)
	seen := make(map[string]bool)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		value = strings.TrimSpace(value)
		if seen[key] {
			return nil, fmt.Errorf("line %d: %s given twice", n, key)
		}
		seen[key] = true
		switch key {
		case "address":
			if _, _, err := net.SplitHostPort(value); err != nil || value == "" {
				return nil, fmt.Errorf("line %d: address %q: want host:port", n, value)
			}
			l.Address = value
		case "identity":
			k, err := identity.ParsePublicKey(value)
			if err != nil || k.Kind() != identity.KindIdentity {
				return nil, fmt.Errorf("line %d: %q is not an smvs1 identity key", n, value)
			}
			l.Identity = k
		case "name":
			l.Name = value
		default:
			return nil, fmt.Errorf("line %d: unknown setting %q", n, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if l.Address == "" || l.Identity.IsZero() {
		return nil, errors.New("the link file needs an address and an identity line")
	}
	return l, nil
}

// Format returns the text of l's link file.
func (l *Link) Format() []byte {
	var b bytes.Buffer
	b.WriteString("# The host this device is linked to, written by smvs-device link.\n")
	fmt.Fprintf(&b, "address %s\nidentity %s\n", l.Address, l.Identity)
	if l.Name != "" {
		fmt.Fprintf(&b, "name %s\n", l.Name)
	}
	return b.Bytes()
}

// Path returns the path of the link file in the SMVS home that Read
// reads: FileName if it exists, else LegacyFileName if that is a regular
// file; ErrNotLinked if there is neither.
func Path(home string) (string, error) {
	path := filepath.Join(home, FileName)
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return path, nil // an error, or a file that is not a link file, is Read's to report
	}
	legacy := filepath.Join(home, LegacyFileName)
	if isLegacyFile(legacy) {
		return legacy, nil
	}
	return "", ErrNotLinked
}

// isLegacyFile reports whether path is a regular file (or a symbolic
// link to one), as a link file under its old name is; never a directory.
func isLegacyFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// Read reads the link file in the SMVS home (see Path); ErrNotLinked if
// there is none. Its errors name the file.
func Read(home string) (*Link, error) {
	path, err := Path(home)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	l, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Write writes l as the link file in the SMVS home, replacing any,
// atomically and durably. A link file under its legacy name is removed
// once the new one is written, so it can't come back into use.
func Write(home string, l *Link) error {
	if err := identity.ReplaceFile(filepath.Join(home, FileName), l.Format()); err != nil {
		return err
	}
	return removeLegacy(home)
}

// Remove removes the link file in the SMVS home, under its name and its
// legacy name (a regular file only: never a directory); ErrNotLinked if
// there was none.
func Remove(home string) error {
	path := filepath.Join(home, FileName)
	removed := false
	info, err := os.Lstat(path)
	switch {
	case err == nil && info.IsDir():
		return fmt.Errorf("%s is a directory, not a link file: not touching it", path)
	case err == nil:
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = true
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if isLegacyFile(filepath.Join(home, LegacyFileName)) {
		if err := removeLegacy(home); err != nil {
			return err
		}
		removed = true
	}
	if !removed {
		return ErrNotLinked
	}
	return nil
}

// removeLegacy removes a link file under its legacy name, if it is a
// regular file.
func removeLegacy(home string) error {
	legacy := filepath.Join(home, LegacyFileName)
	if !isLegacyFile(legacy) {
		return nil
	}
	if err := os.Remove(legacy); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
