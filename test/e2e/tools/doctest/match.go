package main

import (
	"fmt"
	"regexp"
	"strings"
)

// Placeholders stands for the values a document can only show as examples
// (keys, pins, pairing codes, addresses): the first time one appears in a
// command's output, it is bound to what the real command printed there;
// from then on it must print the same, and commands that use it get it.
type Placeholders struct {
	prefixes []string          // a token that starts with one of these and ends in … is a placeholder
	exact    []string          // these tokens are placeholders as they stand
	bound    map[string]string // placeholder -> its value
}

// NewPlaceholders returns placeholders of the given prefixes (smvs1 in
// "smvs1crrx…") and exact tokens.
func NewPlaceholders(prefixes, exact []string) *Placeholders {
	return &Placeholders{prefixes: prefixes, exact: exact, bound: make(map[string]string)}
}

// keyChars are the characters of a key, pin or code as the commands print them.
const keyChars = `[A-Za-z0-9+/=_-]`

// tokens returns where in s each placeholder is, in order.
func (p *Placeholders) tokens(s string) [][2]int {
	var alts []string
	for _, pre := range p.prefixes {
		alts = append(alts, regexp.QuoteMeta(pre)+keyChars+`*…`)
	}
	for _, e := range p.exact {
		alts = append(alts, `\b`+regexp.QuoteMeta(e)+`\b`) // 42, not the 42 in 7442
	}
	if len(alts) == 0 {
		return nil
	}
	re := regexp.MustCompile(strings.Join(alts, "|"))
	var out [][2]int
	for _, m := range re.FindAllStringIndex(s, -1) {
		out = append(out, [2]int{m[0], m[1]})
	}
	return out
}

// Fill replaces every placeholder in a command with its value. A
// placeholder not yet seen in any output is an error: the document uses a
// value before it showed where it comes from.
func (p *Placeholders) Fill(cmd string) (string, error) {
	var b strings.Builder
	last := 0
	for _, t := range p.tokens(cmd) {
		tok := cmd[t[0]:t[1]]
		v, ok := p.bound[tok]
		if !ok {
			return "", fmt.Errorf("%s is used before any output showed it", tok)
		}
		b.WriteString(cmd[last:t[0]])
		b.WriteString(v)
		last = t[1]
	}
	b.WriteString(cmd[last:])
	return b.String(), nil
}

// dateTime matches the dates and times a document shows; each stands for
// any date or time of the same shape.
var dateTime = regexp.MustCompile(`\d{4}-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d)?Z?)?|\d\d:\d\d(?::\d\d)?`)

// lineMatcher is one expected line: a regular expression and the
// placeholders its groups capture.
type lineMatcher struct {
	re     *regexp.Regexp
	tokens []string
}

// compile turns an expected line into a matcher: "…" matches anything, a
// date or time any date or time, a placeholder any key-like word.
func (p *Placeholders) compile(line string) lineMatcher {
	var (
		b      strings.Builder
		tokens []string
	)
	literal := func(s string) {
		last := 0
		for _, m := range dateTime.FindAllStringIndex(s, -1) {
			literalText(&b, s[last:m[0]])
			b.WriteString("(?:" + dateTime.String() + ")")
			last = m[1]
		}
		literalText(&b, s[last:])
	}
	last := 0
	for _, t := range p.tokens(line) {
		literal(line[last:t[0]])
		tok := line[t[0]:t[1]]
		tokens = append(tokens, tok)
		if strings.HasSuffix(tok, "…") {
			pre := ""
			for _, known := range p.prefixes {
				if strings.HasPrefix(tok, known) && len(known) > len(pre) {
					pre = known
				}
			}
			b.WriteString("(" + regexp.QuoteMeta(pre) + keyChars + "*…?)")
		} else {
			b.WriteString(`(\S+?)`)
		}
		last = t[1]
	}
	literal(line[last:])
	return lineMatcher{re: regexp.MustCompile("^" + b.String() + "$"), tokens: tokens}
}

// literalText writes s quoted, with each "…" matching anything and each
// run of spaces any run of spaces (columns are as wide as their values).
func literalText(b *strings.Builder, s string) {
	for i, part := range strings.Split(s, "…") {
		if i > 0 {
			b.WriteString(".*")
		}
		for j, word := range spaces.Split(part, -1) {
			if j > 0 {
				b.WriteString(` +`)
			}
			b.WriteString(regexp.QuoteMeta(word))
		}
	}
}

var spaces = regexp.MustCompile(` +`)

// match reports whether an actual line matches, and if so binds the
// placeholders it captured. A bound placeholder matches its value, or the
// value shortened with "…".
func (p *Placeholders) match(m lineMatcher, actual string) bool {
	sub := m.re.FindStringSubmatch(actual)
	if sub == nil {
		return false
	}
	fresh := make(map[string]string)
	for i, tok := range m.tokens {
		got := sub[i+1]
		want, ok := p.bound[tok]
		if !ok {
			want, ok = fresh[tok]
		}
		switch {
		case !ok && strings.HasSuffix(got, "…"):
			// Printed shortened: it can't be bound here, but it fits.
		case !ok:
			fresh[tok] = got
		case got == want:
		case strings.HasSuffix(got, "…") && strings.HasPrefix(want, strings.TrimSuffix(got, "…")):
		default:
			return false
		}
	}
	for k, v := range fresh {
		p.bound[k] = v
	}
	return true
}

// Match checks that the expected lines appear in order among the actual
// ones (others may come between them) and returns the first expected line
// that doesn't, or -1. Placeholders are bound only when all lines match.
func (p *Placeholders) Match(expected, actual []string) int {
	saved := make(map[string]string, len(p.bound))
	for k, v := range p.bound {
		saved[k] = v
	}
	i := 0
	for e, line := range expected {
		m := p.compile(line)
		for i < len(actual) && !p.match(m, actual[i]) {
			i++
		}
		if i == len(actual) {
			p.bound = saved
			return e
		}
		i++
	}
	return -1
}
