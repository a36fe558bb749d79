package host

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"smvs/lib/identity"
)

// The policy files in the SMVS home: the user's own plain text files, one
// smvs1… key a line, like ssh's authorized_keys. A line may go on after
// the key with a comment; "#" starts a comment line; blank lines are
// ignored. A key in blocked is refused; if allowed exists, only its keys
// are accepted (blocked still wins).
const (
	BlockedFile = "blocked"
	AllowedFile = "allowed"
)

// maxPolicyFile bounds a policy file: about 70 bytes a key.
const maxPolicyFile = 8 << 20

// verdict is what the policy says of a peer.
type verdict int

const (
	accept  verdict = iota
	refuse          // blocked, or not allowed
	unknown         // a policy file can't be read: the peer should try later
)

// policy applies the blocked and allowed files, reading each again when
// its size, modification time or mode changes (a chmod changes neither of
// the first two), and a file that can't be used at least every
// policyRetry, whatever mended it. It is safe for concurrent use.
type policy struct {
	blocked, allowed policyFile
	log              *slog.Logger
}

// policyRetry is how often a policy file that can't be used is read again
// though it looks unchanged.
const policyRetry = time.Second

type policyFile struct {
	path string

	mu      sync.Mutex
	exists  bool
	size    int64
	modTime time.Time
	mode    fs.FileMode
	read    time.Time // when it was last read
	keys    map[identity.PublicKey]bool
	err     error // why the file can't be used, until it changes
}

func newPolicy(home string, log *slog.Logger) *policy {
	return &policy{
		blocked: policyFile{path: filepath.Join(home, BlockedFile)},
		allowed: policyFile{path: filepath.Join(home, AllowedFile)},
		log:     log,
	}
}

// check returns the verdict on peer and, unless accepted, why.
func (p *policy) check(peer identity.PublicKey) (verdict, string) {
	exists, blocked, err := p.blocked.has(peer, p.log)
	if err != nil {
		return unknown, "the host's block list can't be read"
	}
	if exists && blocked {
		return refuse, "blocked"
	}
	exists, allowed, err := p.allowed.has(peer, p.log)
	if err != nil {
		return unknown, "the host's allow list can't be read"
	}
	if exists && !allowed {
		return refuse, "not on the allow list"
	}
	return accept, ""
}

// has reports whether the file exists and lists key, reading it again if it
// changed.
func (f *policyFile) has(key identity.PublicKey, log *slog.Logger) (exists, listed bool, err error) {
	info, err := os.Stat(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.exists, f.keys, f.err = false, nil, nil
		return false, false, nil
	case err != nil:
		return true, false, err
	}
	changed := !f.exists || info.Size() != f.size || !info.ModTime().Equal(f.modTime) || info.Mode() != f.mode
	if changed || f.err != nil && time.Since(f.read) >= policyRetry {
		was := f.err
		f.exists, f.size, f.modTime, f.mode, f.read = true, info.Size(), info.ModTime(), info.Mode(), time.Now()
		f.keys, f.err = loadKeys(f.path, log)
		switch {
		case f.err != nil && (was == nil || was.Error() != f.err.Error()):
			log.Error("policy file can't be used; deliveries wait until it is fixed", "file", f.path, "err", f.err)
		case f.err == nil && (changed || was != nil):
			log.Info("policy file loaded", "file", f.path, "keys", len(f.keys))
		}
	}
	if f.err != nil {
		return true, false, f.err
	}
	return true, f.keys[key], nil
}

// loadKeys reads a policy file. A line that is not a key is logged and
// skipped, as sshd skips a bad line of authorized_keys; a file that others
// may write is refused, as the contacts file is.
func loadKeys(path string, log *slog.Logger) (map[identity.PublicKey]bool, error) {
	fh, err := os.Open(path)
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
		return nil, fmt.Errorf("%s is writable by others (mode %04o)", path, info.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxPolicyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPolicyFile)
	}
	keys := make(map[identity.PublicKey]bool)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxPolicyFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		field, _, _ := strings.Cut(line, " ")
		field, _, _ = strings.Cut(field, "\t")
		key, err := identity.ParsePublicKey(field)
		if err == nil && key.Kind() != identity.KindIdentity {
			err = errors.New("a device key, not an identity")
		}
		if err != nil {
			log.Warn("policy file: skipping a line that is not an smvs1 key", "file", path, "line", n)
			continue
		}
		keys[key] = true
	}
	return keys, sc.Err()
}
