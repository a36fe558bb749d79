package bech32

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// BIP 173's valid test vectors: each must decode, and re-encode to itself.
var validVectors = []string{
	"a12uel5l",
	"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
	"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
	"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
}

func TestValidVectors(t *testing.T) {
	for _, s := range validVectors {
		hrp, data, err := Decode(s)
		if err != nil {
			t.Errorf("Decode(%q): %v", s, err)
			continue
		}
		got, err := Encode(hrp, data)
		if err != nil || got != s {
			t.Errorf("Encode(Decode(%q)) = %q, %v", s, got, err)
		}
		if _, _, err := Decode(strings.ToUpper(s)); err != nil {
			t.Errorf("Decode(upper %q): %v", s, err)
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, s := range []string{
		"pzry9x0s0muk",  // no separator
		"1pzry9x0s0muk", // empty prefix
		"x1b4n0q5v",     // invalid data character
		"li1dgmt3",      // checksum too short
		"A1G7SGD8",      // checksum computed over upper-case prefix
		"a12UEL5L",      // mixed case
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxx", // wrong checksum
	} {
		if _, _, err := Decode(s); err == nil {
			t.Errorf("Decode(%q) succeeded", s)
		}
	}
}

func TestMistypeCaught(t *testing.T) {
	s, err := Encode("smvs", bytes.Repeat([]byte{0xa5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for i := len("smvs1"); i < len(s); i++ {
		for _, c := range []byte(charset) {
			if c == s[i] {
				continue
			}
			typo := s[:i] + string(c) + s[i+1:]
			if _, _, err := Decode(typo); !errors.Is(err, ErrChecksum) {
				t.Fatalf("typo at %d (%q) not caught: %v", i, typo, err)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range validVectors {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hrp, data, err := Decode(s)
		if err != nil {
			return
		}
		got, err := Encode(hrp, data)
		if err != nil {
			t.Fatalf("Encode after Decode(%q): %v", s, err)
		}
		if got != strings.ToLower(s) {
			t.Fatalf("round trip: %q became %q", s, got)
		}
	})
}
