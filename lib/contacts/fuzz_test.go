package contacts

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzParse checks that what Parse accepts, Format writes back so that
// Parse reads the same contacts, and that formatting is then stable.
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
	})
}
