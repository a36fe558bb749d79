package tlspin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File is the file LoadOrCreate keeps in its directory: the certificate
// and its private key, PEM-encoded, mode 0600. Being one file, it is never
// found half made; and it serves as both --tls-cert and --tls-key.
const File = "tls.pem"

// noExpiry is RFC 5280's "no well-defined expiration date": a pinned key is
// trusted until its pin is replaced, not until a date.
var noExpiry = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// NewSelfSigned makes a new ECDSA P-256 key and a self-signed certificate
// for it that never expires, and returns them PEM-encoded. The certificate
// names localhost, 127.0.0.1 and ::1, for clients that check names anyway.
func NewSelfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlspin: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tlspin: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smvs"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             time.Now().Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              noExpiry,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlspin: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlspin: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// LoadOrCreate returns the certificate kept in dir as File, first making a
// self-signed one (NewSelfSigned) if there is none. The directory must
// exist. A new file is written whole or not at all and never replaces one,
// so processes starting at once end up with the same certificate. The
// returned certificate's Leaf is set.
func LoadOrCreate(dir string) (tls.Certificate, error) {
	path := filepath.Join(dir, File)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		certPEM, keyPEM, err := NewSelfSigned()
		if err != nil {
			return tls.Certificate{}, err
		}
		err = writeNew(path, append(certPEM, keyPEM...))
		if err != nil && !errors.Is(err, fs.ErrExist) { // else another process made it
			return tls.Certificate{}, err
		}
	}
	return Load(path, path)
}

// Load reads a certificate and its key from PEM files, as
// tls.LoadX509KeyPair does, with errors that name the files.
func Load(certPath, keyPath string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return tls.Certificate{}, fmt.Errorf("tlspin: %w", err)
		}
		if certPath == keyPath {
			return tls.Certificate{}, fmt.Errorf("tlspin: %s: %w", certPath, err)
		}
		return tls.Certificate{}, fmt.Errorf("tlspin: %s and %s: %w", certPath, keyPath, err)
	}
	return cert, nil
}

// writeNew writes data to a new file at path with mode 0600 (os.CreateTemp's):
// to a temporary file first, synced, then linked into place, so path is
// either absent or complete. It fails with fs.ErrExist if path exists.
func writeNew(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("tlspin: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("tlspin: writing %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
