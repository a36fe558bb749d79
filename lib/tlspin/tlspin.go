// Package tlspin authenticates a TLS server by the key it presents rather
// than by a certificate authority: the client holds a pin of the server's
// public key and accepts exactly that key.
//
// A pin is "sha256//" followed by the standard base64 of the SHA-256 of the
// certificate's DER SubjectPublicKeyInfo, the form curl's --pinnedpubkey
// takes. Several pins separated by ";" accept any of those keys, as curl
// does, so a server can move to a new key while clients still hold the old
// pin.
//
// The server half makes and keeps a self-signed certificate (LoadOrCreate);
// its pin is what the operator hands to clients.
package tlspin

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every pin.
const Prefix = "sha256//"

var (
	// ErrBadPin means a string is not a pin.
	ErrBadPin = errors.New("not a valid key pin (want sha256//BASE64)")
	// ErrMismatch means the server's key is not the pinned one.
	ErrMismatch = errors.New("the server's key does not match the pin")
)

// Pin returns the pin of cert's public key.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return Prefix + base64.StdEncoding.EncodeToString(sum[:])
}

// ParsePin parses a pin, or several separated by ";", and returns the
// SHA-256 digests they name.
func ParsePin(s string) ([][sha256.Size]byte, error) {
	var sums [][sha256.Size]byte
	for p := range strings.SplitSeq(s, ";") {
		p = strings.TrimSpace(p)
		b64, ok := strings.CutPrefix(p, Prefix)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrBadPin, p)
		}
		b, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%w: %q: not the base64 of a SHA-256 digest", ErrBadPin, p)
		}
		sums = append(sums, [sha256.Size]byte(b))
	}
	return sums, nil
}

// ClientConfig returns a TLS client configuration that accepts a server if
// and only if its certificate's public key matches pin, whatever signed the
// certificate, its names and its validity period: the key is what is
// trusted, and the handshake proves the server holds its private half. A
// mismatch fails the handshake with an error that wraps ErrMismatch.
//
// The caller may set more fields (ServerName for SNI, NextProtos, …), but
// must keep VerifyConnection.
func ClientConfig(pin string) (*tls.Config, error) {
	sums, err := ParsePin(pin)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and names are not what is checked: VerifyConnection
		// compares the key, also on resumed sessions.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("tlspin: %w: no certificate", ErrMismatch)
			}
			got := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			for _, want := range sums {
				if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
					return nil
				}
			}
			return fmt.Errorf("tlspin: %w: it is %s", ErrMismatch, Pin(cs.PeerCertificates[0]))
		},
	}, nil
}
