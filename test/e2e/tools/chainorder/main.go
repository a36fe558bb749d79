// Command chainorder checks that one user's messages reached the other in
// the order they were sent, where the conversation's chain says they
// must: it prints, one a line, the text of each message the receiver
// stored before one its sender had sent earlier, unless the chain crossed
// between them (PROTOCOL.md section 19.6).
//
//	chainorder -prefix P SENDER-EXPORT RECEIVER-EXPORT
//
// Both files are smvs-recv --export output. Only the sender's outgoing
// text messages whose text starts with P are checked. A message is
// excused when, following its chain back through the sender's own
// messages, one names a message the sender had received (the chain
// crossed) after the earlier message it overtook: the receiver had no way
// to know it came after that one. Exit status 0 if it could read both
// files (whatever it printed), 1 if not.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"smvs/lib/wire"
)

// message is what chainorder needs of one exported message.
type message struct {
	id, text string
	out      bool
	hash     string // wire.ChainHash of its signed bytes
	prev     string // the chain it carries
}

func main() {
	prefix := flag.String("prefix", "", "check only messages whose text starts with `P`")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: chainorder -prefix P SENDER-EXPORT RECEIVER-EXPORT")
		os.Exit(1)
	}
	var exports [2][]message
	for i, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "chainorder:", err)
			os.Exit(1)
		}
		exports[i], err = read(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "chainorder: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
	for _, text := range overtaking(exports[0], exports[1], *prefix) {
		fmt.Println(text)
	}
}

// read reads an export's text messages that have signed bytes, in order.
func read(r io.Reader) ([]message, error) {
	var out []message
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var line struct {
			Event, ID, Direction, Kind, Text string
			Signed                           string `json:"signed_base64"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, err
		}
		if line.Event != "message" || line.Kind != "text" || line.Signed == "" {
			continue
		}
		signed, err := base64.StdEncoding.DecodeString(line.Signed)
		if err != nil {
			return nil, err
		}
		s, err := wire.DecodeSigned(signed)
		if err != nil {
			return nil, err
		}
		m, err := wire.DecodeMessage(s.Body)
		if err != nil {
			return nil, err
		}
		out = append(out, message{id: line.ID, text: strings.TrimSuffix(line.Text, "\n"), out: line.Direction == "out",
			hash: string(wire.ChainHash(signed)), prev: string(m.Chain)})
	}
	return out, sc.Err()
}

// overtaking returns the texts of the sender's messages (starting with
// prefix) that the receiver stored before one sent earlier, the chain
// not excusing it.
func overtaking(sender, receiver []message, prefix string) []string {
	sent := make(map[string]int)      // id → index in the order sent
	byHash := make(map[string]int)    // the sender's own messages by hash
	received := make(map[string]bool) // hashes of what the sender received
	var order []message
	for _, m := range sender {
		switch {
		case !m.out:
			received[m.hash] = true
		case strings.HasPrefix(m.text, prefix):
			sent[m.id] = len(order)
			byHash[m.hash] = len(order)
			order = append(order, m)
		}
	}
	// crossed returns the latest index, at or before i, of a message on
	// i's chain back through the sender's own that names one it
	// received; -1 if none.
	crossed := func(i int) int {
		for steps := 0; i >= 0 && steps <= len(order); steps++ {
			if received[order[i].prev] {
				return i
			}
			next, ok := byHash[order[i].prev]
			if !ok || next >= i {
				return -1
			}
			i = next
		}
		return -1
	}
	var at []int // sender indexes, in the order received
	for _, m := range receiver {
		if i, ok := sent[m.id]; ok && !m.out {
			at = append(at, i)
		}
	}
	// earliestAfter[k] is the smallest sender index received after k.
	earliestAfter := make([]int, len(at))
	low := len(order)
	for k := len(at) - 1; k >= 0; k-- {
		earliestAfter[k] = low
		low = min(low, at[k])
	}
	var bad []string
	for k, i := range at {
		if e := earliestAfter[k]; e < i && crossed(i) <= e {
			bad = append(bad, order[i].text)
		}
	}
	return bad
}
