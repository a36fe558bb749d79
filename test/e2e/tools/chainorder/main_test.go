package main

import (
	"slices"
	"testing"
)

// conversation builds an export's messages from "dir text hash prev"
// strings: dir is > (sent) or < (received).
func conversation(specs ...[4]string) []message {
	var ms []message
	for _, s := range specs {
		ms = append(ms, message{id: s[1], text: s[1], out: s[0] == ">", hash: s[2], prev: s[3]})
	}
	return ms
}

func flip(ms []message) []message {
	out := slices.Clone(ms)
	for i := range out {
		out[i].out = !out[i].out
	}
	return out
}

func TestOvertaking(t *testing.T) {
	// a1 ← a2 ← a3, with b1 from the peer, then a4 naming b1 (crossed).
	sender := conversation(
		[4]string{">", "a1", "h1", ""},
		[4]string{">", "a2", "h2", "h1"},
		[4]string{">", "a3", "h3", "h2"},
		[4]string{"<", "b1", "hb", "h3"},
		[4]string{">", "a4", "h4", "hb"},
		[4]string{">", "a5", "h5", "h4"},
	)
	byText := func(texts ...string) []message {
		var out []message
		for _, text := range texts {
			i := slices.IndexFunc(sender, func(m message) bool { return m.text == text })
			out = append(out, sender[i])
		}
		return flip(out)
	}
	for _, tc := range []struct {
		name     string
		received []message
		want     []string
	}{
		{"in order", byText("a1", "a2", "a3", "b1", "a4", "a5"), nil},
		{"a message before the one it names", byText("a2", "a1", "a3", "a4", "a5"), []string{"a2"}},
		{"the chain crossed: a4 and a5 may come before a3", byText("a1", "a2", "a4", "a5", "a3"), nil},
		{"a3 before a2, though crossed later", byText("a1", "a3", "a2", "a4", "a5"), []string{"a3"}},
		{"a5 before a4: its chain leads to a4, not back past it", byText("a1", "a2", "a3", "a5", "a4"), []string{"a5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := overtaking(sender, tc.received, "a"); !slices.Equal(got, tc.want) {
				t.Errorf("overtaking = %q, want %q", got, tc.want)
			}
		})
	}
}
