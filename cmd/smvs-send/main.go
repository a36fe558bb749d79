// Command smvs-send hands a message to the user's host, which seals it for
// the recipient and delivers it: standard input as one message, each line
// as a message of its own (-l), or a file. See man/smvs-send.1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"smvs/lib/cli"
	"smvs/lib/cli/hostcli"
	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// Exit statuses beyond cli's, documented in the man page.
const (
	exitUnknownRecipient = 3 // no contact, key or directory name resolves
	exitKeyChanged       = 4 // the recipient's key differs from the pinned one
	exitHostNotRunning   = 5 // nothing listens on the host's socket
	exitNotDelivered     = 6 // --wait: queued, but not delivered in time
	exitTooLarge         = 7 // over the host's size limit or its quota
	exitNotLinked        = 8 // a remote device the host does not know, or revoked
)

// defaultTimeout is how long --wait waits.
const defaultTimeout = 30 * time.Second

// octetStream is the content type of bytes of no known type.
const octetStream = "application/octet-stream"

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run runs smvs-send with args, reading stdin, and returns its exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin)
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

func newApp(stdin io.Reader) *urfave.App {
	return &urfave.App{
		Name:  "smvs-send",
		Usage: "send standard input, each line of it, or a file to a contact",
		UsageText: "smvs-send [--wait [--timeout DURATION]] [--expires DURATION] [--json] RECIPIENT < MESSAGE\n" +
			"smvs-send -l [--wait [--timeout DURATION]] [--expires DURATION] [--json] RECIPIENT < LINES\n" +
			"smvs-send --file FILE [--name NAME] [--type TYPE] [--wait [--timeout DURATION]] [--expires DURATION] [--json] RECIPIENT",
		Description: "Hands a message to your host, which seals it for RECIPIENT (a contact name, an smvs1... key\n" +
			"or a name in a directory) and delivers it. Exits 0 once the host has stored it durably.",
		ArgsUsage: "RECIPIENT",
		Flags: []urfave.Flag{
			&urfave.BoolFlag{Name: "lines", Aliases: []string{"l"}, Usage: "send each line of standard input as a message of its own, as it arrives"},
			&urfave.PathFlag{Name: "file", Usage: "send `FILE` as a file message", TakesFile: true},
			&urfave.StringFlag{Name: "name", Usage: "the file's `NAME` as the recipient sees it (default: the base name of --file)"},
			&urfave.StringFlag{Name: "type", Usage: "the content `TYPE` (default: from the name's extension, else from the bytes)"},
			&urfave.BoolFlag{Name: "wait", Usage: "wait until the recipient's host confirmed delivery"},
			&urfave.StringFlag{Name: "timeout", Usage: "how long --wait waits, as `DURATION` such as 5m or 1d; implies --wait", Value: defaultTimeout.String(), DefaultText: defaultTimeout.String()},
			&urfave.StringFlag{Name: "expires", Usage: "make the message disappear `DURATION` after it was sent (as 7d, 1h or 30m)"},
			&urfave.BoolFlag{Name: "json", Usage: "print what the host stored, one JSON object a message"},
			cli.SocketFlag(),
			cli.HomeFlag(),
		},
		Action: func(c *urfave.Context) error {
			o, err := parseOptions(c)
			if err != nil {
				return err
			}
			return send(c, o, stdin)
		},
	}
}

// options are the checked flags and argument.
type options struct {
	to      string
	lines   bool
	file    string
	name    string
	typ     string
	wait    bool
	timeout time.Duration
	expires time.Duration
}

func parseOptions(c *urfave.Context) (*options, error) {
	if err := cli.CheckArgs(c, 1, 1); err != nil {
		return nil, err
	}
	timeout, err := cli.ParseDuration(c.String("timeout"))
	if err != nil {
		return nil, cli.UsageErrorf(c, "invalid --timeout %q: want a positive duration such as 30s, 5m or 1d", c.String("timeout"))
	}
	o := &options{
		to:      c.Args().First(),
		lines:   c.Bool("lines"),
		file:    c.Path("file"),
		name:    c.String("name"),
		typ:     c.String("type"),
		wait:    c.Bool("wait") || c.IsSet("timeout"),
		timeout: timeout,
	}
	switch {
	case strings.TrimSpace(o.to) == "":
		return nil, cli.UsageErrorf(c, "the recipient is empty")
	case o.lines && (c.IsSet("file") || c.IsSet("name") || c.IsSet("type")):
		return nil, cli.UsageErrorf(c, "-l sends lines of text: it can't be used with --file, --name or --type")
	case c.IsSet("file") && o.file == "":
		return nil, cli.UsageErrorf(c, "--file needs a file name")
	case len(o.name) > wire.MaxFileNameLen || strings.ContainsAny(o.name, "/\x00"):
		return nil, cli.UsageErrorf(c, "invalid --name %q: want a file name of at most %d bytes, without /", o.name, wire.MaxFileNameLen)
	case len(o.typ) > wire.MaxContentTypeLen:
		return nil, cli.UsageErrorf(c, "--type is longer than %d bytes", wire.MaxContentTypeLen)
	}
	if o.typ != "" {
		if _, _, err := mime.ParseMediaType(o.typ); err != nil {
			return nil, cli.UsageErrorf(c, "invalid --type %q: want a content type such as text/csv or image/png", o.typ)
		}
	}
	if err := checkRecipient(o.to); err != nil {
		return nil, err
	}
	if s := c.String("expires"); s != "" {
		d, err := cli.ParseDuration(s)
		if err != nil {
			return nil, cli.UsageErrorf(c, "invalid --expires %q: want a positive duration such as 7d, 1h or 30m", s)
		}
		o.expires = d
	}
	return o, nil
}

// checkRecipient refuses a recipient that is neither a contact's key nor
// a name, before the host is asked: a mistyped key is told apart from a
// bad name.
func checkRecipient(to string) error {
	_, _, err := contacts.ParseQuery(to)
	var malformed *contacts.MalformedKeyError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &malformed):
		return cli.Errorf("%w", err).WithExitCode(exitUnknownRecipient).
			WithHintf("copy the key again; its owner prints it with smvs-keygen -y")
	case errors.Is(err, identity.ErrBadPublicKey):
		return cli.Errorf("%w", err).WithExitCode(exitUnknownRecipient).
			WithHintf("a recipient is a contact's name or their smvs1... key")
	}
	return cli.Errorf("%w", err).WithExitCode(exitUnknownRecipient).
		WithHintf("a recipient is a contact's name (see smvs-register contacts) or their smvs1... key")
}

// send sends what o says and, with --wait, waits for its delivery.
func send(c *urfave.Context, o *options, stdin io.Reader) error {
	ctx := context.Background()
	client, err := hostcli.Dial(ctx, c)
	if err != nil {
		return hostError(err, o.to)
	}
	defer client.Close()

	var sent []*hostapi.SubmitResult
	submit := func(s *hostapi.Submit, body io.Reader, size int64) error {
		s.To = o.to
		if o.expires > 0 {
			s.Expires = time.Now().Add(o.expires).UnixMilli()
		}
		var res *hostapi.SubmitResult
		if body == nil {
			res, err = client.Submit(ctx, s)
		} else {
			p := cli.NewProgress(c.App.ErrWriter, c.App.Name, "sent", isTerminal(c.App.ErrWriter), size)
			res, err = client.SubmitStream(ctx, s, body, func(n int64) {
				p.Set(n)
				if n == size {
					p.Draw("sent " + cli.FormatSize(n) + "; the host is storing it")
				}
			})
			p.Clear()
		}
		if err != nil {
			if errors.As(err, new(*hostapi.BodyError)) {
				return err // nothing was stored
			}
			e := hostError(err, o.to)
			if mayBeStored(err) {
				e.WithHintf("the host may have stored the message before it failed: see smvs-recv --from %s before sending it again", o.to)
			}
			return e
		}
		sent = append(sent, res)
		if c.Bool("json") {
			return printResult(c, res)
		}
		return nil
	}

	// Else a newcomer's smvs-send bob waits, silent, for what they
	// don't know they should type.
	switch {
	case o.file != "" || !isTerminalInput(stdin):
	case o.lines:
		cli.Hintf(c, "each line you type is sent as a message; end with Ctrl-D")
	default:
		cli.Hintf(c, "type the message, then Ctrl-D on a line of its own to send it")
	}
	if o.lines {
		err = sendLines(stdin, submit)
	} else {
		err = sendOne(o, stdin, submit)
	}
	if err != nil || !o.wait {
		return err
	}
	return waitDelivered(ctx, client, o, sent)
}

// sendOne sends standard input, or --file, as one message: inline if it
// is at most hostapi.StreamThreshold bytes, else streamed to the host in
// parts, so that smvs-send holds no more than about two parts of it,
// whatever its size.
func sendOne(o *options, stdin io.Reader, submit submitFunc) error {
	src, name, what := stdin, o.name, "standard input"
	size := int64(-1)
	if o.file != "" {
		f, err := os.Open(o.file)
		if err != nil {
			return cli.Errorf("%w", err)
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return cli.Errorf("%w", err)
		}
		if !info.Mode().IsRegular() {
			return cli.Errorf("%s is not a regular file", o.file)
		}
		src, what, size = f, o.file, info.Size()
		if name == "" {
			name = filepath.Base(o.file)
		}
	} else if f, ok := stdin.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
			size = info.Size()
		}
	}
	if size > wire.MaxStreamSize {
		return bodyError(errTooLarge, what)
	}

	head, err := io.ReadAll(io.LimitReader(src, hostapi.StreamThreshold+1))
	if err != nil {
		return bodyError(err, what)
	}
	streamed := len(head) > hostapi.StreamThreshold
	var body io.Reader
	s := &hostapi.Submit{Kind: wire.KindFile, ContentType: o.typ, FileName: name}
	if streamed {
		body = &sizeCheck{r: io.MultiReader(bytes.NewReader(head), src)}
	} else {
		s.Body = head
	}
	switch {
	case o.file != "" || o.name != "" || o.typ != "":
		if s.ContentType == "" {
			s.ContentType = contentType(name, head)
		}
	case streamed && validUTF8Start(head):
		// Text, as far as its first part tells.
		s.Kind, body = wire.KindText, &trimReader{r: body}
	case streamed:
		s.ContentType = octetStream
	case utf8.Valid(head):
		s.Kind, s.Body = wire.KindText, trimNewline(head)
		if len(s.Body) == 0 {
			return cli.Errorf("nothing to send: standard input is empty").
				WithHintf("to send an empty file, use --file FILE or --name NAME")
		}
	default:
		s.ContentType = octetStream
	}
	var bodyErr *hostapi.BodyError
	if err := submit(s, body, size); errors.As(err, &bodyErr) {
		return bodyError(bodyErr.Err, what)
	} else if err != nil {
		return err
	}
	return nil
}

// submitFunc submits s; with body not nil, streaming its body from body,
// of size bytes (-1 if unknown).
type submitFunc func(s *hostapi.Submit, body io.Reader, size int64) error

// validUTF8Start reports whether b is UTF-8 text, but for a character cut
// at its end.
func validUTF8Start(b []byte) bool {
	for cut := 0; cut < utf8.UTFMax && cut < len(b); cut++ {
		if utf8.Valid(b[:len(b)-cut]) {
			return true
		}
	}
	return false
}

// sizeCheck refuses a body that grows past the largest a message may
// carry, rather than sending it all for the host to refuse.
type sizeCheck struct {
	r io.Reader
	n int64
}

func (c *sizeCheck) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n += int64(n); c.n > wire.MaxStreamSize {
		return 0, errTooLarge
	}
	return n, err
}

// trimReader reads r but for one final newline, as trimNewline removes
// it from a text read whole. It holds back at most two bytes, so reads
// must take at least three.
type trimReader struct {
	r    io.Reader
	tail []byte // newline bytes held back, which may end the text
	end  bool
}

func (t *trimReader) Read(p []byte) (int, error) {
	if t.end {
		return 0, io.EOF
	}
	if len(p) < 3 {
		return 0, io.ErrShortBuffer
	}
	k := copy(p, t.tail)
	n, err := t.r.Read(p[k:])
	total := k + n
	if err == io.EOF {
		t.end = true
		return len(trimNewline(p[:total])), nil
	}
	j := total
	for j > 0 && total-j < 2 && (p[j-1] == '\n' || p[j-1] == '\r') {
		j--
	}
	t.tail = append(t.tail[:0], p[j:total]...)
	return j, err
}

var errTooLarge = fmt.Errorf("larger than the %d TiB a message can carry", wire.MaxStreamSize>>40)

func bodyError(err error, what string) error {
	if errors.Is(err, errTooLarge) {
		return cli.Errorf("%s is %w", what, err).WithExitCode(exitTooLarge).
			WithHintf("split it, or send where to fetch it instead")
	}
	return cli.Errorf("reading %s: %w", what, err)
}

// trimNewline removes one final newline, as echo adds: a text message
// does not end with one.
func trimNewline(b []byte) []byte {
	b, _ = bytes.CutSuffix(b, []byte("\n"))
	b, _ = bytes.CutSuffix(b, []byte("\r"))
	return b
}

// contentType guesses the content type of a file from its name, else from
// its first bytes.
func contentType(name string, body []byte) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return http.DetectContentType(body)
}

// maxLine bounds a line of -l: a message can carry no more.
const maxLine = hostapi.MaxBodyLimit

// sendLines sends each line of r as a text message as soon as its newline
// arrives (or r ends). Empty lines are skipped; invalid UTF-8 becomes
// U+FFFD.
func sendLines(r io.Reader, submit submitFunc) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err != nil && err != io.EOF {
			return bodyError(err, fmt.Sprintf("line %d of standard input", n))
		}
		line = trimNewline(line)
		if len(line) > 0 {
			text := []byte(strings.ToValidUTF8(string(line), "\uFFFD"))
			if serr := submit(&hostapi.Submit{Kind: wire.KindText, Body: text}, nil, -1); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine reads up to and including the next newline, or to the end of
// br (then with io.EOF), refusing a line longer than maxLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > maxLine+2 {
			return nil, errTooLarge
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// waitDelivered waits, up to --timeout from now, until every message sent
// is delivered.
func waitDelivered(ctx context.Context, client *hostapi.Client, o *options, sent []*hostapi.SubmitResult) error {
	deadline := time.Now().Add(o.timeout)
	// The host answers at the deadline; give it a moment more to do so.
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(5*time.Second))
	defer cancel()
	for _, res := range sent {
		status := delivery.Queued
		it, err := client.Status(ctx, res.ID, max(time.Until(deadline), time.Millisecond))
		switch {
		case errors.Is(err, context.DeadlineExceeded):
		case err != nil:
			return hostError(err, o.to)
		default:
			status = it.Status
		}
		switch status {
		case delivery.Delivered:
			continue
		case delivery.Failed:
			return cli.Errorf("delivery of message %x to %s failed: the host gave up", res.ID, o.to).
				WithHintf("check that %s's host is up, and send it again", o.to)
		case delivery.Refused:
			return cli.Errorf("%s's host refused message %x: their policy does not take your messages", o.to, res.ID).
				WithHintf("they blocked you, take messages only from others, or hold all they take from strangers (their quota is full); sending it again will not help until they add you as a contact or delete some (your host's log says which)")
		case delivery.Sent:
			return cli.Errorf("message %x is on %s's host, but no receipt came within %s", res.ID, o.to, o.timeout).
				WithExitCode(exitNotDelivered).
				WithHintf("the host keeps it and waits for the receipt; see its status with smvs-recv --json --from %s", o.to)
		default:
			return cli.Errorf("message %x to %s is queued, not delivered within %s", res.ID, o.to, o.timeout).
				WithExitCode(exitNotDelivered).
				WithHintf("the host keeps trying; see its status with smvs-recv --json --from %s", o.to)
		}
	}
	return nil
}

// hostError explains an error from the host or from talking to it.
func hostError(err error, to string) *cli.Error {
	if e, ok := hostcli.DeviceError(err, exitHostNotRunning, exitNotLinked); ok {
		return e
	}
	var hostErr *hostapi.Error
	switch {
	case errors.As(err, &hostErr):
		// The host's hint says what to do, knowing why it failed; ours
		// only stand in for one it did not give.
		e := cli.Errorf("%s", hostErr.Message)
		hint := func(format string, a ...any) {
			if hostErr.Hint == "" {
				e.WithHintf(format, a...)
			}
		}
		if hostErr.Hint != "" {
			e.WithHintf("%s", hostErr.Hint)
		}
		switch hostErr.Code {
		case hostapi.ErrUnknownRecipient:
			e.WithExitCode(exitUnknownRecipient)
			if _, err := identity.ParsePublicKey(to); err == nil {
				hint("to send to a key no directory knows, add it as a contact with its host's address: smvs-register add --host ADDR NAME %s", to)
			} else {
				hint("check the name, or add the contact with their key: smvs-register add %s smvs1...", to)
			}
			if contacts.LooksLikeKey(to) && len(to) < contacts.KeyLen {
				e.WithHintf("if %s is meant as a key, it is cut short: a key has %d characters", to, contacts.KeyLen)
			}
		case hostapi.ErrKeyChanged:
			e.WithExitCode(exitKeyChanged)
			hint("compare safety numbers with them (smvs-register verify %s), then, if they match, "+
				"accept the new key: smvs-register trust %s smvs1...", to, to)
		case hostapi.ErrTooLarge, hostapi.ErrQuota:
			e.WithExitCode(exitTooLarge)
		case hostapi.ErrUnavailable:
			e.WithHintf("try again in a moment")
		case hostapi.ErrNotLinked:
			e.WithExitCode(exitNotLinked)
		}
		return e
	}
	return cli.Errorf("%w", err)
}

// mayBeStored reports whether a submit that failed with err may have been
// stored all the same: the connection broke before the host answered.
func mayBeStored(err error) bool {
	var hostErr *hostapi.Error
	return !errors.As(err, &hostErr) && !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrTooLarge)
}

// resultJSON is what --json prints for a message the host stored.
type resultJSON struct {
	Seq       uint64 `json:"seq"`
	ID        string `json:"id"`
	Recipient string `json:"recipient"`
	Name      string `json:"name,omitempty"`
}

func printResult(c *urfave.Context, res *hostapi.SubmitResult) error {
	key, err := identity.NewPublicKey(identity.KindIdentity, res.Recipient)
	if err != nil {
		return cli.Errorf("the host answered with a bad recipient key: %w", err)
	}
	err = cli.WriteJSON(c.App.Writer, resultJSON{Seq: res.Seq, ID: hex.EncodeToString(res.ID), Recipient: key.String(), Name: res.Name})
	if err != nil {
		return cli.Errorf("writing to standard output: %w", err)
	}
	return nil
}

// isTerminalInput reports whether r is a terminal; a variable for tests.
var isTerminalInput = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// isTerminal reports whether w is a terminal; a variable for tests.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
