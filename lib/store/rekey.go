package store

import "errors"

// Moved reports whether Open found root.key wrapped by one of the key
// encryption keys it was given but the first, and re-wrapped it under the
// first: the store moved to a new identity, and the old KEK is no longer
// needed to open it.
func (s *Store) Moved() bool { return s.moved }

// readRootFileAny reads root.key with the first of keks that opens it, and
// returns its keys and that KEK's index. None opening it is ErrWrongKey.
func readRootFileAny(path string, keks [][]byte) (map[uint64][]byte, int, error) {
	for i, kek := range keks {
		keys, err := readRootFile(path, kek)
		if errors.Is(err, ErrWrongKey) {
			continue
		}
		return keys, i, err
	}
	return nil, 0, ErrWrongKey
}
