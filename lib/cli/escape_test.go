package cli

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode, 日本語\u3000全角": "plain text, ünïcode, 日本語\u3000全角",
		"a\nb\r\nc\td":                `a\nb\r\nc\td`,
		`back\slash`:                  `back\\slash`,
		"\x1b[2J\x07\x00\x7f":         `\x1b[2J\x07\x00\x7f`,
		"\u202egnp.exe \u2066x\u2069": `\u202egnp.exe \u2066x\u2069`,
		"\xff\xfe":                    `\xff\xfe`,
		"👩‍💻 👍🏽":                      "👩‍💻 👍🏽",
		"\U000e0001":                  `\U000e0001`,
		"\u0085\u2028":                `\u0085\u2028`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
