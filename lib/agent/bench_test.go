package agent

import (
	"crypto"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/seal"
	"smvs/lib/wire"
)

// BenchmarkSign compares a message signature made by the agent, over its
// socket, with one made in process.
func BenchmarkSign(b *testing.B) {
	a := startAgent(b, Config{})
	msg := []byte("smvs/1 message\x00a short text message of a few dozen bytes")
	for _, k := range []struct {
		name string
		keys identity.Keys
	}{{"agent", dial(b, a)}, {"local", identity.NewKeyring(a.local, "", nil)}} {
		b.Run(k.name, func(b *testing.B) {
			signer := k.keys.Signer()
			for b.Loop() {
				if _, err := signer.Sign(nil, msg, crypto.Hash(0)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
		// Callers at once: the client's pool gives each its connection.
		b.Run(k.name+"-parallel", func(b *testing.B) {
			signer := k.keys.Signer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := signer.Sign(nil, msg, crypto.Hash(0)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkOpen compares seal.Open with the agent's keys (three calls:
// the key, the ML-KEM and the X25519 halves) with an in-process Keyring.
func BenchmarkOpen(b *testing.B) {
	a := startAgent(b, Config{})
	c := dial(b, a)
	now := time.Now()
	sender, err := identity.Generate(identity.KindIdentity, now)
	if err != nil {
		b.Fatal(err)
	}
	sealed, err := seal.Seal(sender.Signer(), record(b, c, now), &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindText, Body: []byte("hi")}, now)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []struct {
		name string
		keys identity.Keys
	}{{"agent", c}, {"local", identity.NewKeyring(a.local, "", nil)}} {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := seal.Open(k.keys, sealed.Envelope, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
