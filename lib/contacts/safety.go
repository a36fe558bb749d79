package contacts

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"strings"

	"smvs/lib/identity"
)

const safetyContext = "smvs/1 safety number"

// SafetyNumber returns the safety number of two identities: six groups of
// five digits that both people compute alike and compare out of band (in
// person, or over a call where they know each other's voices). Equal
// numbers mean each has the other's real key.
//
// It is SHA-512 over "smvs/1 safety number", a zero byte, and the two
// 32-byte keys in ascending byte order; the first 30 bytes of the digest
// are read as six 5-byte big-endian numbers, each printed modulo 100000 as
// five digits.
func SafetyNumber(a, b identity.PublicKey) string {
	lo, hi := a.Bytes(), b.Bytes()
	if bytes.Compare(lo, hi) > 0 {
		lo, hi = hi, lo
	}
	h := sha512.New()
	h.Write([]byte(safetyContext))
	h.Write([]byte{0})
	h.Write(lo)
	h.Write(hi)
	sum := h.Sum(nil)
	groups := make([]string, 6)
	for i := range groups {
		var b [8]byte
		copy(b[3:], sum[i*5:i*5+5])
		groups[i] = fmt.Sprintf("%05d", binary.BigEndian.Uint64(b[:])%100000)
	}
	return strings.Join(groups, " ")
}
