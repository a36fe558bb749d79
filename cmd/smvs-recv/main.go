// Command smvs-recv prints the user's messages from their host: the
// history, then with --follow new messages as they come; as text, NDJSON,
// or one message's raw body. See man/smvs-recv.1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"smvs/lib/cli"
	"smvs/lib/cli/hostcli"
	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/names"
	"smvs/lib/wire"
)

// Exit statuses beyond cli's, documented in the man page.
const (
	exitNotFound       = 3 // no such message (--raw, --since ID) or contact (--from)
	exitHostNotRunning = 5 // nothing listens on the host's socket (without --follow)
	exitNotLinked      = 8 // a remote device the host does not know, or revoked
)

// How long --follow waits before it connects again: doubling from the
// first to the last.
const (
	firstBackoff = 100 * time.Millisecond
	lastBackoff  = 5 * time.Second
)

func main() {
	os.Exit(run(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run runs smvs-recv with args until it is done or ctx ends, reading an
// import from stdin, and returns its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(ctx, stdin)
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

func newApp(ctx context.Context, stdin io.Reader) *urfave.App {
	return &urfave.App{
		Name:  "smvs-recv",
		Usage: "print your SMVS messages: the history, new ones as they come, or one message's body",
		UsageText: "smvs-recv [--from NAME] [--since TIME|DURATION|ID|SEQ] [--follow] [--json] [--cursor FILE]\n" +
			"smvs-recv --export [--from NAME] [--since TIME|DURATION|ID|SEQ] [--cursor FILE]\n" +
			"smvs-recv --import [--json] [FILE]\n" +
			"smvs-recv --fingerprint NAME [--until TIME|DURATION] [--json]\n" +
			"smvs-recv --raw ID|SEQ",
		Description: "Prints the messages your host keeps, oldest first, one a line: the time, < for a message\n" +
			"received or > for one sent (with its delivery status), the contact, and the text.",
		Flags: []urfave.Flag{
			&urfave.StringFlag{Name: "from", Usage: "only the conversation with `NAME` (a contact name or an smvs1... key)"},
			&urfave.StringFlag{Name: "since", Usage: "only messages sent since `WHEN`: a time, a duration ago (1h, 2d), or a message's id or seq"},
			&urfave.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "after the history, print new messages as they come, reconnecting to the host when needed"},
			&urfave.BoolFlag{Name: "json", Usage: "print one JSON object a line (NDJSON)"},
			&urfave.StringFlag{Name: "raw", Usage: "write exactly the body of the message with `ID` (or seq) to standard output"},
			&urfave.PathFlag{Name: "cursor", Usage: "start after the message whose seq is in `FILE`, and keep it up to date", TakesFile: true},
			&urfave.BoolFlag{Name: "export", Usage: "print every message as NDJSON, for a backup: --json without --follow, with each message's signed bytes"},
			&urfave.BoolFlag{Name: "import", Usage: "restore the messages of an export read from FILE, or standard input (only on the host's machine)"},
			&urfave.StringFlag{Name: "fingerprint", Usage: "print the fingerprint of the conversation with `NAME`, to compare with theirs"},
			&urfave.StringFlag{Name: "until", Usage: "with --fingerprint, only messages sent up to `WHEN`: a time, or a duration ago"},
			&urfave.BoolFlag{Name: "unread", Usage: "only received messages no device has marked read"},
			&urfave.BoolFlag{Name: "mark-read", Usage: "mark the received messages printed as read, on every device"},
			cli.SocketFlag(),
			cli.HomeFlag(),
		},
		Action: func(c *urfave.Context) error {
			book := loadContacts(c)
			o, err := parseOptions(c, book)
			if err != nil {
				return err
			}
			switch {
			case o.rawSeq != 0 || o.rawID != nil:
				return raw(ctx, c, o)
			case o.importing:
				return importExport(ctx, c, o, stdin)
			case o.fingerprint != "":
				return fingerprint(ctx, c, o)
			}
			r := &receiver{c: c, o: o, f: &formatter{json: o.json, export: o.export, contacts: book}, out: bufio.NewWriter(c.App.Writer), last: o.after}
			if o.follow {
				return r.follow(ctx)
			}
			return r.history(ctx)
		},
	}
}

// options are the checked flags.
type options struct {
	from     string // as the host gets it: a key, or a name
	since    int64  // Unix ms
	after    uint64 // only messages above this seq
	sinceID  []byte // only this message and later ones, once its seq is known
	follow   bool
	json     bool
	unread   bool
	markRead bool
	cursor   string
	rawSeq   uint64
	rawID    []byte
	export   bool // with each message's signed bytes

	importing   bool
	importFile  string // "" or "-": standard input
	fingerprint string // as the host gets it: a key, or a name
	until       int64  // Unix ms
}

func parseOptions(c *urfave.Context, book *contacts.File) (*options, error) {
	var modes []string
	for _, name := range []string{"raw", "import", "fingerprint"} {
		if c.IsSet(name) {
			modes = append(modes, "--"+name)
		}
	}
	if len(modes) > 1 {
		return nil, cli.UsageErrorf(c, "%s and %s can't be used together", modes[0], modes[1])
	}
	if c.Bool("import") {
		return parseImport(c)
	}
	if err := cli.CheckArgs(c, 0, 0); err != nil {
		return nil, err
	}
	if c.IsSet("fingerprint") {
		return parseFingerprint(c, book)
	}
	if c.IsSet("until") {
		return nil, cli.UsageErrorf(c, "--until goes with --fingerprint")
	}
	o := &options{follow: c.Bool("follow"), json: c.Bool("json") || c.Bool("export"), cursor: c.Path("cursor"),
		unread: c.Bool("unread"), markRead: c.Bool("mark-read"), export: c.Bool("export")}
	if c.IsSet("raw") {
		for _, name := range []string{"follow", "json", "export", "cursor", "since", "from", "unread", "mark-read"} {
			if c.IsSet(name) {
				return nil, cli.UsageErrorf(c, "--raw writes one message's body: it can't be used with --%s", name)
			}
		}
		seq, id, ok := parseMessageRef(c.String("raw"))
		if !ok {
			return nil, cli.UsageErrorf(c, "invalid --raw %q: want a message's id (32 hexadecimal digits) or its seq", c.String("raw"))
		}
		o.rawSeq, o.rawID = seq, id
	}
	if c.Bool("export") && o.follow {
		return nil, cli.UsageErrorf(c, "--export prints the history: it can't be used with --follow")
	}
	if c.IsSet("cursor") && o.cursor == "" {
		return nil, cli.UsageErrorf(c, "--cursor needs a file name")
	}
	if s := c.String("since"); s != "" {
		if err := o.parseSince(s, time.Now()); err != nil {
			return nil, cli.UsageErrorf(c, "invalid --since %q: want a time (2006-01-02 15:04:05, or RFC 3339), a duration ago (such as 1h or 2d), or a message's id or seq", s)
		}
	}
	if from := c.String("from"); from != "" {
		var err error
		if o.from, err = resolveFrom(from, book); err != nil {
			return nil, cli.UsageErrorf(c, "invalid --from: %w", err)
		}
	}
	if o.cursor != "" {
		seq, err := readCursor(o.cursor)
		if err != nil {
			return nil, cli.Errorf("%w", err).WithHintf("remove it to start from the first message")
		}
		o.after = max(o.after, seq)
	}
	return o, nil
}

var (
	seqPattern = regexp.MustCompile(`^[0-9]{1,20}$`)
	idPattern  = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

// parseMessageRef parses a message's seq or its id.
func parseMessageRef(s string) (seq uint64, id []byte, ok bool) {
	switch {
	case seqPattern.MatchString(s):
		seq, err := strconv.ParseUint(s, 10, 64)
		return seq, nil, err == nil && seq > 0
	case idPattern.MatchString(s):
		id, err := hex.DecodeString(s)
		return 0, id, err == nil
	}
	return 0, nil, false
}

// parseSince sets where --since starts: at a time, a duration before now,
// or a message (which is shown).
func (o *options) parseSince(s string, now time.Time) error {
	if seq, id, ok := parseMessageRef(s); ok {
		if id != nil {
			o.sinceID = id
		} else {
			o.after = seq - 1
		}
		return nil
	}
	t, err := cli.ParseWhen(s, now)
	if err != nil {
		return err
	}
	o.since = t.UnixMilli()
	return nil
}

// resolveFrom turns --from into what the host is asked for: the key of a
// contact in the user's contacts file, else the key or name as given.
func resolveFrom(from string, book *contacts.File) (string, error) {
	if strings.HasPrefix(from, "smvs1") {
		key, err := identity.ParsePublicKey(from)
		if err != nil {
			return "", err
		}
		return key.String(), nil
	}
	name, err := names.Normalize(from)
	if err != nil {
		return "", err
	}
	if ct, ok := book.Lookup(name); ok {
		return ct.Key.String(), nil
	}
	return name, nil
}

// loadContacts reads the user's contacts file, to name peers. If it can't,
// it warns, and peers are named as the host names them.
func loadContacts(c *urfave.Context) *contacts.File {
	home, err := cli.Home(c)
	if err != nil {
		return new(contacts.File)
	}
	book, err := contacts.Load(contacts.Path(home))
	if err != nil {
		cli.Warningf(c, "not using the contacts file: %v", err)
		return new(contacts.File)
	}
	return book
}

// receiver prints what List streams.
type receiver struct {
	c    *urfave.Context
	o    *options
	f    *formatter
	out  *bufio.Writer
	last uint64 // the seq of the last message printed, or where to start after
	// toMark holds received messages printed, for --mark-read to mark.
	toMark []uint64
	// bodies is the connection streamed bodies are read on, when one
	// was: the List has the first.
	bodies *hostapi.Client
}

// errDeleted is the error of a message deleted before its streamed body
// was read.
var errDeleted = errors.New("the message was deleted")

// print writes the message it, reading its body first if it streams.
func (r *receiver) print(ctx context.Context, it *hostapi.Item) error {
	if !r.f.needsBody(it) {
		if err := r.f.message(r.out, it); err != nil {
			return localError{fmt.Errorf("writing to standard output: %w", err)}
		}
		return nil
	}
	body, err := r.openBody(ctx, it.Seq)
	var hostErr *hostapi.Error
	if errors.As(err, &hostErr) && hostErr.Code == hostapi.ErrNotFound {
		return errDeleted
	}
	if err != nil {
		return err
	}
	defer body.Close()
	src := &readErr{r: body}
	if err := r.f.streamed(r.out, it, src); src.err != nil {
		return src.err
	} else if err != nil {
		return localError{fmt.Errorf("writing to standard output: %w", err)}
	}
	return nil
}

// openBody opens the streamed body of the message seq on r.bodies, which
// it dials if need be, with a progress line on standard error.
func (r *receiver) openBody(ctx context.Context, seq uint64) (io.ReadCloser, error) {
	if r.bodies == nil {
		c, err := hostcli.Dial(ctx, r.c)
		if err != nil {
			return nil, err
		}
		r.bodies = c
	}
	rc, size, err := r.bodies.Body(ctx, seq)
	if err != nil {
		if !errors.As(err, new(*hostapi.Error)) {
			r.closeBodies()
		}
		return nil, err
	}
	return newBodyProgress(r.c, rc, size, r.closeBodies), nil
}

// closeBodies closes the connection bodies are read on.
func (r *receiver) closeBodies() {
	if r.bodies != nil {
		r.bodies.Close()
		r.bodies = nil
	}
}

// bodyProgress reads a streamed body, drawing its progress on standard
// error if that is a terminal and standard output is not (where the
// output shows it). Closed before its end, it calls broken: the
// connection it was read on is closed.
type bodyProgress struct {
	rc     io.ReadCloser
	p      *cli.Progress
	n      int64
	end    bool
	broken func()
}

func newBodyProgress(c *urfave.Context, rc io.ReadCloser, size int64, broken func()) *bodyProgress {
	on := isTerminal(c.App.ErrWriter) && !isTerminal(c.App.Writer)
	return &bodyProgress{rc: rc, p: cli.NewProgress(c.App.ErrWriter, c.App.Name, "received", on, size), broken: broken}
}

func (b *bodyProgress) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	b.p.Set(b.n)
	b.end = err == io.EOF
	return n, err
}

func (b *bodyProgress) Close() error {
	b.p.Clear()
	err := b.rc.Close()
	if !b.end && b.broken != nil {
		b.broken()
	}
	return err
}

// readErr remembers the error of its reader, to tell it from one writing.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// history prints the messages there are, and returns.
func (r *receiver) history(ctx context.Context) error {
	err := r.once(ctx, func() {})
	if err == io.EOF {
		err = r.mark(ctx)
	}
	if ferr := r.out.Flush(); err == nil && ferr != nil {
		err = localError{fmt.Errorf("writing to standard output: %w", ferr)}
	}
	if err != nil {
		return recvError(err)
	}
	return nil
}

// follow prints the history and then what comes, connecting again
// whenever the connection to the host breaks, until ctx ends or a failure
// that connecting again can't mend.
func (r *receiver) follow(ctx context.Context) error {
	backoff := firstBackoff
	everConnected, down := false, false
	connected := func() {
		if down {
			if everConnected {
				cli.Warningf(r.c, "reconnected to the host")
			} else {
				cli.Warningf(r.c, "connected to the host")
			}
		}
		everConnected, down, backoff = true, false, firstBackoff
	}
	for {
		err := r.once(ctx, connected)
		if ctx.Err() != nil {
			return nil
		}
		if !retryable(err) {
			return recvError(err)
		}
		if !down {
			down = true
			if everConnected {
				cli.Warningf(r.c, "lost the connection to the host (%v); reconnecting", err)
			} else {
				cli.Warningf(r.c, "can't reach the host (%v); waiting for it", err)
				if errors.Is(err, hostapi.ErrHostNotRunning) {
					cli.Hintf(r.c, "start smvs-hostd, or point --socket (or %s) at the socket it listens on", cli.SocketEnv)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, lastBackoff)
	}
}

// once makes one connection and prints what the host sends on it, calling
// connected when the first event comes. Without --follow it returns io.EOF
// at the end of the history.
func (r *receiver) once(ctx context.Context, connected func()) error {
	client, err := hostcli.Dial(ctx, r.c)
	if err != nil {
		return err
	}
	defer client.Close()
	defer r.closeBodies()
	if r.o.sinceID != nil {
		it, err := client.Status(ctx, r.o.sinceID, 0)
		if err != nil {
			return err
		}
		r.last, r.o.sinceID = max(r.last, it.Seq-1), nil
	}
	s, err := client.List(ctx, &hostapi.List{After: r.last, Peer: r.o.from, Since: r.o.since, Follow: r.o.follow, Signed: r.o.export})
	if err != nil {
		return err
	}
	defer s.Close()
	live := false
	for first := true; ; first = false {
		e, err := s.Next()
		if err != nil {
			return err
		}
		if first {
			connected()
		}
		switch e.Kind {
		case hostapi.EventMessage:
			if e.Item.Seq <= r.last {
				continue // shown already
			}
			if r.o.unread && (e.Item.Direction != delivery.In || e.Item.Read) {
				r.last = e.Item.Seq
				continue
			}
			if err := r.print(ctx, e.Item); errors.Is(err, errDeleted) {
				continue // a deletion event follows
			} else if err != nil {
				return err
			}
			r.f.warnings(r.c, e.Item)
			if err := r.printed(e.Item.Seq); err != nil {
				return err
			}
			if r.o.markRead && e.Item.Direction == delivery.In && !e.Item.Read {
				r.toMark = append(r.toMark, e.Item.Seq)
			}
		case hostapi.EventStatus:
			if err := r.f.status(r.out, e.Item); err != nil {
				return localError{fmt.Errorf("writing to standard output: %w", err)}
			}
			r.f.warnings(r.c, e.Item)
		case hostapi.EventDeleted:
			if err := r.f.deleted(r.out, e.Deleted); err != nil {
				return localError{fmt.Errorf("writing to standard output: %w", err)}
			}
		}
		if r.o.follow {
			if err := r.out.Flush(); err != nil {
				return localError{fmt.Errorf("writing to standard output: %w", err)}
			}
			// Mark in one go what the history held, then as messages come.
			live = live || e.Kind == hostapi.EventLive
			if live {
				if err := r.mark(ctx); err != nil {
					return err
				}
			}
		}
	}
}

// mark marks the messages printed so far read, on a connection of its own:
// the List has this one. Only what is out of the buffer counts as seen.
func (r *receiver) mark(ctx context.Context) error {
	if len(r.toMark) == 0 {
		return nil
	}
	if err := r.out.Flush(); err != nil {
		return localError{fmt.Errorf("writing to standard output: %w", err)}
	}
	client, err := hostcli.Dial(ctx, r.c)
	if err != nil {
		return err
	}
	defer client.Close()
	for len(r.toMark) > 0 {
		n := min(len(r.toMark), hostapi.MaxReadSeqs)
		if _, err := client.MarkRead(ctx, r.toMark[:n]); err != nil {
			return err
		}
		r.toMark = r.toMark[n:]
	}
	return nil
}

// printed records that the message seq was printed: with --cursor, once
// its line is out of the buffer, in the cursor file.
func (r *receiver) printed(seq uint64) error {
	r.last = seq
	if r.o.cursor == "" {
		return nil
	}
	if err := r.out.Flush(); err != nil {
		return localError{fmt.Errorf("writing to standard output: %w", err)}
	}
	if err := writeCursor(r.o.cursor, seq); err != nil {
		return localError{fmt.Errorf("updating the cursor file: %w", err)}
	}
	return nil
}

// localError is a failure on this side (writing the output or the cursor
// file), which connecting again can't mend.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

// retryable reports whether --follow should connect again after err: the
// host is down or the connection broke, rather than a refusal, a malformed
// answer or a failure here.
func retryable(err error) bool {
	var (
		hostErr *hostapi.Error
		local   localError
		version *wire.UnknownVersionError
		opErr   *net.OpError
	)
	switch {
	case errors.As(err, &hostErr):
		return hostErr.Code == hostapi.ErrUnavailable
	case errors.Is(err, hostapi.ErrHostNotRunning):
		return true
	case errors.Is(err, hostapi.ErrRevoked), errors.As(err, new(*cli.Error)):
		return false
	case errors.As(err, &local), errors.As(err, &version),
		errors.Is(err, hostapi.ErrProtocol), errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrNonCanonical),
		errors.Is(err, wire.ErrTrailingData), errors.Is(err, wire.ErrTooLarge):
		return false
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return false // such as no permission to use the socket
	}
	return true
}

// recvError explains an error from the host or from talking to it.
func recvError(err error) error {
	if e, ok := hostcli.DeviceError(err, exitHostNotRunning, exitNotLinked); ok {
		return e
	}
	var hostErr *hostapi.Error
	switch {
	case errors.As(err, &hostErr):
		e := cli.Errorf("%s", hostErr.Message)
		if hostErr.Hint != "" {
			e.WithHintf("%s", hostErr.Hint)
		}
		switch hostErr.Code {
		case hostapi.ErrNotFound:
			e.WithExitCode(exitNotFound).WithHintf("smvs-recv --json lists every message with its id and seq")
		case hostapi.ErrUnknownRecipient:
			e.WithExitCode(exitNotFound).WithHintf("smvs-register contacts lists your contacts")
		case hostapi.ErrUnavailable:
			e.WithHintf("try again in a moment")
		case hostapi.ErrNotLinked:
			e.WithExitCode(exitNotLinked)
		}
		return e
	}
	return cli.Errorf("%w", err)
}

// raw writes the body of the one message --raw names.
func raw(ctx context.Context, c *urfave.Context, o *options) error {
	client, err := hostcli.Dial(ctx, c)
	if err != nil {
		return recvError(err)
	}
	defer client.Close()
	seq, what := o.rawSeq, strconv.FormatUint(o.rawSeq, 10)
	if o.rawID != nil {
		what = hex.EncodeToString(o.rawID)
		it, err := client.Status(ctx, o.rawID, 0)
		if err != nil {
			return recvError(err)
		}
		seq = it.Seq
	}
	s, err := client.List(ctx, &hostapi.List{After: seq - 1})
	if err != nil {
		return recvError(err)
	}
	defer s.Close()
	for {
		e, err := s.Next()
		if err == io.EOF || (err == nil && e.Kind == hostapi.EventMessage &&
			(e.Item.Seq != seq || (o.rawID != nil && !bytes.Equal(e.Item.ID, o.rawID)))) {
			return cli.Errorf("no message %s", what).WithExitCode(exitNotFound).
				WithHintf("smvs-recv --json lists every message with its id and seq")
		}
		if err != nil {
			return recvError(err)
		}
		if e.Kind == hostapi.EventMessage && e.Item.Streamed() {
			return writeRawStreamed(ctx, c, e.Item, what)
		}
		if e.Kind == hostapi.EventMessage {
			return writeRaw(c, e.Item, what)
		}
	}
}

// writeRaw writes the body of it to standard output, unless that is a
// terminal and the body is not plain text, which could garble it, or
// worse.
func writeRaw(c *urfave.Context, it *hostapi.Item, what string) error {
	if isTerminal(c.App.Writer) && !(it.Kind == wire.KindText && plainText(it.Body)) {
		desc := "a message with control characters"
		if it.Kind != wire.KindText {
			desc = "a " + summary(it)
		}
		return cli.Errorf("refusing to write %s to the terminal", desc).
			WithHintf("redirect it to a file: smvs-recv --raw %s > %s", what, hintFileName(it.FileName))
	}
	if _, err := c.App.Writer.Write(it.Body); err != nil {
		return cli.Errorf("writing to standard output: %w", err)
	}
	return nil
}

// writeRawStreamed writes the streamed body of it to standard output as
// it comes, on a connection of its own (the List has the first). It
// refuses a terminal, which could not take a body over 1 MiB well even
// if it were text.
func writeRawStreamed(ctx context.Context, c *urfave.Context, it *hostapi.Item, what string) error {
	if isTerminal(c.App.Writer) {
		return cli.Errorf("refusing to write a %s to the terminal", summaryOf(it)).
			WithHintf("redirect it to a file: smvs-recv --raw %s > %s", what, hintFileName(it.FileName))
	}
	client, err := hostcli.Dial(ctx, c)
	if err != nil {
		return recvError(err)
	}
	defer client.Close()
	rc, size, err := client.Body(ctx, it.Seq)
	if err != nil {
		return recvError(err)
	}
	body := newBodyProgress(c, rc, size, nil)
	defer body.Close()
	src := &readErr{r: body}
	if _, err := io.Copy(c.App.Writer, src); src.err != nil {
		return recvError(src.err)
	} else if err != nil {
		return cli.Errorf("writing to standard output: %w", err)
	}
	return nil
}

// summaryOf is summary, for a text too: "text, 5.0 MiB".
func summaryOf(it *hostapi.Item) string {
	if it.Kind == wire.KindText {
		return "text of " + cli.FormatSize(bodySize(it))
	}
	return summary(it)
}

// hintFileName is the file name a hint suggests for a body the sender
// named name: the sender's name only if it is one word a shell takes as
// it is, names no file here yet, and is no hidden file (".bashrc") or
// option; else FILE. The sender chose it: a hint must not hand the user's
// shell "notes.txt;touch X", nor overwrite a file they have.
func hintFileName(name string) string {
	if !safeFileName.MatchString(name) || len(name) > 64 {
		return "FILE"
	}
	if _, err := os.Lstat(name); !errors.Is(err, os.ErrNotExist) {
		return "FILE"
	}
	return name
}

// safeFileName matches a word a shell reads as it is, starting with a
// letter or digit.
var safeFileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._,+@=-]*$`)

// plainText reports whether b is UTF-8 text with no control or invisible
// formatting character but newlines and tabs.
func plainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r != '\n' && r != '\t' && !unicode.IsGraphic(r) && r != '\u200c' && r != '\u200d' {
			return false
		}
	}
	return true
}

// isTerminal reports whether w is a terminal. Tests replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
