package bep44

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBEPVectors checks the signing input, the target and the signature
// of the two mutable items of BEP 44's test vectors: the signatures the BEP
// gives verify over the input this package writes.
func TestBEPVectors(t *testing.T) {
	key := ed25519.PublicKey(unhex(t, "77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548"))
	v := []byte("12:Hello World!")
	for _, tt := range []struct {
		salt, input, sig, target string
	}{
		{"", "3:seqi1e1:v12:Hello World!",
			"305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01",
			"4a533d47ec9c7d95b1ad75f576cffc641853b750"},
		{"foobar", "4:salt6:foobar3:seqi1e1:v12:Hello World!",
			"6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17ddf9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08",
			"411eba73b6f087ca51a3795d9c8c938d365e32c1"},
	} {
		if got := SigningInput([]byte(tt.salt), 1, v); string(got) != tt.input {
			t.Errorf("salt %q: signing input %q, want %q", tt.salt, got, tt.input)
		}
		it := &Item{Key: key, Salt: []byte(tt.salt), Seq: 1, V: v, Sig: unhex(t, tt.sig)}
		if err := it.Verify(); err != nil {
			t.Errorf("salt %q: %v", tt.salt, err)
		}
		if target := it.Target(); hex.EncodeToString(target[:]) != tt.target {
			t.Errorf("salt %q: target %x, want %s", tt.salt, target, tt.target)
		}
		// The same signature does not verify for another seq, value or
		// salt, nor under another key.
		for _, bad := range []*Item{
			{Key: key, Salt: []byte(tt.salt), Seq: 2, V: v, Sig: it.Sig},
			{Key: key, Salt: []byte(tt.salt), Seq: 1, V: []byte("12:Hello World?"), Sig: it.Sig},
			{Key: key, Salt: []byte(tt.salt + "x"), Seq: 1, V: v, Sig: it.Sig},
			{Key: ed25519.PublicKey(bytes.Repeat([]byte{7}, 32)), Salt: []byte(tt.salt), Seq: 1, V: v, Sig: it.Sig},
		} {
			if err := bad.Verify(); !errors.Is(err, ErrBadItem) {
				t.Errorf("salt %q: %+v verified (%v)", tt.salt, bad, err)
			}
		}
	}
}

func TestSign(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	v := String([]byte("a pointer"))
	it, err := Sign(priv, []byte("smvs/1 dht"), 7, v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(it.Key, priv.Public().(ed25519.PublicKey)) || it.Seq != 7 || !bytes.Equal(it.V, v) {
		t.Fatalf("item %+v", it)
	}
	if err := it.Verify(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		what string
		salt []byte
		seq  int64
		v    []byte
	}{
		{"an empty value", nil, 1, nil},
		{"a value over 1000 bytes", nil, 1, String(make([]byte, 997))},
		{"a salt over 64 bytes", make([]byte, 65), 1, v},
		{"a negative seq", nil, -1, v},
	} {
		if _, err := Sign(priv, tt.salt, tt.seq, tt.v); !errors.Is(err, ErrBadItem) {
			t.Errorf("%s: %v", tt.what, err)
		}
	}
	// The largest value: a byte string of 996 bytes is 1000 bencoded.
	if _, err := Sign(priv, nil, 1, String(make([]byte, 996))); err != nil {
		t.Errorf("a value of 1000 bytes: %v", err)
	}
}

func TestParseString(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"0:", "", true},
		{"3:abc", "abc", true},
		{"12:Hello World!", "Hello World!", true},
		{"", "", false},
		{":", "", false},
		{"3:ab", "", false},
		{"3:abcd", "", false},
		{"03:abc", "", false},
		{"-3:abc", "", false},
		{"+3:abc", "", false},
		{"i3e", "", false},
		{"3abc", "", false},
		{"99999:x", "", false},
	} {
		got, err := ParseString([]byte(tt.in))
		if (err == nil) != tt.ok || string(got) != tt.want {
			t.Errorf("ParseString(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// FuzzParseString checks that ParseString takes exactly what String
// writes.
func FuzzParseString(f *testing.F) {
	for _, s := range []string{"0:", "3:abc", "03:abc", "1:", "10:0123456789"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseString(in)
		if err != nil {
			return
		}
		if !bytes.Equal(String(s), in) {
			t.Fatalf("%q parsed to %q, which is written %q", in, s, String(s))
		}
	})
}
