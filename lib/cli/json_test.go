package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestWriteJSON(t *testing.T) {
	hostile := "a\u009b2J\u202egnp.exe\u2066x\u200ez\U000e0041 <b>&\x1b]0;t\x07 👩\u200d💻 é\n"
	var buf bytes.Buffer
	if err := WriteJSON(&buf, map[string]string{"text": hostile}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	want := `{"text":"a\u009b2J\u202egnp.exe\u2066x\u200ez\udb40\udc41 <b>&\u001b]0;t\u0007 👩` + "\u200d" + `💻 é\n"}` + "\n"
	if out != want {
		t.Errorf("WriteJSON = %s, want %s", out, want)
	}
	for _, r := range out[:len(out)-1] {
		if !(r >= 0x20 && r < 0x7f || unicode.IsGraphic(r) && r >= 0xa0 || r == '\u200d') {
			t.Errorf("raw %U in the output", r)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back["text"] != hostile {
		t.Errorf("reads back as %q, %v", back["text"], err)
	}
}

func FuzzWriteJSON(f *testing.F) {
	f.Add("plain")
	f.Add("\u009b\u202e\U000e0001\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, []string{s}); err != nil {
			t.Fatal(err)
		}
		for _, r := range buf.String() {
			if r != '\n' && !unicode.IsGraphic(r) && r != '\u200c' && r != '\u200d' {
				t.Fatalf("%q: %U in the output %q", s, r, buf.String())
			}
		}
		var back []string
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && back[0] != s {
			t.Fatalf("%q reads back as %q", s, back[0])
		}
	})
}
