package main

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"smvs/lib/call"
	"smvs/lib/cli"
	"smvs/lib/cli/hostcli"
	"smvs/lib/hostapi"
)

// Exit statuses beyond cli's, documented in the man page.
const (
	exitUnknownPeer    = 3   // no contact, key or directory name resolves
	exitKeyChanged     = 4   // the peer's key differs from the pinned one
	exitHostNotRunning = 5   // the host can't be reached
	exitNotLinked      = 8   // a remote device the host does not know, or revoked
	exitHungUp         = 10  // the peer hung up
	exitNoAnswer       = 11  // no answer in --ring-timeout; --answer: no call in --timeout
	exitRejected       = 12  // the call was declined
	exitBusy           = 13  // the peer is in another call
	exitUnavailable    = 14  // no device of the peer waits for calls, or the peer's host can't be reached
	exitFingerprint    = 15  // a call signal or the connection is not what the peer's device signed
	exitConnection     = 16  // ICE or DTLS failed
	exitTaken          = 17  // answered on another device of the user
	exitSignal         = 128 // plus the signal's number: 130 for SIGINT, 143 for SIGTERM
)

// ended is a way a call ends that is no error: the line that says so,
// and the exit status. It prints nothing through cli.Run; the action
// prints the line.
type ended struct {
	code int
	line string
}

func (e *ended) Error() string { return "" }
func (e *ended) ExitCode() int { return e.code }

// outcome turns how a call ended (Wait's, Dial's or Accept's error) into
// the exit status and the line that says it, in one place. who names the
// peer; taken says the host reported that another device answered.
func outcome(err error, who string, taken bool) error {
	var e *call.Ended
	reason := ""
	if errors.As(err, &e) {
		reason = e.Reason
	}
	switch {
	case err == nil:
		return &ended{cli.ExitOK, "hung up: the input ended"}
	case errors.Is(err, syscall.EPIPE):
		return &ended{cli.ExitOK, "hung up: standard output was closed"}
	case errors.Is(err, call.ErrHungUp) && taken:
		return &ended{exitTaken, "the call was answered on another device"}
	case errors.Is(err, call.ErrHungUp):
		return &ended{exitHungUp, who + " hung up" + peerReason(reason)}
	case errors.Is(err, call.ErrNoAnswer):
		return cli.Errorf("%s did not answer: %s", who, cli.Escape(reason)).WithExitCode(exitNoAnswer).
			WithHintf("ring longer with --ring-timeout, or leave a message: smvs-send %s", who)
	case errors.Is(err, call.ErrRejected):
		return cli.Errorf("%s declined the call%s", who, peerReason(reason)).WithExitCode(exitRejected)
	case errors.Is(err, call.ErrBusy):
		return cli.Errorf("%s is busy in another call", who).WithExitCode(exitBusy).
			WithHintf("call again later")
	case errors.Is(err, call.ErrUnavailable):
		if reason == "" {
			reason = "no device of theirs is waiting for calls"
		}
		return cli.Errorf("%s can't take a call now: %s", who, cli.Escape(reason)).WithExitCode(exitUnavailable).
			WithHintf("%s needs smvs-call --answer running on a device, and a host you can reach", who)
	case errors.Is(err, call.ErrTampered):
		return cli.Errorf("the call signals from %s are not what %s's device signed (%s): someone may be tampering with the call", who, who, cli.Escape(reason)).
			WithExitCode(exitFingerprint).
			WithHintf("nothing was sent or received; a host on the way changed them; compare safety numbers with them: smvs-register verify %s", who)
	case errors.Is(err, call.ErrPeerTampered):
		return cli.Errorf("%s's device refused the call: the call signals it got are not what your device signed%s: someone may be tampering with the call", who, peerReason(reason)).
			WithExitCode(exitFingerprint).
			WithHintf("nothing was sent or received; a host on the way changed them; compare safety numbers with them: smvs-register verify %s", who)
	case errors.Is(err, call.ErrFingerprint):
		return cli.Errorf("the connection to %s is not the one %s signed (%s): someone may be tampering with the call", who, who, cli.Escape(reason)).
			WithExitCode(exitFingerprint).
			WithHintf("nothing was sent or received; compare safety numbers with them: smvs-register verify %s", who)
	case errors.Is(err, call.ErrConnection):
		return cli.Errorf("could not connect to %s: %s", who, cli.Escape(reason)).WithExitCode(exitConnection).
			WithHintf("across firewalls or NATs, relay through a TURN server: --turn URL --turn-credentials FILE")
	case errors.Is(err, call.ErrMedia):
		return cli.Errorf("%w", err).
			WithHintf("smvs-call reads IVF (VP8, VP9, AV1) or H.264 Annex-B, as ffmpeg writes with -f ivf or -f h264")
	}
	return cli.Errorf("%w", err)
}

// peerReason is what a peer's reason adds to a line, less what the line
// says already: "the caller hung up: bad media input" adds " (bad media
// input)". The peer chose it: it is escaped for the terminal.
func peerReason(reason string) string {
	for _, plain := range []string{"the caller hung up", "the callee hung up", "declined"} {
		reason = strings.TrimPrefix(reason, plain)
	}
	reason = strings.TrimSpace(strings.TrimPrefix(reason, ":"))
	if reason == "" {
		return ""
	}
	return " (" + cli.Escape(reason) + ")"
}

// interruptedBy is the end of a call the user interrupted, after the
// peer was told.
func interruptedBy(ctx context.Context, what string) error {
	code := exitSignal + int(syscall.SIGINT)
	var i interrupted
	if errors.As(context.Cause(ctx), &i) {
		code = exitSignal + int(i.sig)
	}
	return &ended{code, "interrupted: " + what}
}

// hostError explains an error from the host, or from talking to it.
func hostError(err error, peer string) error {
	if e, ok := hostcli.DeviceError(err, exitHostNotRunning, exitNotLinked); ok {
		return e
	}
	var hostErr *hostapi.Error
	if !errors.As(err, &hostErr) {
		return cli.Errorf("the host: %w", err)
	}
	e := cli.Errorf("%s", hostErr.Message)
	if hostErr.Hint != "" {
		e.WithHintf("%s", hostErr.Hint)
	}
	switch hostErr.Code {
	case hostapi.ErrUnknownRecipient:
		e.WithExitCode(exitUnknownPeer).
			WithHintf("look them up in a directory: smvs-register lookup %s", peer).
			WithHintf("or add their key: smvs-register add %s smvs1...", peer)
	case hostapi.ErrKeyChanged:
		e.WithExitCode(exitKeyChanged).
			WithHintf("compare safety numbers with them: smvs-register verify %s", peer).
			WithHintf("then, if they match, accept the new key: smvs-register trust %s smvs1...", peer)
	case hostapi.ErrNotLinked:
		e.WithExitCode(exitNotLinked)
	}
	return e
}
