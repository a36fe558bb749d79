package wire

// KEMSecret is a KEM private key as an identity file keeps it: the 32-byte
// MLKEM768-X25519 seed and the key's lifetime. Its id is derived from the
// public key, so it is not stored.
type KEMSecret struct {
	V       uint64 `cbor:"0,keyasint"`
	Seed    []byte `cbor:"1,keyasint"`
	Created int64  `cbor:"2,keyasint"` // Unix milliseconds
	Expires int64  `cbor:"3,keyasint"` // Unix milliseconds
}

// KEMSeedSize is the size of an MLKEM768-X25519 private key seed.
const KEMSeedSize = 32

func (k *KEMSecret) validate() error {
	if err := checkSize("KEM seed", k.Seed, KEMSeedSize); err != nil {
		return err
	}
	if err := checkTime("KEM key creation time", k.Created); err != nil {
		return err
	}
	return checkTime("KEM key expiry", k.Expires)
}

// DecodeKEMSecret strictly decodes a KEM secret.
func DecodeKEMSecret(data []byte) (*KEMSecret, error) {
	k := new(KEMSecret)
	if err := decode("KEM secret", data, k, k.validate); err != nil {
		return nil, err
	}
	return k, nil
}

// Encode returns the deterministic encoding of k.
func (k *KEMSecret) Encode() []byte {
	k.V = Version
	return encode(k)
}
