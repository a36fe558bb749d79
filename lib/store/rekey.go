package store

import "errors"

// Moved reports whether root.key was re-wrapped under the first of the key
// encryption keys Open was given: the store moved to a new identity, and
// the old KEKs are no longer needed to open it. Open reports it when it
// did so, and after it until root.key's next rewrite (a deletion's), so
// that a crash between the move and forgetting the old KEKs is seen at
// the next Open.
func (s *Store) Moved() bool { return s.moved }

// readRootFileAny reads root.key with the first of keks that opens it, and
// returns its keys, that KEK's index and whether root.key is marked moved.
// None opening it is ErrWrongKey.
func readRootFileAny(path string, keks [][]byte) (map[uint64][]byte, int, bool, error) {
	for i, kek := range keks {
		keys, moved, err := readRoot(path, kek)
		if errors.Is(err, ErrWrongKey) {
			continue
		}
		return keys, i, moved, err
	}
	return nil, 0, false, ErrWrongKey
}
