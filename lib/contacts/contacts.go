// Package contacts keeps the user's contacts file and resolves contacts:
// it pins the key first seen for a name (trust on first use, as ssh's
// known_hosts does), accepts a new key only when the old one signed a
// rotation to it, and otherwise refuses a changed key until the user has
// compared safety numbers out of band.
//
// The contacts file, $SMVS_HOME/contacts, is the user's own plain text
// file, one contact a line:
//
//	# comments and blank lines are kept as they are
//	alice smvs1… host=alice.example.net:7447 verified seq=1767225600000
//	bob smvs1…
//
// A line is a name (as names.Normalize makes it), a public id,
// then any of host=ADDR (the host to use instead of the one in the
// contact's record), verified (the user compared safety numbers) and
// seq=N (the highest sequence number of a record of that key accepted so
// far, a decimal number without leading zeros; none means none seen, as in
// files written before it existed). Nothing but the user and this package
// writes it; this package rewrites it atomically and keeps every comment,
// blank line and untouched line as it was. When only seq rises, the line
// keeps its spacing and order, and only its seq= changes or is added.
//
// Sequence numbers are how a client refuses a rollback: a directory can't
// forge a record, but it can serve an old one, with a host its owner left
// or a KEM key they retired. Resolve refuses a record whose sequence
// number is below the highest seen for its key (a *RollbackError).
package contacts

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/wire"
)

// Contact is one line of the contacts file.
type Contact struct {
	Name     string             // normalised, see names.Normalize
	Key      identity.PublicKey // the pinned identity key
	Host     string             // the host address to use instead of the record's; "" for the record's
	Verified bool               // the user compared safety numbers for Key
	// Seq is the highest sequence number of a record of Key accepted so
	// far, 0 for none; a record below it is a rollback.
	Seq uint64
}

// String returns c as a line of the contacts file, without the newline.
func (c Contact) String() string {
	s := c.Name + " " + c.Key.String()
	if c.Host != "" {
		s += " host=" + c.Host
	}
	if c.Verified {
		s += " verified"
	}
	if c.Seq != 0 {
		s += " seq=" + strconv.FormatUint(c.Seq, 10)
	}
	return s
}

// Check reports what makes c unfit for the contacts file, if anything.
func (c Contact) Check() error {
	if err := names.Check(c.Name); err != nil {
		return err
	}
	if c.Key.Kind() != identity.KindIdentity {
		return fmt.Errorf("%w: %s is not an identity key", identity.ErrBadPublicKey, c.Key)
	}
	if c.Host != "" {
		return CheckHost(c.Host)
	}
	return nil
}

// ErrBadHost means a host address is not HOST:PORT.
var ErrBadHost = errors.New("invalid host address")

// CheckHost reports whether addr is a host address as records and the
// contacts file carry it: HOST:PORT, with a port from 1 to 65535 and no
// space or control character, at most wire.MaxHostLen bytes.
func CheckHost(addr string) error {
	if len(addr) > wire.MaxHostLen {
		return fmt.Errorf("%w %q: longer than %d bytes", ErrBadHost, addr, wire.MaxHostLen)
	}
	if !utf8.ValidString(addr) || strings.IndexFunc(addr, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) >= 0 {
		return fmt.Errorf("%w %q: spaces and control characters are not allowed", ErrBadHost, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("%w %q: want HOST:PORT", ErrBadHost, addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%w %q: port %q is not a number from 1 to 65535", ErrBadHost, addr, port)
	}
	return nil
}

// ParseError is a line of the contacts file that could not be parsed.
type ParseError struct {
	Line int // from 1
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// File is the contents of a contacts file: its contacts, and its comments
// and blank lines in their places. The zero File is empty. A File is not
// safe for concurrent use.
type File struct {
	lines []line
}

// line is a line of the file: a contact, or text kept as it is.
type line struct {
	text    string   // the line as read, without its newline; "" for a new or changed contact
	contact *Contact // nil for a comment or blank line
}

// Parse parses the contents of a contacts file. An error is a
// *ParseError naming the first bad line.
func Parse(data []byte) (*File, error) {
	f := new(File)
	if len(data) == 0 {
		return f, nil
	}
	text := strings.TrimSuffix(string(data), "\n")
	names := map[string]int{}
	for i, s := range strings.Split(text, "\n") {
		n := i + 1
		s = strings.TrimRight(s, "\r")
		if !utf8.ValidString(s) {
			return nil, &ParseError{n, errors.New("not valid UTF-8")}
		}
		trimmed := strings.TrimSpace(s)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			f.lines = append(f.lines, line{text: s})
			continue
		}
		c, err := parseContact(trimmed)
		if err != nil {
			return nil, &ParseError{n, err}
		}
		if prev, dup := names[c.Name]; dup {
			return nil, &ParseError{n, fmt.Errorf("%q is already a contact, on line %d", c.Name, prev)}
		}
		names[c.Name] = n
		f.lines = append(f.lines, line{text: s, contact: c})
	}
	return f, nil
}

func parseContact(s string) (*Contact, error) {
	fields := strings.Fields(s)
	if len(fields) < 2 {
		return nil, fmt.Errorf("want NAME smvs1... [host=ADDR] [verified] [seq=N], got %q", s)
	}
	c := &Contact{Name: fields[0]}
	if err := names.Check(c.Name); err != nil {
		return nil, err
	}
	key, err := ParseKey(fields[1])
	if err != nil {
		return nil, err
	}
	c.Key = key
	seen := map[string]bool{}
	for _, opt := range fields[2:] {
		name, value, hasValue := strings.Cut(opt, "=")
		if seen[name] {
			return nil, fmt.Errorf("%s given twice", name)
		}
		seen[name] = true
		switch {
		case name == "host" && hasValue:
			if err := CheckHost(value); err != nil {
				return nil, err
			}
			c.Host = value
		case name == "verified" && !hasValue:
			c.Verified = true
		case name == "seq" && hasValue:
			seq, err := parseSeq(value)
			if err != nil {
				return nil, err
			}
			c.Seq = seq
		case strings.HasPrefix(opt, "#"):
			return nil, errors.New("a comment must be on a line of its own")
		default:
			return nil, fmt.Errorf("unknown option %q: want host=ADDR, verified or seq=N", opt)
		}
	}
	return c, nil
}

// parseSeq parses the value of seq=: a decimal number as
// strconv.FormatUint writes it, so that a line's seq= is one text only
// (raiseSeq finds and replaces it by that text).
func parseSeq(value string) (uint64, error) {
	n, err := strconv.ParseUint(value, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != value {
		return 0, fmt.Errorf("seq=%q: want a decimal number from 0 to %d without leading zeros", value, uint64(math.MaxUint64))
	}
	return n, nil
}

// Format returns the file's contents: its comments, blank lines and
// unchanged contacts as they were read, and new or changed contacts in
// the form Contact.String gives, each line ending in a newline.
func (f *File) Format() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		if l.text != "" || l.contact == nil {
			b.WriteString(l.text)
		} else {
			b.WriteString(l.contact.String())
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Contacts returns the contacts in the order of the file.
func (f *File) Contacts() []Contact {
	var out []Contact
	for _, l := range f.lines {
		if l.contact != nil {
			out = append(out, *l.contact)
		}
	}
	return out
}

// Lookup returns the contact named name (normalised).
func (f *File) Lookup(name string) (Contact, bool) {
	if i := f.index(name); i >= 0 {
		return *f.lines[i].contact, true
	}
	return Contact{}, false
}

// LookupKey returns the first contact whose key is key.
func (f *File) LookupKey(key identity.PublicKey) (Contact, bool) {
	for _, l := range f.lines {
		if l.contact != nil && l.contact.Key == key {
			return *l.contact, true
		}
	}
	return Contact{}, false
}

// Set adds c, or replaces the contact of the same name in its place. It
// refuses a contact that Check refuses.
func (f *File) Set(c Contact) error {
	if err := c.Check(); err != nil {
		return err
	}
	if i := f.index(c.Name); i >= 0 {
		if *f.lines[i].contact != c {
			f.lines[i] = line{contact: &c}
		}
		return nil
	}
	f.lines = append(f.lines, line{contact: &c})
	return nil
}

// Remove removes the contact named name and reports whether there was one.
func (f *File) Remove(name string) bool {
	i := f.index(name)
	if i >= 0 {
		f.lines = slices.Delete(f.lines, i, i+1)
	}
	return i >= 0
}

// seq returns the highest seq= of the lines whose key is key, 0 if none.
func (f *File) seq(key identity.PublicKey) uint64 {
	var seq uint64
	for _, l := range f.lines {
		if l.contact != nil && l.contact.Key == key {
			seq = max(seq, l.contact.Seq)
		}
	}
	return seq
}

// raiseSeq sets seq= to seq on every line whose key is key and whose seq=
// is lower: the mark is the key's, whichever names it goes by. A line read
// from the file keeps its text but for its seq= field, changed in its
// place or added at its end. It reports whether it changed a line.
func (f *File) raiseSeq(key identity.PublicKey, seq uint64) bool {
	changed := false
	for i, l := range f.lines {
		if l.contact == nil || l.contact.Key != key || l.contact.Seq >= seq {
			continue
		}
		c := *l.contact
		c.Seq = seq
		text := l.text
		if text != "" {
			text = setSeqField(text, seq)
		}
		f.lines[i] = line{text: text, contact: &c}
		changed = true
	}
	return changed
}

// setSeqField returns the contact line text with its seq= field set to
// seq: replaced where it is, or added at the end of the line. Fields are
// separated as strings.Fields separates them, as Parse reads them.
func setSeqField(text string, seq uint64) string {
	field := "seq=" + strconv.FormatUint(seq, 10)
	notSpace := func(r rune) bool { return !unicode.IsSpace(r) }
	for i := 0; i < len(text); {
		n := strings.IndexFunc(text[i:], notSpace)
		if n < 0 {
			break
		}
		start, end := i+n, len(text)
		if m := strings.IndexFunc(text[i+n:], unicode.IsSpace); m >= 0 {
			end = start + m
		}
		if strings.HasPrefix(text[start:end], "seq=") {
			return text[:start] + field + text[end:]
		}
		i = end
	}
	return strings.TrimRightFunc(text, unicode.IsSpace) + " " + field
}

func (f *File) index(name string) int {
	return slices.IndexFunc(f.lines, func(l line) bool { return l.contact != nil && l.contact.Name == name })
}
