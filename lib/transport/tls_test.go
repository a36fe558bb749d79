package transport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"smvs/lib/identity"
)

// agentSigner stands for a key agent: it can sign, and nothing else, and
// counts its signatures.
type agentSigner struct {
	inner crypto.Signer
	signs atomic.Int64
}

func (a *agentSigner) Public() crypto.PublicKey { return a.inner.Public() }

func (a *agentSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	a.signs.Add(1)
	return a.inner.Sign(r, digest, opts)
}

func TestCertificateFromAgent(t *testing.T) {
	id := newIdentity(t)
	agent := &agentSigner{inner: id.Signer()}
	cert, err := newCertificate(agent)
	if err != nil {
		t.Fatal(err)
	}
	if n := agent.signs.Load(); n != 1 {
		t.Errorf("making a certificate took %d signatures, want 1", n)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(ed25519.PublicKey(id.Public().Bytes())) {
		t.Fatalf("certificate key %v, want the identity's", leaf.PublicKey)
	}
	if leaf.SignatureAlgorithm != x509.PureEd25519 {
		t.Errorf("signature algorithm %v", leaf.SignatureAlgorithm)
	}
	if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		t.Errorf("self-signature: %v", err)
	}
	if !leaf.NotAfter.Equal(noExpiry) {
		t.Errorf("expires %v, want never", leaf.NotAfter)
	}
}

func TestCertificateRefusesOtherKeys(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newCertificate(key); err == nil {
		t.Error("made a certificate for an ECDSA key")
	}
}

// tcpPair returns the two ends of a TCP connection on 127.0.0.1.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// TestHandshakeWithAgents runs the TLS configurations over TCP, with
// both keys behind agents: the handshake signs through crypto.Signer only.
func TestHandshakeWithAgents(t *testing.T) {
	server, client, other := newIdentity(t), newIdentity(t), newIdentity(t)
	serverCert, err := newCertificate(&agentSigner{inner: server.Signer()})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := newCertificate(&agentSigner{inner: client.Signer()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		expect identity.PublicKey
		ok     bool
	}{
		{"right key", server.Public(), true},
		{"other key", other.Public(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			srv := tls.Server(a, serverTLS(serverCert, Config{}))
			srvErr := make(chan error, 1)
			go func() {
				srvErr <- srv.Handshake()
				a.Close()
			}()
			cli := tls.Client(b, clientTLS(clientCert, ALPN, tc.expect))
			err := cli.Handshake()
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if err := <-srvErr; err != nil {
					t.Fatal(err)
				}
				if got := cli.ConnectionState().CurveID; got != tls.X25519MLKEM768 {
					t.Errorf("key exchange %v", got)
				}
				got, err := peerKey(srv.ConnectionState(), identity.KindIdentity)
				if err != nil || got != client.Public() {
					t.Errorf("server sees client %v, %v", got, err)
				}
				return
			}
			var mismatch *KeyMismatchError
			if !errors.As(err, &mismatch) || mismatch.Got != server.Public() {
				t.Errorf("got %v, want a *KeyMismatchError", err)
			}
		})
	}
}
