package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"smvs/lib/call"
	"smvs/lib/cli"
	"smvs/lib/cli/clitest"
	"smvs/lib/hostapi/hostapitest"
	"smvs/lib/wire"
)

// The peers' identities: their devices' signals are signed by keys these
// certify (hostapitest.Host.SendCallAs).
var (
	bobID    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xb0}, ed25519.SeedSize))
	aliceID  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xa1}, ed25519.SeedSize))
	bobKey   = []byte(bobID.Public().(ed25519.PublicKey))
	aliceKey = []byte(aliceID.Public().(ed25519.PublicKey))
)

// An offer as the peer's device would send it; only a device that
// accepts it looks inside.
const offerSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

// result is what one run of smvs-call did.
type result struct {
	code           int
	stdout, stderr string
}

// newHost starts a fake host that knows alice and bob, with SMVS_SOCKET
// pointing at it and nothing else from the environment.
func newHost(t *testing.T) *hostapitest.Host {
	t.Helper()
	h := hostapitest.Start(t)
	h.AddContact("bob", bobKey)
	h.AddContact("alice", aliceKey)
	t.Setenv(cli.SocketEnv, h.Path())
	t.Setenv(cli.HomeEnv, t.TempDir())
	t.Setenv(envTURNUser, "")
	t.Setenv(envTURNPassword, "")
	return h
}

// running is smvs-call running in the background.
type running struct {
	stderr *clitest.Buffer
	done   chan result
	cancel context.CancelCauseFunc
	tty    *ttyPipe
}

// start runs smvs-call in the background; its terminal is a pipe the test
// types into.
func start(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &running{stderr: new(clitest.Buffer), done: make(chan result, 1), cancel: cancel, tty: newTTYPipe()}
	t.Cleanup(func() {
		cancel(nil)
		r.tty.Close()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("smvs-call did not stop")
		}
	})
	go func() {
		var stdout bytes.Buffer
		io := stdio{stdin: strings.NewReader(""), stdout: &stdout, stderr: r.stderr,
			tty: func() (io.ReadWriteCloser, error) { return r.tty, nil }}
		code := run(ctx, append([]string{"smvs-call", "--local-address", "127.0.0.1"}, args...), io)
		r.done <- result{code, stdout.String(), r.stderr.String()}
	}()
	return r
}

// result waits for smvs-call to end.
func (r *running) result(t *testing.T) result {
	t.Helper()
	select {
	case res := <-r.done:
		r.done <- res
		return res
	case <-time.After(15 * time.Second):
		t.Fatalf("smvs-call did not end; stderr:\n%s", r.stderr.String())
		return result{}
	}
}

// waitFor waits until smvs-call's standard error has want.
func (r *running) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on standard error:\n%s", want, r.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ttyPipe is a terminal the test types into and reads the questions of.
type ttyPipe struct {
	in  *io.PipeReader
	typ *io.PipeWriter
	out clitest.Buffer
}

func newTTYPipe() *ttyPipe {
	r, w := io.Pipe()
	return &ttyPipe{in: r, typ: w}
}

func (p *ttyPipe) Read(b []byte) (int, error)  { return p.in.Read(b) }
func (p *ttyPipe) Write(b []byte) (int, error) { return p.out.Write(b) }
func (p *ttyPipe) Close() error                { p.typ.Close(); return p.in.Close() }

// expect checks an ended run's status and that its standard error has
// every one of want.
func expect(t *testing.T, res result, code int, want ...string) {
	t.Helper()
	if res.code != code {
		t.Errorf("status %d, want %d; stderr:\n%s", res.code, code, res.stderr)
	}
	for _, w := range want {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
		}
	}
}

// runNow runs smvs-call to its end.
func runNow(t *testing.T, args ...string) result {
	t.Helper()
	return start(t, args...).result(t)
}

func TestUsage(t *testing.T) {
	newHost(t)
	credentials := filepath.Join(t.TempDir(), "turn")
	if err := os.WriteFile(credentials, []byte("user:pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "missing argument"},
		{[]string{"bob", "carol"}, `unexpected argument "carol"`},
		{[]string{"--answer", "bob"}, ""},
		{[]string{"--yes", "bob"}, "--from, --yes, --timeout and --no-peer-stun are for answering"},
		{[]string{"--no-peer-stun", "bob"}, "are for answering"},
		{[]string{"--answer", "--ring-timeout", "5s"}, "--ring-timeout is for placing a call"},
		{[]string{"--answer", "--yes", "--timeout", "-1s"}, "invalid --timeout"},
		{[]string{"--ring-timeout", "0s", "bob"}, "invalid --ring-timeout"},
		{[]string{"--send-only", "--receive-only", "bob"}, "leave nothing to do"},
		{[]string{"--format", "mp4", "bob"}, `invalid --format "mp4"`},
		{[]string{"--fps", "0", "bob"}, "invalid --fps"},
		{[]string{"--receive-only", "--fps", "25", "bob"}, "which --receive-only does not read"},
		{[]string{"--camera", "--receive-only", "bob"}, "--camera sends video"},
		{[]string{"--mic", "--audio-in", "a.ogg", "bob"}, "give one of them"},
		{[]string{"--relay-only", "bob"}, "--relay-only needs a TURN server"},
		{[]string{"--turn-credentials", credentials, "bob"}, "is for a TURN server"},
		{[]string{"--stun", "stun.example.net", "bob"}, `invalid --stun "stun.example.net"`},
		{[]string{"--turn", "http://turn.example.net", "bob"}, "invalid --turn"},
		{[]string{"--local-address", "localhost", "bob"}, `invalid --local-address "localhost"`},
		{[]string{"--log-level", "loud", "bob"}, "invalid --log-level"},
		{[]string{"--turn", "turn:127.0.0.1:3478", "bob"}, "a TURN server needs a user and a password"},
		{[]string{"--from", "bob", "--receive-only", "bob"}, "are for answering"},
		{[]string{" ", "--receive-only"}, ""},
	} {
		res := runNow(t, tt.args...)
		if res.code != cli.ExitUsage || !strings.Contains(res.stderr, tt.want) || !strings.Contains(res.stderr, "smvs-call: error: ") {
			t.Errorf("%q: status %d, stderr:\n%s\nwant status 2 and %q", tt.args, res.code, res.stderr, tt.want)
		}
	}
}

func TestAnswerNeedsATerminalOrYes(t *testing.T) {
	newHost(t)
	var stderr bytes.Buffer
	io := stdio{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
		tty: func() (io.ReadWriteCloser, error) { return nil, errors.New("open /dev/tty: no such device or address") }}
	if code := run(context.Background(), []string{"smvs-call", "--answer"}, io); code != cli.ExitUsage {
		t.Errorf("status %d, want 2", code)
	}
	for _, want := range []string{"error: no terminal to ask whether to answer", "hint: give --yes"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestTURNCredentialsFile(t *testing.T) {
	newHost(t)
	path := filepath.Join(t.TempDir(), "turn")
	if err := os.WriteFile(path, []byte("user:pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runNow(t, "--turn", "turn:127.0.0.1:3478", "--turn-credentials", path, "--receive-only", "bob")
	expect(t, res, cli.ExitFailure, "is readable by others (mode 0644)", "hint: chmod 600 "+path)
	if err := os.WriteFile(path, []byte("no colon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	res = runNow(t, "--turn", "turn:127.0.0.1:3478", "--turn-credentials", path, "--receive-only", "bob")
	expect(t, res, cli.ExitFailure, "does not hold the TURN credentials as USER:PASSWORD")
}

func TestHostErrors(t *testing.T) {
	newHost(t)
	res := runNow(t, "--receive-only", "mallory")
	expect(t, res, exitUnknownPeer, "unknown recipient mallory", "hint: look them up in a directory: smvs-register lookup mallory")

	t.Setenv(cli.SocketEnv, filepath.Join(t.TempDir(), "nothing.sock"))
	res = runNow(t, "--receive-only", "bob")
	expect(t, res, exitHostNotRunning, "hint: start smvs-hostd")
}

// placed starts a call to bob and returns it with the offer it sent.
func placed(t *testing.T, h *hostapitest.Host, args ...string) (*running, wire.CallSignal) {
	t.Helper()
	r := start(t, append(args, "--receive-only", "bob")...)
	sent := h.WaitCallSignals(1, 10*time.Second)
	if len(sent) == 0 {
		t.Fatalf("no offer sent; stderr:\n%s", r.stderr.String())
	}
	offer := sent[0].Signal
	if offer.Type != wire.SignalOffer || !bytes.Equal(sent[0].Peer, bobKey) {
		t.Fatalf("first signal %v to %x, want an offer to bob", offer.Type, sent[0].Peer)
	}
	return r, offer
}

// TestPlaceEndings: the ways a placed call ends before it is answered,
// each with its status and line.
func TestPlaceEndings(t *testing.T) {
	for _, tt := range []struct {
		signal wire.SignalType
		reason string
		code   int
		want   string
	}{
		{wire.SignalReject, "declined", exitRejected, "smvs-call: error: bob declined the call\n"},
		{wire.SignalReject, "not now", exitRejected, "smvs-call: error: bob declined the call (not now)"},
		{wire.SignalBusy, "in another call", exitBusy, "smvs-call: error: bob is busy in another call"},
		{wire.SignalUnavailable, "no device is waiting for calls", exitUnavailable, "smvs-call: error: bob can't take a call now: no device is waiting for calls"},
		{wire.SignalHangup, "the callee hung up", exitHungUp, "smvs-call: bob hung up\n"},
	} {
		t.Run(tt.signal.String(), func(t *testing.T) {
			h := newHost(t)
			r, offer := placed(t, h)
			h.SendCallAs(bobID, &wire.CallSignal{CallID: offer.CallID, Type: wire.SignalRinging})
			r.waitFor(t, "smvs-call: ringing bob…\n")
			h.SendCallAs(bobID, &wire.CallSignal{CallID: offer.CallID, Type: tt.signal, Reason: tt.reason})
			expect(t, r.result(t), tt.code, tt.want)
		})
	}
}

func TestPlaceNoAnswer(t *testing.T) {
	h := newHost(t)
	r, offer := placed(t, h, "--ring-timeout", "300ms")
	expect(t, r.result(t), exitNoAnswer, "smvs-call: error: bob did not answer: nobody answered within 300ms", "hint: ring longer with --ring-timeout")
	// The caller told bob it stopped ringing.
	waitSignal(t, h, wire.SignalHangup, offer.CallID)
}

func TestPlaceInterrupted(t *testing.T) {
	h := newHost(t)
	r, offer := placed(t, h)
	r.cancel(interrupted{syscall.SIGINT})
	expect(t, r.result(t), 130, "smvs-call: interrupted: stopped calling bob")
	waitSignal(t, h, wire.SignalHangup, offer.CallID)
}

// waitSignal waits until a device sent a signal of type typ for call id.
func waitSignal(t *testing.T, h *hostapitest.Host, typ wire.SignalType, id []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, s := range h.CallSignals() {
			if s.Signal.Type == typ && bytes.Equal(s.Signal.CallID, id) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %v sent for the call", typ)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ringing starts smvs-call --answer and rings it with an offer from alice.
func ringing(t *testing.T, h *hostapitest.Host, args ...string) (*running, []byte) {
	t.Helper()
	r := start(t, append([]string{"--answer", "--receive-only"}, args...)...)
	r.waitFor(t, "smvs-call: waiting for a call\n")
	id := bytes.Repeat([]byte{7}, wire.CallIDSize)
	if n := h.SendCallAs(aliceID, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: offerSDP}); n != 1 {
		t.Fatalf("the offer reached %d streams", n)
	}
	r.waitFor(t, "smvs-call: alice (smvs1")
	r.waitFor(t, ") is calling\n")
	return r, id
}

// waitTTY waits for the question on the terminal.
func waitTTY(t *testing.T, r *running) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.tty.out.String(), "answer the call from alice? [y/N] ") {
		if time.Now().After(deadline) {
			t.Fatalf("no question on the terminal: %q", r.tty.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAnswerDeclined(t *testing.T) {
	h := newHost(t)
	r, id := ringing(t, h)
	waitTTY(t, r)
	io.WriteString(r.tty.typ, "n\n")
	expect(t, r.result(t), exitRejected, "smvs-call: declined the call from alice\n")
	sent := h.WaitCallSignals(1, 5*time.Second)
	if len(sent) != 1 || sent[0].Signal.Type != wire.SignalReject || !bytes.Equal(sent[0].Signal.CallID, id) {
		t.Errorf("sent %+v, want one reject", sent)
	}
}

func TestAnswerRingingEnds(t *testing.T) {
	for _, tt := range []struct {
		signal wire.SignalType
		reason string
		code   int
		want   string
	}{
		{wire.SignalTaken, "answered on another device", exitTaken, "smvs-call: the call from alice was answered on another device\n"},
		{wire.SignalHangup, "no answer", exitHungUp, "smvs-call: the call from alice ended before it was answered (no answer)\n"},
		{wire.SignalUnavailable, "alice's host can't be reached", exitUnavailable, "error: alice can't take a call now: alice's host can't be reached"},
	} {
		t.Run(tt.signal.String(), func(t *testing.T) {
			h := newHost(t)
			r, id := ringing(t, h)
			waitTTY(t, r)
			// Another call rings meanwhile: it is declined.
			other := bytes.Repeat([]byte{8}, wire.CallIDSize)
			h.SendCallAs(aliceID, &wire.CallSignal{CallID: other, Type: wire.SignalOffer, SDP: offerSDP})
			sent := h.WaitCallSignals(1, 5*time.Second)
			if len(sent) != 1 || sent[0].Signal.Type != wire.SignalReject || !bytes.Equal(sent[0].Signal.CallID, other) {
				t.Errorf("sent %+v, want the second call declined", sent)
			}
			h.SendCallAs(aliceID, &wire.CallSignal{CallID: id, Type: tt.signal, Reason: tt.reason})
			expect(t, r.result(t), tt.code, tt.want)
		})
	}
}

func TestAnswerTimeout(t *testing.T) {
	newHost(t)
	res := runNow(t, "--answer", "--yes", "--receive-only", "--timeout", "200ms")
	expect(t, res, exitNoAnswer, "smvs-call: waiting for a call\n", "smvs-call: error: no call came within 200ms")
}

func TestAnswerFromUnknown(t *testing.T) {
	newHost(t)
	res := runNow(t, "--answer", "--yes", "--from", "mallory")
	expect(t, res, exitUnknownPeer, "unknown contact mallory")
}

func TestAnswerInterrupted(t *testing.T) {
	h := newHost(t)
	r := start(t, "--answer", "--yes", "--receive-only")
	r.waitFor(t, "waiting for a call")
	r.cancel(interrupted{syscall.SIGTERM})
	expect(t, r.result(t), 143, "smvs-call: interrupted: stopped waiting for a call")
	// While ringing, an interruption declines the call.
	r, id := ringing(t, h)
	waitTTY(t, r)
	r.cancel(interrupted{syscall.SIGINT})
	expect(t, r.result(t), 130, "smvs-call: interrupted: declined the call from alice")
	sent := h.WaitCallSignals(1, 5*time.Second)
	if len(sent) != 1 || sent[0].Signal.Type != wire.SignalReject || !bytes.Equal(sent[0].Signal.CallID, id) {
		t.Errorf("sent %+v, want the call declined", sent)
	}
}

// TestOutcome is the table of how a call's end becomes an exit status.
func TestOutcome(t *testing.T) {
	for _, tt := range []struct {
		err   error
		taken bool
		code  int
		line  string
	}{
		{nil, false, 0, "hung up: the input ended"},
		{fmt.Errorf("call: writing the video output: %w", syscall.EPIPE), false, 0, "hung up: standard output was closed"},
		{&call.Ended{Err: call.ErrHungUp, Reason: "the callee hung up"}, false, exitHungUp, "bob hung up"},
		{&call.Ended{Err: call.ErrHungUp, Reason: "the callee hung up: bad media input"}, false, exitHungUp, "bob hung up (bad media input)"},
		{&call.Ended{Err: call.ErrHungUp, Reason: "another device answered"}, true, exitTaken, "the call was answered on another device"},
		{&call.Ended{Err: call.ErrNoAnswer, Reason: "nobody answered within 30s"}, false, exitNoAnswer, "bob did not answer: nobody answered within 30s"},
		{&call.Ended{Err: call.ErrRejected, Reason: "declined"}, false, exitRejected, "bob declined the call"},
		{&call.Ended{Err: call.ErrBusy, Reason: "in another call"}, false, exitBusy, "bob is busy in another call"},
		{&call.Ended{Err: call.ErrUnavailable}, false, exitUnavailable, "bob can't take a call now: no device of theirs is waiting for calls"},
		{&call.Ended{Err: call.ErrFingerprint, Reason: "seen on this side"}, false, exitFingerprint, "someone may be tampering with the call"},
		{&call.Ended{Err: call.ErrConnection, Reason: "could not reach the peer within 20s"}, false, exitConnection, "could not connect to bob: could not reach the peer within 20s"},
		{fmt.Errorf("%w: video: truncated", call.ErrMedia), false, cli.ExitFailure, "bad media input: video: truncated"},
		{errors.New("something else"), false, cli.ExitFailure, "something else"},
	} {
		err := outcome(tt.err, "bob", tt.taken)
		var coder interface{ ExitCode() int }
		if !errors.As(err, &coder) || coder.ExitCode() != tt.code {
			t.Errorf("%v: %v, want status %d", tt.err, err, tt.code)
			continue
		}
		text := err.Error()
		var e *ended
		if errors.As(err, &e) {
			text = e.line
		}
		if !strings.Contains(text, tt.line) {
			t.Errorf("%v: says %q, want %q", tt.err, text, tt.line)
		}
	}
}

// TestManPage checks that man/smvs-call.1 documents every flag, and no
// flag that does not exist, every environment variable and exit status.
func TestManPage(t *testing.T) {
	app := newApp(context.Background(), stdio{})
	clitest.CheckManPage(t, clitest.ManPage{
		Name:      "smvs-call.1",
		App:       app,
		Env:       []string{cli.SocketEnv, cli.HomeEnv, "XDG_RUNTIME_DIR", envTURNUser, envTURNPassword},
		ExitCodes: []int{0, 1, 2, exitUnknownPeer, exitKeyChanged, exitHostNotRunning, exitNotLinked},
	})
	// CheckManPage knows single digits; the call statuses have two or three.
	page, err := os.ReadFile(filepath.Join("..", "..", "man", "smvs-call.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{exitHungUp, exitNoAnswer, exitRejected, exitBusy, exitUnavailable, exitFingerprint,
		exitConnection, exitTaken, exitSignal + int(syscall.SIGINT), exitSignal + int(syscall.SIGTERM)} {
		if !regexp.MustCompile(fmt.Sprintf(`\n\.TP\n\.B %d\n`, code)).Match(page) {
			t.Errorf("EXIT STATUS does not document %d", code)
		}
	}
}

// What a peer chose, a name its record gave or a hang-up reason, reaches
// the terminal escaped: no escape sequence, no bidirectional override.
func TestPeerTextEscaped(t *testing.T) {
	hostile := "bo\x1b]0;owned\x07b\u202e\u009b2J"
	for _, got := range []string{cli.NewPeer(nil, hostile, "").Label(), cli.NewPeer(aliceKey, "", hostile).LongLabel(),
		peerReason(hostile), peerReason("the callee hung up: " + hostile)} {
		if strings.ContainsAny(got, "\x1b\x07\u202e\u009b") {
			t.Errorf("%q reaches the terminal", got)
		}
		if !strings.Contains(got, `bo\x1b]0;owned\x07b\u202e\u009b2J`) {
			t.Errorf("%q does not show the text escaped", got)
		}
	}
}

// A stranger whose record claims a contact's name rings by its key, the
// claim marked, never as the contact (cli.Peer).
func TestStrangerRingsByKey(t *testing.T) {
	h := newHost(t)
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5e}, ed25519.SeedSize))
	strangerKey := []byte(stranger.Public().(ed25519.PublicKey))
	h.Claim(strangerKey, "alice")
	r := start(t, "--answer", "--receive-only")
	r.waitFor(t, "smvs-call: waiting for a call\n")
	id := bytes.Repeat([]byte{8}, wire.CallIDSize)
	if n := h.SendCallAs(stranger, &wire.CallSignal{CallID: id, Type: wire.SignalOffer, SDP: offerSDP}); n != 1 {
		t.Fatalf("the offer reached %d streams", n)
	}
	label := cli.NewPeer(strangerKey, "", "alice")
	r.waitFor(t, "smvs-call: "+label.ID()+" (says alice) is calling\n")
	question := "answer the call from " + label.ID()[:cli.KeyPrefixLen] + "… (says alice)? [y/N] "
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.tty.out.String(), question) {
		if time.Now().After(deadline) {
			t.Fatalf("no question %q on the terminal: %q", question, r.tty.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	io.WriteString(r.tty.typ, "n\n")
	expect(t, r.result(t), exitRejected, "smvs-call: declined the call from "+label.Label()+"\n")
}
