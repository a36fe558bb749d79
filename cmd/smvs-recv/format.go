package main

import (
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
	contacts *contacts.File // may be empty, never nil
}

// message writes one message.
func (f *formatter) message(w io.Writer, it *hostapi.Item) error {
	if f.json {
		return writeJSON(w, f.messageJSON(it))
	}
	var b strings.Builder
	b.WriteString(time.UnixMilli(it.Sent).Local().Format(localTime))
	if it.Direction == delivery.Out {
		fmt.Fprintf(&b, " > %s (%s): ", f.peer(it).Label(), it.Status)
	} else {
		fmt.Fprintf(&b, " < %s: ", f.peer(it).Label())
	}
	if it.Kind == wire.KindText {
		b.WriteString(cli.Escape(string(it.Body)))
	} else {
		b.WriteString(describe(it))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
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
		parts = append(parts, cli.FormatSize(int64(len(it.Body))))
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
	Size        int      `json:"size"`
	Status      string   `json:"status"`
	Read        bool     `json:"read,omitempty"`
	Expires     string   `json:"expires,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
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
		ContentType: it.ContentType, FileName: it.FileName, Size: len(it.Body), Status: it.Status.String(),
		Read: it.Read, Warnings: warningNames(it.Warnings),
	}
	if len(it.Signed) > 0 {
		m.SignedBase64 = base64.StdEncoding.EncodeToString(it.Signed)
	}
	if it.Expires != 0 {
		m.Expires = jsonTime(it.Expires)
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
