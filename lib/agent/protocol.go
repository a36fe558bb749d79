package agent

import (
	"bytes"
	"crypto/mlkem"
	"errors"
	"fmt"
	"io"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

// Version is the protocol version, field 0 of every request and response.
const Version = wire.Version

// Limits on frames. Everything the agent answers is small; what it is
// asked to sign is a message with its body, so a request may be as large
// as the largest message a host takes (hostapi.MaxBodyLimit) with its
// metadata.
const (
	MaxSignData      = 1<<30 + 64<<10
	MaxRequestFrame  = MaxSignData + 1<<10
	MaxResponseFrame = 16 << 10
)

// Sizes of the KEM halves (MLKEM768-X25519: the ML-KEM-768 part first,
// then the X25519 part, in public keys and encapsulated keys alike).
const (
	MLKEMCiphertextSize = mlkem.CiphertextSize768
	X25519KeySize       = 32
	SharedKeySize       = 32
	StorageKeySize      = 32
)

// Op is what a request asks for.
type Op uint64

// The operations.
const (
	OpInfo           Op = 1  // the identity key and its rotation statements, the current KEM key
	OpSign           Op = 2  // an Ed25519 signature by the identity key; never over a rotation
	OpStorageKeys    Op = 3  // the storage keys of a purpose (Identity.StorageKeys)
	OpForgetRetired  Op = 4  // destroy the retired identities' secrets
	OpKEMKey         Op = 5  // the public half of a held KEM key, or of the current one
	OpDecapsulate    Op = 6  // ML-KEM-768 decapsulation with a held KEM key
	OpECDH           Op = 7  // X25519 with a held KEM key
	OpRotateKEM      Op = 8  // a new current KEM key
	OpPruneKEM       Op = 9  // destroy the expired KEM keys
	OpRotateIdentity Op = 10 // a new identity key, signed over by the old one
)

var opNames = map[Op]string{
	OpInfo: "info", OpSign: "sign", OpStorageKeys: "storage-keys", OpForgetRetired: "forget-retired",
	OpKEMKey: "kem-key", OpDecapsulate: "decapsulate", OpECDH: "ecdh", OpRotateKEM: "rotate-kem",
	OpPruneKEM: "prune-kem", OpRotateIdentity: "rotate-identity",
}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", uint64(o))
}

// Request is one request frame. The field for Op is set, and no other;
// info, forget-retired and rotate-identity carry none.
type Request struct {
	V           uint64              `cbor:"0,keyasint"`
	Op          Op                  `cbor:"1,keyasint"`
	Sign        *SignRequest        `cbor:"2,keyasint,omitempty"`
	StorageKeys *StorageKeysRequest `cbor:"3,keyasint,omitempty"`
	KEMKey      *KEMKeyRequest      `cbor:"4,keyasint,omitempty"`
	Decapsulate *KEMRequest         `cbor:"5,keyasint,omitempty"`
	ECDH        *KEMRequest         `cbor:"6,keyasint,omitempty"`
	RotateKEM   *RotateKEMRequest   `cbor:"7,keyasint,omitempty"`
	PruneKEM    *PruneKEMRequest    `cbor:"8,keyasint,omitempty"`
}

// SignRequest asks for a signature over Data, the whole signed input
// (for an SMVS structure: its purpose, a zero byte, then its body).
type SignRequest struct {
	Data []byte `cbor:"1,keyasint"`
}

// StorageKeysRequest asks for the storage keys of Purpose.
type StorageKeysRequest struct {
	Purpose string `cbor:"1,keyasint"`
}

// KEMKeyRequest asks for the KEM key ID if held and unexpired at Now, or
// with no ID for the current one.
type KEMKeyRequest struct {
	ID  []byte `cbor:"1,keyasint,omitempty"`
	Now int64  `cbor:"2,keyasint"` // Unix milliseconds
}

// KEMRequest asks for one half of a decapsulation with the KEM key ID,
// if held and unexpired at Now: Data is the ML-KEM-768 ciphertext
// (decapsulate) or the X25519 public key (ecdh).
type KEMRequest struct {
	ID   []byte `cbor:"1,keyasint"`
	Data []byte `cbor:"2,keyasint"`
	Now  int64  `cbor:"3,keyasint"`
}

// RotateKEMRequest asks for a new current KEM key (Identity.RotateKEM).
type RotateKEMRequest struct {
	Now      int64 `cbor:"1,keyasint"`
	Lifetime int64 `cbor:"2,keyasint"` // milliseconds
	Grace    int64 `cbor:"3,keyasint"` // milliseconds
}

// PruneKEMRequest asks to destroy the KEM keys expired at Now.
type PruneKEMRequest struct {
	Now int64 `cbor:"1,keyasint"`
}

// Validate checks that exactly the field for Op is set and its contents
// are sane; it is called on every decoded request.
func (r *Request) Validate() error {
	set := 0
	for _, present := range []bool{r.Sign != nil, r.StorageKeys != nil, r.KEMKey != nil, r.Decapsulate != nil,
		r.ECDH != nil, r.RotateKEM != nil, r.PruneKEM != nil} {
		if present {
			set++
		}
	}
	switch {
	case (r.Op == OpInfo || r.Op == OpForgetRetired || r.Op == OpRotateIdentity) && set == 0:
		return nil
	case set != 1:
		return fmt.Errorf("%w: %v carries one operation's fields, not %d", wire.ErrMalformed, r.Op, set)
	case r.Op == OpSign && r.Sign != nil:
		if len(r.Sign.Data) > MaxSignData {
			return fmt.Errorf("%w: %d bytes to sign, limit %d", wire.ErrTooLarge, len(r.Sign.Data), MaxSignData)
		}
		return nil
	case r.Op == OpStorageKeys && r.StorageKeys != nil:
		if p := r.StorageKeys.Purpose; p == "" || len(p) > 255 {
			return fmt.Errorf("%w: storage key purpose of %d bytes", wire.ErrMalformed, len(p))
		}
		return nil
	case r.Op == OpKEMKey && r.KEMKey != nil:
		if len(r.KEMKey.ID) != 0 && len(r.KEMKey.ID) != wire.KEMKeyIDSize {
			return fmt.Errorf("%w: KEM key id of %d bytes", wire.ErrMalformed, len(r.KEMKey.ID))
		}
		return checkTime(r.KEMKey.Now)
	case r.Op == OpDecapsulate && r.Decapsulate != nil:
		return r.Decapsulate.validate(MLKEMCiphertextSize)
	case r.Op == OpECDH && r.ECDH != nil:
		return r.ECDH.validate(X25519KeySize)
	case r.Op == OpRotateKEM && r.RotateKEM != nil:
		if r.RotateKEM.Lifetime <= 0 || r.RotateKEM.Grace < 0 {
			return fmt.Errorf("%w: KEM lifetime must be positive and grace not negative", wire.ErrMalformed)
		}
		return checkTime(r.RotateKEM.Now)
	case r.Op == OpPruneKEM && r.PruneKEM != nil:
		return checkTime(r.PruneKEM.Now)
	}
	return fmt.Errorf("%w: operation %v does not match its field", wire.ErrMalformed, r.Op)
}

func (k *KEMRequest) validate(size int) error {
	if len(k.ID) != wire.KEMKeyIDSize {
		return fmt.Errorf("%w: KEM key id of %d bytes", wire.ErrMalformed, len(k.ID))
	}
	if len(k.Data) != size {
		return fmt.Errorf("%w: KEM data of %d bytes, want %d", wire.ErrMalformed, len(k.Data), size)
	}
	return checkTime(k.Now)
}

func checkTime(ms int64) error {
	if ms < 0 {
		return fmt.Errorf("%w: negative time", wire.ErrMalformed)
	}
	return nil
}

// Response is one answer frame: Err on failure, else the result of the
// request's operation.
type Response struct {
	V           uint64          `cbor:"0,keyasint"`
	Err         *Error          `cbor:"1,keyasint,omitempty"`
	Info        *Info           `cbor:"2,keyasint,omitempty"`
	Signature   []byte          `cbor:"3,keyasint,omitempty"`
	StorageKeys [][]byte        `cbor:"4,keyasint,omitempty"`
	KEM         *wire.KEMPublic `cbor:"5,keyasint,omitempty"`
	Shared      []byte          `cbor:"6,keyasint,omitempty"` // decapsulate, ecdh
	Pruned      *uint64         `cbor:"7,keyasint,omitempty"`
	Identity    []byte          `cbor:"8,keyasint,omitempty"` // rotate-identity: the new key
	Done        bool            `cbor:"9,keyasint,omitempty"` // forget-retired
}

// Info describes the identity the agent holds.
type Info struct {
	Identity  []byte          `cbor:"1,keyasint"`
	Rotations [][]byte        `cbor:"2,keyasint,omitempty"` // signed rotation statements, oldest first
	KEM       *wire.KEMPublic `cbor:"3,keyasint,omitempty"` // the current KEM key; none if all expired
}

// Validate checks a decoded response: one result, or an error, of the
// right sizes.
func (r *Response) Validate() error {
	set := 0
	for _, present := range []bool{r.Err != nil, r.Info != nil, r.Signature != nil, r.StorageKeys != nil, r.KEM != nil,
		r.Shared != nil, r.Pruned != nil, r.Identity != nil, r.Done} {
		if present {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("%w: a response carries exactly one result or error", wire.ErrMalformed)
	}
	switch {
	case r.Err != nil:
		if r.Err.Code == 0 || len(r.Err.Message) > maxErrorMessage {
			return fmt.Errorf("%w: error", wire.ErrMalformed)
		}
	case r.Info != nil:
		return r.Info.validate()
	case r.Signature != nil:
		return checkSize("signature", r.Signature, wire.SignatureSize)
	case r.StorageKeys != nil:
		if n := len(r.StorageKeys); n > identity.MaxRotations+1 {
			return fmt.Errorf("%w: %d storage keys", wire.ErrMalformed, n)
		}
		for _, k := range r.StorageKeys {
			if err := checkSize("storage key", k, StorageKeySize); err != nil {
				return err
			}
		}
	case r.KEM != nil:
		return validKEM(r.KEM)
	case r.Shared != nil:
		return checkSize("shared secret", r.Shared, SharedKeySize)
	case r.Identity != nil:
		return checkSize("identity key", r.Identity, wire.KeySize)
	}
	return nil
}

func (i *Info) validate() error {
	if err := checkSize("identity key", i.Identity, wire.KeySize); err != nil {
		return err
	}
	if len(i.Rotations) > identity.MaxRotations {
		return fmt.Errorf("%w: %d rotation statements, limit %d", wire.ErrMalformed, len(i.Rotations), identity.MaxRotations)
	}
	for _, s := range i.Rotations {
		if len(s) == 0 || len(s) > 512 {
			return fmt.Errorf("%w: rotation statement of %d bytes", wire.ErrMalformed, len(s))
		}
	}
	if i.KEM != nil {
		return validKEM(i.KEM)
	}
	return nil
}

func validKEM(k *wire.KEMPublic) error {
	if err := checkSize("KEM key id", k.ID, wire.KEMKeyIDSize); err != nil {
		return err
	}
	if err := checkSize("KEM key", k.Key, wire.KEMPublicKeySize); err != nil {
		return err
	}
	if !bytes.Equal(k.ID, identity.KEMKeyID(k.Key)) {
		return fmt.Errorf("%w: KEM key id does not match its key", wire.ErrMalformed)
	}
	return checkTime(k.Expires)
}

func checkSize(field string, b []byte, size int) error {
	if len(b) != size {
		return fmt.Errorf("%w: %s is %d bytes, want %d", wire.ErrMalformed, field, len(b), size)
	}
	return nil
}

// ErrorCode tells failures apart.
type ErrorCode uint64

// The error codes.
const (
	ErrInternal      ErrorCode = 1
	ErrBadRequest    ErrorCode = 2
	ErrRefused       ErrorCode = 3 // the caller's uid is not allowed
	ErrForbidden     ErrorCode = 4 // the agent never signs that (a rotation statement)
	ErrUnknownKEMKey ErrorCode = 5 // identity.ErrUnknownKEMKey
	ErrExpiredKEMKey ErrorCode = 6 // identity.ErrExpiredKEMKey
	ErrNoKEMKey      ErrorCode = 7 // identity.ErrNoKEMKey
)

// maxErrorMessage bounds an error's message, in bytes.
const maxErrorMessage = 1024

// Error is a failure the agent reports. Its message never holds a secret.
type Error struct {
	Code    ErrorCode `cbor:"1,keyasint"`
	Message string    `cbor:"2,keyasint"`
}

func (e *Error) Error() string { return "smvs-agent: " + e.Message }

// Is makes errors.Is see identity's KEM errors and ErrRefused,
// ErrForbidden behind an agent's answer.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case ErrUnknownKEMKey:
		return target == identity.ErrUnknownKEMKey
	case ErrExpiredKEMKey:
		return target == identity.ErrExpiredKEMKey
	case ErrNoKEMKey:
		return target == identity.ErrNoKEMKey
	case ErrRefused:
		return target == ErrNotAllowed
	case ErrForbidden:
		return target == ErrRotationRefused
	}
	return false
}

var (
	// ErrNotAllowed means the agent refused the caller: its uid is not
	// the agent's own and not one of --allow-user.
	ErrNotAllowed = errors.New("this user may not use the agent")
	// ErrRotationRefused means the agent was asked to sign a rotation
	// statement: only rotate-identity makes those, with a key of its own.
	ErrRotationRefused = errors.New("the agent signs rotation statements only when it rotates the identity itself")
)

// WriteRequest writes r as one frame.
func WriteRequest(w io.Writer, r *Request) error {
	r.V = Version
	return wire.WriteFrame(w, wire.Marshal(r))
}

// ReadRequest reads and strictly decodes one request frame. It returns
// io.EOF when the caller closed the connection between requests.
func ReadRequest(rd io.Reader) (*Request, error) {
	req, _, err := readRequest(rd, nil)
	return req, err
}

// DecodeRequest strictly decodes a request.
func DecodeRequest(data []byte) (*Request, error) {
	r := new(Request)
	if err := wire.Unmarshal("agent request", data, r); err != nil {
		return nil, err
	}
	return r, nil
}

// WriteResponse writes r as one frame.
func WriteResponse(w io.Writer, r *Response) error {
	r.V = Version
	return wire.WriteFrame(w, wire.Marshal(r))
}

// ReadResponse reads and strictly decodes one response frame. An answer
// carrying an error is returned as that *Error.
func ReadResponse(rd io.Reader) (*Response, error) {
	data, err := wire.ReadFrame(rd, MaxResponseFrame)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF // the agent closed before answering
		}
		return nil, err
	}
	r, err := DecodeResponse(data)
	if err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return r, nil
}

// DecodeResponse strictly decodes a response.
func DecodeResponse(data []byte) (*Response, error) {
	r := new(Response)
	if err := wire.Unmarshal("agent response", data, r); err != nil {
		return nil, err
	}
	return r, nil
}
