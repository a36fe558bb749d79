package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateDeviceVectors = flag.Bool("update-device-vectors", false,
	"rewrite the device certificate and signed call signal vectors in testdata/vectors")

// The keys and clock of the device vectors (PROTOCOL.md §13.4): Ed25519
// from fixed seeds, so the signatures are fixed too.
var (
	vecDeviceTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	vecCallID     = []byte("0123456789abcdef")
)

func vecKeys(t testing.TB) (alice, aliceDevice, bob ed25519.PrivateKey) {
	return testKey(t, 0xa1), testKey(t, 0xad), testKey(t, 0xb0)
}

// deviceVectors makes the vectors: alice's certificate for her device, the
// offer that device signs for a call to bob, and the statement it signed.
func deviceVectors(t testing.TB) map[string][]byte {
	alice, device, bob := vecKeys(t)
	cert, err := SignDeviceCert(alice, &DeviceCert{
		Identity: alice.Public().(ed25519.PublicKey), Device: device.Public().(ed25519.PublicKey),
		Issued: vecDeviceTime.UnixMilli(), Expires: vecDeviceTime.Add(24 * time.Hour).UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sdp := mustCallSignal(t).SDP
	offer := &CallSignal{CallID: vecCallID, Type: SignalOffer, SDP: sdp}
	b := CallBinding{Caller: alice.Public().(ed25519.PublicKey), Callee: bob.Public().(ed25519.PublicKey), Direction: FromCaller}
	if err := SignCallSignal(device, offer, b, cert); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"device-cert.cbor":        cert,
		"call-signal-signed.cbor": offer.Encode(),
		"call-statement.cbor":     offer.Statement(b, device.Public().(ed25519.PublicKey)).Encode(),
	}
}

// mustCallSignal is the unsigned offer vector, whose SDP the signed one
// reuses.
func mustCallSignal(t testing.TB) *CallSignal {
	s, err := DecodeCallSignal(readVector(t, "call-signal.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDeviceVectors checks the vectors byte for byte (go test
// -run TestDeviceVectors -update-device-vectors rewrites them), then that
// they verify as PROTOCOL.md says.
func TestDeviceVectors(t *testing.T) {
	got := deviceVectors(t)
	for name, data := range got {
		path := filepath.Join(vectorDir, name)
		if *updateDeviceVectors {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if want := readVector(t, name); !bytes.Equal(data, want) {
			t.Errorf("%s: regenerated vector differs from %s", name, path)
		}
	}
	alice, device, bob := vecKeys(t)
	c, err := VerifyDeviceCert(got["device-cert.cbor"])
	if err != nil || !bytes.Equal(c.Identity, alice.Public().(ed25519.PublicKey)) || !bytes.Equal(c.Device, device.Public().(ed25519.PublicKey)) {
		t.Fatalf("device certificate vector: %+v, %v", c, err)
	}
	if c.ValidAt(vecDeviceTime) != nil || c.ValidAt(vecDeviceTime.Add(25*time.Hour)) == nil || c.ValidAt(vecDeviceTime.Add(-time.Hour)) == nil {
		t.Error("device certificate vector: validity window")
	}
	s, err := DecodeCallSignal(got["call-signal-signed.cbor"])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Cert, got["device-cert.cbor"]) || len(s.Sig) != SignatureSize {
		t.Fatalf("signed call signal vector: %+v", s)
	}
	b := CallBinding{Caller: alice.Public().(ed25519.PublicKey), Callee: bob.Public().(ed25519.PublicKey), Direction: FromCaller}
	if err := VerifyCallSignal(s, c.Device, b); err != nil {
		t.Fatal(err)
	}
	st, err := DecodeCallStatement(got["call-statement.cbor"])
	if err != nil || st.Type != SignalOffer || st.Direction != FromCaller {
		t.Fatalf("call statement vector: %+v, %v", st, err)
	}
	// The signature is over the purpose, a zero byte and the statement.
	in := append(append([]byte(PurposeCallSignal), 0), got["call-statement.cbor"]...)
	if !ed25519.Verify(c.Device, in, s.Sig) {
		t.Error("the signature is not over the statement vector")
	}
	// 0x00 v=1 … 0x06 the certificate, 0x07 the signature, at the end.
	if !bytes.Contains(got["call-signal-signed.cbor"], append([]byte{0x07, 0x58, 0x40}, s.Sig...)) {
		t.Error("the signature is not field 7 of 64 bytes")
	}
}

// TestDeviceCertValidation: sizes, times and lifetime are checked, and a
// certificate verifies only under the identity it names.
func TestDeviceCertValidation(t *testing.T) {
	alice, device, bob := vecKeys(t)
	now := vecDeviceTime.UnixMilli()
	good := func() *DeviceCert {
		return &DeviceCert{Identity: alice.Public().(ed25519.PublicKey), Device: device.Public().(ed25519.PublicKey),
			Issued: now, Expires: now + time.Hour.Milliseconds()}
	}
	for name, edit := range map[string]func(*DeviceCert){
		"short identity":   func(c *DeviceCert) { c.Identity = c.Identity[:31] },
		"no device":        func(c *DeviceCert) { c.Device = nil },
		"device=identity":  func(c *DeviceCert) { c.Device = c.Identity },
		"expires at issue": func(c *DeviceCert) { c.Expires = c.Issued },
		"negative issue":   func(c *DeviceCert) { c.Issued = -1 },
		"too long":         func(c *DeviceCert) { c.Expires = c.Issued + MaxDeviceCertLifetime.Milliseconds() + 1 },
	} {
		c := good()
		edit(c)
		c.V = Version
		if _, err := DecodeDeviceCert(encode(c)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := SignDeviceCert(alice, c); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	if _, err := SignDeviceCert(bob, good()); err == nil {
		t.Error("bob signed a certificate naming alice")
	}
	cert, err := SignDeviceCert(alice, good())
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(cert)
	forged[len(forged)-1] ^= 1
	if _, err := VerifyDeviceCert(forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a flipped signature bit: %v", err)
	}
	// Bob's signature over a certificate naming alice: not alice's word.
	s, _ := DecodeSigned(cert)
	other, _ := Sign(bob, PurposeDeviceCert, s.Body)
	if _, err := VerifyDeviceCert(other.Encode()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("bob's signature on alice's certificate: %v", err)
	}
	// A record signature is not a certificate signature.
	wrong, _ := Sign(alice, PurposeRecord, s.Body)
	if _, err := VerifyDeviceCert(wrong.Encode()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a signature for another purpose: %v", err)
	}
	if _, err := VerifyDeviceCert(make([]byte, MaxDeviceCertSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("an oversized certificate: %v", err)
	}
}

// TestCallSignalSignature: the signature covers every field that decides
// the path or the ending, and the binding; host signals carry none.
func TestCallSignalSignature(t *testing.T) {
	alice, device, bob := vecKeys(t)
	dev := device.Public().(ed25519.PublicKey)
	b := CallBinding{Caller: alice.Public().(ed25519.PublicKey), Callee: bob.Public().(ed25519.PublicKey), Direction: FromCaller}
	signed := func(s *CallSignal) *CallSignal {
		if err := SignCallSignal(device, s, b, []byte("cert")); err != nil {
			t.Fatal(err)
		}
		return s
	}
	cand := signed(&CallSignal{CallID: vecCallID, Type: SignalCandidate, Candidate: `{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`})
	if cand.Cert != nil {
		t.Error("a candidate carries the certificate")
	}
	hangup := signed(&CallSignal{CallID: vecCallID, Type: SignalHangup, Reason: "bye"})
	if string(hangup.Cert) != "cert" {
		t.Error("a hangup lacks the certificate")
	}
	for name, c := range map[string]struct {
		s *CallSignal
		b CallBinding
		k []byte
	}{
		"candidate changed": {&CallSignal{CallID: vecCallID, Type: SignalCandidate, Candidate: `{"candidate":"candidate:1 1 udp 1 10.6.6.6 9 typ host"}`, Sig: cand.Sig}, b, dev},
		"reason changed":    {&CallSignal{CallID: vecCallID, Type: SignalHangup, Reason: "the DTLS certificate does not match the signed fingerprint", Sig: hangup.Sig}, b, dev},
		"type changed":      {&CallSignal{CallID: vecCallID, Type: SignalReject, Reason: "bye", Sig: hangup.Sig}, b, dev},
		"other call":        {&CallSignal{CallID: []byte("fedcba9876543210"), Type: SignalHangup, Reason: "bye", Sig: hangup.Sig}, b, dev},
		"reflected":         {hangup, CallBinding{Caller: b.Caller, Callee: b.Callee, Direction: FromCallee}, dev},
		"other users":       {hangup, CallBinding{Caller: b.Callee, Callee: b.Caller, Direction: FromCaller}, dev},
		"other device":      {hangup, b, b.Caller},
		"unsigned":          {&CallSignal{CallID: vecCallID, Type: SignalHangup, Reason: "bye"}, b, dev},
		"tampered added":    {&CallSignal{CallID: vecCallID, Type: SignalHangup, Reason: "bye", Tampered: true, Sig: hangup.Sig}, b, dev},
	} {
		if err := VerifyCallSignal(c.s, c.k, c.b); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, s := range []*CallSignal{cand, hangup} {
		if err := VerifyCallSignal(s, dev, b); err != nil {
			t.Errorf("%s: %v", s.Type, err)
		}
		if _, err := DecodeCallSignal(s.Encode()); err != nil {
			t.Errorf("%s does not round-trip: %v", s.Type, err)
		}
	}
	if err := SignCallSignal(device, &CallSignal{CallID: vecCallID, Type: SignalBusy}, b, nil); err == nil {
		t.Error("signed a host's busy signal")
	}
	for name, s := range map[string]*CallSignal{
		"signed busy":        {CallID: vecCallID, Type: SignalBusy, Sig: hangup.Sig},
		"short signature":    {CallID: vecCallID, Type: SignalHangup, Sig: hangup.Sig[:63]},
		"cert, no signature": {CallID: vecCallID, Type: SignalHangup, Cert: []byte("cert")},
		"cert on candidate":  {CallID: vecCallID, Type: SignalCandidate, Candidate: "x", Sig: hangup.Sig, Cert: []byte("cert")},
	} {
		s.V = Version
		if _, err := DecodeCallSignal(encode(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	big := &CallSignal{V: Version, CallID: vecCallID, Type: SignalHangup, Sig: hangup.Sig, Cert: make([]byte, MaxDeviceCertSize+1)}
	if _, err := DecodeCallSignal(encode(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized certificate: %v", err)
	}
	if !strings.Contains(string(PurposeCallSignal), "call signal") {
		t.Error("purpose")
	}
}

// FuzzDeviceCert checks that certificate verification never panics, and
// that a certificate it accepts re-encodes to its signed body.
func FuzzDeviceCert(f *testing.F) {
	addVectors(f, "device-cert.cbor")
	if s, err := DecodeSigned(readVector(f, "device-cert.cbor")); err == nil {
		f.Add(s.Body)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := DecodeDeviceCert(data); err == nil && !bytes.Equal(c.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
		c, err := VerifyDeviceCert(data)
		if err != nil {
			return
		}
		s, _ := DecodeSigned(data)
		if !bytes.Equal(c.Encode(), s.Body) {
			t.Fatalf("a verified certificate re-encodes differently: %x", data)
		}
	})
}

// FuzzSignedCallSignal checks that a signed signal's decoding and
// verification never panic, and that nothing but the vector's own signal
// verifies under its device and binding.
func FuzzSignedCallSignal(f *testing.F) {
	addVectors(f, "call-signal-signed.cbor", "call-statement.cbor")
	alice, device, bob := vecKeys(f)
	dev := device.Public().(ed25519.PublicKey)
	b := CallBinding{Caller: alice.Public().(ed25519.PublicKey), Callee: bob.Public().(ed25519.PublicKey), Direction: FromCaller}
	want := readVector(f, "call-signal-signed.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		if st, err := DecodeCallStatement(data); err == nil && !bytes.Equal(st.Encode(), data) {
			t.Fatalf("statement decode→encode changed %x", data)
		}
		s, err := DecodeCallSignal(data)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
		if VerifyCallSignal(s, dev, b) != nil {
			return
		}
		// Only the cert may differ: the signature does not cover it.
		v, _ := DecodeCallSignal(want)
		if s.Type != v.Type || s.SDP != v.SDP || s.Candidate != v.Candidate || s.Reason != v.Reason || !bytes.Equal(s.CallID, v.CallID) {
			t.Fatalf("a signal other than the vector verifies: %x", data)
		}
	})
}

// TestCallSignalTampered: only a hangup or a reject may say the device
// saw tampering, and the flag is signed with the rest.
func TestCallSignalTampered(t *testing.T) {
	_, device, _ := vecKeys(t)
	for _, typ := range []SignalType{SignalOffer, SignalAnswer, SignalCandidate, SignalBusy, SignalRinging} {
		s := &CallSignal{V: Version, CallID: vecCallID, Type: typ, SDP: "v=0\r\n", Candidate: "{}", Tampered: true}
		if err := s.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s with Tampered: %v", typ, err)
		}
	}
	alice, _, bob := vecKeys(t)
	b := CallBinding{Caller: alice.Public().(ed25519.PublicKey), Callee: bob.Public().(ed25519.PublicKey), Direction: FromCallee}
	r := &CallSignal{CallID: vecCallID, Type: SignalReject, Reason: "the offer did not verify", Tampered: true}
	if err := SignCallSignal(device, r, b, []byte("cert")); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCallSignal(r.Encode())
	if err != nil || !got.Tampered {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if err := VerifyCallSignal(got, device.Public().(ed25519.PublicKey), b); err != nil {
		t.Errorf("signed reject with Tampered: %v", err)
	}
	got.Tampered = false
	if err := VerifyCallSignal(got, device.Public().(ed25519.PublicKey), b); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Tampered dropped: %v", err)
	}
}
