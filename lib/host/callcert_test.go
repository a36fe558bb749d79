package host

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// certifiedStream opens a call stream on u's host with a fresh call key,
// and returns the stream and the key.
func (u *user) certifiedStream(r *hostapi.CallRequest) (*hostapi.CallStream, ed25519.PrivateKey) {
	u.t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		u.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	u.t.Cleanup(cancel)
	c, err := hostapi.Dial(ctx, u.cfg.Socket)
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { c.Close() })
	r.Key = key.Public().(ed25519.PublicKey)
	s, err := c.OpenCall(ctx, r)
	if err != nil {
		u.t.Fatalf("%s opens a call stream: %v", u.name, err)
	}
	u.t.Cleanup(func() { s.Close() })
	return s, key
}

// TestCallKeyCertified: a device that gives a call key gets a certificate
// of it, signed by its user's identity, valid for CallCertLifetime.
func TestCallKeyCertified(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	newUser(t, "bob", dir).start()
	for _, r := range []*hostapi.CallRequest{{Peer: "bob"}, {Answer: true}} {
		s, key := alice.certifiedStream(r)
		c, err := wire.VerifyDeviceCert(s.Cert())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.Identity, alice.key().Bytes()) || !bytes.Equal(c.Device, key.Public().(ed25519.PublicKey)) {
			t.Errorf("the certificate names %x and %x", c.Identity, c.Device)
		}
		if d := time.Duration(c.Expires-c.Issued) * time.Millisecond; d != hostapi.CallCertLifetime || c.ValidAt(time.Now()) != nil {
			t.Errorf("the certificate is valid for %v from %d", d, c.Issued)
		}
	}
	// Without a key, no certificate.
	if s := alice.call("bob"); s.Cert() != nil {
		t.Error("a certificate without a key")
	}
}

// TestCallSignaturesRelayedUntouched: the hosts pass every device
// signature and certificate, and what they cover, to the peer's device
// byte for byte, both ways, and the peer's device can check them.
func TestCallSignaturesRelayedUntouched(t *testing.T) {
	dir := newDirectory(t, nil)
	alice := newUser(t, "alice", dir).start()
	bob := newUser(t, "bob", dir).start()
	ring, bobKey := bob.certifiedStream(&hostapi.CallRequest{Answer: true})
	a, aliceKey := alice.certifiedStream(&hostapi.CallRequest{Peer: "bob"})
	id := newCallID(3)
	fromAlice := wire.CallBinding{Caller: alice.key().Bytes(), Callee: bob.key().Bytes(), Direction: wire.FromCaller}
	fromBob := wire.CallBinding{Caller: alice.key().Bytes(), Callee: bob.key().Bytes(), Direction: wire.FromCallee}
	relay := func(from, to *hostapi.CallStream, key ed25519.PrivateKey, cert []byte, b wire.CallBinding, sig *wire.CallSignal) {
		t.Helper()
		if err := wire.SignCallSignal(key, sig, b, cert); err != nil {
			t.Fatal(err)
		}
		want := sig.Encode()
		send(t, from, sig)
		var got *hostapi.CallEvent
		for got == nil || got.Signal.Type == wire.SignalRinging {
			got = expect(t, to, id, sig.Type)
		}
		if !bytes.Equal(got.Signal.Encode(), want) {
			t.Errorf("the %s arrived changed", sig.Type)
		}
		c, err := wire.VerifyDeviceCert(cert)
		if err != nil || wire.VerifyCallSignal(got.Signal, c.Device, b) != nil {
			t.Errorf("the %s does not verify where it arrived: %v", sig.Type, err)
		}
	}
	relay(a, ring, aliceKey, a.Cert(), fromAlice, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: callSDP})
	expect(t, a, id, wire.SignalRinging)
	relay(ring, a, bobKey, ring.Cert(), fromBob, &wire.CallSignal{CallID: id, Type: wire.SignalAnswer, SDP: callSDP})
	relay(a, ring, aliceKey, a.Cert(), fromAlice, &wire.CallSignal{CallID: id, Type: wire.SignalCandidate, Candidate: `{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`})
	relay(ring, a, bobKey, ring.Cert(), fromBob, &wire.CallSignal{CallID: id, Type: wire.SignalCandidate, Candidate: `{"candidate":"candidate:2 1 udp 1 127.0.0.1 10 typ host"}`})
	relay(ring, a, bobKey, ring.Cert(), fromBob, &wire.CallSignal{CallID: id, Type: wire.SignalHangup, Reason: "bye"})
}
