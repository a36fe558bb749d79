package store

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// A wrapped key is a 32-byte key sealed by newAEAD: a 12-byte nonce, 32
// bytes of ciphertext and a 16-byte tag, with associated data of 17 to 32
// bytes (aad). Recoverable looks for one at every offset of every file,
// under every key it has and with every associated data it may have; one
// AES-GCM Open per offset, key and candidate is too slow for that, so a
// scanner computes the GCM tag in two halves. With H the hash key, the tag
// of nonce N, associated data A1 A2 and ciphertext C1 C2 is
//
//	E(N‖1) ⊕ A1·H⁵ ⊕ A2·H⁴ ⊕ L·H ⊕ C1·H³ ⊕ C2·H²
//
// (L the lengths): the first half depends only on the associated data and
// is computed once per candidate, the second only on the bytes at the
// offset and is computed once per offset; a table of the first halves turns
// trying every candidate into one map look-up. A hit is confirmed with the
// real Open, so a mistake here could only miss a key, and the tests check
// it finds what newAEAD sealed.
const wrappedSize = keySize + overhead

// element is an element of GF(2^128) in GCM's bit order: bit 0 is the high
// bit of hi.
type element struct{ hi, lo uint64 }

func load(b []byte) element {
	return element{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

func (x element) xor(y element) element { return element{x.hi ^ y.hi, x.lo ^ y.lo} }

// mulSlow multiplies in GF(2^128) as NIST SP 800-38D, algorithm 1, has it.
func mulSlow(x, y element) element {
	var z element
	v := y
	for i := range 128 {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		if bit == 1 {
			z = z.xor(v)
		}
		carry := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi >>= 1
		if carry == 1 {
			v.hi ^= 0xe1 << 56
		}
	}
	return z
}

// mulTable multiplies by one element, a byte at a time: row i, column b
// is the product of the element whose byte i is b and whose others are 0.
type mulTable [16][256]element

func newMulTable(h element) *mulTable {
	t := new(mulTable)
	for i := range 16 {
		for bit := range 8 {
			var x element
			if i < 8 {
				x.hi = uint64(1) << (8*(7-i) + bit)
			} else {
				x.lo = uint64(1) << (8*(15-i) + bit)
			}
			p := mulSlow(x, h)
			for b := 1 << bit; b < 1<<(bit+1); b++ {
				t[i][b] = p.xor(t[i][b&^(1<<bit)])
			}
		}
	}
	return t
}

func (t *mulTable) mul(x element) element {
	var z element
	for i := range 8 {
		z = z.xor(t[i][byte(x.hi>>(56-8*i))])
		z = z.xor(t[8+i][byte(x.lo>>(56-8*i))])
	}
	return z
}

// keyScanner finds keys wrapped under one key.
type keyScanner struct {
	block cipher.Block
	aead  cipher.AEAD
	h     *mulTable
	first map[element][]byte // the first half of the tag → the associated data
}

// newScanner returns a scanner for keys wrapped under key with one of
// aads as associated data. It does not keep key.
func newScanner(key []byte, aads [][]byte) *keyScanner {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	var zero [16]byte
	var h [16]byte
	block.Encrypt(h[:], zero[:])
	sc := &keyScanner{block: block, aead: newAEAD(append([]byte(nil), key...)), h: newMulTable(load(h[:])),
		first: make(map[element][]byte, len(aads))}
	for _, a := range aads {
		if len(a) <= 16 || len(a) > 32 {
			panic("store: a scanner's associated data is 17 to 32 bytes")
		}
		var blocks [32]byte
		copy(blocks[:], a)
		lengths := element{uint64(len(a)) * 8, keySize * 8}
		y := sc.h.mul(load(blocks[:16]))
		y = sc.h.mul(y.xor(load(blocks[16:])))
		y = sc.h.mul(sc.h.mul(y))
		y = sc.h.mul(y.xor(lengths))
		sc.first[y] = a
	}
	return sc
}

// scan calls found with every key it finds wrapped in data, and the
// associated data it was wrapped with.
func (sc *keyScanner) scan(data []byte, found func(key, aad []byte)) {
	var j0, mask [16]byte
	j0[15] = 1
	for i := 0; i+wrappedSize <= len(data); i++ {
		w := data[i : i+wrappedSize]
		y := sc.h.mul(load(w[12:28]))
		y = sc.h.mul(sc.h.mul(y.xor(load(w[28:44]))))
		copy(j0[:12], w[:12])
		sc.block.Encrypt(mask[:], j0[:])
		a, ok := sc.first[load(w[44:]).xor(load(mask[:])).xor(y)]
		if !ok {
			continue
		}
		if key, err := sc.aead.Open(nil, nil, w, a); err == nil {
			found(key, a)
		}
	}
}
