package transport

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/quic-go/quic-go"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

var (
	// ErrHandshake means the QUIC or TLS handshake failed, on either side:
	// a key other than the expected one, a certificate refused, no common
	// protocol or key exchange.
	ErrHandshake = errors.New("handshake failed")
	// ErrNoCertificate means the peer presented no certificate.
	ErrNoCertificate = errors.New("peer presented no certificate")
	// ErrNotEd25519 means the peer's certificate carries a key that is not
	// Ed25519, so it can't be an SMVS key.
	ErrNotEd25519 = errors.New("peer certificate key is not Ed25519")
)

// KeyMismatchError means the listener presented another key than the one
// the dialer expected. The handshake stops there, before the listener has
// proved it holds Got, and before the dialer has sent anything of its own.
type KeyMismatchError struct {
	Expected identity.PublicKey
	Got      identity.PublicKey
}

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("peer presented key %s, expected %s", e.Got, e.Expected)
}

// Unwrap makes a KeyMismatchError match ErrHandshake.
func (e *KeyMismatchError) Unwrap() error { return ErrHandshake }

// noExpiry is RFC 5280's "no well-defined expiration date".
var noExpiry = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// certificateName is the subject and the TLS server name of every SMVS
// certificate. It says nothing of whose it is: a peer is known by its key.
const certificateName = "smvs"

// newCertificate makes a self-signed certificate for an Ed25519 signer. It
// only asks the signer for one signature, so the key may live in an agent.
//
// The certificate never expires: peers check the key, not the dates, and the
// handshake signature, made afresh for every connection, proves that the
// peer holds the key now. Its self-signature covers DER (starting with 0x30),
// which no SMVS signature purpose ("smvs/1 …") can be confused with.
func newCertificate(signer crypto.Signer) (tls.Certificate, error) {
	pub, ok := signer.Public().(ed25519.PublicKey)
	if !ok {
		return tls.Certificate{}, fmt.Errorf("transport: signer has a %T key, want Ed25519", signer.Public())
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: certificateName},
		NotBefore:             time.Now().Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              noExpiry,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: making certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: making certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: signer, Leaf: leaf}, nil
}

// peerKey returns the Ed25519 key of the peer's certificate as a key of the
// given kind. Only the leaf matters: nothing is trusted through a chain.
func peerKey(cs tls.ConnectionState, kind identity.Kind) (identity.PublicKey, error) {
	if len(cs.PeerCertificates) == 0 {
		return identity.PublicKey{}, ErrNoCertificate
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return identity.PublicKey{}, fmt.Errorf("%w: %T", ErrNotEd25519, cs.PeerCertificates[0].PublicKey)
	}
	return identity.NewPublicKey(kind, pub)
}

// curves is the one key exchange SMVS connections use: hybrid ML-KEM-768 +
// X25519, so that recorded traffic stays secret from a future quantum
// computer. Every SMVS peer has it; a peer without it is refused.
var curves = []tls.CurveID{tls.X25519MLKEM768}

// serverTLS is the TLS configuration of a listener presenting cert.
func serverTLS(cert tls.Certificate, cfg Config) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		NextProtos:       []string{ALPN, DeviceALPN},
		CurvePreferences: curves,
		// A client certificate is required but not chained to anything:
		// VerifyConnection checks it is an Ed25519 key, and the handshake's
		// CertificateVerify proves the client holds that key.
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			err := verifyServerSide(cs)
			if err != nil {
				cfg.reportError(identity.PublicKey{}, fmt.Errorf("refused handshake: %w", err))
			}
			return err
		},
	}
}

// clientKind is the kind of key a client presents under each application
// protocol: the protocol, not the client, says what the key may do.
func clientKind(cs tls.ConnectionState) (identity.Kind, error) {
	switch cs.NegotiatedProtocol {
	case ALPN:
		return identity.KindIdentity, nil
	case DeviceALPN:
		return identity.KindDevice, nil
	}
	return 0, fmt.Errorf("%w: application protocol %q, want %q or %q", ErrHandshake, cs.NegotiatedProtocol, ALPN, DeviceALPN)
}

func verifyServerSide(cs tls.ConnectionState) error {
	kind, err := clientKind(cs)
	if err != nil {
		return err
	}
	if _, err := peerKey(cs, kind); err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	return nil
}

// clientTLS is the TLS configuration of a dialer presenting cert under the
// application protocol alpn and accepting exactly the key expect.
func clientTLS(cert tls.Certificate, alpn string, expect identity.PublicKey) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		NextProtos:       []string{alpn},
		CurvePreferences: curves,
		// A fixed name keeps the peer's host name out of the cleartext
		// ClientHello; it is not checked by anyone.
		ServerName: certificateName,
		// Skipping crypto/tls's verification is safe here because it checks
		// what SMVS doesn't trust (a CA chain, names, dates), while
		// VerifyConnection checks what it does: the certificate's key must
		// be exactly the expected one. It runs on every handshake, and the
		// handshake then fails unless the server's CertificateVerify proves
		// it holds that key.
		InsecureSkipVerify:     true,
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := peerKey(cs, expect.Kind())
			if err != nil {
				return fmt.Errorf("server certificate: %w", err)
			}
			if got != expect {
				return &KeyMismatchError{Expected: expect, Got: got}
			}
			return nil
		},
	}
}

// resetKeyPurpose is the signature purpose from which a listener derives its
// QUIC stateless reset key.
const resetKeyPurpose wire.Purpose = "smvs/1 stateless reset key"

// statelessResetKey derives the key with which a listener tells peers that
// it has lost a connection's state (after a crash or restart): the SHA-256
// of the identity's signature over a fixed purpose. Ed25519 signatures are
// deterministic, so a restarted host derives the same key and peers drop
// stale connections at once instead of waiting for their idle timeout; and
// only the key's holder can compute it. The signature is never sent
// anywhere. With a signer that randomizes signatures, resets after a restart
// are merely not recognized.
func statelessResetKey(signer crypto.Signer) (*quic.StatelessResetKey, error) {
	s, err := wire.Sign(signer, resetKeyPurpose, nil)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	key := quic.StatelessResetKey(sha256.Sum256(s.Sig))
	return &key, nil
}
