package contacts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/names"
)

func newKey(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return id
}

func TestParse(t *testing.T) {
	a, b := newKey(t).Public(), newKey(t).Public()
	text := "# my contacts\n\n" +
		"alice " + a.String() + " host=alice.example.net:7447 verified\n" +
		"  # indented comment\n" +
		"bob\t" + b.String() + "   verified   host=[::1]:7447\r\n" +
		"carol " + a.String() + " seq=17\n" +
		"   \n"
	f, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Contact{
		{Name: "alice", Key: a, Host: "alice.example.net:7447", Verified: true},
		{Name: "bob", Key: b, Host: "[::1]:7447", Verified: true},
		{Name: "carol", Key: a, Seq: 17},
	}
	if got := f.Contacts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("contacts\n%v\nwant\n%v", got, want)
	}
	if c, ok := f.Lookup("bob"); !ok || c.Key != b {
		t.Errorf("Lookup(bob) = %v, %v", c, ok)
	}
	if c, ok := f.LookupKey(a); !ok || c.Name != "alice" {
		t.Errorf("LookupKey = %v, %v; want the first contact with the key", c, ok)
	}
	if _, ok := f.Lookup("dave"); ok {
		t.Error("Lookup(dave) found a contact")
	}
	// Unchanged, the file is written back as it was (less the \r).
	if got, want := string(f.Format()), strings.Replace(text, "\r", "", 1); got != want {
		t.Errorf("Format:\n%s\nwant\n%s", got, want)
	}
	for _, empty := range []string{"", "\n", "# only a comment"} {
		f, err := Parse([]byte(empty))
		if err != nil || len(f.Contacts()) != 0 {
			t.Errorf("Parse(%q) = %v, %v", empty, f.Contacts(), err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	key := newKey(t).Public().String()
	dev, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		text    string
		message string
	}{
		{"alice\n", `line 1: want NAME smvs1... [host=ADDR] [verified] [seq=N], got "alice"`},
		{"alice " + key + " seq=\n", `line 1: seq="": want a decimal number`},
		{"alice " + key + " seq=05\n", `line 1: seq="05": want a decimal number from 0 to 18446744073709551615 without leading zeros`},
		{"alice " + key + " seq=-1\n", `line 1: seq="-1"`},
		{"alice " + key + " seq=+1\n", `line 1: seq="+1"`},
		{"alice " + key + " seq=18446744073709551616\n", `line 1: seq="18446744073709551616"`},
		{"alice " + key + " seq=1 seq=2\n", "line 1: seq given twice"},
		{"alice " + key + " seq\n", `line 1: unknown option "seq": want host=ADDR, verified or seq=N`},
		{"# ok\nAlice " + key + "\n", `line 2: invalid name "Alice": not normalised (it would be "alice")`},
		{"al " + key + "\n", `line 1: invalid name "al": must be 3 to 32 characters`},
		{"alice smvs1acd\n", `line 1: malformed key "smvs1acd": it has 8 characters where a key has 63`},
		{"alice " + strings.ToUpper(key) + "\n", "line 1: malformed key"},
		{"alice bob\n", `line 1: "bob" is not a key: a contact's key starts with smvs1`},
		{"alice " + dev.Public().String() + "\n", "line 1: smvsdev1"},
		{"alice " + key + " host=nowhere\n", `line 1: invalid host address "nowhere": want HOST:PORT`},
		{"alice " + key + " host=a:99999\n", `line 1: invalid host address "a:99999": port "99999"`},
		{"alice " + key + " host=\n", `line 1: invalid host address "": want HOST:PORT`},
		{"alice " + key + " verified=yes\n", `line 1: unknown option "verified=yes"`},
		{"alice " + key + " trusted\n", `line 1: unknown option "trusted"`},
		{"alice " + key + " verified verified\n", "line 1: verified given twice"},
		{"alice " + key + " # note\n", "line 1: a comment must be on a line of its own"},
		{"alice " + key + "\n\nalice " + key + "\n", `line 3: "alice" is already a contact, on line 1`},
		{"# \xff\n", "line 1: not valid UTF-8"},
	} {
		_, err := Parse([]byte(tt.text))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.message) {
			t.Errorf("Parse(%q): %v, want a *ParseError with %q", tt.text, err, tt.message)
		}
	}
}

func TestSetKeepsTheRest(t *testing.T) {
	a, b := newKey(t).Public(), newKey(t).Public()
	text := "# friends\nalice   " + a.String() + "\n\n# work\nbob " + b.String() + "   verified\n"
	f, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(Contact{Name: "alice", Key: a}); err != nil {
		t.Fatal(err)
	}
	if got := string(f.Format()); got != text {
		t.Errorf("setting a contact to what it was changed the file:\n%s", got)
	}
	if err := f.Set(Contact{Name: "alice", Key: b, Host: "h.example:1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(Contact{Name: "carol", Key: a, Verified: true}); err != nil {
		t.Fatal(err)
	}
	want := "# friends\nalice " + b.String() + " host=h.example:1\n\n# work\nbob " + b.String() + "   verified\n" +
		"carol " + a.String() + " verified\n"
	if got := string(f.Format()); got != want {
		t.Errorf("Format:\n%s\nwant\n%s", got, want)
	}
	if !f.Remove("bob") || f.Remove("bob") {
		t.Error("Remove(bob) did not remove bob exactly once")
	}
	for _, bad := range []Contact{
		{Name: "Carol", Key: a},
		{Name: "carol"},
		{Name: "carol", Key: a, Host: "no port"},
	} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%+v) accepted", bad)
		}
	}
}

// TestRaiseSeq: raising a key's seq= changes that field alone, on every
// line of the key, in its place or at the end of the line, and never
// lowers it.
func TestRaiseSeq(t *testing.T) {
	a, b := newKey(t).Public(), newKey(t).Public()
	text := "# friends\n" +
		"alice\t" + a.String() + "  seq=7   verified \n" +
		"\n" +
		"bob " + b.String() + " host=h.example:1\t \n" +
		"ally " + a.String() + "\n" +
		"   # work\n" +
		"carol " + b.String() + " seq=90\n"
	f, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if f.raiseSeq(newKey(t).Public(), 3) || f.raiseSeq(a, 0) || string(f.Format()) != text {
		t.Fatalf("raising another key, or to 0, changed the file:\n%s", f.Format())
	}
	if f.seq(a) != 7 || f.seq(b) != 90 || f.seq(newKey(t).Public()) != 0 {
		t.Errorf("seq: %d, %d", f.seq(a), f.seq(b))
	}
	if !f.raiseSeq(a, 12) || !f.raiseSeq(b, 60) {
		t.Fatal("raiseSeq changed nothing")
	}
	want := "# friends\n" +
		"alice\t" + a.String() + "  seq=12   verified \n" +
		"\n" +
		"bob " + b.String() + " host=h.example:1 seq=60\n" +
		"ally " + a.String() + " seq=12\n" +
		"   # work\n" +
		"carol " + b.String() + " seq=90\n"
	if got := string(f.Format()); got != want {
		t.Errorf("Format:\n%q\nwant\n%q", got, want)
	}
	again, err := Parse(f.Format())
	if err != nil || fmt.Sprint(again.Contacts()) != fmt.Sprint(f.Contacts()) {
		t.Errorf("read back: %v, %v\nwant %v", again.Contacts(), err, f.Contacts())
	}
	if c, _ := f.Lookup("alice"); c != (Contact{Name: "alice", Key: a, Verified: true, Seq: 12}) {
		t.Errorf("alice: %+v", c)
	}
	// A new contact's line is written whole.
	if err := f.Set(Contact{Name: "dave", Key: newKey(t).Public(), Seq: 5}); err != nil {
		t.Fatal(err)
	}
	if got := string(f.Format()); !strings.HasSuffix(got, " seq=5\n") {
		t.Errorf("a new contact with a seq:\n%s", got)
	}
}

func TestCheckHost(t *testing.T) {
	for _, ok := range []string{"alice.example.net:7447", "[2001:db8::1]:7447", "127.0.0.1:1", "bücher.example:443"} {
		if err := CheckHost(ok); err != nil {
			t.Errorf("CheckHost(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "example.net", ":7447", "a:0", "a:x", "a b:1", "a\x1b:1", "2001:db8::1:7447", strings.Repeat("a", 256) + ":1"} {
		if err := CheckHost(bad); !errors.Is(err, ErrBadHost) {
			t.Errorf("CheckHost(%q) = %v, want ErrBadHost", bad, err)
		}
	}
}

func TestLoadSave(t *testing.T) {
	dir := t.TempDir()
	path := Path(filepath.Join(dir, "home"))
	f, err := Load(path)
	if err != nil || len(f.Contacts()) != 0 {
		t.Fatalf("Load of a missing file: %v, %v", f.Contacts(), err)
	}
	key := newKey(t).Public()
	if err := f.Set(Contact{Name: "alice", Key: key}); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v, %v; want mode 0600", info, err)
	}
	g, err := Load(path)
	if err != nil || fmt.Sprint(g.Contacts()) != fmt.Sprint(f.Contacts()) {
		t.Fatalf("Load after Save: %v, %v", g.Contacts(), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("Save left files behind: %v", entries)
	}

	if err := os.WriteFile(path, []byte("# ok\nbadline\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || err.Error() != path+`: line 2: want NAME smvs1... [host=ADDR] [verified] [seq=N], got "badline"` {
		t.Errorf("Load of a bad file: %v", err)
	}

	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	var insecure *InsecureFileError
	if _, err := Load(path); !errors.As(err, &insecure) {
		t.Errorf("Load of a file others can write: %v", err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load of a directory succeeded")
	}
}

func TestUpdate(t *testing.T) {
	path := Path(t.TempDir())
	key := newKey(t).Public()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := Update(path, func(f *File) error {
				return f.Set(Contact{Name: fmt.Sprintf("user%02d", i), Key: key})
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Contacts()); n != 20 {
		t.Errorf("%d contacts after 20 concurrent updates, want 20", n)
	}

	before, _ := os.ReadFile(path)
	failure := errors.New("changed my mind")
	err = Update(path, func(f *File) error {
		f.Remove("user00")
		return failure
	})
	if !errors.Is(err, failure) {
		t.Errorf("Update returned %v, want fn's error", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed Update changed the file")
	}
}

func TestSafetyNumber(t *testing.T) {
	a, err := identity.NewPublicKey(identity.KindIdentity, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ones := make([]byte, 32)
	for i := range ones {
		ones[i] = 1
	}
	b, err := identity.NewPublicKey(identity.KindIdentity, ones)
	if err != nil {
		t.Fatal(err)
	}
	// Computed independently: SHA-512("smvs/1 safety number" || 0x00 ||
	// 32×0x00 || 32×0x01), six 5-byte big-endian numbers mod 100000.
	const want = "73790 16630 72706 72933 52853 67287"
	if got := SafetyNumber(a, b); got != want {
		t.Errorf("SafetyNumber = %q, want %q", got, want)
	}
	if SafetyNumber(b, a) != want {
		t.Error("SafetyNumber depends on the order of the keys")
	}
	x, y := newKey(t).Public(), newKey(t).Public()
	if SafetyNumber(x, y) == SafetyNumber(x, b) {
		t.Error("different keys give the same safety number")
	}
}

func TestNormalizeNameIsTheDirectorys(t *testing.T) {
	// Contact names are the directory's names: what names.Normalize makes.
	f := new(File)
	key := newKey(t).Public()
	n, err := names.Normalize("ＡＬＩＣＥ")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(Contact{Name: n, Key: key}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Lookup("alice"); !ok {
		t.Error("the normalised name is not alice")
	}
}
