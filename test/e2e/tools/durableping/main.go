// Command durableping is the floor scripts/bench sets beside one
// `echo hi | smvs-send bob`: a new process that reads its standard input,
// sends it over a Unix socket to a server that writes a 4 KiB block and
// fsyncs it before it answers, and exits once the answer is in. That is
// the least any durable send from a shell can cost: a process start, a
// round trip to a daemon, and one fsync. Started apart from the others,
// as each send of a shell is, the fsync costs what a first one after a
// pause does, several times one of a tight loop on these VMs.
//
//	durableping serve DIR   serve on DIR/sock, writing to DIR/log
//	durableping send DIR    send standard input, wait for the answer
//	durableping --version   print a line and exit: the start alone
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// block is what the server writes and syncs for each request; logBlocks
// how many it cycles over, as a WAL reused after a checkpoint does.
const (
	block     = 4096
	logBlocks = 256
	maxFrame  = 1 << 16
	answer    = 66 // the size of smvs-hostd's answer to a small submit
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("durableping")
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: durableping serve|send DIR, or durableping --version")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2])
	case "send":
		err = send(os.Args[2], os.Stdin)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "durableping:", err)
		os.Exit(1)
	}
}

func serve(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, block*logBlocks), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		return err
	}
	fmt.Println("ready") // the caller waits for this line
	var mu sync.Mutex
	next := 0
	data := make([]byte, block)
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			if _, err := readFrame(c); err != nil {
				return
			}
			mu.Lock()
			_, err := f.WriteAt(data, int64(next%logBlocks)*block)
			if err == nil {
				err = f.Sync()
			}
			next++
			mu.Unlock()
			if err != nil {
				fmt.Fprintln(os.Stderr, "durableping:", err)
				return
			}
			writeFrame(c, make([]byte, answer))
		}()
	}
}

func send(dir string, in io.Reader) error {
	body, err := io.ReadAll(io.LimitReader(in, maxFrame))
	if err != nil {
		return err
	}
	c, err := net.Dial("unix", filepath.Join(dir, "sock"))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := writeFrame(c, body); err != nil {
		return err
	}
	_, err = readFrame(c)
	return err
}

// writeFrame and readFrame carry a frame as smvs-hostd's device socket
// does: a 4-byte big-endian length, then the bytes.
func writeFrame(w io.Writer, b []byte) error {
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err := w.Write(append(frame, b...))
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrame {
		return nil, errors.New("frame too large")
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}
