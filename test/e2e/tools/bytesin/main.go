// Command bytesin prints each regular file under the given paths that
// contains the exact bytes of SAMPLE anywhere, one path a line, and exits
// 0 whether or not any does (2 on an error). The tests use it to prove no
// piece of a body rests in clear on disk: grep -F reads its patterns a line
// at a time, so a random sample holding newlines (or an empty line, which
// matches everything) is no fixed string to grep.
//
//	bytesin SAMPLE PATH...
package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: bytesin SAMPLE PATH...")
		os.Exit(2)
	}
	sample, err := os.ReadFile(os.Args[1])
	if err == nil && len(sample) == 0 {
		err = fmt.Errorf("%s is empty", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bytesin:", err)
		os.Exit(2)
	}
	for _, root := range os.Args[2:] {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			found, err := fileContains(path, sample)
			if found {
				fmt.Println(path)
			}
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bytesin:", err)
			os.Exit(2)
		}
	}
}

// fileContains reports whether the file at path holds sample, reading it
// in blocks that overlap by len(sample)-1 bytes so a match across two
// blocks is found too.
func fileContains(path string, sample []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return contains(f, sample)
}

func contains(r io.Reader, sample []byte) (bool, error) {
	buf := make([]byte, max(1<<20, 2*len(sample)))
	kept := 0
	for {
		n, err := r.Read(buf[kept:])
		kept += n
		if bytes.Contains(buf[:kept], sample) {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if tail := len(sample) - 1; kept > tail && kept == len(buf) {
			kept = copy(buf, buf[kept-tail:kept])
		}
	}
}
