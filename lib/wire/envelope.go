package wire

// Envelope is what travels from host to host: a signed message sealed with
// HPKE to the recipient's KEM key. Sender, Recipient and KEMKeyID are in the
// clear so the receiving host can apply its policy and find the key before
// decrypting; they are bound to the ciphertext as its associated data (AAD).
type Envelope struct {
	V          uint64 `cbor:"0,keyasint"`
	Sender     []byte `cbor:"1,keyasint"`
	Recipient  []byte `cbor:"2,keyasint"`
	KEMKeyID   []byte `cbor:"3,keyasint"`
	Enc        []byte `cbor:"4,keyasint"` // the HPKE encapsulated key
	Ciphertext []byte `cbor:"5,keyasint"`
}

func (e *Envelope) validate() error {
	for _, f := range []struct {
		name string
		b    []byte
		size int
	}{
		{"sender key", e.Sender, KeySize},
		{"recipient key", e.Recipient, KeySize},
		{"KEM key id", e.KEMKeyID, KEMKeyIDSize},
		{"encapsulated key", e.Enc, KEMEncSize},
	} {
		if err := checkSize(f.name, f.b, f.size); err != nil {
			return err
		}
	}
	return nil
}

// AAD returns the associated data the ciphertext is bound to: the version
// byte, then Sender, Recipient and KEMKeyID.
func (e *Envelope) AAD() []byte {
	aad := make([]byte, 0, 1+2*KeySize+KEMKeyIDSize)
	aad = append(aad, byte(e.V))
	aad = append(aad, e.Sender...)
	aad = append(aad, e.Recipient...)
	return append(aad, e.KEMKeyID...)
}

// DecodeEnvelope strictly decodes an envelope.
func DecodeEnvelope(data []byte) (*Envelope, error) {
	e := new(Envelope)
	if err := decode("envelope", data, e, e.validate); err != nil {
		return nil, err
	}
	return e, nil
}

// Encode returns the deterministic encoding of e.
func (e *Envelope) Encode() []byte {
	e.V = Version
	return encode(e)
}
