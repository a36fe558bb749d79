package seal

import (
	"crypto/ed25519"
	"crypto/hpke"
	"fmt"
	"testing"

	"smvs/lib/wire"
)

var benchSizes = []int{100, 1 << 10, 64 << 10}

// BenchmarkSealOpen measures one message sealed by its sender and opened by
// its recipient: sign, pad, HPKE seal, encode; decode, HPKE open, verify.
func BenchmarkSealOpen(b *testing.B) {
	alice, bob := newIdentity(b), newIdentity(b)
	to := record(b, bob)
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			body := make([]byte, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				m := &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindText, Body: body}
				s, err := Seal(alice.Signer(), to, m, now)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Open(keys(bob), s.Envelope, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkRawHPKE is the floor for BenchmarkSealOpen's encryption: a bare
// HPKE Seal and Open of the same sizes with the same suite and no framing.
func BenchmarkRawHPKE(b *testing.B) {
	bob := newIdentity(b)
	key, err := bob.CurrentKEM(now)
	if err != nil {
		b.Fatal(err)
	}
	priv := key.PrivateKey()
	kdf, aead := suite()
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				ct, err := hpke.Seal(priv.PublicKey(), kdf, aead, []byte(info), pt)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := hpke.Open(priv, kdf, aead, []byte(info), ct); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkRawEd25519 is the floor for BenchmarkSealOpen's signature: a bare
// Ed25519 sign and verify of the same sizes.
func BenchmarkRawEd25519(b *testing.B) {
	alice := newIdentity(b)
	priv := alice.Signer().(ed25519.PrivateKey)
	pub := priv.Public().(ed25519.PublicKey)
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				if !ed25519.Verify(pub, msg, ed25519.Sign(priv, msg)) {
					b.Fatal("verify failed")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
