// Package names holds the rules of the names a directory record may
// carry, which the directory enforces when it stores a record and every
// client applies to what a person typed and to what a directory served:
// how a typed name is normalised, and which normalised names are valid.
//
// The rules are part of the protocol: changing them changes which names
// exist. The package depends on no other package of this module.
package names

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// The name rules: MinLen to MaxLen characters of [a-z0-9._-], starting and
// ending with a letter or digit, after Unicode compatibility normalisation
// and case folding (so "Ａｌｉｃｅ" is "alice"), and not on the reserved
// list.
const (
	MinLen = 3
	MaxLen = 32
)

// ErrInvalid means a name breaks the name rules.
var ErrInvalid = errors.New("invalid name")

// reserved names could be mistaken for the service or its operators.
var reserved = []string{
	"abuse", "admin", "administrator", "directory", "help", "hostmaster", "info", "mod",
	"moderator", "noc", "null", "operator", "postmaster", "root", "security", "smvs", "staff",
	"support", "system", "webmaster",
}

var folder = cases.Fold()

// Normalize maps what a person typed to the name as records carry it, or
// reports why it can't be a name.
func Normalize(s string) (string, error) {
	n := norm.NFKC.String(folder.String(norm.NFKC.String(s)))
	if err := checkRules(n); err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
	}
	return n, nil
}

// Check reports whether name is a valid name exactly as given (already
// normalised), as a record must carry it.
func Check(name string) error {
	n, err := Normalize(name)
	if err != nil {
		return err
	}
	if n != name {
		return fmt.Errorf("%w %q: not normalised (it would be %q)", ErrInvalid, name, n)
	}
	return nil
}

func checkRules(n string) error {
	if len(n) < MinLen || len(n) > MaxLen {
		return fmt.Errorf("must be %d to %d characters", MinLen, MaxLen)
	}
	for i := range len(n) {
		c := n[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && !strings.ContainsRune("._-", rune(c)) {
			return errors.New("only a-z, 0-9, '.', '_' and '-' are allowed")
		}
		if !alnum && (i == 0 || i == len(n)-1) {
			return errors.New("must start and end with a letter or digit")
		}
	}
	if slices.Contains(reserved, n) {
		return errors.New("reserved")
	}
	return nil
}
