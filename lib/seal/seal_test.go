package seal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, now)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// keys holds id in process, as a host's Keys.
func keys(id *identity.Identity) identity.Keys { return identity.NewKeyring(id, "", nil) }

// record returns id's record as a directory would serve it.
func record(t testing.TB, id *identity.Identity) *wire.Record {
	t.Helper()
	kem, err := id.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Record{
		V: wire.Version, Identity: id.Public().Bytes(), KEM: kem.Public(),
		Seq: 1, Issued: now.UnixMilli(), Expires: now.Add(90 * 24 * time.Hour).UnixMilli(),
	}
}

func textMessage(body string) *wire.Message {
	return &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindText, ContentType: "text/plain; charset=utf-8", Body: []byte(body)}
}

// sealRaw seals already-signed bytes in an envelope claiming envSender, to
// to's current KEM key: what an attacker who holds a signed message can do.
func sealRaw(t *testing.T, envSender []byte, to *wire.Record, signed []byte) []byte {
	t.Helper()
	pub, err := identity.KEM().NewPublicKey(to.KEM.Key)
	if err != nil {
		t.Fatal(err)
	}
	env := &wire.Envelope{V: wire.Version, Sender: envSender, Recipient: to.Identity, KEMKeyID: to.KEM.ID}
	kdf, aead := suite()
	enc, s, err := hpke.NewSender(pub, kdf, aead, []byte(info))
	if err != nil {
		t.Fatal(err)
	}
	env.Enc = enc
	if env.Ciphertext, err = s.Seal(env.AAD(), pad(signed)); err != nil {
		t.Fatal(err)
	}
	return env.Encode()
}

func TestRoundTrip(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	for _, size := range []int{0, 1, 100, 251, 252, 1000, 64<<10 - 200, 64 << 10, 300 << 10} {
		m := textMessage(string(bytes.Repeat([]byte{'x'}, size)))
		m.Chain = wire.ChainHash([]byte("previous"))
		s, err := Seal(alice.Signer(), record(t, bob), m, now)
		if err != nil {
			t.Fatalf("size %d: Seal: %v", size, err)
		}
		o, err := Open(keys(bob), s.Envelope, now)
		if err != nil {
			t.Fatalf("size %d: Open: %v", size, err)
		}
		if !bytes.Equal(o.Message.Body, m.Body) || !bytes.Equal(o.Message.Sender, alice.Public().Bytes()) ||
			!bytes.Equal(o.Message.ID, m.ID) || !bytes.Equal(o.Signed, s.Signed) || !bytes.Equal(o.Message.Chain, m.Chain) {
			t.Fatalf("size %d: opened message differs", size)
		}
	}
}

func TestPaddingHidesSize(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	sizes := map[int]bool{}
	for _, n := range []int{0, 10, 50, 90, 200} {
		s, err := Seal(alice.Signer(), record(t, bob), textMessage(string(make([]byte, n))), now)
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(s.Envelope)] = true
	}
	if len(sizes) != 1 {
		t.Fatalf("envelopes of small messages have %d different sizes, want 1", len(sizes))
	}
}

func TestBucket(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{0, 512}, {256, 512}, {513, 1024}, {1000, 1024}, {64 << 10, 64 << 10},
		{64<<10 + 1, 128 << 10}, {200 << 10, 256 << 10}, {(1 << 20) + 1, (1 << 20) + 64<<10},
	} {
		if got := bucket(c.n); got != c.want {
			t.Errorf("bucket(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

// TestRejections checks that Open refuses each kind of bad envelope with its
// own error. Each case fails if the check that catches it is removed.
func TestRejections(t *testing.T) {
	alice, bob, carol, mallory := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	good, err := Seal(alice.Signer(), record(t, bob), textMessage("meet at noon"), now)
	if err != nil {
		t.Fatal(err)
	}
	env, err := wire.DecodeEnvelope(good.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	reencode := func(change func(e *wire.Envelope)) []byte {
		e := *env
		e.Ciphertext = bytes.Clone(env.Ciphertext)
		e.Sender = bytes.Clone(env.Sender)
		change(&e)
		return e.Encode()
	}

	// Bob re-seals the message Alice signed for him to Carol.
	forwarded := sealRaw(t, alice.Public().Bytes(), record(t, carol), good.Signed)

	// Mallory re-signs Alice's message as his own and slips it into an
	// envelope that still claims Alice.
	resignedMsg := textMessage("meet at noon")
	resignedMsg.Sender = mallory.Public().Bytes()
	resignedMsg.Recipient = bob.Public().Bytes()
	resignedMsg.KEMKeyID = record(t, bob).KEM.ID
	resignedMsg.ID = make([]byte, wire.MessageIDSize)
	resignedSigned, err := wire.SignMessage(mallory.Signer(), resignedMsg)
	if err != nil {
		t.Fatal(err)
	}
	resigned := sealRaw(t, alice.Public().Bytes(), record(t, bob), resignedSigned)

	// Mallory signs a message whose sender field says Alice.
	forgedMsg := *resignedMsg
	forgedMsg.Sender = alice.Public().Bytes()
	forgedSig, err := wire.Sign(mallory.Signer(), wire.PurposeMessage, forgedMsg.Encode())
	if err != nil {
		t.Fatal(err)
	}
	forged := sealRaw(t, alice.Public().Bytes(), record(t, bob), forgedSig.Encode())

	newVersion := bytes.Clone(good.Envelope)
	newVersion[2] = 2 // map header, key 0, then the version

	cases := []struct {
		name     string
		opener   *identity.Identity
		envelope []byte
		at       time.Time
		want     error
	}{
		{"wrong recipient", carol, good.Envelope, now, ErrWrongRecipient},
		{"tampered ciphertext", bob, reencode(func(e *wire.Envelope) { e.Ciphertext[10] ^= 1 }), now, ErrTampered},
		{"tampered header", bob, reencode(func(e *wire.Envelope) { e.Sender = mallory.Public().Bytes() }), now, ErrTampered},
		{"truncated", bob, good.Envelope[:len(good.Envelope)-7], now, wire.ErrTruncated},
		{"trailing bytes", bob, append(bytes.Clone(good.Envelope), 0), now, wire.ErrTrailingData},
		{"forwarded to a third party", carol, forwarded, now, ErrForwarded},
		{"re-signed by another key", bob, resigned, now, ErrSenderMismatch},
		{"signature by a key other than the sender", bob, forged, now, wire.ErrBadSignature},
		{"unknown KEM key id", bob, reencode(func(e *wire.Envelope) { e.KEMKeyID = make([]byte, wire.KEMKeyIDSize) }), now, ErrUnknownKEMKey},
		{"expired KEM key", bob, good.Envelope, now.Add(identity.DefaultKEMLifetime), ErrExpiredKEMKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := Open(keys(c.opener), c.envelope, c.at)
			if !errors.Is(err, c.want) {
				t.Fatalf("Open = %v, %v; want error %v", o, err, c.want)
			}
		})
	}
	t.Run("unknown version", func(t *testing.T) {
		_, err := Open(keys(bob), newVersion, now)
		var v *wire.UnknownVersionError
		if !errors.As(err, &v) || v.Version != 2 {
			t.Fatalf("Open = %v; want *wire.UnknownVersionError for version 2", err)
		}
	})
	if _, err := Open(keys(bob), good.Envelope, now); err != nil {
		t.Fatalf("the untouched envelope no longer opens: %v", err)
	}
}

func TestKEMRotation(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	old, err := Seal(alice.Signer(), record(t, bob), textMessage("sealed before rotation"), now)
	if err != nil {
		t.Fatal(err)
	}
	rotated := now.Add(24 * time.Hour)
	if _, err := bob.RotateKEM(rotated, identity.DefaultKEMLifetime, identity.DefaultKEMGrace); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(keys(bob), old.Envelope, rotated.Add(identity.DefaultKEMGrace-time.Second)); err != nil {
		t.Fatalf("within the grace period: %v", err)
	}
	after := rotated.Add(identity.DefaultKEMGrace)
	if _, err := Open(keys(bob), old.Envelope, after); !errors.Is(err, ErrExpiredKEMKey) {
		t.Fatalf("after the grace period: %v, want ErrExpiredKEMKey", err)
	}
	if n := bob.PruneKEM(after); n != 1 {
		t.Fatalf("PruneKEM destroyed %d keys, want 1", n)
	}
	if _, err := Open(keys(bob), old.Envelope, after); !errors.Is(err, ErrUnknownKEMKey) {
		t.Fatalf("after pruning: %v, want ErrUnknownKEMKey", err)
	}
}

func TestSealRefusesBadRecords(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	r := record(t, bob)
	if _, err := Seal(alice.Signer(), r, textMessage("x"), time.UnixMilli(r.KEM.Expires)); !errors.Is(err, ErrExpiredKEMKey) {
		t.Errorf("sealing to an expired KEM key: %v", err)
	}
	r.KEM.ID = make([]byte, wire.KEMKeyIDSize)
	if _, err := Seal(alice.Signer(), r, textMessage("x"), now); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("sealing to a KEM key with the wrong id: %v", err)
	}
}

func TestUnpadStrict(t *testing.T) {
	p := pad([]byte("hello"))
	if got, err := unpad(p); err != nil || string(got) != "hello" {
		t.Fatalf("unpad(pad) = %q, %v", got, err)
	}
	bad := bytes.Clone(p)
	bad[len(bad)-1] = 1
	if _, err := unpad(bad); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("non-zero padding: %v", err)
	}
	if _, err := unpad(p[:len(p)-1]); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("short bucket: %v", err)
	}
	long := bytes.Clone(p)
	long[2] = 255
	if _, err := unpad(long); !errors.Is(err, wire.ErrTruncated) {
		t.Errorf("length beyond the plaintext: %v", err)
	}
}

func TestSealSigned(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	to := record(t, bob)
	m := textMessage("signed once, sealed once")
	m.Sender, m.Recipient, m.KEMKeyID, m.ID = alice.Public().Bytes(), to.Identity, to.KEM.ID, make([]byte, wire.MessageIDSize)
	signed, err := wire.SignMessage(alice.Signer(), m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := SealSigned(to, m, signed, now)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(keys(bob), s.Envelope, now)
	if err != nil || !bytes.Equal(o.Signed, signed) || !bytes.Equal(s.Signed, signed) {
		t.Fatalf("Open = %v, %v", o, err)
	}
	// Seal gives the same signed bytes: Ed25519 is deterministic.
	again, err := Seal(alice.Signer(), to, m, now)
	if err != nil || !bytes.Equal(again.Signed, signed) {
		t.Fatalf("Seal = %v, %v", again, err)
	}

	other := record(t, newIdentity(t))
	if _, err := SealSigned(other, m, signed, now); err == nil {
		t.Error("SealSigned to a record the message does not name: no error")
	}
}

func TestSealNeedsAnEd25519Signer(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Seal(key, record(t, newIdentity(t)), textMessage("x"), now); err == nil || !strings.Contains(err.Error(), "want Ed25519") {
		t.Errorf("Seal with an ECDSA signer: %v", err)
	}
}
