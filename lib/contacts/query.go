package contacts

import (
	"errors"
	"fmt"
	"strings"

	"smvs/lib/bech32"
	"smvs/lib/identity"
	"smvs/lib/names"
)

// KeyLen is the length of a contact's key as it prints, "smvs1…": the
// prefix, 52 characters for the 32 bytes, and a checksum of 6.
const KeyLen = len(identityPrefix) + 52 + 6

// The prefixes and lengths of public keys as users copy them around.
const (
	identityPrefix = "smvs1"
	devicePrefix   = "smvsdev1"
	deviceKeyLen   = len(devicePrefix) + 52 + 6
)

// bech32Chars are the characters of a key after its prefix: no 1, b, i
// or o.
const bech32Chars = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// LooksLikeKey reports whether s starts as a public key does, "smvs1" or
// "smvsdev1" in any case, so that a person who typed it most likely meant
// a key (though a short one may also be a name).
func LooksLikeKey(s string) bool {
	s = strings.ToLower(s)
	return strings.HasPrefix(s, identityPrefix) || strings.HasPrefix(s, devicePrefix)
}

// MalformedKeyError means a string meant as a public key is not one: it
// was mistyped, cut short or run into other text when copied. It matches
// identity.ErrBadPublicKey.
type MalformedKeyError struct {
	Key    string // as given
	Reason string // what is wrong with it, for people
}

func (e *MalformedKeyError) Error() string {
	return fmt.Sprintf("malformed key %q: %s", e.Key, e.Reason)
}

// Is makes errors.Is(err, identity.ErrBadPublicKey) true.
func (e *MalformedKeyError) Is(target error) bool { return target == identity.ErrBadPublicKey }

// ParseKey parses a contact's identity key, "smvs1…", as a person typed or
// pasted it. Anything that starts as a key does but is not a valid one is
// a *MalformedKeyError saying what is wrong (a mistyped character, some
// lost or added); a device key, or anything else, is an error matching
// identity.ErrBadPublicKey.
func ParseKey(s string) (identity.PublicKey, error) {
	key, err := identity.ParsePublicKey(s)
	switch {
	case err == nil && key.Kind() != identity.KindIdentity:
		return identity.PublicKey{}, badKeyError(s + " is a device key, not a contact's identity")
	case err == nil:
		return key, nil
	case LooksLikeKey(s):
		return identity.PublicKey{}, malformedKey(s, err)
	}
	return identity.PublicKey{}, badKeyError(fmt.Sprintf("%q is not a key: a contact's key starts with %s", s, identityPrefix))
}

// badKeyError is a string that is not a contact's key, explained.
type badKeyError string

func (e badKeyError) Error() string { return string(e) }

// Is makes errors.Is(err, identity.ErrBadPublicKey) true.
func (e badKeyError) Is(target error) bool { return target == identity.ErrBadPublicKey }

// malformedKey explains why s, which starts as a key does, is not one;
// err is what identity.ParsePublicKey said.
func malformedKey(s string, err error) *MalformedKeyError {
	_, _, decodeErr := bech32.Decode(s)
	prefix, want := identityPrefix, KeyLen
	if strings.HasPrefix(strings.ToLower(s), devicePrefix) {
		prefix, want = devicePrefix, deviceKeyLen
	}
	e := &MalformedKeyError{Key: s}
	bad := strings.IndexFunc(s[len(prefix):], func(r rune) bool { return !strings.ContainsRune(bech32Chars, r) })
	switch {
	case s != strings.ToLower(s):
		e.Reason = "keys are written in lower case"
	case bad >= 0:
		c := []rune(s[len(prefix)+bad:])[0]
		e.Reason = fmt.Sprintf("no key has the character %q (after %s, keys have no 1, b, i, o or punctuation)", c, prefix)
	case len(s) != want:
		e.Reason = fmt.Sprintf("it has %d characters where a key has %d: some were lost or added when it was copied", len(s), want)
	case errors.Is(decodeErr, bech32.ErrChecksum):
		e.Reason = "its checksum does not match, so it was probably mistyped"
	default:
		e.Reason = strings.TrimPrefix(err.Error(), identity.ErrBadPublicKey.Error()+": ")
	}
	return e
}

// ParseQuery returns the key or the normalised name that query, what a
// person typed to name a contact, stands for: a contact's key
// ("smvs1…"), else a name (see names.Normalize). A query that
// starts as a key does and can't be a name is a malformed key, explained
// as ParseKey does. Errors match identity.ErrBadPublicKey or
// names.ErrInvalid.
func ParseQuery(query string) (identity.PublicKey, string, error) {
	key, keyErr := ParseKey(query)
	if keyErr == nil {
		return key, "", nil
	}
	var malformed *MalformedKeyError
	isMalformed := errors.As(keyErr, &malformed)
	if LooksLikeKey(query) && !isMalformed {
		return identity.PublicKey{}, "", keyErr // a device key
	}
	name, err := names.Normalize(query)
	switch {
	case err == nil:
		return identity.PublicKey{}, name, nil
	case isMalformed:
		return identity.PublicKey{}, "", keyErr
	}
	return identity.PublicKey{}, "", err
}
