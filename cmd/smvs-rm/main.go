// Command smvs-rm deletes messages from the user's host and every linked
// device, destroying their keys: messages by seq, a conversation,
// everything before a time, or everything; optionally it asks the peers'
// hosts to delete their copies too. It also sets how long a
// conversation's messages live. See man/smvs-rm.1.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	urfave "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"smvs/lib/cli"
	"smvs/lib/cli/hostcli"
	"smvs/lib/contacts"
	"smvs/lib/delivery"
	"smvs/lib/hostapi"
)

// Exit statuses beyond cli's, documented in the man page.
const (
	exitUnknownPeer    = 3 // --conversation, --from or --expire-after names no contact
	exitHostNotRunning = 5 // nothing listens on the host's socket
	exitNoAnswer       = 6 // --wait: a peer's host did not answer in time
	exitNotLinked      = 8 // a remote device the host does not know, or revoked
	exitNotEverywhere  = 9 // --wait: a peer's host refused, or the request failed
)

// defaultTimeout is how long --wait waits.
const defaultTimeout = 30 * time.Second

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run runs smvs-rm with args, reading answers from stdin, and returns its
// exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin)
	app.Writer, app.ErrWriter = stdout, stderr
	return cli.Run(app, args)
}

func newApp(stdin io.Reader) *urfave.App {
	return &urfave.App{
		Name:  "smvs-rm",
		Usage: "delete messages for good, on your host and every device; make a conversation's messages disappear",
		UsageText: "smvs-rm [OPTIONS] SEQ|ID...\n" +
			"smvs-rm --conversation PEER [--yes] [OPTIONS]\n" +
			"smvs-rm --before TIME|DURATION [--from PEER] [OPTIONS]\n" +
			"smvs-rm --all [--yes] [OPTIONS]\n" +
			"smvs-rm --expire-after DURATION|off [--json] PEER\n" +
			"where OPTIONS are [--for-everyone [--wait [--timeout DURATION]]] [--json|--quiet]",
		Description: "Deletes messages from your host and every device linked to it, and destroys the keys that\n" +
			"opened them, so no copy of the data directory taken afterwards opens them, even with the\n" +
			"identity and its passphrase. Messages are named by the seq smvs-recv shows.",
		ArgsUsage: "SEQ...",
		Flags: []urfave.Flag{
			&urfave.StringFlag{Name: "conversation", Usage: "delete the whole conversation with `PEER`, leaving nothing of it"},
			&urfave.StringFlag{Name: "before", Usage: "delete every message sent or stored before `WHEN`: a time, or a duration ago (30d)"},
			&urfave.StringFlag{Name: "from", Usage: "with --before, only in the conversation with `PEER`"},
			&urfave.BoolFlag{Name: "all", Usage: "delete every message of every conversation"},
			&urfave.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "don't ask before deleting a conversation or everything"},
			&urfave.BoolFlag{Name: "for-everyone", Usage: "also ask each peer's host to delete its copies of the messages you sent"},
			&urfave.BoolFlag{Name: "wait", Usage: "with --for-everyone, wait for each peer's host to answer"},
			&urfave.StringFlag{Name: "timeout", Usage: "how long --wait waits, as `DURATION` such as 1m; implies --wait", Value: defaultTimeout.String(), DefaultText: defaultTimeout.String()},
			&urfave.StringFlag{Name: "expire-after", Usage: "from now on, make the messages with PEER disappear `DURATION` after they are sent (7d, 1h), or off"},
			&urfave.BoolFlag{Name: "json", Usage: "print what was done as one JSON object"},
			&urfave.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing on standard output"},
			cli.SocketFlag(),
			cli.HomeFlag(),
		},
		Action: func(c *urfave.Context) error {
			o, err := parseOptions(c, stdin)
			if err != nil {
				return err
			}
			if o.expireSet {
				return setExpiry(c, o)
			}
			return remove(c, o)
		},
	}
}

// options are the checked flags and arguments.
type options struct {
	seqs      []uint64
	ids       [][]byte
	del       hostapi.Delete // without Seqs, which come from seqs and ids
	what      string         // what is deleted, for the question and errors
	wait      bool
	timeout   time.Duration
	json      bool
	quiet     bool
	expireSet bool
	expire    time.Duration // 0 is off
	peer      string        // --expire-after's
}

var (
	seqPattern = regexp.MustCompile(`^[0-9]{1,20}$`)
	idPattern  = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

func parseOptions(c *urfave.Context, stdin io.Reader) (*options, error) {
	o := &options{json: c.Bool("json"), quiet: c.Bool("quiet")}
	var modes []string
	for _, name := range []string{"conversation", "before", "all", "expire-after"} {
		if c.IsSet(name) {
			modes = append(modes, "--"+name)
		}
	}
	switch {
	case len(modes) > 1:
		return nil, cli.UsageErrorf(c, "%s and %s can't be used together: one run deletes one kind of thing", modes[0], modes[1])
	case o.json && o.quiet:
		return nil, cli.UsageErrorf(c, "--json and --quiet can't be used together")
	case c.IsSet("from") && !c.IsSet("before"):
		return nil, cli.UsageErrorf(c, "--from goes with --before; to delete a whole conversation, use --conversation %s", c.String("from"))
	}
	if c.IsSet("expire-after") {
		return o, o.parseExpiry(c)
	}
	if err := o.parseDelete(c); err != nil {
		return nil, err
	}
	if err := o.parseForEveryone(c); err != nil {
		return nil, err
	}
	if o.del.All && !c.Bool("yes") {
		if !isTerminal(stdin) || !isTerminal(c.App.ErrWriter) {
			return nil, cli.UsageErrorf(c, "deleting %s needs --yes when there is no terminal to ask on", o.what)
		}
		if !confirm(c, stdin, "delete "+o.what+"? [y/N] ") {
			return nil, cli.Errorf("nothing deleted")
		}
	}
	return o, nil
}

// parseDelete reads what is to be deleted: the arguments, or one of
// --conversation, --before and --all.
func (o *options) parseDelete(c *urfave.Context) error {
	args := c.Args().Slice()
	switch {
	case c.IsSet("conversation"):
		peer, err := parsePeer(c, "--conversation", c.String("conversation"))
		if err != nil {
			return err
		}
		o.del.Peer, o.del.All, o.what = peer, true, "the whole conversation with "+peer
	case c.IsSet("before"):
		t, err := cli.ParseWhen(c.String("before"), time.Now())
		if err != nil || t.UnixMilli() <= 0 {
			return cli.UsageErrorf(c, "invalid --before %q: want a time (2006-01-02 15:04:05, or RFC 3339) or a duration ago (such as 30d or 12h)", c.String("before"))
		}
		o.del.Before = t.UnixMilli()
		if c.IsSet("from") {
			if o.del.Peer, err = parsePeer(c, "--from", c.String("from")); err != nil {
				return err
			}
		}
	case c.Bool("all"):
		o.del.All, o.what = true, "every message of every conversation"
	case len(args) == 0:
		return cli.UsageErrorf(c, "missing argument: name the messages to delete by seq, or use --conversation, --before or --all")
	}
	if (c.IsSet("conversation") || c.IsSet("before") || c.IsSet("all")) && len(args) > 0 {
		return cli.CheckArgs(c, 0, 0)
	}
	for _, a := range args {
		switch {
		case seqPattern.MatchString(a):
			seq, err := strconv.ParseUint(a, 10, 64)
			if err != nil || seq == 0 {
				return cli.UsageErrorf(c, "invalid message %q: want a seq or an id, as smvs-recv --json shows them", a)
			}
			if !slices.Contains(o.seqs, seq) {
				o.seqs = append(o.seqs, seq)
			}
		case idPattern.MatchString(a):
			id, _ := hex.DecodeString(a)
			o.ids = append(o.ids, id)
		case strings.HasPrefix(a, "-") && a != "-":
			return cli.UsageErrorf(c, "flag %s after an argument: flags come before arguments", a)
		default:
			return cli.UsageErrorf(c, "invalid message %q: want a seq or an id, as smvs-recv --json shows them", a)
		}
	}
	return nil
}

func (o *options) parseForEveryone(c *urfave.Context) error {
	o.wait = c.Bool("wait") || c.IsSet("timeout")
	if o.wait && !c.Bool("for-everyone") {
		return cli.UsageErrorf(c, "--wait and --timeout wait for the peers' hosts: they go with --for-everyone")
	}
	o.del.ForEveryone = c.Bool("for-everyone")
	timeout, err := cli.ParseDuration(c.String("timeout"))
	if err != nil {
		return cli.UsageErrorf(c, "invalid --timeout %q: want a positive duration such as 30s, 5m or 1d", c.String("timeout"))
	}
	o.timeout = timeout
	return nil
}

// parseExpiry reads --expire-after DURATION|off PEER.
func (o *options) parseExpiry(c *urfave.Context) error {
	value := c.String("expire-after")
	for _, name := range []string{"from", "yes", "for-everyone", "wait", "timeout"} {
		if c.IsSet(name) {
			return cli.UsageErrorf(c, "--expire-after sets how long messages live: it can't be used with --%s", name)
		}
	}
	d, err := cli.ParseDuration(value)
	switch {
	case c.NArg() == 0 && err != nil && value != "off":
		return cli.UsageErrorf(c, "--expire-after takes a DURATION (or off), then the PEER: smvs-rm --expire-after 1d %s", value)
	case value == "off":
		d = 0
	case err != nil:
		return cli.UsageErrorf(c, "invalid --expire-after %q: want a duration such as 7d, 1h or 30m, or off", value)
	case d.Milliseconds() > delivery.MaxExpiry:
		return cli.UsageErrorf(c, "invalid --expire-after %q: at most 366d", value)
	case d < time.Second:
		return cli.UsageErrorf(c, "invalid --expire-after %q: at least 1s", value)
	}
	if c.NArg() == 0 {
		return cli.UsageErrorf(c, "missing argument: --expire-after %s needs the PEER whose messages it applies to", value)
	}
	if err := cli.CheckArgs(c, 1, 1); err != nil {
		return err
	}
	peer, err := parsePeer(c, "PEER", c.Args().First())
	if err != nil {
		return err
	}
	o.expireSet, o.expire, o.peer = true, d, peer
	return nil
}

// parsePeer checks a peer as a person typed it (a contact's name or key)
// and returns it as the host takes it.
func parsePeer(c *urfave.Context, what, s string) (string, error) {
	key, name, err := contacts.ParseQuery(s)
	var malformed *contacts.MalformedKeyError
	switch {
	case err == nil && name != "":
		return name, nil
	case err == nil:
		return key.String(), nil
	case errors.As(err, &malformed):
		return "", cli.Errorf("%w", err).WithExitCode(exitUnknownPeer).
			WithHintf("copy the key again; its owner prints it with smvs-keygen -y")
	}
	return "", cli.UsageErrorf(c, "invalid %s %q: want a contact's name or smvs1... key", what, s)
}

// confirm asks question on the terminal and reports whether the answer
// was y or yes.
func confirm(c *urfave.Context, stdin io.Reader, question string) bool {
	fmt.Fprint(c.App.ErrWriter, question)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

// remove deletes what o says and reports it.
func remove(c *urfave.Context, o *options) error {
	ctx := context.Background()
	client, err := hostcli.Dial(ctx, c)
	if err != nil {
		return hostError(err)
	}
	defer client.Close()

	var missing []string
	seqs := o.seqs
	for _, id := range o.ids {
		it, err := client.Status(ctx, id, 0)
		var hostErr *hostapi.Error
		switch {
		case errors.As(err, &hostErr) && hostErr.Code == hostapi.ErrNotFound:
			missing = append(missing, hex.EncodeToString(id))
		case err != nil:
			return hostError(err)
		case !slices.Contains(seqs, it.Seq):
			seqs = append(seqs, it.Seq)
		}
	}

	total := &hostapi.DeleteResult{}
	if len(o.seqs) == 0 && len(o.ids) == 0 {
		if total, err = client.Delete(ctx, &o.del); err != nil {
			return hostError(err)
		}
	}
	for part := range slices.Chunk(seqs, hostapi.MaxDeleteSeqs) {
		d := o.del
		d.Seqs = part
		res, err := client.Delete(ctx, &d)
		if err != nil {
			return hostError(err)
		}
		total.Deleted += res.Deleted
		total.Missing = append(total.Missing, res.Missing...)
		total.Requests = append(total.Requests, res.Requests...)
	}
	for _, seq := range total.Missing {
		missing = append(missing, strconv.FormatUint(seq, 10))
	}

	r := &report{c: c, o: o, res: total}
	if !o.json && !o.quiet {
		r.printf("deleted %s\n", messages(total.Deleted))
		for _, p := range total.Requests {
			r.printf("asked %s's host to delete %s you sent\n", cli.NewPeer(p.Peer, p.PeerName, p.ClaimedName).Label(), messages(p.Messages))
		}
		if o.del.ForEveryone && len(total.Requests) == 0 && total.Deleted > 0 {
			r.printf("no peer's host was asked: you sent none of them\n")
		}
	}
	waitErr := r.wait(ctx, client)
	if o.json {
		r.printJSON(missing)
	}
	if r.err != nil {
		return r.err
	}
	for _, m := range missing {
		fmt.Fprintf(c.App.ErrWriter, "%s: error: no message %s\n", c.App.Name, m)
	}
	if len(missing) > 0 && waitErr == nil {
		return cli.Errorf("").WithHintf("smvs-recv --json lists every message with its seq and id")
	}
	return waitErr
}

// report prints what a deletion did.
type report struct {
	c       *urfave.Context
	o       *options
	res     *hostapi.DeleteResult
	answers []delivery.Status // with --wait, each request's final status; Queued if none came
	err     error             // writing standard output failed
}

func (r *report) printf(format string, a ...any) {
	if _, err := fmt.Fprintf(r.c.App.Writer, format, a...); err != nil && r.err == nil {
		r.err = cli.Errorf("writing to standard output: %w", err)
	}
}

// wait waits, with --wait, up to --timeout from now for each peer's host
// to answer its request, prints each answer and returns the error the
// worst of them gives.
func (r *report) wait(ctx context.Context, client *hostapi.Client) error {
	if !r.o.wait || len(r.res.Requests) == 0 {
		return nil
	}
	deadline := time.Now().Add(r.o.timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(5*time.Second))
	defer cancel()
	code := 0
	for _, p := range r.res.Requests {
		status := delivery.Queued
		it, err := client.Status(ctx, p.ID, max(time.Until(deadline), time.Millisecond))
		switch {
		case errors.Is(err, context.DeadlineExceeded):
		case err != nil:
			return hostError(err)
		default:
			status = it.Status
		}
		r.answers = append(r.answers, status)
		name, n := cli.NewPeer(p.Peer, p.PeerName, p.ClaimedName).Label(), messages(p.Messages)
		var line string
		switch status {
		case delivery.Sent, delivery.Delivered:
			line = fmt.Sprintf("%s's host deleted %s", name, n)
		case delivery.Refused:
			line, code = fmt.Sprintf("%s's host refused to delete %s", name, n), exitNotEverywhere
		case delivery.Failed:
			line, code = fmt.Sprintf("%s's host was not reached: the request to delete %s failed", name, n), exitNotEverywhere
		default:
			line = fmt.Sprintf("%s's host did not answer within %s", name, r.o.timeout)
			if code == 0 {
				code = exitNoAnswer
			}
		}
		if !r.o.json && !r.o.quiet {
			r.printf("%s\n", line)
		}
	}
	switch code {
	case exitNotEverywhere:
		return cli.Errorf("deleted here, but not every peer's host deleted its copies").WithExitCode(code).
			WithHintf("a peer's host deletes on request only if its owner's policy lets it; ask them to delete them")
	case exitNoAnswer:
		return cli.Errorf("deleted here, but not every peer's host answered within %s", r.o.timeout).WithExitCode(code).
			WithHintf("your host keeps trying; smvs-recv --follow --json shows the answer as a status event of the request's id")
	}
	return nil
}

// deleteJSON is what --json prints for a deletion.
type deleteJSON struct {
	Deleted  int           `json:"deleted"`
	Missing  []string      `json:"missing,omitempty"`
	Requests []requestJSON `json:"requests,omitempty"`
}

type requestJSON struct {
	Peer     string `json:"peer"`
	PeerName string `json:"peer_name,omitempty"` // a contact's name, never a stranger's claim
	// ClaimedName is the name a stranger's record claims.
	ClaimedName string `json:"claimed_name,omitempty"`
	ID          string `json:"id"`
	Messages    int    `json:"messages"`
	Status      string `json:"status,omitempty"` // with --wait
}

func (r *report) printJSON(missing []string) {
	out := deleteJSON{Deleted: r.res.Deleted, Missing: missing}
	for i, p := range r.res.Requests {
		peer := cli.NewPeer(p.Peer, p.PeerName, p.ClaimedName)
		req := requestJSON{Peer: peer.ID(), PeerName: peer.Name, ClaimedName: peer.Claimed, ID: hex.EncodeToString(p.ID), Messages: p.Messages}
		if i < len(r.answers) {
			req.Status = r.answers[i].String()
		}
		out.Requests = append(out.Requests, req)
	}
	r.writeJSON(out)
}

func (r *report) writeJSON(v any) {
	if err := cli.WriteJSON(r.c.App.Writer, v); err != nil && r.err == nil {
		r.err = cli.Errorf("writing to standard output: %w", err)
	}
}

// setExpiry sets the default expiry of a conversation and reports it.
func setExpiry(c *urfave.Context, o *options) error {
	ctx := context.Background()
	client, err := hostcli.Dial(ctx, c)
	if err != nil {
		return hostError(err)
	}
	defer client.Close()
	res, err := client.Expiry(ctx, &hostapi.Expiry{Peer: o.peer, Set: true, After: o.expire.Milliseconds()})
	if err != nil {
		return hostError(err)
	}
	r := &report{c: c, o: o}
	peer := cli.NewPeer(res.Peer, res.PeerName, res.ClaimedName)
	name := peer.Label()
	switch {
	case o.json:
		r.writeJSON(expiryJSON{Peer: peer.ID(), PeerName: peer.Name, ClaimedName: peer.Claimed, ExpireAfterMS: res.After, WasMS: res.Was})
	case o.quiet:
	case res.After == 0:
		r.printf("messages with %s no longer disappear (before: %s)\n", name, lifetime(res.Was))
	default:
		r.printf("messages with %s now disappear %s after they are sent (before: %s)\n", name, lifetime(res.After), lifetime(res.Was))
	}
	if r.err != nil {
		return r.err
	}
	return nil
}

// expiryJSON is what --json prints for --expire-after.
type expiryJSON struct {
	Peer          string `json:"peer"`
	PeerName      string `json:"peer_name,omitempty"`
	ClaimedName   string `json:"claimed_name,omitempty"`
	ExpireAfterMS int64  `json:"expire_after_ms"`
	WasMS         int64  `json:"was_ms"`
}

// lifetime shows a default expiry for people: "7d", "1h30m", "never".
func lifetime(ms int64) string {
	if ms == 0 {
		return "never"
	}
	d := time.Duration(ms) * time.Millisecond
	if d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}

// messages says "1 message" or "3 messages".
func messages(n int) string {
	if n == 1 {
		return "1 message"
	}
	return fmt.Sprintf("%d messages", n)
}

// hostError explains an error from the host or from talking to it.
func hostError(err error) error {
	if e, ok := hostcli.DeviceError(err, exitHostNotRunning, exitNotLinked); ok {
		return e
	}
	var hostErr *hostapi.Error
	if !errors.As(err, &hostErr) {
		return cli.Errorf("%w", err)
	}
	// The host's hint says what to do, knowing why it failed; ours only
	// stand in for one it did not give.
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
		e.WithExitCode(exitUnknownPeer)
		hint("smvs-register contacts lists your contacts")
	case hostapi.ErrUnavailable:
		hint("try again in a moment")
	case hostapi.ErrNotLinked:
		e.WithExitCode(exitNotLinked)
	}
	return e
}

// isTerminal reports whether f (standard input or error) is a terminal.
// Tests replace it.
var isTerminal = func(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
