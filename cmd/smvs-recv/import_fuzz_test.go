package main

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	"smvs/lib/contacts"
)

// FuzzParseExportLine feeds --import arbitrary lines: none may panic, and
// a line it takes as a message is written back by --export as a line that
// reads as the same message.
func FuzzParseExportLine(f *testing.F) {
	for _, seed := range []string{
		`{"event":"message","seq":1,"id":"00112233445566778899aabbccddeeff","time":"2026-12-02T10:00:00.000Z",` +
			`"stored":"2026-12-02T10:00:00.007Z","direction":"in","peer":"` + key(aliceKey) + `","kind":"text",` +
			`"size":2,"status":"received","read":true,"warnings":["gap","fork"],"text":"hi","signed_base64":"c2lnbmVk"}`,
		`{"event":"message","id":"00112233445566778899aabbccddeeff","time":"2026-12-02T10:00:00Z","stored":"2026-12-02T10:00:01Z",` +
			`"direction":"out","peer":"` + key(bobKey) + `","kind":"file","file_name":"a.png","content_type":"image/png",` +
			`"status":"delivered","expires":"2026-12-03T00:00:00Z","body_base64":"iVBORw=="}`,
		`{"event":"status","seq":2,"status":"sent"}`,
		`{"event":"deleted","seq":1}`,
		`{"event":"message"}`,
		`not json`,
	} {
		f.Add([]byte(seed))
	}
	empty, err := contacts.Parse(nil)
	if err != nil {
		f.Fatal(err)
	}
	out := &formatter{json: true, contacts: empty}
	f.Fuzz(func(t *testing.T, line []byte) {
		it, err := parseExportLine(line)
		if err != nil || it == nil {
			return
		}
		var buf bytes.Buffer
		if err := writeJSON(&buf, out.messageJSON(it)); err != nil {
			t.Fatal(err)
		}
		again, err := parseExportLine(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		if err != nil {
			t.Fatalf("the export of %q does not import: %v\n%s", line, err, buf.Bytes())
		}
		if len(it.Signed) == 0 {
			it.Signed = again.Signed // no signed bytes: "" and none are the same
		}
		if !reflect.DeepEqual(it, again) {
			t.Fatalf("%q imports as\n%+v\nits export as\n%+v", line, it, again)
		}
	})
}

// FuzzLineReader: the lines --import reads are the input's, split at its
// newlines (the last may lack one), and each over the limit is skipped
// whole, never returned in part.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("one\n\ntwo"), uint8(3))
	f.Add([]byte("a long line\nshort\n"), uint8(5))
	f.Add([]byte("\n"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint8) {
		var want []string
		if len(data) > 0 {
			for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				if len(l) > int(limit) {
					l = "(too long)"
				}
				want = append(want, l)
			}
		}
		got := readLines(t, bytes.NewReader(data), int(limit))
		if !slices.Equal(got, want) {
			t.Errorf("lines %q, want %q", got, want)
		}
	})
}
