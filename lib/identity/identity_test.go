package identity

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smvs/lib/bech32"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const vectorDir = "../../testdata/vectors"

func generate(t testing.TB, kind Kind) *Identity {
	t.Helper()
	id, err := Generate(kind, now)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPublicKeyStrings(t *testing.T) {
	for _, kind := range []Kind{KindIdentity, KindDevice} {
		p := generate(t, kind).Public()
		s := p.String()
		prefix := map[Kind]string{KindIdentity: "smvs1", KindDevice: "smvsdev1"}[kind]
		if !strings.HasPrefix(s, prefix) {
			t.Fatalf("%v key %q does not start with %q", kind, s, prefix)
		}
		q, err := ParsePublicKey(s)
		if err != nil || q != p {
			t.Fatalf("ParsePublicKey(%q) = %v, %v", s, q, err)
		}
	}

	s := generate(t, KindIdentity).Public().String()
	typo := []byte(s)
	i := len(typo) / 2
	typo[i] = map[bool]byte{true: 'q', false: 'p'}[typo[i] != 'q']
	for _, bad := range []string{
		"", "smvs1", string(typo), strings.ToUpper(s), "age1" + s[5:],
		shortKey(t),
	} {
		if _, err := ParsePublicKey(bad); !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("ParsePublicKey(%q) = %v, want ErrBadPublicKey", bad, err)
		}
	}
	var zero PublicKey
	if !zero.IsZero() || zero.String() != "<no key>" {
		t.Error("zero PublicKey")
	}
}

// shortKey is valid bech32 with the identity prefix but only 16 bytes.
func shortKey(t *testing.T) string {
	s, err := bech32.Encode("smvs", make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTextRoundTrip(t *testing.T) {
	for _, kind := range []Kind{KindIdentity, KindDevice} {
		id := generate(t, kind)
		text := id.MarshalText()
		back, err := ParseText(text)
		if err != nil {
			t.Fatalf("%v: ParseText: %v", kind, err)
		}
		if back.Public() != id.Public() || !back.Created().Equal(id.Created()) || back.Kind() != kind {
			t.Fatalf("%v: parsed key differs", kind)
		}
		if !bytes.Equal(back.MarshalText(), text) {
			t.Fatalf("%v: MarshalText(ParseText(x)) != x", kind)
		}
	}
	for _, name := range []string{"alice.identity", "device.identity"} {
		data, err := os.ReadFile(filepath.Join(vectorDir, name))
		if err != nil {
			t.Fatal(err)
		}
		id, err := ParseText(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(id.MarshalText(), data) {
			t.Fatalf("%s does not round-trip", name)
		}
	}
}

func TestParseTextRejects(t *testing.T) {
	good := string(generate(t, KindIdentity).MarshalText())
	lines := strings.SplitAfter(good, "\n")
	other := string(generate(t, KindIdentity).MarshalText())
	otherLines := strings.SplitAfter(other, "\n")
	device := string(generate(t, KindDevice).MarshalText())

	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] = map[bool]byte{true: 'Q', false: 'P'}[b[i] != 'Q']
		return string(b)
	}
	cases := map[string]string{
		"empty":                  "",
		"no final newline":       strings.TrimSuffix(good, "\n"),
		"truncated":              good[:len(good)/2],
		"only comments":          lines[0] + lines[1],
		"flipped secret":         lines[0] + lines[1] + flip(lines[2], 40) + lines[3],
		"flipped KEM secret":     lines[0] + lines[1] + lines[2] + flip(lines[3], 40),
		"other public id":        lines[0] + otherLines[1] + lines[2] + lines[3],
		"bad created line":       "# made: yesterday\n" + strings.Join(lines[1:], ""),
		"non-UTC created time":   strings.Replace(good, "Z\n", "+01:00\n", 1),
		"lower-case secret":      lines[0] + lines[1] + strings.ToLower(lines[2]) + lines[3],
		"device with a KEM key":  device + lines[3],
		"secret line of another": lines[0] + lines[1] + lines[3] + lines[3],
		"extra blank line":       good + "\n",
	}
	for name, text := range cases {
		if _, err := ParseText([]byte(text)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseText = %v, want ErrMalformed", name, err)
		}
	}
}

func TestKEMRotation(t *testing.T) {
	id := generate(t, KindIdentity)
	first, err := id.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Expires(); !got.Equal(now.Add(DefaultKEMLifetime)) {
		t.Fatalf("first KEM key expires %v", got)
	}
	later := now.Add(time.Hour)
	second, err := id.RotateKEM(later, 10*time.Hour, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := id.CurrentKEM(later); cur != second {
		t.Fatal("the new key is not current")
	}
	if !first.Expires().Equal(later.Add(2 * time.Hour)) {
		t.Fatalf("the old key expires %v, want the end of the grace period", first.Expires())
	}
	if k, err := id.KEMKey(first.ID(), later); err != nil || k != first {
		t.Fatalf("old key within grace: %v", err)
	}
	if _, err := id.KEMKey(first.ID(), later.Add(2*time.Hour)); !errors.Is(err, ErrExpiredKEMKey) {
		t.Fatalf("old key after grace: %v", err)
	}
	if _, err := id.KEMKey([]byte("nonesuch"), later); !errors.Is(err, ErrUnknownKEMKey) {
		t.Fatalf("unknown id: %v", err)
	}

	// The keyring survives a save and load.
	back, err := ParseText(id.MarshalText())
	if err != nil {
		t.Fatal(err)
	}
	if k, err := back.KEMKey(first.ID(), later); err != nil || !k.Expires().Equal(first.Expires()) {
		t.Fatalf("reloaded old key: %v", err)
	}

	if n := id.PruneKEM(later.Add(2 * time.Hour)); n != 1 {
		t.Fatalf("PruneKEM = %d, want 1", n)
	}
	if _, err := id.KEMKey(first.ID(), later); !errors.Is(err, ErrUnknownKEMKey) {
		t.Fatalf("pruned key: %v", err)
	}
	if _, err := id.CurrentKEM(later.Add(10 * time.Hour)); !errors.Is(err, ErrNoKEMKey) {
		t.Fatalf("expired current key: %v", err)
	}
	if _, err := generate(t, KindDevice).RotateKEM(now, time.Hour, 0); err == nil {
		t.Fatal("a device key got a KEM key")
	}
}

func TestDestroy(t *testing.T) {
	id := generate(t, KindIdentity)
	kem, _ := id.CurrentKEM(now)
	seed := kem.seed
	id.Destroy()
	if !bytes.Equal(id.priv, make([]byte, len(id.priv))) || !bytes.Equal(seed, make([]byte, len(seed))) {
		t.Fatal("Destroy left secret bytes")
	}
}

func TestPassphrase(t *testing.T) {
	text := generate(t, KindIdentity).MarshalText()
	enc, err := Encrypt(text, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !IsEncrypted(enc) || IsEncrypted(text) || bytes.Contains(enc, text[60:100]) {
		t.Fatal("IsEncrypted, or the secret is visible")
	}
	if got, err := Decrypt(enc, []byte("correct horse")); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("Decrypt: %v", err)
	}
	if _, err := Decrypt(enc, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	corrupt := bytes.Clone(enc)
	corrupt[len(corrupt)/2] ^= 0x01
	if _, err := Decrypt(corrupt, []byte("correct horse")); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("corrupted file: %v", err)
	}
	if _, err := Encrypt(text, nil); err == nil {
		t.Fatal("empty passphrase accepted")
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	id := generate(t, KindIdentity)
	path := filepath.Join(dir, "sub", "identity")
	if err := WriteNewFile(path, id.MarshalText()); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode())
	}
	if info, _ := os.Stat(filepath.Dir(path)); info.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, want 0700", info.Mode())
	}
	if err := WriteNewFile(path, []byte("other")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	back, err := ReadFile(path, nil)
	if err != nil || back.Public() != id.Public() {
		t.Fatalf("ReadFile: %v", err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var insecure *InsecureFileError
	if _, err := ReadFile(path, nil); !errors.As(err, &insecure) || insecure.Path != path {
		t.Fatalf("0644 file: %v", err)
	}

	enc, err := Encrypt(id.MarshalText(), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ReplaceFile(path, enc); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("replaced file mode %v", info.Mode())
	}
	if _, err := ReadFile(path, nil); !errors.Is(err, ErrNeedPassphrase) {
		t.Fatalf("protected file without a passphrase: %v", err)
	}
	asked := 0
	back, err = ReadFile(path, func() ([]byte, error) { asked++; return []byte("pw"), nil })
	if err != nil || asked != 1 || back.Public() != id.Public() {
		t.Fatalf("protected file: %v (asked %d times)", err, asked)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("ReplaceFile left %d files behind", len(entries))
	}
	if _, err := ReadFile(dir, nil); err == nil {
		t.Fatal("reading a directory as a key succeeded")
	}
}

// FuzzParseText checks that ParseText never panics and that anything it
// accepts marshals back to the same bytes.
func FuzzParseText(f *testing.F) {
	for _, name := range []string{"alice.identity", "bob.identity", "device.identity"} {
		data, err := os.ReadFile(filepath.Join(vectorDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := ParseText(data)
		if err != nil {
			return
		}
		if !bytes.Equal(id.MarshalText(), data) {
			t.Fatalf("decode→encode changed %q", data)
		}
	})
}

func TestStorageKey(t *testing.T) {
	a, b := generate(t, KindIdentity), generate(t, KindIdentity)
	k1, k2 := a.StorageKey("store"), a.StorageKey("store")
	if len(k1) != 32 || !bytes.Equal(k1, k2) {
		t.Fatal("StorageKey is not a stable 32-byte key")
	}
	if bytes.Equal(k1, a.StorageKey("other")) || bytes.Equal(k1, b.StorageKey("store")) {
		t.Fatal("StorageKey does not depend on purpose and key")
	}
	back, err := ParseText(a.MarshalText())
	if err != nil || !bytes.Equal(back.StorageKey("store"), k1) {
		t.Fatal("StorageKey changed across a save and load")
	}
}

func TestRotateChainRoundTrip(t *testing.T) {
	now := time.Now()
	a, err := Generate(KindIdentity, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.Rotate(now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Rotate(now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retired() != 2 || len(c.Rotations()) != 2 {
		t.Fatalf("retired %d, rotations %d; want 2 and 2", c.Retired(), len(c.Rotations()))
	}
	back, err := ParseText(c.MarshalText())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.MarshalText(), c.MarshalText()) {
		t.Error("the file does not round-trip")
	}
	keys := back.StorageKeys("store")
	if !bytes.Equal(keys[0], c.StorageKey("store")) || !bytes.Equal(keys[1], b.StorageKey("store")) || !bytes.Equal(keys[2], a.StorageKey("store")) {
		t.Error("storage keys are not the identity's, then the retired ones newest first")
	}
	back.ForgetRetired()
	if again, err := ParseText(back.MarshalText()); err != nil || again.Retired() != 0 || len(again.Rotations()) != 2 {
		t.Errorf("after ForgetRetired: %v; the rotations must stay", err)
	}

	// A chain that does not lead to the key is refused.
	text := string(c.MarshalText())
	other, _ := Generate(KindIdentity, now)
	bad := strings.Replace(text, strings.SplitN(string(c.MarshalText()), "\n", 4)[2], strings.SplitN(string(other.MarshalText()), "\n", 4)[2], 1)
	bad = strings.Replace(bad, c.Public().String(), other.Public().String(), 1)
	if _, err := ParseText([]byte(bad)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a chain leading to another key: %v, want ErrMalformed", err)
	}
}

func TestKeyringSavesChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity")
	id, err := Generate(KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteNewFile(path, id.MarshalText()); err != nil {
		t.Fatal(err)
	}
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrInUse) {
		t.Errorf("second lock: %v, want ErrInUse", err)
	}
	k := NewKeyring(id, path, nil)
	kem, err := k.RotateKEM(time.Now(), DefaultKEMLifetime, DefaultKEMGrace)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := ReadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := saved.CurrentKEM(time.Now()); err != nil || !bytes.Equal(cur.ID(), kem.ID) {
		t.Errorf("the file's current KEM key is not the new one: %v", err)
	}
	k.Close()
	unlock()
	if u, err := Lock(path); err != nil {
		t.Errorf("lock after release: %v", err)
	} else {
		u()
	}
}
