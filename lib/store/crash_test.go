package store

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/wire"
)

// The crash test's child process runs when these are set.
const (
	crashDirEnv = "SMVS_STORE_CRASH_DIR"
	crashKEKEnv = "SMVS_STORE_CRASH_KEK"
)

// TestCrash kills a process that is adding (and deleting) messages with
// SIGKILL at a random moment, a few times, and checks after each that every
// message it acknowledged is stored exactly once, every deletion it
// acknowledged is gone, and the store still opens.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		kek, _ := hex.DecodeString(os.Getenv(crashKEKEnv))
		crashChild(dir, kek)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir, kek := t.TempDir(), random(32)
	added := make(map[string]uint64) // id → seq, acknowledged
	deleted := make(map[uint64]bool) // acknowledged
	tried := make(map[uint64]bool)   // deletions begun
	for round := range 3 {
		lines := runAndKill(t, dir, kek)
		adds := 0
		for _, line := range lines {
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "add":
				var seq uint64
				fmt.Sscan(f[1], &seq)
				added[f[2]] = seq
				adds++
			case len(f) == 2 && (f[0] == "try" || f[0] == "del"):
				var seq uint64
				fmt.Sscan(f[1], &seq)
				tried[seq] = true
				deleted[seq] = deleted[seq] || f[0] == "del"
			case f[0] == "ready":
			default:
				t.Fatalf("round %d: the child said %q", round, line)
			}
		}
		if adds == 0 {
			t.Fatalf("round %d: no message acknowledged", round)
		}

		s := open(t, dir, kek, Options{})
		stored := make(map[string]uint64)
		for _, m := range listAll(t, s) {
			id := hex.EncodeToString(m.ID)
			if _, ok := stored[id]; ok {
				t.Errorf("round %d: message %s stored twice", round, id)
			}
			stored[id] = m.Seq
		}
		lost, gone := 0, 0
		for id, seq := range added {
			got, ok := stored[id]
			switch {
			case deleted[seq] && ok:
				t.Errorf("round %d: message %d is back after its deletion was acknowledged", round, seq)
			case deleted[seq] || tried[seq] && !ok:
				gone++
			case !ok:
				lost++
			case got != seq:
				t.Errorf("round %d: message %s acknowledged as %d, stored as %d", round, id, seq, got)
			}
		}
		if lost > 0 {
			t.Errorf("round %d: %d acknowledged messages lost", round, lost)
		}
		for id := range added {
			if _, ok := stored[id]; !ok {
				continue
			}
			m := crashMessage(id)
			if dup, err := s.AddIncoming(m); err != nil || !dup {
				t.Errorf("round %d: re-adding %s: dup %v, %v", round, id, dup, err)
			}
		}
		checkCrashed(t, s, round)
		t.Logf("round %d: %d acknowledged in this round, %d in all, %d deleted; %d stored", round, adds, len(added), gone, len(stored))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashPeer is every crash message's peer, so that a message is known by
// its id alone.
var crashPeer = bytes.Repeat([]byte{7}, 32)

// crashKey signs the crash messages, so that they have links.
var crashKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))

// crashMessage is the message with id: every other one expires, in a year.
func crashMessage(id string) *Message {
	m := message(crashPeer, "crash test "+id)
	m.ID, _ = hex.DecodeString(id)
	if m.ID[0]%2 == 0 {
		m.Expires = m.Sent + int64(365*24*time.Hour/time.Millisecond)
	}
	w := &wire.Message{Sender: crashKey.Public().(ed25519.PublicKey), Recipient: crashPeer,
		KEMKeyID: make([]byte, wire.KEMKeyIDSize), ID: m.ID, Sent: m.Sent, Kind: wire.KindText, Body: m.Body}
	m.Signed, _ = wire.SignMessage(crashKey, w)
	return m
}

// checkCrashed checks that what the messages' transactions wrote with them
// is there exactly when they are: a link each (deleted ones keep theirs),
// and marks in expiring that the heap knows.
func checkCrashed(t *testing.T, s *Store, round int) {
	t.Helper()
	stored, expiring := 0, 0
	for _, m := range listAll(t, s) {
		stored++
		if m.Expires > 0 {
			expiring++
		}
	}
	if n := count(t, s, `SELECT count(*) FROM messages m JOIN links l ON l.seq = m.seq`); n != stored {
		t.Errorf("round %d: %d of %d messages have their link", round, n, stored)
	}
	if n := count(t, s, `SELECT count(*) FROM expiring`); n != expiring || s.expiry.Len() != expiring {
		t.Errorf("round %d: %d marks in expiring and %d in the heap, want %d", round, n, s.expiry.Len(), expiring)
	}
}

// runAndKill runs the child until it has acknowledged some messages, then
// for a random while, kills it and returns the complete lines it wrote.
func runAndKill(t *testing.T, dir string, kek []byte) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashKEKEnv+"="+hex.EncodeToString(kek))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	busy := make(chan struct{})
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a line cut by the kill is not an acknowledgement
			}
			lines = append(lines, strings.TrimSuffix(line, "\n"))
			if len(lines) == 100 {
				close(busy)
			}
		}
	}()
	select {
	case <-busy:
	case <-eof:
		cmd.Wait()
		t.Fatalf("the child stopped: %s", stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child acknowledged nothing in 30s")
	}
	time.Sleep(time.Duration(rand.N(400)) * time.Millisecond)
	cmd.Process.Kill() // SIGKILL
	<-eof
	cmd.Wait()
	return lines
}

// crashChild adds messages from 8 goroutines and deletes some of them, and
// writes each acknowledgement on stdout as soon as it has it, until killed.
func crashChild(dir string, kek []byte) {
	s, err := Open(dir, [][]byte{kek}, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(os.Stdout, format+"\n", args...); err != nil {
			os.Exit(1)
		}
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	acked := make(chan uint64, 1024)
	for range 8 {
		go func() {
			for {
				m := crashMessage(hex.EncodeToString(random(16)))
				dup, err := s.AddIncoming(m)
				if err != nil || dup {
					fail(fmt.Errorf("AddIncoming: dup %v, %v", dup, err))
				}
				say("add %d %x", m.Seq, m.ID)
				select {
				case acked <- m.Seq:
				default:
				}
			}
		}()
	}
	go func() {
		for seq := range acked {
			if rand.N(20) != 0 {
				continue
			}
			say("try %d", seq)
			var err error
			if seq%2 == 0 {
				err = s.Delete(seq)
			} else {
				_, err = s.DeleteMessages([]uint64{seq})
			}
			if err != nil {
				fail(fmt.Errorf("deleting: %v", err))
			}
			say("del %d", seq)
		}
	}()
	say("ready")
	select {}
}
