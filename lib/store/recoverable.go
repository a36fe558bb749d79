package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
)

// Recoverable reports which of the messages seqs someone holding a copy of
// the store directory dir and its KEK can open: by the database as it is,
// or by any key they can unwrap from any bytes of any file in dir (free
// pages, the WAL, leftovers), trying every root key in root.key, every
// conversation key those unwrap and every data key those unwrap. It only
// reads dir, which need not be locked or complete. Tests use it to show
// that deletion holds.
//
// In the bytes of the files it tries, at every offset: the KEK on root keys
// of generations 1 to 64 past the newest it knows; every root key it has on
// conversation keys of ids 1 to 64 past the largest it knows; every
// conversation key it has on the data keys of seqs. It returns the seqs
// whose data key it got, in the order given. Each key it tries costs about
// 0.1 s per megabyte of files (7 MB with 5 keys: 3 s).
func Recoverable(dir string, kek []byte, seqs []uint64) ([]uint64, error) {
	if len(kek) != keySize {
		return nil, fmt.Errorf("store: the key encryption key is %d bytes, want %d", len(kek), keySize)
	}
	f := &forensics{roots: make(keySet), convs: make(keySet), opened: make(map[uint64]bool)}
	keys, err := readRootFile(filepath.Join(dir, rootName), kek)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", dir, err)
	}
	for gen, k := range keys {
		f.roots.add(k)
		f.maxGen = max(f.maxGen, gen)
	}
	if err := f.live(dir, seqs); err != nil {
		return nil, fmt.Errorf("store: %s: %w", dir, err)
	}
	files, err := readFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", dir, err)
	}
	f.raw(files, kek, seqs)
	var open []uint64
	for _, seq := range seqs {
		if f.opened[seq] && !slices.Contains(open, seq) {
			open = append(open, seq)
		}
	}
	return open, nil
}

// keySet is a set of keys, by value.
type keySet map[string][]byte

func (ks keySet) add(k []byte) { ks[string(k)] = k }

func (ks keySet) list() [][]byte {
	keys := make([][]byte, 0, len(ks))
	for _, k := range ks {
		keys = append(keys, k)
	}
	return keys
}

// forensics is what Recoverable has found so far.
type forensics struct {
	roots, convs    keySet
	maxGen, maxConv uint64
	opened          map[uint64]bool // seqs whose data key it has
}

// live opens a copy of the database (SQLite would write to the original,
// to recover its WAL) and unwraps what its rows hold. A database that
// does not open is left to raw.
func (f *forensics) live(dir string, seqs []uint64) error {
	tmp, err := os.MkdirTemp("", "smvs-forensics-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{dbName, dbName + "-wal"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
			return err
		}
	}
	db, err := sql.Open("sqlite", dsn(filepath.Join(tmp, dbName), nil))
	if err != nil {
		return nil
	}
	defer db.Close()
	var gen uint64
	if db.QueryRow(`SELECT gen FROM root`).Scan(&gen) == nil {
		f.maxGen = max(f.maxGen, gen)
	}
	rows, err := db.Query(`SELECT id, key FROM conversations`)
	if err != nil {
		return nil
	}
	for rows.Next() {
		var id int64
		var wrapped []byte
		if rows.Scan(&id, &wrapped) != nil {
			continue
		}
		f.maxConv = max(f.maxConv, uint64(id))
		for _, r := range f.roots {
			a := newAEAD(derive(r, "conversation key wrap"))
			if k, err := a.Open(nil, nil, wrapped, aad("conversation key", uint64(id))); err == nil {
				f.convs.add(k)
			}
		}
	}
	rows.Close()
	set, _ := json.Marshal(seqs)
	rows, err = db.Query(`SELECT seq, key FROM messages WHERE seq IN (SELECT value FROM json_each(?))`, string(set))
	if err != nil {
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var wrapped []byte
		if rows.Scan(&seq, &wrapped) != nil {
			continue
		}
		for _, c := range f.convs {
			a := newAEAD(derive(c, "data key wrap"))
			if _, err := a.Open(nil, nil, wrapped, aad("data key", uint64(seq))); err == nil {
				f.opened[uint64(seq)] = true
			}
		}
	}
	return nil
}

// readFiles reads every regular file under dir.
func readFiles(dir string) ([][]byte, error) {
	var files [][]byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files = append(files, data)
		return nil
	})
	return files, err
}

// raw looks for wrapped keys at every offset of files: root keys under the
// KEK, conversation keys under the root keys, data keys under the
// conversation keys.
func (f *forensics) raw(files [][]byte, kek []byte, seqs []uint64) {
	scanFiles([][]byte{kek}, "", candidates("root key", 1, f.maxGen+64), files, func(k, _ []byte) { f.roots.add(k) })
	scanFiles(f.roots.list(), "conversation key wrap", candidates("conversation key", 1, f.maxConv+64),
		files, func(k, _ []byte) { f.convs.add(k) })
	if len(seqs) == 0 {
		return
	}
	dataAADs := make([][]byte, 0, len(seqs))
	bySeq := make(map[string]uint64, len(seqs))
	for _, seq := range seqs {
		a := aad("data key", seq)
		dataAADs = append(dataAADs, a)
		bySeq[string(a)] = seq
	}
	scanFiles(f.convs.list(), "data key wrap", dataAADs, files, func(_, a []byte) { f.opened[bySeq[string(a)]] = true })
}

// scanFiles scans files for keys wrapped under each of keys (or, with
// purpose, under the subkey derived for it) with one of aads, a key per
// core at a time, and calls found, one call at a time, with each.
func scanFiles(keys [][]byte, purpose string, aads [][]byte, files [][]byte, found func(key, aad []byte)) {
	var mu sync.Mutex
	work := make(chan []byte)
	var wg sync.WaitGroup
	for range min(len(keys), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for k := range work {
				if purpose != "" {
					k = derive(k, purpose)
				}
				sc := newScanner(k, aads)
				for _, data := range files {
					sc.scan(data, func(key, aad []byte) {
						mu.Lock()
						defer mu.Unlock()
						found(key, aad)
					})
				}
			}
		})
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
}

// candidates is the associated data of what, for numbers from to to.
func candidates(what string, from, to uint64) [][]byte {
	var aads [][]byte
	for n := from; n <= to; n++ {
		aads = append(aads, aad(what, n))
	}
	return aads
}
