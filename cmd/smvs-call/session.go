package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	urfave "github.com/urfave/cli/v2"

	"smvs/lib/call"
	"smvs/lib/cli"
	"smvs/lib/cli/hostcli"
	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// session is one run of smvs-call: one call placed or answered.
type session struct {
	ctx context.Context // done when the user interrupts
	c   *urfave.Context
	o   *options
	io  stdio
	log *slog.Logger
	who string // the peer, as lines name them
	tty io.ReadWriteCloser

	// dev signs this run's call signals: a fresh key the host certified.
	// peer is the peer's identity key, whose device signs the peer's.
	dev  *call.Device
	peer []byte
}

// rejectTimeout bounds the refusal of a call this side won't take.
const rejectTimeout = 3 * time.Second

func (s *session) run() error {
	s.log = slog.New(slog.NewTextHandler(&prefixed{w: s.io.stderr}, &slog.HandlerOptions{Level: s.o.logLevel, ReplaceAttr: noTime}))
	// Everything that can be refused is refused before the host hears of
	// the call.
	if err := s.preflight(); err != nil {
		return err
	}
	if s.tty != nil {
		defer s.tty.Close()
	}
	client, err := hostcli.Dial(s.ctx, s.c)
	if err != nil {
		return hostError(err, s.o.peer)
	}
	// The stream outlives an interruption, which still sends a hang-up.
	streamCtx := context.WithoutCancel(s.ctx)
	// A fresh key signs this run's call signals, never stored; the host,
	// which holds the identity, certifies it as this user's.
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		client.Close()
		return cli.Errorf("making a call key: %w", err)
	}
	stream, err := client.OpenCall(streamCtx, &hostapi.CallRequest{
		Peer: s.o.peer, Answer: s.o.answer, From: s.o.from, Key: key.Public().(ed25519.PublicKey)})
	if err != nil {
		client.Close()
		return hostError(err, firstOf(s.o.peer, s.o.from))
	}
	if s.dev, err = call.NewDevice(key, stream.Cert()); err != nil {
		stream.Close()
		return cli.Errorf("the host's certificate of this call's key: %w", err)
	}
	s.peer = stream.Peer()
	sig := call.NewHostSignaller(stream, s.log)
	defer sig.Close()
	if s.o.answer {
		return s.answer(sig)
	}
	peer := cli.NewPeer(stream.Peer(), stream.PeerName(), stream.ClaimedName())
	if len(peer.Key) > 0 {
		s.who = peer.Label()
	}
	return s.place(sig, peer.LongLabel())
}

// firstOf returns a, or b when a is empty.
func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// preflight checks what smvs-call will read and write, and opens the
// terminal that asks whether to answer.
func (s *session) preflight() error {
	o := s.o
	if !o.sendOnly && isTerminal(s.io.stdout) {
		return cli.Errorf("standard output is a terminal: refusing to write the peer's video to it").
			WithHintf("pipe it to a player: smvs-call ... | ffplay -").
			WithHintf("or receive no video: --send-only")
	}
	if sendsStdin(o) && isTerminal(s.io.stdin) {
		return cli.Errorf("standard input is a terminal, not encoded video").
			WithHintf("pipe video in: ffmpeg ... -f ivf - | smvs-call ...").
			WithHintf("or send no video: --receive-only")
	}
	if (o.camera || o.mic) && !captureAvailable() {
		return captureError()
	}
	if o.answer && !o.yes {
		tty, err := s.io.tty()
		if err != nil {
			return cli.Errorf("no terminal to ask whether to answer: %w", err).WithExitCode(cli.ExitUsage).
				WithHintf("give --yes to answer the first call without asking")
		}
		s.tty = tty
	}
	if len(o.turn) > 0 {
		if _, _, err := turnCredentials(s.c, o); err != nil {
			return err
		}
	}
	return nil
}

// place calls the peer and waits until the call ends.
func (s *session) place(sig *call.HostSignaller, peerLabel string) error {
	in, err := s.openInputs()
	if err != nil {
		return err
	}
	defer in.close()
	cfg, err := s.config(in)
	if err != nil {
		return err
	}
	cfg.Device, cfg.Peer = s.dev, s.peer
	ringing := &ringNotice{HostSignaller: sig, notify: func() {
		fmt.Fprintf(s.io.stderr, "smvs-call: ringing %s…\n", s.who)
	}}
	c, err := call.Dial(s.ctx, ringing, cfg)
	if err != nil {
		if s.ctx.Err() != nil {
			return interruptedBy(s.ctx, "stopped calling "+s.who)
		}
		return outcome(err, s.who, false)
	}
	return s.wait(c, sig, "caller", peerLabel)
}

// answer waits for a call, rings, and takes it if the user says so.
func (s *session) answer(sig *call.HostSignaller) error {
	if s.o.from != "" {
		fmt.Fprintf(s.io.stderr, "smvs-call: waiting for a call from %s\n", s.o.from)
	} else {
		fmt.Fprintf(s.io.stderr, "smvs-call: waiting for a call\n")
	}
	wait := s.ctx
	if s.o.timeout > 0 {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(s.ctx, s.o.timeout)
		defer cancel()
	}
	var offer *hostapi.CallEvent
	for offer == nil {
		ev, err := sig.Next(wait)
		switch {
		case s.ctx.Err() != nil:
			return interruptedBy(s.ctx, "stopped waiting for a call")
		case wait.Err() != nil:
			return cli.Errorf("no call came within %s", s.o.timeout).WithExitCode(exitNoAnswer)
		case err != nil:
			return streamError(err)
		case ev.Signal.Type == wire.SignalOffer:
			offer = ev
		}
		// Anything else belongs to no call of this device.
	}
	peer := cli.NewPeer(offer.Peer, offer.PeerName, offer.ClaimedName)
	s.who = peer.Label()
	peerLabel := peer.LongLabel()
	// A forged or altered offer is refused before anyone is asked.
	s.peer = offer.Peer
	if err := call.CheckOffer(offer.Signal, s.dev, s.peer); err != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), rejectTimeout)
		defer cancel()
		if err := call.RejectTampered(ctx, sig, offer.Signal, s.dev, s.peer); err != nil {
			s.log.Debug("refusing a call that did not verify", "err", err)
		}
		return outcome(err, s.who, false)
	}
	fmt.Fprintf(s.io.stderr, "smvs-call: %s is calling\n", peerLabel)
	if err := s.ring(sig, offer); err != nil {
		return err
	}
	in, err := s.openInputs()
	if err != nil {
		s.reject(sig, offer.Signal, "the callee hung up: bad media input")
		return err
	}
	defer in.close()
	cfg, err := s.config(in)
	if err != nil {
		s.reject(sig, offer.Signal, "the callee hung up")
		return err
	}
	cfg.Device, cfg.Peer = s.dev, s.peer
	c, err := call.Accept(s.ctx, sig, offer.Signal, cfg)
	if err != nil {
		if s.ctx.Err() != nil {
			s.reject(sig, offer.Signal, "the callee hung up")
			return interruptedBy(s.ctx, "hung up on "+s.who)
		}
		return outcome(err, s.who, sig.Taken(offer.Signal.CallID))
	}
	return s.wait(c, sig, "callee", peerLabel)
}

// ring returns nil once the user accepts the call offer, or why it is
// not taken: declined, answered on another device, or the caller gave up.
// Other calls that ring meanwhile are declined.
func (s *session) ring(sig *call.HostSignaller, offer *hostapi.CallEvent) error {
	if s.o.yes {
		return nil
	}
	ctx, stop := context.WithCancel(s.ctx)
	defer stop()
	decision := make(chan bool, 1)
	go func() {
		decision <- ask(s.tty, fmt.Sprintf("smvs-call: answer the call from %s? [y/N] ", s.who))
		stop()
	}()
	for {
		ev, err := sig.Next(ctx)
		if err != nil {
			select {
			case yes := <-decision:
				if yes {
					return nil
				}
				s.reject(sig, offer.Signal, "declined")
				return &ended{exitRejected, "declined the call from " + s.who}
			default:
			}
			if s.ctx.Err() != nil {
				s.reject(sig, offer.Signal, "declined")
				return interruptedBy(s.ctx, "declined the call from "+s.who)
			}
			return streamError(err)
		}
		got := ev.Signal
		if !bytes.Equal(got.CallID, offer.Signal.CallID) {
			if got.Type == wire.SignalOffer {
				s.rejectFrom(sig, got, ev.Peer, "busy: answering another call")
			}
			continue
		}
		switch got.Type {
		case wire.SignalTaken:
			return &ended{exitTaken, "the call from " + s.who + " was answered on another device"}
		case wire.SignalHangup:
			return &ended{exitHungUp, "the call from " + s.who + " ended before it was answered" + peerReason(got.Reason)}
		case wire.SignalUnavailable:
			return outcome(&call.Ended{Err: call.ErrUnavailable, Reason: got.Reason}, s.who, false)
		}
	}
}

// reject declines the call offer of the peer, best effort: the call is
// over for this side either way.
func (s *session) reject(sig *call.HostSignaller, offer *wire.CallSignal, reason string) {
	s.rejectFrom(sig, offer, s.peer, reason)
}

// rejectFrom declines a call offer from peer, signed by this device.
func (s *session) rejectFrom(sig *call.HostSignaller, offer *wire.CallSignal, peer []byte, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), rejectTimeout)
	defer cancel()
	if err := call.Reject(ctx, sig, offer, s.dev, peer, reason); err != nil {
		s.log.Debug("declining a call", "err", err)
	}
}

// ask asks a yes or no question on the terminal; anything but y or yes is
// no.
func ask(tty io.ReadWriter, question string) bool {
	if _, err := io.WriteString(tty, question); err != nil {
		return false
	}
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return false
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

// wait waits until the call ends, telling the user once it is connected;
// an interruption hangs up first.
func (s *session) wait(c *call.Call, sig *call.HostSignaller, role, peerLabel string) error {
	connected := make(chan struct{})
	go func() {
		defer close(connected)
		s.announceConnected(c, peerLabel)
	}()
	select {
	case <-c.Done():
	case <-s.ctx.Done():
		c.Hangup("the " + role + " hung up")
		<-connected
		return interruptedBy(s.ctx, "hung up on "+s.who)
	}
	<-connected
	return outcome(c.Wait(), s.who, sig.Taken(c.ID()))
}

// connectPoll is how often announceConnected looks.
const connectPoll = 20 * time.Millisecond

// announceConnected prints one line once the peer's certificate has been
// checked and media flows, and returns then or when the call ends.
func (s *session) announceConnected(c *call.Call, peerLabel string) {
	t := time.NewTicker(connectPoll)
	defer t.Stop()
	for {
		select {
		case <-c.Done():
			return
		case <-t.C:
		}
		if c.Stats().Connected > 0 {
			fmt.Fprintf(s.io.stderr, "smvs-call: connected to %s\n", peerLabel)
			return
		}
	}
}

// streamError explains the end of the call stream before a call.
func streamError(err error) error {
	if errors.Is(err, io.EOF) {
		return cli.Errorf("the host ended the call stream: it is stopping").WithExitCode(exitHostNotRunning)
	}
	return hostError(err, "")
}

// ringNotice tells the user once that the peer's devices ring.
type ringNotice struct {
	*call.HostSignaller
	once   sync.Once
	notify func()
}

func (r *ringNotice) Recv(ctx context.Context) (*wire.CallSignal, error) {
	sig, err := r.HostSignaller.Recv(ctx)
	if err == nil && sig.Type == wire.SignalRinging {
		r.once.Do(r.notify)
	}
	return sig, err
}

// prefixed puts "smvs-call: " before each write: each is a line of the
// log or of the stats.
type prefixed struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.w.Write(append([]byte("smvs-call: "), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// noTime leaves the time out of log lines: they go to a terminal.
func noTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
