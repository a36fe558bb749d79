// Command smvs-call places or answers a video call: encoded video on
// standard input goes to the peer, the peer's video comes out on standard
// output, so ffmpeg and ffplay sit at either end. The call's signalling
// goes through the user's host; its media goes device to device over
// WebRTC (see lib/call). See man/smvs-call.1.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/cli"
)

// The environment variables of the TURN credentials: a password never
// goes in a flag.
const (
	envTURNUser     = "SMVS_TURN_USER"
	envTURNPassword = "SMVS_TURN_PASSWORD"
)

const defaultRingTimeout = 30 * time.Second

func main() {
	ctx, stop := interruptContext()
	code := run(ctx, os.Args, stdio{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, tty: openTTY})
	stop()
	os.Exit(code)
}

// interrupted is why run's context ends: a signal, which gives the exit
// status 128 plus its number.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

// interruptContext returns a context done at the first SIGINT or SIGTERM,
// with an interrupted as its cause; a second signal kills at once. A
// broken pipe on standard output becomes a write error (the player was
// closed), not a silent death: the call then hangs up properly.
func interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			sig, _ := s.(syscall.Signal)
			cancel(interrupted{sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// stdio is what run talks through. tty opens the terminal that asks
// whether to answer.
type stdio struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	tty            func() (io.ReadWriteCloser, error)
}

func openTTY() (io.ReadWriteCloser, error) {
	return os.OpenFile("/dev/tty", os.O_RDWR, 0)
}

// run runs smvs-call with args until the call ends or ctx does, and
// returns its exit status.
func run(ctx context.Context, args []string, io stdio) int {
	app := newApp(ctx, io)
	app.Writer, app.ErrWriter = io.stdout, io.stderr
	return cli.Run(app, args)
}

func newApp(ctx context.Context, io stdio) *urfave.App {
	return &urfave.App{
		Name:  "smvs-call",
		Usage: "make a video call: encoded video in on standard input, the peer's out on standard output",
		UsageText: "smvs-call [OPTIONS] PEER < VIDEO > PEERS-VIDEO\n" +
			"smvs-call --answer [--from PEER] [--yes] [--timeout DURATION] [OPTIONS] < VIDEO > PEERS-VIDEO",
		Description: "Calls PEER (a contact name, an smvs1... key or a name in a directory), or with --answer waits\n" +
			"for a call. Standard input is IVF (VP8, VP9, AV1) or H.264 Annex-B, as ffmpeg writes them; the\n" +
			"peer's video is written to standard output in the same kind of container. The call ends when\n" +
			"standard input ends, when the peer hangs up, or at Ctrl-C.",
		ArgsUsage: "PEER",
		Flags: []urfave.Flag{
			&urfave.BoolFlag{Name: "answer", Aliases: []string{"a"}, Usage: "wait for a call and answer it, instead of calling PEER"},
			&urfave.StringFlag{Name: "from", Usage: "with --answer: only ring for calls from `PEER` (a contact name or an smvs1... key)"},
			&urfave.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "with --answer: answer at once, without asking on the terminal"},
			&urfave.DurationFlag{Name: "timeout", Usage: "with --answer: give up when no call came within `DURATION` (default: wait forever)"},
			&urfave.DurationFlag{Name: "ring-timeout", Usage: "give up when the peer did not answer within `DURATION`", Value: defaultRingTimeout},
			&urfave.StringFlag{Name: "format", Usage: "standard input is `FORMAT`: ivf or h264 (default: detected)"},
			&urfave.Float64Flag{Name: "fps", Usage: "the frame rate of H.264 input, which carries no timestamps, as `N` frames a second (default 30)"},
			&urfave.BoolFlag{Name: "live", Usage: "the inputs are live sources that pace themselves (a camera, ffmpeg -re): send each frame as it comes"},
			&urfave.BoolFlag{Name: "send-only", Usage: "send video but receive none: nothing is written to standard output"},
			&urfave.BoolFlag{Name: "receive-only", Usage: "receive video but send none: standard input is not read"},
			&urfave.PathFlag{Name: "audio-in", Usage: "send the Ogg/Opus audio of `FILE` (a file or a FIFO)", TakesFile: true},
			&urfave.PathFlag{Name: "audio-out", Usage: "write the peer's audio to `FILE` as Ogg/Opus", TakesFile: true},
			&urfave.BoolFlag{Name: "camera", Usage: "send the camera's picture instead of standard input (needs a build with capture support)"},
			&urfave.BoolFlag{Name: "mic", Usage: "send the microphone instead of --audio-in (needs a build with capture support)"},
			&urfave.StringSliceFlag{Name: "stun", Usage: "use the STUN server at `URL` (stun:HOST:PORT) to learn this device's public address (repeatable)"},
			&urfave.StringSliceFlag{Name: "turn", Usage: "relay through the TURN server at `URL` (turn:HOST:PORT?transport=udp) when no direct path works (repeatable)"},
			&urfave.PathFlag{Name: "turn-credentials", Usage: "read the TURN user and password from `FILE`, one line USER:PASSWORD, not readable by others", TakesFile: true},
			&urfave.BoolFlag{Name: "relay-only", Usage: "connect only through the TURN relay: the peer never learns this device's addresses"},
			&urfave.BoolFlag{Name: "no-peer-stun", Usage: "with --answer: don't ask the STUN servers the caller names for this device's public address"},
			&urfave.StringSliceFlag{Name: "local-address", Usage: "offer only this device's `ADDRESS` for direct connections (repeatable; default: every address)", EnvVars: []string{"SMVS_LOCAL_ADDRESS"}},
			&urfave.BoolFlag{Name: "stats", Usage: "print the call's round-trip time, loss, jitter, bitrates and frame rates once a second"},
			&urfave.StringFlag{Name: "log-level", Usage: "log at `LEVEL` on standard error: debug (every signal and ICE candidate), info, warn or error", Value: "warn"},
			cli.SocketFlag(),
			cli.HomeFlag(),
		},
		Action: func(c *urfave.Context) error {
			o, err := parseOptions(c)
			if err != nil {
				return err
			}
			s := &session{ctx: ctx, c: c, o: o, io: io, who: o.peer}
			err = s.run()
			var e *ended
			if errors.As(err, &e) && e.line != "" {
				fmt.Fprintf(io.stderr, "smvs-call: %s\n", e.line)
			}
			return err
		},
	}
}

// options are the checked flags and argument.
type options struct {
	peer        string
	answer      bool
	from        string
	yes         bool
	timeout     time.Duration
	ringTimeout time.Duration
	format      string
	fps         float64
	sendOnly    bool
	receiveOnly bool
	audioIn     string
	audioOut    string
	camera, mic bool
	stun, turn  []string
	turnFile    string
	relayOnly   bool
	noPeerSTUN  bool
	live        bool
	local       []net.IP
	stats       bool
	logLevel    slog.Level
}

func parseOptions(c *urfave.Context) (*options, error) {
	o := &options{
		answer:      c.Bool("answer"),
		from:        c.String("from"),
		yes:         c.Bool("yes"),
		timeout:     c.Duration("timeout"),
		ringTimeout: c.Duration("ring-timeout"),
		format:      c.String("format"),
		fps:         c.Float64("fps"),
		sendOnly:    c.Bool("send-only"),
		receiveOnly: c.Bool("receive-only"),
		audioIn:     c.Path("audio-in"),
		audioOut:    c.Path("audio-out"),
		camera:      c.Bool("camera"),
		mic:         c.Bool("mic"),
		stun:        c.StringSlice("stun"),
		turn:        c.StringSlice("turn"),
		turnFile:    c.Path("turn-credentials"),
		relayOnly:   c.Bool("relay-only"),
		noPeerSTUN:  c.Bool("no-peer-stun"),
		live:        c.Bool("live"),
		stats:       c.Bool("stats"),
	}
	if o.answer {
		if err := cli.CheckArgs(c, 0, 0); err != nil {
			return nil, err
		}
	} else {
		if err := cli.CheckArgs(c, 1, 1); err != nil {
			return nil, err
		}
		o.peer = c.Args().First()
	}
	level, err := cli.LogLevel(c)
	if err != nil {
		return nil, err
	}
	o.logLevel = level
	switch {
	case !o.answer && strings.TrimSpace(o.peer) == "":
		return nil, cli.UsageErrorf(c, "the peer is empty")
	case !o.answer && (c.IsSet("from") || o.yes || c.IsSet("timeout") || o.noPeerSTUN):
		return nil, cli.UsageErrorf(c, "--from, --yes, --timeout and --no-peer-stun are for answering: give --answer, or leave them out")
	case o.answer && c.IsSet("ring-timeout"):
		return nil, cli.UsageErrorf(c, "--ring-timeout is for placing a call; --timeout says how long --answer waits")
	case c.IsSet("timeout") && o.timeout <= 0:
		return nil, cli.UsageErrorf(c, "invalid --timeout %s: want a positive duration such as 30s or 5m", o.timeout)
	case o.ringTimeout <= 0:
		return nil, cli.UsageErrorf(c, "invalid --ring-timeout %s: want a positive duration such as 30s or 1m", o.ringTimeout)
	case o.sendOnly && o.receiveOnly:
		return nil, cli.UsageErrorf(c, "--send-only and --receive-only leave nothing to do: give one of them")
	case o.format != "" && o.format != "ivf" && o.format != "h264":
		return nil, cli.UsageErrorf(c, "invalid --format %q: want ivf or h264", o.format)
	case c.IsSet("fps") && (o.fps <= 0 || o.fps > 1000):
		return nil, cli.UsageErrorf(c, "invalid --fps %g: want a frame rate such as 25 or 29.97", o.fps)
	case o.camera && o.receiveOnly:
		return nil, cli.UsageErrorf(c, "--camera sends video; --receive-only sends none")
	case o.camera && (o.format != "" || c.IsSet("fps")):
		return nil, cli.UsageErrorf(c, "--format and --fps describe standard input, which --camera replaces")
	case o.receiveOnly && (o.format != "" || c.IsSet("fps")):
		return nil, cli.UsageErrorf(c, "--format and --fps describe standard input, which --receive-only does not read")
	case o.mic && o.audioIn != "":
		return nil, cli.UsageErrorf(c, "--mic and --audio-in are both audio to send: give one of them")
	case c.IsSet("audio-in") && o.audioIn == "", c.IsSet("audio-out") && o.audioOut == "":
		return nil, cli.UsageErrorf(c, "--audio-in and --audio-out need a file name")
	case o.relayOnly && len(o.turn) == 0:
		return nil, cli.UsageErrorf(c, "--relay-only needs a TURN server to relay through: give --turn URL")
	case o.turnFile != "" && len(o.turn) == 0:
		return nil, cli.UsageErrorf(c, "--turn-credentials is for a TURN server: give --turn URL")
	}
	for _, u := range o.stun {
		if !hasServer(u, "stun:", "stuns:") {
			return nil, cli.UsageErrorf(c, "invalid --stun %q: want a URL such as stun:stun.example.net:3478", u)
		}
	}
	for _, u := range o.turn {
		if !hasServer(u, "turn:", "turns:") {
			return nil, cli.UsageErrorf(c, "invalid --turn %q: want a URL such as turn:turn.example.net:3478?transport=udp", u)
		}
	}
	for _, a := range c.StringSlice("local-address") {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, cli.UsageErrorf(c, "invalid --local-address %q: want an IP address such as 192.0.2.7", a)
		}
		o.local = append(o.local, ip)
	}
	return o, nil
}

// hasServer reports whether u is a URL of one of the schemes with a host.
func hasServer(u string, schemes ...string) bool {
	for _, s := range schemes {
		if rest, ok := strings.CutPrefix(u, s); ok {
			host, _, _ := strings.Cut(rest, "?")
			return host != "" && !strings.ContainsAny(host, "/@ ")
		}
	}
	return false
}
