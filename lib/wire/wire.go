// Package wire defines every structure SMVS puts on the wire or on disk —
// records, messages, envelopes, signed containers and stream frames — and
// their one encoding: deterministic CBOR (RFC 8949 §4.2.1) with integer map
// keys.
//
// Decoders are strict: a structure is accepted only if it is well formed, has
// a known version, carries no unknown or duplicate fields, has fields of the
// right sizes, and is encoded exactly as Encode would encode it. So a decoded
// value re-encodes to the same bytes, and no structure has two encodings.
//
// Errors wrap the sentinels below (ErrTruncated, ErrTrailingData, …) so
// callers can tell them apart with errors.Is; an unknown version is an
// *UnknownVersionError.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Version is the version of every structure this package encodes. Decoders
// refuse any other.
const Version = 1

// Sizes of the fixed-size fields.
const (
	KeySize          = 32   // an Ed25519 public key (identity or device)
	SignatureSize    = 64   // an Ed25519 signature
	KEMKeyIDSize     = 8    // a KEM key id
	KEMPublicKeySize = 1216 // an MLKEM768-X25519 encapsulation key
	KEMEncSize       = 1120 // an MLKEM768-X25519 encapsulated key
	MessageIDSize    = 16   // a message id
	HashSize         = 32   // a SHA-256 hash (message chain)
)

// Limits on variable-size fields.
const (
	MaxNameLen        = 64  // bytes of a record name
	MaxHostLen        = 255 // bytes of a host address
	MaxContentTypeLen = 255 // bytes of a content type
	MaxFileNameLen    = 255 // bytes of a file name
)

// MaxArrayElements bounds every array any decoder of this package (and
// Unmarshal) accepts, before it allocates: a structure that must carry
// more items is split over several.
const MaxArrayElements = 1024

var (
	// ErrTruncated means the input ended before the structure did.
	ErrTruncated = errors.New("truncated input")
	// ErrTrailingData means bytes follow a complete structure.
	ErrTrailingData = errors.New("trailing data after structure")
	// ErrMalformed means the input is not a valid structure of its kind.
	ErrMalformed = errors.New("malformed")
	// ErrNonCanonical means the input decodes but is not in the one
	// deterministic encoding, so it can't have come from an SMVS encoder.
	ErrNonCanonical = errors.New("not deterministically encoded")
	// ErrBadSignature means a signature does not verify under the key the
	// structure names.
	ErrBadSignature = errors.New("bad signature")
	// ErrTooLarge means a frame or field is larger than its limit.
	ErrTooLarge = errors.New("too large")
)

// UnknownVersionError reports a structure of a version this package does not
// speak.
type UnknownVersionError struct {
	What    string // the kind of structure, e.g. "record"
	Version uint64
}

func (e *UnknownVersionError) Error() string {
	return fmt.Sprintf("%s: unknown version %d (this program speaks version %d)", e.What, e.Version, Version)
}

var (
	encMode = mustEncMode()
	// decMode rejects everything that is not part of a valid structure.
	decMode = mustDecMode(cbor.ExtraDecErrorUnknownField)
	// versionMode reads only the version field, so that a structure of a
	// newer version gets a version error rather than an unknown-field one.
	versionMode = mustDecMode(cbor.ExtraDecErrorNone)
)

func mustEncMode() cbor.EncMode {
	opts := cbor.CoreDetEncOptions()
	opts.NilContainers = cbor.NilContainerAsEmpty
	m, err := opts.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustDecMode(extra cbor.ExtraDecErrorCond) cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: extra,
		MaxNestedLevels:   5, // an import request's items' warnings are at level 5
		MaxArrayElements:  MaxArrayElements,
		MaxMapPairs:       16,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

// encode returns the deterministic encoding of v. The types of this package
// always encode, so an error is a programming error.
func encode(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("wire: encoding %T: %v", v, err))
	}
	return b
}

// decode strictly decodes data, a structure of kind what, into v (a
// pointer), then checks its fields with validate.
func decode(what string, data []byte, v any, validate func() error) error {
	var version struct {
		V uint64 `cbor:"0,keyasint"`
	}
	if err := versionMode.Unmarshal(data, &version); err != nil {
		return decodeError(what, err)
	}
	if version.V != Version {
		return &UnknownVersionError{What: what, Version: version.V}
	}
	if err := decMode.Unmarshal(data, v); err != nil {
		return decodeError(what, err)
	}
	if err := validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !bytes.Equal(encode(v), data) {
		return fmt.Errorf("%s: %w", what, ErrNonCanonical)
	}
	return nil
}

func decodeError(what string, err error) error {
	var extra *cbor.ExtraneousDataError
	switch {
	case errors.As(err, &extra):
		return fmt.Errorf("%s: %w", what, ErrTrailingData)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%s: %w", what, ErrTruncated)
	default:
		return fmt.Errorf("%s: %w: %v", what, ErrMalformed, err)
	}
}

// checkSize reports a field whose length is not size.
func checkSize(field string, b []byte, size int) error {
	if len(b) != size {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrMalformed, field, len(b), size)
	}
	return nil
}

// checkMax reports a field longer than limit.
func checkMax(field string, n, limit int) error {
	if n > limit {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, field, n, limit)
	}
	return nil
}

// checkTime reports a negative time.
func checkTime(field string, t int64) error {
	if t < 0 {
		return fmt.Errorf("%w: %s is negative", ErrMalformed, field)
	}
	return nil
}

// Validator is a structure defined outside this package, following its
// conventions (integer keys, version field 0), that checks its own fields.
type Validator interface {
	Validate() error
}

// Marshal returns the deterministic encoding of v, a structure following
// this package's conventions. v must encode; an error is a programming error.
func Marshal(v any) []byte { return encode(v) }

// Unmarshal decodes data, a structure of kind what, into v exactly as this
// package's own decoders do: known version, no unknown or duplicate fields,
// deterministic encoding, then v.Validate.
func Unmarshal(what string, data []byte, v Validator) error {
	return decode(what, data, v, v.Validate)
}
