package cli

import (
	"bytes"
	"strings"
	"testing"

	"smvs/lib/identity"
	"smvs/lib/wire"
)

func TestPeerLabel(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, wire.KeySize)
	pk, err := identity.NewPublicKey(identity.KindIdentity, key)
	if err != nil {
		t.Fatal(err)
	}
	id := pk.String()
	prefix := id[:KeyPrefixLen] + "…"
	for _, tc := range []struct {
		what            string
		name, claimed   string
		label, long     string
		wantName, claim string
	}{
		{"a contact", "frank", "", "frank", "frank (" + id + ")", "frank", ""},
		{"a contact whose record claims another name", "frank", "francis", "frank", "frank (" + id + ")", "frank", ""},
		{"a stranger with a claim", "", "mallory", prefix + " (says mallory)", id + " (says mallory)", "", "mallory"},
		{"a stranger claiming a contact's name", "", "frank", prefix + " (says frank)", id + " (says frank)", "", "frank"},
		{"a stranger claiming nothing", "", "", prefix, id, "", ""},
		{"a contact name with escapes", "fr\x1b[2Jank\u202e", "", `fr\x1b[2Jank\u202e`, `fr\x1b[2Jank\u202e (` + id + ")", "fr\x1b[2Jank\u202e", ""},
		{"a claim with escapes", "", "x\x1b]0;owned\x07\u009b", prefix + ` (says x\x1b]0;owned\x07\u009b)`, id + ` (says x\x1b]0;owned\x07\u009b)`, "", "x\x1b]0;owned\x07\u009b"},
	} {
		p := NewPeer(key, tc.name, tc.claimed)
		if got := p.Label(); got != tc.label {
			t.Errorf("%s: Label %q, want %q", tc.what, got, tc.label)
		}
		if got := p.LongLabel(); got != tc.long {
			t.Errorf("%s: LongLabel %q, want %q", tc.what, got, tc.long)
		}
		if p.Name != tc.wantName || p.Claimed != tc.claim {
			t.Errorf("%s: Name %q, Claimed %q; want %q, %q", tc.what, p.Name, p.Claimed, tc.wantName, tc.claim)
		}
		for _, got := range []string{p.Label(), p.LongLabel()} {
			if strings.ContainsAny(got, "\x1b\x07\u202e\u009b") {
				t.Errorf("%s: %q reaches the terminal unescaped", tc.what, got)
			}
		}
	}
}

// A stranger's label never reads as a contact's: it starts with its key,
// whatever name it claims.
func TestPeerLabelStrangerStartsWithKey(t *testing.T) {
	key := bytes.Repeat([]byte{0x11}, wire.KeySize)
	for _, claimed := range []string{"frank", "smvs1", "", "frank (says bob)"} {
		if got := NewPeer(key, "", claimed).Label(); !strings.HasPrefix(got, "smvs1") || got == claimed {
			t.Errorf("claiming %q: %q", claimed, got)
		}
	}
}

// Bytes that are no identity key show in hexadecimal rather than vanish.
func TestPeerLabelNotAKey(t *testing.T) {
	if got := NewPeer([]byte{1, 2, 3}, "", "frank").Label(); got != "010203 (says frank)" {
		t.Errorf("got %q", got)
	}
}
