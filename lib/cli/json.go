package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// WriteJSON writes v as one line of JSON (NDJSON), the way every command's
// --json does: <, > and & as they are, and every character that is not
// graphic — DEL, C1 controls such as U+009B (a terminal's CSI), bidirectional
// overrides such as U+202E, other invisible formatting — escaped as
// \uXXXX, so that text someone else chose can't act on a terminal the
// output reaches, and reads back the same.
func WriteJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeJSON(buf.Bytes()))
	return err
}

// escapeJSON escapes in encoded JSON, which is valid UTF-8 with every C0
// control but its final newline escaped already, each rune that is not
// graphic. Such runes can only stand inside strings, where \uXXXX means
// the same.
func escapeJSON(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == '\n' || r >= 0x20 && r < 0x7f || r >= utf8.RuneSelf && (unicode.IsGraphic(r) || r == '\u200c' || r == '\u200d') {
			out = append(out, b[i:i+size]...)
		} else if r > 0xffff {
			hi, lo := utf16Pair(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}

// utf16Pair is the surrogate pair JSON writes a rune above U+FFFF as.
func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
