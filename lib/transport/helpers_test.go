package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"smvs/lib/identity"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 20 * time.Second

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func listen(t testing.TB, id *identity.Identity, cfg Config, h Handler) *Listener {
	t.Helper()
	return listenAt(t, "127.0.0.1:0", id, cfg, h)
}

func listenAt(t testing.TB, addr string, id *identity.Identity, cfg Config, h Handler) *Listener {
	t.Helper()
	l, err := Listen(addr, id.Signer(), cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func dialListener(t testing.TB, l *Listener, serverID, clientID *identity.Identity, cfg Config) *Conn {
	t.Helper()
	dial := Dial
	if clientID.Kind() == identity.KindDevice {
		dial = DialDevice
	}
	c, err := dial(testContext(t), l.Addr().String(), clientID.Signer(), serverID.Public(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo answers every request with itself.
var echo = RequestFunc(func(_ context.Context, _ identity.PublicKey, req []byte) ([]byte, error) {
	return req, nil
})

// errorLog collects what a Listener reports to Config.OnError.
type errorLog struct {
	mu   sync.Mutex
	errs []error
	ch   chan error
}

func newErrorLog() *errorLog { return &errorLog{ch: make(chan error, 100)} }

func (e *errorLog) record(_ identity.PublicKey, err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
	select {
	case e.ch <- err:
	default:
	}
}

// next waits for the next reported error.
func (e *errorLog) next(t testing.TB) error {
	t.Helper()
	select {
	case err := <-e.ch:
		return err
	case <-time.After(testTimeout):
		t.Fatal("no error reported")
		return nil
	}
}

// rawTLS is a client TLS configuration for dialing a Listener with quic-go
// directly, presenting certs and offering protos.
func rawTLS(certs []tls.Certificate, protos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       certs,
		NextProtos:         protos,
		InsecureSkipVerify: true, // these tests are about what the listener refuses
	}
}

// rawRequest dials addr with quic-go and tries one request on one stream.
// It returns the first error, from the dial or the stream.
func rawRequest(ctx context.Context, addr string, conf *tls.Config) error {
	qc, err := quic.DialAddr(ctx, addr, conf, &quic.Config{HandshakeIdleTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer qc.CloseWithError(0, "")
	s, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	if _, err := s.Write([]byte{0, 0, 0, 1, 0x60}); err != nil {
		return err
	}
	s.Close()
	_, err = s.Read(make([]byte, 16))
	return err
}

// ecdsaCertificate is a self-signed P-256 certificate: not an SMVS key.
func ecdsaCertificate(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "not smvs"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connCount is the number of connections l is serving.
func connCount(l *Listener) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// serverConn returns one connection l is serving.
func serverConn(t testing.TB, l *Listener) *Conn {
	t.Helper()
	waitFor(t, "a connection", func() bool { return connCount(l) > 0 })
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		return c
	}
	return nil
}
