package cli

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape makes s, a string someone else chose (a message, a name), safe
// to print on one line of a terminal: a newline, tab or carriage return
// becomes \n, \t or \r, a backslash \\, and any other control or
// invisible formatting character (a bidirectional override, say, which
// could make the line read otherwise) \xHH, \uHHHH or \UHHHHHHHH, as do
// bytes that are not UTF-8. The joiners of emoji sequences stay.
func Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case unicode.IsGraphic(r) || r == '\u200c' || r == '\u200d':
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	return b.String()
}
