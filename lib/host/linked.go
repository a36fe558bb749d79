package host

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/identity"
)

// DevicesFile, in the host's data directory, lists the user's linked
// devices, one a line: "NAME smvsdev1… added=TIME [revoked=TIME]", times
// in RFC 3339. The host writes it; the owner changes it with smvs-device.
// Revoked devices stay listed, so a revoked device is told it was revoked.
const DevicesFile = "devices"

// Pairing codes: 16 characters of Crockford's base32 (80 bits) in groups
// of four. They are checked in constant time, used once, and all pending
// codes are burned after maxPairingFailures wrong tries, so guessing one
// online is hopeless.
const (
	pairingAlphabet    = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	pairingChars       = 16
	DefaultPairingTTL  = 10 * time.Minute
	maxPairingTTL      = 24 * time.Hour
	maxPairingFailures = 10
	maxPendingPairings = 16
	maxDevices         = 1000
)

// Errors of the device registry, turned into hostapi errors.
var (
	errNoSuchDevice   = errors.New("no such device")
	errDeviceName     = errors.New("invalid device name")
	errBadPairingCode = errors.New("the pairing code is wrong, spent or expired")
)

// linkedDevice is one line of the devices file.
type linkedDevice struct {
	name    string
	key     identity.PublicKey
	added   time.Time
	revoked time.Time // zero while linked
}

type pairing struct {
	code    string // normalized: no dashes, upper case
	name    string
	expires time.Time
}

// registry is the user's devices and the pending pairing codes. It is
// safe for concurrent use.
type registry struct {
	path string

	mu       sync.Mutex
	devices  []*linkedDevice
	pending  []*pairing
	failures int // wrong pairing codes since the last right one
}

// openRegistry reads the devices file in dir; a missing file is no device.
func openRegistry(dir string) (*registry, error) {
	r := &registry{path: filepath.Join(dir, DevicesFile)}
	f, err := os.Open(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if r.devices, err = parseDevices(io.LimitReader(f, 1<<20)); err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	return r, nil
}

// parseDevices reads a devices file.
func parseDevices(rd io.Reader) ([]*linkedDevice, error) {
	var list []*linkedDevice
	sc := bufio.NewScanner(rd)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		d, err := parseDevice(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		for _, o := range list {
			if o.key == d.key {
				return nil, fmt.Errorf("line %d: device %s listed twice", n, d.key)
			}
		}
		list = append(list, d)
	}
	return list, sc.Err()
}

func parseDevice(line string) (*linkedDevice, error) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return nil, errors.New(`want "NAME smvsdev1… added=TIME [revoked=TIME]"`)
	}
	if err := checkDeviceName(f[0]); err != nil {
		return nil, err
	}
	key, err := identity.ParsePublicKey(f[1])
	if err != nil || key.Kind() != identity.KindDevice {
		return nil, fmt.Errorf("%q is not a device key", f[1])
	}
	d := &linkedDevice{name: f[0], key: key}
	for _, attr := range f[2:] {
		k, v, _ := strings.Cut(attr, "=")
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an RFC 3339 time", k, v)
		}
		switch k {
		case "added":
			d.added = t
		case "revoked":
			d.revoked = t
		default:
			return nil, fmt.Errorf("unknown attribute %q", k)
		}
	}
	if d.added.IsZero() {
		return nil, errors.New("no added= time")
	}
	return d, nil
}

func (d *linkedDevice) String() string {
	s := fmt.Sprintf("%s %s added=%s", d.name, d.key, d.added.UTC().Format(time.RFC3339))
	if !d.revoked.IsZero() {
		s += " revoked=" + d.revoked.UTC().Format(time.RFC3339)
	}
	return s
}

// checkDeviceName accepts names people can type and files can hold:
// letters, digits, '.', '_' and '-', at most 64 bytes.
func checkDeviceName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w %q: want 1 to 64 letters, digits, '.', '_' or '-'", errDeviceName, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w %q: want 1 to 64 letters, digits, '.', '_' or '-'", errDeviceName, name)
		}
	}
	return nil
}

// save writes the devices file in place of the old one, atomically and
// durably. The caller holds r.mu.
func (r *registry) save() error {
	var b bytes.Buffer
	b.WriteString("# The devices linked to this host, written by smvs-hostd: change them with smvs-device.\n")
	for _, d := range r.devices {
		b.WriteString(d.String() + "\n")
	}
	return identity.ReplaceFile(r.path, b.Bytes())
}

// find returns the device with key, linked or revoked, or nil.
func (r *registry) find(key identity.PublicKey) *linkedDevice {
	for _, d := range r.devices {
		if d.key == key {
			return d
		}
	}
	return nil
}

// lookup returns a copy of the device with key, if the host ever knew it.
func (r *registry) lookup(key identity.PublicKey) (linkedDevice, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.find(key); d != nil {
		return *d, true
	}
	return linkedDevice{}, false
}

// all returns copies of every device.
func (r *registry) all() []linkedDevice {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := make([]linkedDevice, len(r.devices))
	for i, d := range r.devices {
		list[i] = *d
	}
	return list
}

// add links key under name (a free name if empty). A key linked already
// keeps its name; a revoked one is linked again.
func (r *registry) add(name string, key identity.PublicKey, now time.Time) (linkedDevice, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(name, key, now)
}

func (r *registry) addLocked(name string, key identity.PublicKey, now time.Time) (linkedDevice, error) {
	if key.Kind() != identity.KindDevice {
		return linkedDevice{}, fmt.Errorf("%w: %s is not a device key", identity.ErrBadPublicKey, key)
	}
	d := r.find(key)
	if d != nil && d.revoked.IsZero() {
		return *d, nil
	}
	if name == "" {
		name = r.freeName()
	}
	if err := checkDeviceName(name); err != nil {
		return linkedDevice{}, err
	}
	for _, o := range r.devices {
		if o.name == name && o.revoked.IsZero() && o != d {
			return linkedDevice{}, fmt.Errorf("%w %q: a linked device has that name", errDeviceName, name)
		}
	}
	if d == nil && len(r.devices) >= maxDevices {
		return linkedDevice{}, fmt.Errorf("the host keeps at most %d devices", maxDevices)
	}
	old := r.devices
	if d == nil {
		d = &linkedDevice{key: key}
		r.devices = append(r.devices[:len(r.devices):len(r.devices)], d)
	}
	prev := *d
	d.name, d.added, d.revoked = name, now.Truncate(time.Second), time.Time{}
	if err := r.save(); err != nil {
		*d, r.devices = prev, old
		return linkedDevice{}, fmt.Errorf("saving the devices file: %w", err)
	}
	return *d, nil
}

// freeName returns "device-N" for the first N no linked device is called.
func (r *registry) freeName() string {
	for n := len(r.devices) + 1; ; n++ {
		name := fmt.Sprintf("device-%d", n)
		taken := false
		for _, d := range r.devices {
			taken = taken || d.name == name && d.revoked.IsZero()
		}
		if !taken {
			return name
		}
	}
}

// revoke revokes the linked device called nameOrKey (a name or smvsdev1
// key) and returns it.
func (r *registry) revoke(nameOrKey string, now time.Time) (linkedDevice, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d *linkedDevice
	key, keyErr := identity.ParsePublicKey(nameOrKey)
	for _, o := range r.devices {
		if o.revoked.IsZero() && (o.name == nameOrKey || keyErr == nil && o.key == key) {
			d = o
		}
	}
	if d == nil {
		return linkedDevice{}, fmt.Errorf("%w %q is linked", errNoSuchDevice, nameOrKey)
	}
	d.revoked = now.Truncate(time.Second)
	if err := r.save(); err != nil {
		d.revoked = time.Time{}
		return linkedDevice{}, fmt.Errorf("saving the devices file: %w", err)
	}
	return *d, nil
}

// pair makes a pairing code for a device to be called name, valid for ttl.
func (r *registry) pair(name string, ttl time.Duration, now time.Time) (*pairing, error) {
	if name != "" {
		if err := checkDeviceName(name); err != nil {
			return nil, err
		}
	}
	if ttl <= 0 {
		ttl = DefaultPairingTTL
	}
	ttl = min(ttl, maxPairingTTL)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	if len(r.pending) >= maxPendingPairings {
		return nil, fmt.Errorf("%d pairing codes are pending already: use one or let them expire", len(r.pending))
	}
	code := make([]byte, pairingChars)
	for i := range code {
		code[i] = pairingAlphabet[randIndex(len(pairingAlphabet))]
	}
	p := &pairing{code: string(code), name: name, expires: now.Add(ttl)}
	r.pending = append(r.pending, p)
	return p, nil
}

// randIndex returns a uniform random number below n, n ≤ 256.
func randIndex(n int) int {
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < 256-256%n {
			return int(b[0]) % n
		}
	}
}

// formatCode groups a normalized code for people: XXXX-XXXX-XXXX-XXXX.
func formatCode(code string) string {
	var parts []string
	for len(code) > 4 {
		parts, code = append(parts, code[:4]), code[4:]
	}
	return strings.Join(append(parts, code), "-")
}

// normalizeCode undoes what people do to a code: case, dashes, spaces,
// and Crockford's look-alikes (O for 0, I and L for 1).
func normalizeCode(s string) string {
	s = strings.ToUpper(s)
	s = strings.NewReplacer("-", "", " ", "", "O", "0", "I", "1", "L", "1").Replace(s)
	return s
}

// expire drops the codes past their time. The caller holds r.mu.
func (r *registry) expire(now time.Time) {
	r.pending = slices.DeleteFunc(r.pending, func(p *pairing) bool { return !now.Before(p.expires) })
}

// redeem links key with a pending pairing code, which is then spent. The
// pairing's name wins over the one the device asks for.
func (r *registry) redeem(code, asked string, key identity.PublicKey, now time.Time) (linkedDevice, error) {
	code = normalizeCode(code)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	var match *pairing
	for _, p := range r.pending {
		// Every pending code is compared, in constant time, so the time
		// taken tells nothing of how close a guess was.
		if subtle.ConstantTimeCompare([]byte(p.code), []byte(code)) == 1 {
			match = p
		}
	}
	if match == nil {
		r.failures++
		if r.failures >= maxPairingFailures {
			r.pending, r.failures = nil, 0
		}
		return linkedDevice{}, errBadPairingCode
	}
	r.pending = slices.DeleteFunc(r.pending, func(p *pairing) bool { return p == match })
	r.failures = 0
	name := match.name
	if name == "" {
		name = asked
	}
	if name != "" && checkDeviceName(name) != nil {
		name = ""
	}
	d, err := r.addLocked(name, key, now)
	if errors.Is(err, errDeviceName) { // the name asked for is taken: take a free one
		d, err = r.addLocked("", key, now)
	}
	return d, err
}

// deviceInfo is d as the owner's tools see it.
func deviceInfo(d linkedDevice) *hostapi.Device {
	dev := &hostapi.Device{Name: d.name, Key: d.key.Bytes(), Added: d.added.UnixMilli()}
	if !d.revoked.IsZero() {
		dev.Revoked = d.revoked.UnixMilli()
	}
	return dev
}
