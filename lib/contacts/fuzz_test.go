package contacts

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
)

// FuzzParse checks that what Parse accepts, Format writes back so that
// Parse reads the same contacts, and that formatting is then stable; and
// that raising a key's seq= changes the lines of that key alone, so that
// they read back with the new number.
func FuzzParse(f *testing.F) {
	key := newKey(f).Public().String()
	for _, seed := range []string{
		"",
		"\n",
		"# comment\n\nalice " + key + " host=alice.example.net:7447 verified\n",
		"bob\t" + key + "  verified host=[::1]:1\r\n  # x\n",
		"carol " + key,
		"alice " + key + "\nalice " + key + "\n",
		"alice smvs1qqqq\n",
		"#x\r\r\n \r\n",
		"alice " + key + " seq=5\n",
		"alice\t" + key + "  seq=0 verified\t\n# b\nbob " + key + "\n",
		"alice " + key + " seq=18446744073709551615 host=a.example:1\n",
		"alice " + key + " seq=18446744073709551616\n",
		"alice " + key + " seq=007\n",
		"alice " + key + " seq=1 seq=2\n",
		"alice " + key + " seq=\u00a0\n",
		"alice " + key + "\u2003seq=3\u00a0verified\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := Parse(data)
		if err != nil {
			return
		}
		out := first.Format()
		second, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Format(Parse(%q))): %v\nformatted:\n%q", data, err, out)
		}
		if a, b := fmt.Sprint(first.Contacts()), fmt.Sprint(second.Contacts()); a != b {
			t.Fatalf("contacts changed through Format:\n%s\n%s", a, b)
		}
		if again := second.Format(); !bytes.Equal(again, out) {
			t.Fatalf("Format is not stable:\n%q\n%q", out, again)
		}

		cs := second.Contacts()
		if len(cs) == 0 || cs[0].Seq == math.MaxUint64 {
			return
		}
		key, seq := cs[0].Key, cs[0].Seq+1
		second.raiseSeq(key, seq)
		raised, err := Parse(second.Format())
		if err != nil {
			t.Fatalf("after raiseSeq: %v\n%q", err, second.Format())
		}
		for i := range cs {
			if cs[i].Key == key {
				cs[i].Seq = max(cs[i].Seq, seq)
			}
		}
		if a, b := fmt.Sprint(cs), fmt.Sprint(raised.Contacts()); a != b {
			t.Fatalf("raiseSeq:\n%s\nread back\n%s", a, b)
		}
		before, after := strings.Split(string(out), "\n"), strings.Split(string(raised.Format()), "\n")
		if len(before) != len(after) {
			t.Fatalf("raiseSeq changed the number of lines:\n%q\n%q", out, raised.Format())
		}
		for i := range before {
			if before[i] != after[i] && !strings.Contains(after[i], key.String()) {
				t.Fatalf("raiseSeq changed another key's line %d: %q to %q", i+1, before[i], after[i])
			}
		}
	})
}
