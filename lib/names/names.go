package directory

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Name rules: 3 to 32 characters of [a-z0-9._-], starting and ending with a
// letter or digit, after Unicode compatibility normalisation and case
// folding (so "Ａｌｉｃｅ" is "alice"), and not on the reserved list.
const (
	MinNameLen = 3
	MaxNameLen = 32
)

// ErrBadName means a name breaks the name rules.
var ErrBadName = errors.New("invalid name")

// reserved names could be mistaken for the service or its operators.
var reserved = []string{
	"abuse", "admin", "administrator", "directory", "help", "hostmaster", "info", "mod",
	"moderator", "noc", "null", "operator", "postmaster", "root", "security", "smvs", "staff",
	"support", "system", "webmaster",
}

var folder = cases.Fold()

// NormalizeName maps what a person typed to the name as records carry it,
// or reports why it can't be a name.
func NormalizeName(s string) (string, error) {
	n := norm.NFKC.String(folder.String(norm.NFKC.String(s)))
	if err := checkName(n); err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrBadName, s, err)
	}
	return n, nil
}

// ValidName reports whether name is a valid name exactly as given (already
// normalised), as a record must carry it.
func ValidName(name string) error {
	n, err := NormalizeName(name)
	if err != nil {
		return err
	}
	if n != name {
		return fmt.Errorf("%w %q: not normalised (it would be %q)", ErrBadName, name, n)
	}
	return nil
}

func checkName(n string) error {
	if len(n) < MinNameLen || len(n) > MaxNameLen {
		return fmt.Errorf("must be %d to %d characters", MinNameLen, MaxNameLen)
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
