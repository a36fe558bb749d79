// Package bech32 encodes and decodes BIP 173 bech32 strings: a human-readable
// prefix, the separator '1', the data in a 32-character alphabet, and a
// six-character checksum that catches any mistyped character and most other
// typing mistakes.
//
// Unlike BIP 173 it allows strings longer than 90 characters (up to MaxLen),
// as age does, because secret-key lines carry more than 32 bytes.
package bech32

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLen is the longest string Decode accepts.
const MaxLen = 1024

const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var generator = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

// ErrChecksum means the string is well formed but its checksum is wrong: a
// character was mistyped.
var ErrChecksum = errors.New("bech32: checksum mismatch (mistyped?)")

func polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= generator[i]
			}
		}
	}
	return chk
}

func hrpExpand(hrp string) []byte {
	out := make([]byte, 0, len(hrp)*2+1)
	for i := range len(hrp) {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := range len(hrp) {
		out = append(out, hrp[i]&31)
	}
	return out
}

func checksum(hrp string, data []byte) []byte {
	values := append(hrpExpand(hrp), data...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := polymod(values) ^ 1
	out := make([]byte, 6)
	for i := range 6 {
		out[i] = byte(mod>>uint(5*(5-i))) & 31
	}
	return out
}

// convertBits regroups a stream of fromBits-bit values into toBits-bit values.
func convertBits(data []byte, fromBits, toBits uint32, pad bool) ([]byte, error) {
	var acc, bits uint32
	maxv := uint32(1)<<toBits - 1
	out := make([]byte, 0, len(data)*int(fromBits)/int(toBits)+1)
	for _, b := range data {
		if uint32(b)>>fromBits != 0 {
			return nil, errors.New("bech32: invalid data value")
		}
		acc = acc<<fromBits | uint32(b)
		bits += fromBits
		for bits >= toBits {
			bits -= toBits
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(toBits-bits)&maxv))
		}
	} else if bits >= fromBits || acc<<(toBits-bits)&maxv != 0 {
		return nil, errors.New("bech32: non-zero padding")
	}
	return out, nil
}

// Encode returns the lowercase bech32 string of data under the prefix hrp.
// hrp must be 1 to 83 printable ASCII characters without upper case.
func Encode(hrp string, data []byte) (string, error) {
	if len(hrp) < 1 || len(hrp) > 83 {
		return "", fmt.Errorf("bech32: prefix %q must be 1 to 83 characters", hrp)
	}
	for i := range len(hrp) {
		if c := hrp[i]; c < 33 || c > 126 || (c >= 'A' && c <= 'Z') {
			return "", fmt.Errorf("bech32: prefix %q has an invalid character", hrp)
		}
	}
	values, err := convertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(values) + 6)
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, v := range append(values, checksum(hrp, values)...) {
		b.WriteByte(charset[v])
	}
	if b.Len() > MaxLen {
		return "", fmt.Errorf("bech32: string of %d characters is longer than %d", b.Len(), MaxLen)
	}
	return b.String(), nil
}

// Decode parses s, which must be all lower case or all upper case, and returns
// its prefix (lowercase) and data.
func Decode(s string) (hrp string, data []byte, err error) {
	if len(s) > MaxLen {
		return "", nil, fmt.Errorf("bech32: string of %d characters is longer than %d", len(s), MaxLen)
	}
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, errors.New("bech32: mixed case")
	}
	s = strings.ToLower(s)
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 || sep+7 > len(s) {
		return "", nil, errors.New("bech32: missing separator or checksum")
	}
	hrp = s[:sep]
	for i := range len(hrp) {
		if c := hrp[i]; c < 33 || c > 126 {
			return "", nil, errors.New("bech32: invalid character in prefix")
		}
	}
	values := make([]byte, 0, len(s)-sep-1)
	for i := sep + 1; i < len(s); i++ {
		v := strings.IndexByte(charset, s[i])
		if v < 0 {
			return "", nil, fmt.Errorf("bech32: invalid character %q", s[i])
		}
		values = append(values, byte(v))
	}
	if polymod(append(hrpExpand(hrp), values...)) != 1 {
		return "", nil, ErrChecksum
	}
	data, err = convertBits(values[:len(values)-6], 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}
