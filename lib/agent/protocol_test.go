package agent

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/agent")

// vectorDir holds the golden vectors of doc/PROTOCOL.md's "smvs-agent
// protocol".
const vectorDir = "../../testdata/agent"

// vectors returns every request and response vector by file name, made
// from testdata/vectors/alice.identity's public keys and fixed bytes.
func vectors(t testing.TB) map[string]any {
	text, err := os.ReadFile("../../testdata/vectors/alice.identity")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := identity.Unmarshal(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Destroy()
	now := alice.Created()
	kem, err := alice.CurrentKEM(now)
	if err != nil {
		t.Fatal(err)
	}
	pub := kem.Public()
	ms := now.UnixMilli()
	pruned := uint64(2)
	seq := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	return map[string]any{
		"request-info.cbor":            &Request{Op: OpInfo},
		"request-sign.cbor":            &Request{Op: OpSign, Sign: &SignRequest{Data: []byte("smvs/1 record\x00the record's body")}},
		"request-storage-keys.cbor":    &Request{Op: OpStorageKeys, StorageKeys: &StorageKeysRequest{Purpose: "store"}},
		"request-forget-retired.cbor":  &Request{Op: OpForgetRetired},
		"request-kem-key.cbor":         &Request{Op: OpKEMKey, KEMKey: &KEMKeyRequest{ID: pub.ID, Now: ms}},
		"request-kem-key-current.cbor": &Request{Op: OpKEMKey, KEMKey: &KEMKeyRequest{Now: ms}},
		"request-decapsulate.cbor":     &Request{Op: OpDecapsulate, Decapsulate: &KEMRequest{ID: pub.ID, Data: seq(MLKEMCiphertextSize, 0xc1), Now: ms}},
		"request-ecdh.cbor":            &Request{Op: OpECDH, ECDH: &KEMRequest{ID: pub.ID, Data: seq(X25519KeySize, 0x09), Now: ms}},
		"request-rotate-kem.cbor":      &Request{Op: OpRotateKEM, RotateKEM: &RotateKEMRequest{Now: ms, Lifetime: 30 * 86400e3, Grace: 7 * 86400e3}},
		"request-prune-kem.cbor":       &Request{Op: OpPruneKEM, PruneKEM: &PruneKEMRequest{Now: ms}},
		"request-rotate-identity.cbor": &Request{Op: OpRotateIdentity},

		"response-info.cbor":            &Response{Info: &Info{Identity: alice.Public().Bytes(), KEM: &pub}},
		"response-signature.cbor":       &Response{Signature: seq(wire.SignatureSize, 0x5a)},
		"response-storage-keys.cbor":    &Response{StorageKeys: [][]byte{seq(StorageKeySize, 0x01), seq(StorageKeySize, 0x02)}},
		"response-done.cbor":            &Response{Done: true},
		"response-kem-key.cbor":         &Response{KEM: &pub},
		"response-shared.cbor":          &Response{Shared: seq(SharedKeySize, 0x55)},
		"response-pruned.cbor":          &Response{Pruned: &pruned},
		"response-identity.cbor":        &Response{Identity: alice.Public().Bytes()},
		"response-error-refused.cbor":   &Response{Err: &Error{Code: ErrRefused, Message: "uid 1001 may not use this agent: it serves its own uid and those of --allow-user"}},
		"response-error-forbidden.cbor": &Response{Err: &Error{Code: ErrForbidden, Message: ErrRotationRefused.Error()}},
	}
}

// TestVectors checks that each structure encodes to its golden vector,
// and that the vector decodes and re-encodes to the same bytes.
func TestVectors(t *testing.T) {
	for name, v := range vectors(t) {
		t.Run(name, func(t *testing.T) {
			var got []byte
			switch v := v.(type) {
			case *Request:
				v.V = Version
				got = wire.Marshal(v)
			case *Response:
				v.V = Version
				got = wire.Marshal(v)
			}
			path := filepath.Join(vectorDir, name)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from %s (run go test -update to rewrite)", path)
			}
			var decoded wire.Validator = new(Request)
			if _, ok := v.(*Response); ok {
				decoded = new(Response)
			}
			if err := wire.Unmarshal("vector", want, decoded); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(wire.Marshal(decoded), want) {
				t.Fatal("decode→encode changed the vector")
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	id := make([]byte, wire.KEMKeyIDSize)
	for name, r := range map[string]*Request{
		"two fields":       {Op: OpSign, Sign: &SignRequest{}, PruneKEM: &PruneKEMRequest{}},
		"wrong field":      {Op: OpSign, PruneKEM: &PruneKEMRequest{}},
		"no field":         {Op: OpSign},
		"field for info":   {Op: OpInfo, Sign: &SignRequest{}},
		"unknown op":       {Op: 99},
		"short ciphertext": {Op: OpDecapsulate, Decapsulate: &KEMRequest{ID: id, Data: make([]byte, 32)}},
		"short x25519 key": {Op: OpECDH, ECDH: &KEMRequest{ID: id, Data: make([]byte, 31)}},
		"no KEM key id":    {Op: OpECDH, ECDH: &KEMRequest{Data: make([]byte, 32)}},
		"empty purpose":    {Op: OpStorageKeys, StorageKeys: &StorageKeysRequest{}},
		"zero lifetime":    {Op: OpRotateKEM, RotateKEM: &RotateKEMRequest{}},
		"negative time":    {Op: OpPruneKEM, PruneKEM: &PruneKEMRequest{Now: -1}},
	} {
		if err := r.Validate(); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: Validate = %v, want ErrMalformed", name, err)
		}
	}
	for name, r := range map[string]*Response{
		"nothing":            {},
		"two results":        {Done: true, Shared: make([]byte, 32)},
		"short signature":    {Signature: make([]byte, 63)},
		"short shared":       {Shared: make([]byte, 31)},
		"short storage key":  {StorageKeys: [][]byte{make([]byte, 16)}},
		"KEM id mismatch":    {KEM: &wire.KEMPublic{ID: id, Key: make([]byte, wire.KEMPublicKeySize)}},
		"error without code": {Err: &Error{Message: "x"}},
	} {
		if err := r.Validate(); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: Validate = %v, want ErrMalformed", name, err)
		}
	}
}

// seeds adds every vector of the kind T to f's corpus.
func seeds(f *testing.F, response bool) {
	for name, v := range vectors(f) {
		if _, ok := v.(*Response); ok != response {
			continue
		}
		data, err := os.ReadFile(filepath.Join(vectorDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzRequest checks that the agent's request decoder never panics and
// that what it accepts re-encodes to the same bytes.
func FuzzRequest(f *testing.F) {
	seeds(f, false)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if !bytes.Equal(wire.Marshal(r), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

// FuzzResponse does the same for the client's response decoder.
func FuzzResponse(f *testing.F) {
	seeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResponse(data)
		if err != nil {
			return
		}
		if !bytes.Equal(wire.Marshal(r), data) {
			t.Fatalf("decode→encode changed %x", data)
		}
	})
}

func TestLongErrorCut(t *testing.T) {
	r := errorResponse(ErrInternal, strings.Repeat("é", maxErrorMessage))
	r.V = Version
	if _, err := DecodeResponse(wire.Marshal(r)); err != nil {
		t.Fatalf("a long error's answer does not decode: %v", err)
	}
}

func TestPurpose(t *testing.T) {
	for data, want := range map[string]string{
		"smvs/1 message\x00body": "smvs/1 message",
		strings.Repeat(" ", 64) + "TLS 1.3, server CertificateVerify\x00h": "tls 1.3, server certificateverify",
		"\x30\x82\x01\x00":                          "x509 certificate",
		"4:salt10:smvs/1 dht3:seqi1e1:v3:abc":       "bep44 item",
		"3:seqi1e1:v3:abc":                          "bep44 item",
		"anything else":                             "other",
		"smvs/" + strings.Repeat("x", 70) + "\x00b": "other",
	} {
		if got := Purpose([]byte(data)); got != want {
			t.Errorf("Purpose(%q) = %q, want %q", data, got, want)
		}
	}
}
