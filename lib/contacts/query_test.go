package contacts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/names"
)

func TestParseQuery(t *testing.T) {
	id := newKey(t)
	key := id.Public().String()
	dev := newDeviceKey(t).Public().String()
	typo := mistype(key)

	for _, tt := range []struct {
		query   string
		name    string // the name it stands for
		key     bool   // it stands for id's key
		isKey   bool   // an error matching identity.ErrBadPublicKey
		isName  bool   // an error matching names.ErrInvalid
		message string // in the error
	}{
		{query: key, key: true},
		{query: "Alice", name: "alice"},
		{query: "smvs1fan", name: "smvs1fan"}, // a name that starts as keys do
		{query: typo, isKey: true, message: "its checksum does not match, so it was probably mistyped"},
		{query: key[:len(key)-1], isKey: true, message: "it has 62 characters where a key has 63"},
		{query: key + "q", isKey: true, message: "it has 64 characters where a key has 63"},
		{query: key[:30] + "o" + key[31:], isKey: true, message: `no key has the character 'o'`},
		{query: key[:30] + "1" + key[31:], isKey: true, message: `no key has the character '1'`},
		{query: key + ".", isKey: true, message: `no key has the character '.'`},
		{query: strings.ToUpper(key), isKey: true, message: "keys are written in lower case"},
		{query: dev, isKey: true, message: "is a device key"},
		{query: dev[:40], isKey: true, message: "where a key has 66"},
		{query: "al", isName: true, message: "must be 3 to 32 characters"},
	} {
		k, name, err := ParseQuery(tt.query)
		switch {
		case tt.isKey || tt.isName:
			if tt.isKey && !errors.Is(err, identity.ErrBadPublicKey) || tt.isName && !errors.Is(err, names.ErrInvalid) ||
				!strings.Contains(fmtErr(err), tt.message) {
				t.Errorf("ParseQuery(%q): %v, want an error with %q", tt.query, err, tt.message)
			}
			if tt.isKey && strings.Contains(fmtErr(err), "characters") && !strings.Contains(fmtErr(err), "where a key has") {
				t.Errorf("ParseQuery(%q): %v, a hint meant for names", tt.query, err)
			}
		case err != nil || name != tt.name || tt.key != (k == id.Public()):
			t.Errorf("ParseQuery(%q) = %v, %q, %v; want name %q, key %v", tt.query, k, name, err, tt.name, tt.key)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func newDeviceKey(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(identity.KindDevice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Destroy)
	return id
}

func TestMalformedKeyInContactsFile(t *testing.T) {
	key := newKey(t).Public().String()
	_, err := Parse([]byte("alice " + key[:len(key)-2] + "\n"))
	if !errors.Is(err, identity.ErrBadPublicKey) || !strings.Contains(err.Error(), "line 1: malformed key") {
		t.Errorf("Parse: %v, want line 1: malformed key", err)
	}
}

// Looking oneself up finds one's own record, and does not pin oneself.
func TestResolveSelf(t *testing.T) {
	me := newKey(t)
	d := newFakeDir(t)
	d.serve(t, record(t, me, "alice", nil))
	r := resolver(t, d)
	r.Self = me.Public()
	writeContacts(t, r, "# my contacts\n")

	for _, q := range []string{"alice", me.Public().String()} {
		res, err := r.Resolve(context.Background(), q)
		if err != nil || !res.Self || res.InFile || res.Change != Unchanged || res.Record == nil || res.Contact.Key != me.Public() {
			t.Errorf("Resolve(%q) = %+v, %v; want oneself, not pinned", q, res, err)
		}
	}
	if got := readContacts(t, r); got != "# my contacts\n" {
		t.Errorf("contacts file:\n%s\nwant it unchanged", got)
	}

	// Someone else is pinned, and is not oneself.
	bob := newKey(t)
	d.serve(t, record(t, bob, "bob", nil))
	res, err := r.Resolve(context.Background(), "bob")
	if err != nil || res.Self || res.Change != Pinned {
		t.Errorf("Resolve(bob) = %+v, %v", res, err)
	}
}

// mistype returns key with one character replaced by another, as a slip
// of the finger does.
func mistype(key string) string {
	c := "q"
	if key[20:21] == c {
		c = "p"
	}
	return key[:20] + c + key[21:]
}
