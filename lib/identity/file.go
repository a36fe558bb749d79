package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"smvs/lib/bech32"
	"smvs/lib/wire"
)

// The text format of a secret key file, one item a line, each ending in "\n":
//
//	# created: 2026-11-26T11:04:00Z
//	# public id: smvs1…                 ("# device id: smvsdev1…" for a device)
//	SMVS-IDENTITY-SECRET-1…             ("SMVS-DEVICE-SECRET-1…" for a device)
//	SMVS-KEM-SECRET-1…                  (identities: one line a KEM key, oldest first)
//	SMVS-RETIRED-SECRET-1…              (identities: a replaced identity's seed, oldest first)
//	SMVS-ROTATION-1…                    (identities: a signed rotation statement, oldest first)
//
// The secret lines are upper-case bech32: the Ed25519 seed, and each KEM key
// as an encoded wire.KEMSecret. The comment lines are checked, so a file whose
// public id does not match its secret is refused as corrupted.

// ErrMalformed means a secret key file is not in the format MarshalText
// writes: it was corrupted, truncated or edited.
var ErrMalformed = errors.New("malformed identity file")

const (
	createdPrefix     = "# created: "
	kemSecretPrefix   = "smvs-kem-secret-"
	identitySecretHRP = "smvs-identity-secret-"
	deviceSecretHRP   = "smvs-device-secret-"
	retiredSecretHRP  = "smvs-retired-secret-"
	rotationHRP       = "smvs-rotation-"
)

func (k Kind) idComment() string {
	if k == KindDevice {
		return "# device id: "
	}
	return "# public id: "
}

func (k Kind) secretPrefix() string {
	if k == KindDevice {
		return deviceSecretHRP
	}
	return identitySecretHRP
}

func secretLine(hrp string, data []byte) string {
	s, err := bech32.Encode(hrp, data)
	if err != nil {
		panic(err) // our secrets always fit
	}
	return strings.ToUpper(s)
}

// MarshalText returns the key in the text file format. The result holds
// secrets: the caller should clear it when done.
func (id *Identity) MarshalText() []byte {
	var b bytes.Buffer
	b.WriteString(createdPrefix + id.created.Format(time.RFC3339) + "\n")
	b.WriteString(id.kind.idComment() + id.Public().String() + "\n")
	b.WriteString(secretLine(id.kind.secretPrefix(), id.priv.Seed()) + "\n")
	for _, k := range id.kem {
		s := wire.KEMSecret{Seed: k.seed, Created: k.created.UnixMilli(), Expires: k.expires.UnixMilli()}
		enc := s.Encode()
		b.WriteString(secretLine(kemSecretPrefix, enc) + "\n")
		clear(enc)
	}
	for _, seed := range id.retired {
		b.WriteString(secretLine(retiredSecretHRP, seed) + "\n")
	}
	for _, r := range id.rotations {
		b.WriteString(secretLine(rotationHRP, r) + "\n")
	}
	return b.Bytes()
}

// ParseText parses a secret key in the text file format. It accepts exactly
// what MarshalText writes.
func ParseText(data []byte) (*Identity, error) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%w: truncated (no final newline)", ErrMalformed)
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	bad := func(n int, format string, a ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrMalformed, n, fmt.Sprintf(format, a...))
	}
	if len(lines) < 3 {
		return nil, fmt.Errorf("%w: %d lines, want at least 3", ErrMalformed, len(lines))
	}

	ts, ok := strings.CutPrefix(lines[0], createdPrefix)
	if !ok {
		return nil, bad(1, "want %q", strings.TrimSpace(createdPrefix)+" TIME")
	}
	created, err := time.Parse(time.RFC3339, ts)
	if err != nil || created.UTC().Format(time.RFC3339) != ts {
		return nil, bad(1, "creation time %q is not an RFC 3339 UTC time", ts)
	}

	hrp, seed, err := bech32.Decode(lines[2])
	if err != nil {
		return nil, bad(3, "secret key: %v", err)
	}
	defer clear(seed)
	var kind Kind
	switch {
	case lines[2] != strings.ToUpper(lines[2]):
		return nil, bad(3, "secret key is not upper case")
	case hrp == identitySecretHRP:
		kind = KindIdentity
	case hrp == deviceSecretHRP:
		kind = KindDevice
	default:
		return nil, bad(3, "not an SMVS secret key")
	}
	if len(seed) != ed25519.SeedSize {
		return nil, bad(3, "secret key is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	id := &Identity{kind: kind, created: created.UTC(), priv: ed25519.NewKeyFromSeed(seed)}

	if want := kind.idComment() + id.Public().String(); lines[1] != want {
		id.Destroy()
		return nil, bad(2, "want %q: the file's public id does not match its secret key (corrupted?)", want)
	}
	if kind == KindDevice && len(lines) > 3 {
		id.Destroy()
		return nil, bad(4, "a device key has no KEM keys")
	}
	// KEM keys, then retired seeds, then rotation statements, each kind
	// in order: section says which kinds may still come.
	section := 0
	for i, line := range lines[3:] {
		if err := id.parseLine(line, &section); err != nil {
			id.Destroy()
			return nil, bad(i+4, "%v", err)
		}
	}
	if err := checkRotations(id.rotations, id.Public()); err != nil {
		id.Destroy()
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return id, nil
}

// parseLine parses one line after an identity's secret key.
func (id *Identity) parseLine(line string, section *int) error {
	hrp, data, err := bech32.Decode(line)
	if err != nil {
		return fmt.Errorf("secret line: %v", err)
	}
	defer clear(data)
	if line != strings.ToUpper(line) {
		return errors.New("secret line is not upper case")
	}
	kinds := []string{kemSecretPrefix, retiredSecretHRP, rotationHRP}
	k := slices.Index(kinds, hrp)
	switch {
	case k < 0:
		return errors.New("not an SMVS KEM secret, retired secret or rotation")
	case k < *section:
		return fmt.Errorf("a %s line after a %s line", strings.TrimSuffix(hrp, "-"), strings.TrimSuffix(kinds[*section], "-"))
	}
	*section = k
	switch hrp {
	case kemSecretPrefix:
		key, err := parseKEMSecret(data)
		if err != nil {
			return err
		}
		id.kem = append(id.kem, key)
	case retiredSecretHRP:
		if err := retiredSeed(data); err != nil {
			return err
		}
		id.retired = append(id.retired, bytes.Clone(data))
	case rotationHRP:
		id.rotations = append(id.rotations, bytes.Clone(data))
	}
	return nil
}

func parseKEMSecret(data []byte) (*KEMKey, error) {
	s, err := wire.DecodeKEMSecret(data)
	if err != nil {
		return nil, err
	}
	defer clear(s.Seed)
	return newKEMKey(s.Seed, time.UnixMilli(s.Created).UTC(), time.UnixMilli(s.Expires).UTC())
}
