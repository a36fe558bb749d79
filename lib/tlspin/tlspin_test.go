package tlspin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func newCert(t *testing.T) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := NewSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPinForm(t *testing.T) {
	c := newCert(t)
	pin := Pin(c.Leaf)
	if !regexp.MustCompile(`^sha256//[A-Za-z0-9+/]{43}=$`).MatchString(pin) {
		t.Fatalf("pin %q is not sha256//BASE64", pin)
	}
	sums, err := ParsePin(pin)
	if err != nil || len(sums) != 1 {
		t.Fatalf("ParsePin(%q) = %d sums, %v", pin, len(sums), err)
	}
	if got := Prefix + encode(sums[0][:]); got != pin {
		t.Errorf("round trip: %q, want %q", got, pin)
	}
	other := Pin(newCert(t).Leaf)
	if sums, err := ParsePin(pin + "; " + other); err != nil || len(sums) != 2 {
		t.Errorf("two pins: %d sums, %v", len(sums), err)
	}
}

func TestParsePinErrors(t *testing.T) {
	good := Pin(newCert(t).Leaf)
	for _, s := range []string{
		"",
		strings.TrimPrefix(good, Prefix),
		"sha1//" + strings.TrimPrefix(good, Prefix),
		"SHA256//" + strings.TrimPrefix(good, Prefix),
		good[:len(good)-1],                 // padding missing
		good[:len(good)-4] + "AA==",        // 31 bytes
		good + ";",                         // an empty second pin
		strings.ReplaceAll(good, "/", "_"), // URL alphabet
	} {
		if _, err := ParsePin(s); !errors.Is(err, ErrBadPin) {
			t.Errorf("ParsePin(%q) = %v, want ErrBadPin", s, err)
		}
	}
	if _, err := ClientConfig("nonsense"); !errors.Is(err, ErrBadPin) {
		t.Errorf("ClientConfig(nonsense) = %v, want ErrBadPin", err)
	}
}

// handshake connects a client with cfg to a TLS server presenting cert, and
// returns the client's handshake error.
func handshake(t *testing.T, cert tls.Certificate, cfg *tls.Config) error {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.(*tls.Conn).Handshake()
		c.Close()
	})
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", l.Addr().String(), cfg)
	if err != nil {
		return err
	}
	return c.Close()
}

func TestClientConfig(t *testing.T) {
	server, other := newCert(t), newCert(t)
	for _, tt := range []struct {
		name string
		pin  string
		ok   bool
	}{
		{"its pin", Pin(server.Leaf), true},
		{"another key's pin", Pin(other.Leaf), false},
		{"either of two", Pin(other.Leaf) + ";" + Pin(server.Leaf), true},
	} {
		cfg, err := ClientConfig(tt.pin)
		if err != nil {
			t.Fatal(err)
		}
		err = handshake(t, server, cfg)
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v, want ErrMismatch", tt.name, err)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.Leaf == nil {
		t.Fatal("no Leaf")
	}
	path := filepath.Join(dir, File)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %04o, want 0600", info.Mode().Perm())
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if Pin(again.Leaf) != Pin(first.Leaf) {
		t.Error("a second LoadOrCreate made a new key")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left in the directory: %v", entries)
	}
	if !first.Leaf.NotAfter.Equal(noExpiry) {
		t.Errorf("expires %v", first.Leaf.NotAfter)
	}
	block, _ := pem.Decode(mustRead(t, path))
	if c, err := x509.ParseCertificate(block.Bytes); err != nil || Pin(c) != Pin(first.Leaf) {
		t.Errorf("the file holds another key: %v", err)
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	pins := make([]string, 8)
	var wg sync.WaitGroup
	for i := range pins {
		wg.Go(func() {
			c, err := LoadOrCreate(dir)
			if err != nil {
				t.Error(err)
				return
			}
			pins[i] = Pin(c.Leaf)
		})
	}
	wg.Wait()
	for _, p := range pins[1:] {
		if p != pins[0] {
			t.Fatalf("processes starting at once got different keys: %q", pins)
		}
	}
}

func TestLoadOrCreateCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, File)
	if err := os.WriteFile(path, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt file: %v", err)
	}
	if got := mustRead(t, path); string(got) != "not a certificate\n" {
		t.Errorf("the file was replaced")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "c"), filepath.Join(dir, "k")); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "c")) {
		t.Errorf("missing files: %v", err)
	}
	a, b := t.TempDir(), t.TempDir()
	LoadOrCreate(a)
	LoadOrCreate(b)
	_, err := Load(filepath.Join(a, File), filepath.Join(b, File))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(a, File)) {
		t.Errorf("mismatched key: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
