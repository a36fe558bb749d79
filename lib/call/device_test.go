package call

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/call/calltest"
	"smvs/lib/media"
	"smvs/lib/wire"
)

// The users of the tests: alice calls, bob answers, each with a device
// key their identity certified; mallory is someone else.
var (
	usersOnce sync.Once
	aliceID   ed25519.PrivateKey
	bobID     ed25519.PrivateKey
	malloryID ed25519.PrivateKey
)

func users(t testing.TB) {
	t.Helper()
	usersOnce.Do(func() {
		for _, k := range []*ed25519.PrivateKey{&aliceID, &bobID, &malloryID} {
			_, *k, _ = ed25519.GenerateKey(rand.Reader)
		}
	})
}

func pub(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }

// newDevice makes a fresh device key that user certifies for an hour.
func newDevice(t testing.TB, user ed25519.PrivateKey) *Device {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := wire.SignDeviceCert(user, &wire.DeviceCert{Identity: pub(user), Device: pub(key),
		Issued: now.UnixMilli(), Expires: now.Add(time.Hour).UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDevice(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// asCaller and asCallee give a config alice's or bob's keys.
func asCaller(t testing.TB, cfg Config) Config {
	users(t)
	cfg.Device, cfg.Peer = newDevice(t, aliceID), pub(bobID)
	return cfg
}

func asCallee(t testing.TB, cfg Config) Config {
	users(t)
	cfg.Device, cfg.Peer = newDevice(t, bobID), pub(aliceID)
	return cfg
}

// TestSignalsSigned: every signal a call sends that a device makes is
// signed by its device for the call's binding, and the offer and answer
// carry the certificate; a call without keys does not start.
func TestSignalsSigned(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	a, b, sa, sb := dialAccept(t, loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8[:10]}}),
		loopback(t, Config{VideoOut: newRecorder().open}))
	wait(t, a, 10*time.Second)
	wait(t, b, 5*time.Second)
	hangups := 0
	for _, side := range []struct {
		c    *Call
		sent []*wire.CallSignal
	}{{a, sa.Sent()}, {b, sb.Sent()}} {
		types := map[wire.SignalType]int{}
		for _, s := range side.sent {
			types[s.Type]++
			if err := wire.VerifyCallSignal(s, side.c.cfg.Device.c.Device, side.c.bindOut); err != nil {
				t.Errorf("the %s's %s: %v", side.c.role, s.Type, err)
			}
			if s.Type.CarriesCert() != bytes.Equal(s.Cert, side.c.cfg.Device.cert) {
				t.Errorf("the %s's %s: certificate %d bytes", side.c.role, s.Type, len(s.Cert))
			}
		}
		if types[wire.SignalCandidate] == 0 || types[wire.SignalOffer]+types[wire.SignalAnswer] != 1 {
			t.Errorf("the %s sent %v", side.c.role, types)
		}
		hangups += types[wire.SignalHangup]
	}
	if hangups == 0 {
		t.Error("no side hung up")
	}
	sa2, _ := calltest.Pipe()
	cfg := loopback(t, Config{VideoOut: newRecorder().open})
	cfg.Device = nil
	if _, err := Dial(context.Background(), sa2, cfg); err == nil || !strings.Contains(err.Error(), "no device key") {
		t.Errorf("Dial without a device: %v", err)
	}
	cfg = asCaller(t, cfg)
	cfg.Peer = pub(aliceID)
	if _, err := Dial(context.Background(), sa2, cfg); err == nil {
		t.Error("Dial to this device's own user")
	}
}

// TestTampered: whatever a path changes in a signal, or a signal that is
// not the peer's device's word for this call, ends the call with
// ErrTampered on the side that gets it, before any frame; the other side
// hears a plain hang-up.
func TestTampered(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	users(t)
	mallory := newDevice(t, malloryID)
	bobOther := newDevice(t, bobID)
	var otherCallSig *wire.CallSignal
	var otherMu sync.Mutex
	for _, c := range []struct {
		name  string
		rw    func(s *wire.CallSignal) *wire.CallSignal
		onBob bool // the rewrite is on bob's signals (caller sees it), else on alice's
		want  string
	}{
		{"answer fingerprint", rewriteSDP, true, "signature on the answer does not verify"},
		{"offer fingerprint", rewriteSDP, false, "signature on the offer does not verify"},
		{"candidate", func(s *wire.CallSignal) *wire.CallSignal {
			if s.Type == wire.SignalCandidate {
				s.Candidate = strings.Replace(s.Candidate, "127.0.0.1", "127.0.0.2", 1)
			}
			return s
		}, true, "signature on the candidate does not verify"},
		{"signature stripped", func(s *wire.CallSignal) *wire.CallSignal {
			if s.Type == wire.SignalAnswer {
				s.Sig, s.Cert = nil, nil
			}
			return s
		}, true, "answer is not signed"},
		{"mallory's certificate", func(s *wire.CallSignal) *wire.CallSignal {
			if s.Type == wire.SignalAnswer {
				resign(t, s, mallory, wire.CallBinding{Caller: pub(aliceID), Callee: pub(bobID), Direction: wire.FromCallee})
			}
			return s
		}, true, "not signed by the peer's identity"},
		{"reflected offer", nil, true, "certificate on the answer is not signed by the peer's identity"},
		{"another call's id", func(s *wire.CallSignal) *wire.CallSignal {
			if s.Type == wire.SignalAnswer {
				otherMu.Lock()
				defer otherMu.Unlock()
				// A signal of bob's device for another call, its id
				// changed to this one's.
				o := *otherCallSig
				o.CallID = s.CallID
				return &o
			}
			return s
		}, true, "signature on the answer does not verify"},
		{"a later signal by another device", func(s *wire.CallSignal) *wire.CallSignal {
			if s.Type == wire.SignalCandidate {
				resign(t, s, bobOther, wire.CallBinding{Caller: pub(aliceID), Callee: pub(bobID), Direction: wire.FromCallee})
			}
			return s
		}, true, "signature on the candidate does not verify"},
		{"a hangup by another device", func(s *wire.CallSignal) *wire.CallSignal {
			if s.Type == wire.SignalCandidate {
				h := &wire.CallSignal{V: wire.Version, CallID: s.CallID, Type: wire.SignalHangup, Reason: "bye"}
				resign(t, h, bobOther, wire.CallBinding{Caller: pub(aliceID), Callee: pub(bobID), Direction: wire.FromCallee})
				return h
			}
			return s
		}, true, "hangup comes from another device"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sa, sb := calltest.Pipe()
			rw := c.rw
			if c.name == "reflected offer" {
				// Bob's answer replaced by alice's own offer, as a path
				// that reflects signals would.
				rw = func(s *wire.CallSignal) *wire.CallSignal {
					if s.Type == wire.SignalAnswer {
						o := *sa.Sent()[0]
						o.Type = wire.SignalAnswer
						return &o
					}
					return s
				}
			}
			if c.name == "another call's id" {
				otherMu.Lock()
				otherCallSig = &wire.CallSignal{V: wire.Version, CallID: bytes.Repeat([]byte{9}, wire.CallIDSize), Type: wire.SignalAnswer, SDP: "v=0\r\n"}
				resign(t, otherCallSig, nil, wire.CallBinding{Caller: pub(aliceID), Callee: pub(bobID), Direction: wire.FromCallee})
				otherMu.Unlock()
			}
			if c.onBob {
				sb.Rewrite(rw)
			} else {
				sa.Rewrite(rw)
			}
			wa, wb := newRecorder(), newRecorder()
			caller := loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8}, VideoOut: wa.open})
			callee := asCallee(t, loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8}, VideoOut: wb.open}))
			if c.name == "another call's id" {
				otherMu.Lock()
				resign(t, otherCallSig, callee.Device, wire.CallBinding{Caller: pub(aliceID), Callee: pub(bobID), Direction: wire.FromCallee})
				otherMu.Unlock()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var bc *Call
			accepted := make(chan error, 1)
			go func() {
				offer, err := sb.Recv(ctx)
				if err == nil {
					bc, err = Accept(ctx, sb, offer, callee)
				}
				accepted <- err
			}()
			ac, dialErr := Dial(ctx, sa, caller)
			acceptErr := <-accepted
			var victim, other error
			switch {
			case c.onBob && dialErr != nil:
				victim = dialErr
				if bc != nil {
					other = wait(t, bc, 10*time.Second)
				}
			case c.onBob:
				victim = wait(t, ac, 10*time.Second)
				other = wait(t, bc, 10*time.Second)
			default:
				victim = acceptErr
				if ac != nil {
					other = wait(t, ac, 10*time.Second)
				} else {
					other = dialErr
				}
			}
			if !errors.Is(victim, ErrTampered) || !strings.Contains(victim.Error(), c.want) {
				t.Errorf("the side that got the signal: %v, want ErrTampered: %s", victim, c.want)
			}
			if errors.Is(other, ErrTampered) || errors.Is(other, ErrFingerprint) {
				t.Errorf("the other side reports tampering it did not see: %v", other)
			}
			// The callee's device, told by the caller's signed hang-up,
			// reports what the caller's device saw.
			if c.onBob && bc != nil && !errors.Is(other, ErrPeerTampered) {
				t.Errorf("the callee: %v, want ErrPeerTampered", other)
			}
			for _, w := range []*recorder{wa, wb} {
				if got, _, _ := w.got(); len(got) != 0 {
					t.Errorf("a Writer got %d frames", len(got))
				}
			}
		})
	}
}

// rewriteSDP swaps the DTLS fingerprint of an offer or answer, as a host
// in the middle would, keeping the device's signature.
func rewriteSDP(s *wire.CallSignal) *wire.CallSignal {
	if s.SDP != "" {
		s.SDP = fingerprintRE.ReplaceAllString(s.SDP, "a=fingerprint:sha-256 "+strings.TrimSuffix(strings.Repeat("AB:", 32), ":"))
	}
	return s
}

// resign signs s anew by dev (nil: keep the signature as is).
func resign(t testing.TB, s *wire.CallSignal, dev *Device, b wire.CallBinding) {
	t.Helper()
	if dev == nil {
		return
	}
	if err := wire.SignCallSignal(dev.key, s, b, dev.cert); err != nil {
		t.Fatal(err)
	}
}

// TestForgedReason: a peer that hangs up with any reason, the words the
// tamper reports once used included, makes this side report a hang-up,
// never tampering; an unsigned hang-up is marked as a host's.
func TestForgedReason(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	for _, signed := range []bool{true, false} {
		w := newRecorder()
		caller := loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8, live: true}})
		a, b, _, sb := dialAccept(t, caller, loopback(t, Config{VideoOut: w.open}))
		select {
		case <-w.first:
		case <-time.After(5 * time.Second):
			t.Fatal("no frame arrived")
		}
		const forged = "the DTLS certificate does not match the signed fingerprint"
		if !signed {
			sb.Rewrite(func(s *wire.CallSignal) *wire.CallSignal {
				if s.Type == wire.SignalHangup {
					// A host's hang-up that claims tampering claims
					// nothing: only the peer's device can say so.
					s.Sig, s.Cert, s.Tampered = nil, nil, true
				}
				return s
			})
		}
		b.Hangup(forged)
		err := wait(t, a, 5*time.Second)
		if !errors.Is(err, ErrHungUp) || errors.Is(err, ErrFingerprint) || errors.Is(err, ErrTampered) || errors.Is(err, ErrPeerTampered) ||
			strings.Contains(err.Error(), "someone may be") || !strings.Contains(err.Error(), forged) {
			t.Errorf("signed %v: the caller's Wait: %v", signed, err)
		}
		if strings.Contains(err.Error(), "unsigned, from a host") == signed {
			t.Errorf("signed %v: %v", signed, err)
		}
	}
}

// TestCheckOffer: an offer is checked before anyone is asked to answer.
func TestCheckOffer(t *testing.T) {
	users(t)
	alice, bob := newDevice(t, aliceID), newDevice(t, bobID)
	offer := &wire.CallSignal{V: wire.Version, CallID: bytes.Repeat([]byte{1}, wire.CallIDSize), Type: wire.SignalOffer, SDP: "v=0\r\n"}
	if err := wire.SignCallSignal(alice.key, offer, wire.CallBinding{Caller: pub(aliceID), Callee: pub(bobID), Direction: wire.FromCaller}, alice.cert); err != nil {
		t.Fatal(err)
	}
	if err := CheckOffer(offer, bob, pub(aliceID)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		dev  *Device
		peer []byte
	}{
		"from someone else": {bob, pub(malloryID)},
		"to someone else":   {newDevice(t, malloryID), pub(aliceID)},
	} {
		if err := CheckOffer(offer, c.dev, c.peer); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: %v", name, err)
		}
	}
	expired := *alice
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	old := time.Now().Add(-2 * time.Hour)
	expired.cert, _ = wire.SignDeviceCert(aliceID, &wire.DeviceCert{Identity: pub(aliceID), Device: pub(key), Issued: old.UnixMilli(), Expires: old.Add(time.Hour).UnixMilli()})
	expired.key = key
	o := *offer
	if err := wire.SignCallSignal(expired.key, &o, wire.CallBinding{Caller: pub(aliceID), Callee: pub(bobID), Direction: wire.FromCaller}, expired.cert); err != nil {
		t.Fatal(err)
	}
	if err := CheckOffer(&o, bob, pub(aliceID)); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired certificate: %v", err)
	}
	if _, err := NewDevice(key, alice.cert); err == nil {
		t.Error("NewDevice took a certificate for another key")
	}
}
