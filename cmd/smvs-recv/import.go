package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
	"smvs/lib/cli/hostcli"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// maxImportBatch bounds the bodies and signed bytes of one import request
// (one message larger than that goes alone), well below a frame's limit.
const maxImportBatch = 64 << 20

// maxImportLine bounds a line of an export that --import reads. An import
// carries only bodies of at most hostapi.StreamThreshold, and a line holds
// one at most twice: as JSON text, up to 6 bytes a byte (\u0001), and in
// the signed message, in base64. A longer line, a larger body's, is
// skipped without being held.
const maxImportLine = 8 * hostapi.StreamThreshold

// errStreamedBody is a message whose body is over hostapi.StreamThreshold:
// an export carries it, an import can't yet.
var errStreamedBody = errors.New("its body is over 1 MiB, which --import can't restore yet")

func parseImport(c *urfave.Context) (*options, error) {
	for _, name := range []string{"follow", "export", "since", "from", "cursor", "unread", "mark-read", "until"} {
		if c.IsSet(name) {
			return nil, cli.UsageErrorf(c, "--import restores an export: it can't be used with --%s", name)
		}
	}
	if err := cli.CheckArgs(c, 0, 1); err != nil {
		return nil, err
	}
	return &options{importing: true, importFile: c.Args().First(), json: c.Bool("json")}, nil
}

// importExport reads an export and has the host restore its messages, in
// batches, each as soon as it is full: a bad line stops the import there,
// with what came before it imported.
func importExport(ctx context.Context, c *urfave.Context, o *options, stdin io.Reader) error {
	src, what := stdin, "standard input"
	if o.importFile != "" && o.importFile != "-" {
		f, err := os.Open(o.importFile)
		if err != nil {
			return cli.Errorf("%w", err)
		}
		defer f.Close()
		src, what = f, o.importFile
	}
	client, err := hostcli.Dial(ctx, c)
	if err != nil {
		return recvError(err)
	}
	defer client.Close()

	var total hostapi.ImportResult
	var batch []*hostapi.Item
	size, first, n := 0, 0, 0 // first: the line of batch[0]
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := client.Import(ctx, batch)
		if err != nil {
			return importError(err, total, first)
		}
		total.Added += res.Added
		total.Present += res.Present
		batch, size = nil, 0
		return nil
	}

	var skipped []int // lines of messages whose body is too large to import
	lines := newLineReader(src, maxImportLine)
	for {
		line, err := lines.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return cli.Errorf("reading %s after line %d: %w", what, n, err).
				WithHintf("the messages up to line %d are imported (%s)", n, imported(total))
		}
		n++
		var it *hostapi.Item
		if err == nil {
			it, err = parseExportLine(line)
		} else {
			err = errStreamedBody // only a larger body's line is this long
		}
		if errors.Is(err, errStreamedBody) {
			skipped = append(skipped, n)
			continue
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return cli.Errorf("%s, line %d: %w", what, n, err).
				WithHintf("the messages before line %d are imported (%s); none after it", n, imported(total)).
				WithHintf("smvs-recv --import reads what smvs-recv --export prints")
		}
		if it == nil {
			continue
		}
		if len(batch) == hostapi.MaxImportItems || (len(batch) > 0 && size+len(it.Body)+len(it.Signed) > maxImportBatch) {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(batch) == 0 {
			first = n
		}
		batch = append(batch, it)
		size += len(it.Body) + len(it.Signed)
	}
	if err := flush(); err != nil {
		return err
	}
	if o.json {
		err = writeJSON(c.App.Writer, importJSON{Imported: total.Added, Present: total.Present, Skipped: len(skipped)})
	} else {
		_, err = fmt.Fprintf(c.App.Writer, "imported %s\n", imported(total))
	}
	if err != nil {
		return cli.Errorf("writing to standard output: %w", err)
	}
	if len(skipped) > 0 {
		why := "its body is over 1 MiB"
		if len(skipped) > 1 {
			why = "their bodies are over 1 MiB"
		}
		return cli.Errorf("%s: %s not imported: %s, which --import can't restore yet", what, lineList(skipped), why).
			WithHintf("every other message is imported; keep the export, which holds those bodies")
	}
	return nil
}

// lineList names the messages of lines: "the message of line 4", "the 3
// messages of lines 4, 9 and 12", the first 10 of more.
func lineList(lines []int) string {
	const most = 10
	if len(lines) == 1 {
		return fmt.Sprintf("the message of line %d", lines[0])
	}
	var b strings.Builder
	for i, l := range lines[:min(len(lines), most)] {
		switch {
		case i == 0:
		case i == len(lines)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprint(&b, l)
	}
	if len(lines) > most {
		fmt.Fprintf(&b, " and %d more", len(lines)-most)
	}
	return fmt.Sprintf("the %d messages of lines %s", len(lines), b.String())
}

// errLineTooLong is a line over a lineReader's limit, which it skipped.
var errLineTooLong = errors.New("line too long")

// lineReader reads lines of at most limit bytes; it skips a longer one to
// its end, holding none of it, and says so (errLineTooLong).
type lineReader struct {
	r     *bufio.Reader
	limit int
	buf   []byte
}

func newLineReader(r io.Reader, limit int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

// next returns the next line without its newline, valid until the next
// call; io.EOF after the last.
func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	long := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !long {
			n := len(l.buf) + len(bytes.TrimSuffix(chunk, []byte("\n")))
			if n > l.limit {
				long, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && (long || len(l.buf) > 0):
			// A last line without its newline.
		case err != nil:
			return nil, err
		}
		if long {
			return nil, errLineTooLong
		}
		return bytes.TrimSuffix(l.buf, []byte("\n")), nil
	}
}

// imported says what an import did: "28 messages (12 already here)".
func imported(r hostapi.ImportResult) string {
	s := fmt.Sprintf("%d messages", r.Added)
	if r.Added == 1 {
		s = "1 message"
	}
	return fmt.Sprintf("%s (%d already here)", s, r.Present)
}

// importJSON is what --import --json prints.
type importJSON struct {
	Imported int `json:"imported"`
	Present  int `json:"present"`
	Skipped  int `json:"skipped,omitempty"` // messages whose body is over 1 MiB
}

// importError explains a failed import request, of the messages from
// line first on.
func importError(err error, before hostapi.ImportResult, first int) error {
	var hostErr *hostapi.Error
	if errors.As(err, &hostErr) && hostErr.Code == hostapi.ErrForbidden {
		return cli.Errorf("%s", hostErr.Message).
			WithHintf("an import restores a host's store: run smvs-recv --import on the host's own machine, over its socket")
	}
	e := recvError(err)
	if ce, ok := e.(*cli.Error); ok {
		ce.WithHintf("the messages before line %d are imported (%s); none of those from line %d on", first, imported(before), first)
	}
	return e
}

// exportLine is a line of an export, as messageJSON writes it.
type exportLine struct {
	Event        string   `json:"event"`
	ID           string   `json:"id"`
	Time         string   `json:"time"`
	Stored       string   `json:"stored"`
	Direction    string   `json:"direction"`
	Peer         string   `json:"peer"`
	Kind         string   `json:"kind"`
	ContentType  string   `json:"content_type"`
	FileName     string   `json:"file_name"`
	Status       string   `json:"status"`
	Read         bool     `json:"read"`
	Expires      string   `json:"expires"`
	Warnings     []string `json:"warnings"`
	Size         int64    `json:"size"`
	Text         *string  `json:"text"`
	BodyBase64   *string  `json:"body_base64"`
	SignedBase64 string   `json:"signed_base64"`
}

// parseExportLine turns a line of an export into the message it holds; a
// status or deletion event, or an empty line, is none (nil).
func parseExportLine(line []byte) (*hostapi.Item, error) {
	if len(line) == 0 {
		return nil, nil
	}
	var l exportLine
	if err := json.Unmarshal(line, &l); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	switch l.Event {
	case "message":
	case "status", "deleted":
		return nil, nil
	default:
		return nil, fmt.Errorf("event %q is not a message", l.Event)
	}
	if l.Size > hostapi.StreamThreshold {
		return nil, errStreamedBody
	}
	it := &hostapi.Item{ContentType: l.ContentType, FileName: l.FileName, Read: l.Read}
	var err error
	if it.Peer, err = parseKey(l.Peer); err != nil {
		return nil, err
	}
	if it.ID, err = hex.DecodeString(l.ID); err != nil || len(it.ID) != wire.MessageIDSize {
		return nil, fmt.Errorf("invalid id %q: want %d hexadecimal digits", l.ID, 2*wire.MessageIDSize)
	}
	switch l.Direction {
	case "in":
		it.Direction = delivery.In
	case "out":
		it.Direction = delivery.Out
	default:
		return nil, fmt.Errorf("invalid direction %q: want in or out", l.Direction)
	}
	if it.Sent, err = parseJSONTime("time", l.Time, true); err != nil {
		return nil, err
	}
	if it.Stored, err = parseJSONTime("stored", l.Stored, true); err != nil {
		return nil, err
	}
	if it.Expires, err = parseJSONTime("expires", l.Expires, false); err != nil {
		return nil, err
	}
	switch l.Kind {
	case "text":
		it.Kind = wire.KindText
	case "file":
		it.Kind = wire.KindFile
	default:
		return nil, fmt.Errorf("invalid kind %q: want text or file", l.Kind)
	}
	if it.Status, err = parseStatus(l.Status); err != nil {
		return nil, err
	}
	if it.Warnings, err = parseWarnings(l.Warnings); err != nil {
		return nil, err
	}
	switch {
	case l.Text != nil && l.BodyBase64 == nil:
		it.Body = []byte(*l.Text)
	case l.BodyBase64 != nil && l.Text == nil:
		if it.Body, err = base64.StdEncoding.DecodeString(*l.BodyBase64); err != nil {
			return nil, fmt.Errorf("invalid body_base64: %w", err)
		}
	default:
		return nil, errors.New("a message has either text or body_base64")
	}
	if it.Signed, err = base64.StdEncoding.DecodeString(l.SignedBase64); err != nil {
		return nil, fmt.Errorf("invalid signed_base64: %w", err)
	}
	return it, nil
}

func parseKey(s string) ([]byte, error) {
	key, err := identity.ParsePublicKey(s)
	if err != nil || key.Kind() != identity.KindIdentity {
		return nil, fmt.Errorf("invalid peer %q: want an smvs1... key", s)
	}
	return key.Bytes(), nil
}

// parseJSONTime parses a time as jsonTime writes it, into Unix ms; an
// empty one is 0 unless it is required.
func parseJSONTime(field, s string, required bool) (int64, error) {
	if s == "" && !required {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: want a time in RFC 3339", field, s)
	}
	return t.UnixMilli(), nil
}

func parseStatus(s string) (delivery.Status, error) {
	for st := delivery.Queued; st <= delivery.Refused; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("invalid status %q", s)
}

func parseWarnings(names []string) ([]delivery.Warning, error) {
	var out []delivery.Warning
	for _, name := range names {
		w := delivery.WarnGap
		for w <= delivery.WarnRotated && w.String() != name {
			w++
		}
		if w > delivery.WarnRotated {
			return nil, fmt.Errorf("unknown warning %q", name)
		}
		out = append(out, w)
	}
	return out, nil
}
