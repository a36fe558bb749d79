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
