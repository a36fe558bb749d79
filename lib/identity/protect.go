package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// ErrWrongPassphrase means a protected secret key file did not open with the
// passphrase given.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// scryptWorkFactor is the scrypt cost (log2 N) for new protected files. Tests
// lower it (export_test.go) to keep the KDF cheap.
var scryptWorkFactor = 18

// IsEncrypted reports whether data is a passphrase-protected secret key file.
func IsEncrypted(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header))
}

// Encrypt protects the text of a secret key file with a passphrase, using
// age's scrypt recipient, and returns it ASCII-armored.
func Encrypt(plaintext, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("empty passphrase")
	}
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(scryptWorkFactor)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Decrypt opens a file made by Encrypt. A wrong passphrase gives an error
// wrapping ErrWrongPassphrase; anything else wrong with the file wraps
// ErrMalformed.
func Decrypt(data, passphrase []byte) ([]byte, error) {
	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(data)), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%w: protected file: %v", ErrMalformed, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: protected file: %v", ErrMalformed, err)
	}
	return plain, nil
}
