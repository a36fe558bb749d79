package link

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smvs/lib/identity"
)

func hostKey(t testing.TB) identity.PublicKey {
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id.Public()
}

func TestRoundTrip(t *testing.T) {
	home := t.TempDir()
	if _, err := Read(home); !errors.Is(err, ErrNotLinked) {
		t.Fatalf("no file: %v", err)
	}
	l := &Link{Address: "127.0.0.1:7443", Identity: hostKey(t), Name: "laptop"}
	if err := Write(home, l); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(home, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	got, err := Read(home)
	if err != nil || *got != *l {
		t.Fatalf("read %+v, %v; want %+v", got, err, l)
	}
}

// TestLayout checks the names: the link file is "link"; a legacy "host"
// is read only as a regular file, and a directory named "host", the
// store of a host under the old layout, is never read nor removed.
func TestLayout(t *testing.T) {
	l := &Link{Address: "127.0.0.1:7443", Identity: hostKey(t), Name: "laptop"}

	// The host's machine under the old layout: its store is "host".
	home := t.TempDir()
	store := filepath.Join(home, LegacyFileName)
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(store, "messages.db"), []byte("x"), 0o600)
	if _, err := Read(home); !errors.Is(err, ErrNotLinked) {
		t.Errorf("a directory named host: %v, want ErrNotLinked", err)
	}
	if err := Remove(home); !errors.Is(err, ErrNotLinked) {
		t.Errorf("Remove with a directory named host: %v, want ErrNotLinked", err)
	}
	if err := Write(home, l); err != nil {
		t.Fatal(err)
	}
	if err := Remove(home); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(store, "messages.db")); err != nil {
		t.Errorf("the store is gone: %v", err)
	}

	// A device linked under the old layout: its link file is "host".
	home = t.TempDir()
	legacy := filepath.Join(home, LegacyFileName)
	if err := os.WriteFile(legacy, l.Format(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(home); err != nil || *got != *l {
		t.Errorf("legacy link file: %+v, %v; want %+v", got, err, l)
	}
	if path, err := Path(home); path != legacy || err != nil {
		t.Errorf("Path = %q, %v; want %q", path, err, legacy)
	}
	os.WriteFile(legacy, []byte("address nowhere\n"), 0o600)
	if _, err := Read(home); err == nil || !strings.Contains(err.Error(), legacy) {
		t.Errorf("a bad legacy link file: %v, want an error naming it", err)
	}
	// Linking again writes "link" and retires "host".
	if err := Write(home, l); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(legacy); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the legacy link file is left after Write: %v", err)
	}
	if path, err := Path(home); path != filepath.Join(home, FileName) || err != nil {
		t.Errorf("Path = %q, %v; want link", path, err)
	}
	// Remove removes both names.
	os.WriteFile(legacy, l.Format(), 0o600)
	if err := Remove(home); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{FileName, LegacyFileName} {
		if _, err := os.Stat(filepath.Join(home, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after Remove: %v", name, err)
		}
	}
	if err := Remove(home); !errors.Is(err, ErrNotLinked) {
		t.Errorf("Remove again: %v, want ErrNotLinked", err)
	}

	// A directory named "link" is no link file either, and stays.
	if err := os.Mkdir(filepath.Join(home, FileName), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(home); err == nil || errors.Is(err, ErrNotLinked) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory named link: %v", err)
	}
	if err := Remove(home); err == nil {
		t.Error("Remove removed a directory named link")
	}
	if _, err := os.Stat(filepath.Join(home, FileName)); err != nil {
		t.Errorf("the directory named link is gone: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	key := hostKey(t).String()
	dev, _ := identity.Generate(identity.KindDevice, time.Now())
	for _, bad := range []string{
		"",
		"address 127.0.0.1:7443\n",
		"identity " + key + "\n",
		"address nowhere\nidentity " + key,
		"address 127.0.0.1:1\nidentity " + dev.Public().String(),
		"address 127.0.0.1:1\naddress 127.0.0.1:2\nidentity " + key,
		"address 127.0.0.1:1\nidentity " + key + "\ncolor red",
		strings.Repeat("#", maxFile+1),
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte((&Link{Address: "[::1]:7443", Identity: hostKey(f), Name: "x"}).Format()))
	f.Add([]byte("# c\naddress a:1\nidentity smvs1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(l.Format())
		if err != nil || *again != *l {
			t.Fatalf("%+v formatted and parsed again: %+v, %v", l, again, err)
		}
	})
}
