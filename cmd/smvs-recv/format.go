package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// localTime is the layout of times in the text output (and one that
// --since reads back).
const localTime = cli.TimeLayout

// formatter writes messages and status changes as lines of text or as
// NDJSON.
type formatter struct {
	json     bool
	export   bool           // streamed bodies go in the JSON output too
	contacts *contacts.File // may be empty, never nil
}

// message writes one message.
func (f *formatter) message(w io.Writer, it *hostapi.Item) error {
	if f.json {
		return writeJSON(w, f.messageJSON(it))
	}
	var b strings.Builder
	b.WriteString(f.lineStart(it))
	if it.Kind == wire.KindText {
		b.WriteString(cli.Escape(string(it.Body)))
	} else {
		b.WriteString(describe(it))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// lineStart is the start of a message's line in the text output, up to
// its text.
func (f *formatter) lineStart(it *hostapi.Item) string {
	start := time.UnixMilli(it.Sent).Local().Format(localTime)
	if it.Direction == delivery.Out {
		return fmt.Sprintf("%s > %s (%s): ", start, f.peer(it).Label(), it.Status)
	}
	return fmt.Sprintf("%s < %s: ", start, f.peer(it).Label())
}

// needsBody reports whether writing it takes its streamed body, which the
// Item does not carry: in an export, or as the text of a text message in
// the text output. The --json listing gives its size and says it is
// streamed, for --raw to fetch: a line of a gigabyte of base64 is no use
// to jq.
func (f *formatter) needsBody(it *hostapi.Item) bool {
	return it.Streamed() && (f.export || !f.json && it.Kind == wire.KindText)
}

// streamed writes a message whose streamed body is read from body, as
// message writes the others, holding no more than a part of it: the JSON
// object with its body_base64 encoded as the body comes, or the line with
// the text escaped as it comes.
func (f *formatter) streamed(w io.Writer, it *hostapi.Item, body io.Reader) error {
	if !f.json {
		if _, err := io.WriteString(w, f.lineStart(it)); err != nil {
			return err
		}
		if err := escapeTo(w, body); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	}
	var obj bytes.Buffer
	if err := writeJSON(&obj, f.messageJSON(it)); err != nil {
		return err
	}
	if _, err := w.Write(bytes.TrimSuffix(obj.Bytes(), []byte("}\n"))); err != nil {
		return err
	}
	if _, err := io.WriteString(w, `,"body_base64":"`); err != nil {
		return err
	}
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := io.Copy(enc, body); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\"}\n")
	return err
}

// escapeTo writes what r reads escaped as cli.Escape does, a piece at a
// time, never cutting a character in two.
func escapeTo(w io.Writer, r io.Reader) error {
	buf := make([]byte, 64<<10)
	kept := 0 // the start of a character cut at the end of the last read
	for {
		n, err := r.Read(buf[kept:])
		end := kept + n
		cut := end
		if err == nil {
			cut = wholeRunes(buf[:end])
		}
		if _, werr := io.WriteString(w, cli.Escape(string(buf[:cut]))); werr != nil {
			return werr
		}
		kept = copy(buf, buf[cut:end])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// wholeRunes returns the length of b without a UTF-8 character cut short
// at its end.
func wholeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

// bodySize is the size of it's body, streamed or not.
func bodySize(it *hostapi.Item) int64 {
	if it.Streamed() {
		return it.Size
	}
	return int64(len(it.Body))
}

// status writes a change of a message's delivery status; only the JSON
// output has them.
func (f *formatter) status(w io.Writer, it *hostapi.Item) error {
	if !f.json {
		return nil
	}
	p := f.peer(it)
	return writeJSON(w, statusJSON{
		Event: "status", Seq: it.Seq, ID: hex.EncodeToString(it.ID), Direction: direction(it.Direction),
		Peer: p.ID(), PeerName: p.Name, ClaimedName: p.Claimed, Status: it.Status.String(), Read: it.Read,
		Warnings: warningNames(it.Warnings),
	})
}

// deleted writes that the messages seqs were deleted; only the JSON output
// has them, one line a message.
func (f *formatter) deleted(w io.Writer, seqs []uint64) error {
	if !f.json {
		return nil
	}
	for _, seq := range seqs {
		if err := writeJSON(w, deletedJSON{Event: "deleted", Seq: seq}); err != nil {
			return err
		}
	}
	return nil
}

// warnings tells, in the text output, what the message it revealed about
// its conversation's chain: a warning line on standard error for each.
// The JSON output has them in the message's object.
func (f *formatter) warnings(c *urfave.Context, it *hostapi.Item) {
	if f.json {
		return
	}
	name := f.peer(it).Label()
	for _, w := range it.Warnings {
		switch w {
		case delivery.WarnGap:
			cli.Warningf(c, "%s: a message before seq %d never arrived (gap)", name, it.Seq)
		case delivery.WarnFork:
			cli.Warningf(c, "%s: %s sent another message after the same one as seq %d (fork)", name, name, it.Seq)
		case delivery.WarnChanged:
			cli.Warningf(c, "%s: %s sent message seq %d again with other content (changed)", name, name, it.Seq)
		case delivery.WarnRotated:
			cli.Warningf(c, "%s: after seq %d, %s moved to a new key %s, signed by the old one (rotated)",
				name, it.Seq, name, f.peer(it).ID())
		default:
			cli.Warningf(c, "%s: seq %d: %s", name, it.Seq, w)
		}
	}
}

// warningNames names warnings for the JSON output.
func warningNames(ws []delivery.Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

// peer is the message's peer as the output names it (cli.Peer): a
// contact by the user's own name for it in the local contacts file, else
// by the host's; a stranger by the name its record claims, as a claim.
func (f *formatter) peer(it *hostapi.Item) cli.Peer {
	return f.peerOf(it.Peer, it.PeerName, it.ClaimedName)
}

func (f *formatter) peerOf(peer []byte, contact, claimed string) cli.Peer {
	if key, err := identity.NewPublicKey(identity.KindIdentity, peer); err == nil {
		if c, ok := f.contacts.LookupKey(key); ok {
			contact = c.Name
		}
	}
	return cli.NewPeer(peer, contact, claimed)
}

// describe says what a message that is not text is, and how to get it:
// "[file report.pdf, application/pdf, 1.2 MiB, seq 42]".
func describe(it *hostapi.Item) string {
	return fmt.Sprintf("[%s, seq %d]", summary(it), it.Seq)
}

// summary says what a message that is not text is:
// "file report.pdf, application/pdf, 1.2 MiB".
func summary(it *hostapi.Item) string {
	parts := []string{it.Kind.String()}
	if it.FileName != "" {
		parts[0] += " " + cli.Escape(it.FileName)
	}
	if it.Kind == wire.KindFile {
		if it.ContentType != "" {
			parts = append(parts, cli.Escape(it.ContentType))
		}
		parts = append(parts, cli.FormatSize(bodySize(it)))
	}
	return strings.Join(parts, ", ")
}

// messageJSON is a message in the --json output.
type messageJSON struct {
	Event       string   `json:"event"` // "message"
	Seq         uint64   `json:"seq"`
	ID          string   `json:"id"`
	Time        string   `json:"time"`
	Stored      string   `json:"stored"`
	Direction   string   `json:"direction"`
	Peer        string   `json:"peer"`
	PeerName    string   `json:"peer_name,omitempty"`    // a contact's name, never a stranger's claim
	ClaimedName string   `json:"claimed_name,omitempty"` // the name a stranger's record claims
	Kind        string   `json:"kind"`
	ContentType string   `json:"content_type,omitempty"`
	FileName    string   `json:"file_name,omitempty"`
	Size        int64    `json:"size"`
	Status      string   `json:"status"`
	Read        bool     `json:"read,omitempty"`
	Expires     string   `json:"expires,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
	Streamed    bool     `json:"streamed,omitempty"` // in the --json listing: the body is left out, for --raw SEQ
	Text        *string  `json:"text,omitempty"`
	BodyBase64  *string  `json:"body_base64,omitempty"`
	// SignedBase64 is the signed message, in an export: what an import
	// gives the host to check.
	SignedBase64 string `json:"signed_base64,omitempty"`
}

// deletedJSON is a message deleted, in the --json output.
type deletedJSON struct {
	Event string `json:"event"` // "deleted"
	Seq   uint64 `json:"seq"`
}

// statusJSON is a change of delivery status in the --json output.
type statusJSON struct {
	Event       string   `json:"event"` // "status"
	Seq         uint64   `json:"seq"`
	ID          string   `json:"id"`
	Direction   string   `json:"direction"`
	Peer        string   `json:"peer"`
	PeerName    string   `json:"peer_name,omitempty"`
	ClaimedName string   `json:"claimed_name,omitempty"`
	Status      string   `json:"status"`
	Read        bool     `json:"read,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
}

func (f *formatter) messageJSON(it *hostapi.Item) messageJSON {
	p := f.peer(it)
	m := messageJSON{
		Event: "message", Seq: it.Seq, ID: hex.EncodeToString(it.ID),
		Time: jsonTime(it.Sent), Stored: jsonTime(it.Stored), Direction: direction(it.Direction),
		Peer: p.ID(), PeerName: p.Name, ClaimedName: p.Claimed, Kind: it.Kind.String(),
		ContentType: it.ContentType, FileName: it.FileName, Size: bodySize(it), Status: it.Status.String(),
		Read: it.Read, Warnings: warningNames(it.Warnings),
	}
	if len(it.Signed) > 0 {
		m.SignedBase64 = base64.StdEncoding.EncodeToString(it.Signed)
	}
	if it.Expires != 0 {
		m.Expires = jsonTime(it.Expires)
	}
	if it.Streamed() {
		m.Streamed = !f.export
		return m // the body streams in after it (streamed), in an export
	}
	if it.Kind == wire.KindText && utf8.Valid(it.Body) {
		text := string(it.Body)
		m.Text = &text
	} else {
		b64 := base64.StdEncoding.EncodeToString(it.Body)
		m.BodyBase64 = &b64
	}
	return m
}

// jsonTime formats Unix milliseconds as RFC 3339 in UTC.
func jsonTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func direction(d delivery.Direction) string {
	if d == delivery.Out {
		return "out"
	}
	return "in"
}

// writeJSON writes v as one line of JSON (cli.WriteJSON).
func writeJSON(w io.Writer, v any) error { return cli.WriteJSON(w, v) }
