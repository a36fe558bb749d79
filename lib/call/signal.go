package call

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"smvs/lib/wire"
)

// maxPendingCandidates bounds the peer's candidates held before its
// description arrives.
const maxPendingCandidates = 64

// queue sends s after the signals queued before it. It never blocks: it is
// called from pion's callbacks.
func (c *Call) queue(s *wire.CallSignal) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.outClosed {
		return
	}
	s.CallID = c.id
	if s.Type == wire.SignalCandidate && !c.outReady {
		c.outHeld = append(c.outHeld, s)
		return
	}
	select {
	case c.out <- s:
	default:
		c.log.Warn("signal queue full: dropping a signal", "type", s.Type)
	}
}

// queueDescription queues the local offer or answer, then the candidates
// gathered meanwhile: the peer needs the description first.
func (c *Call) queueDescription(t wire.SignalType) {
	sdp := c.pc.LocalDescription().SDP
	if c.cfg.RelayOnly {
		sdp = relayOnlySDP(sdp)
	}
	if t == wire.SignalOffer {
		sdp = withSTUNHints(sdp, c.hints)
	}
	c.queue(&wire.CallSignal{Type: t, SDP: sdp})
	c.outMu.Lock()
	c.outReady = true
	held := c.outHeld
	c.outHeld = nil
	c.outMu.Unlock()
	for _, s := range held {
		c.queue(s)
	}
}

// closeQueue queues last (if any) and lets the send loop finish.
func (c *Call) closeQueue(last *wire.CallSignal) {
	if last != nil {
		c.queue(last)
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if !c.outClosed {
		c.outClosed = true
		close(c.out)
	}
}

func (c *Call) sendLoop() {
	defer close(c.outDone)
	for s := range c.out {
		if s.Type == wire.SignalCandidate && c.isEnded() {
			continue
		}
		if s.Type.DeviceSigned() {
			if err := wire.SignCallSignal(c.cfg.Device.key, s, c.bindOut, c.cfg.Device.cert); err != nil {
				c.log.Warn("signing a call signal", "type", s.Type, "err", err)
				continue
			}
		}
		err := c.sig.Send(c.sendCtx, s)
		if err == nil {
			continue
		}
		c.log.Warn("sending a call signal", "type", s.Type, "err", err)
		if s.Type == wire.SignalOffer || s.Type == wire.SignalAnswer {
			c.end(&Ended{Err: ErrConnection, Reason: fmt.Sprintf("sending the %s: %v", s.Type, err)}, "")
		}
	}
}

// localCandidate trickles a gathered candidate to the peer.
func (c *Call) localCandidate(cand *webrtc.ICECandidate) {
	if cand == nil {
		return // gathering is complete; the wire has no end-of-candidates
	}
	if c.cfg.RelayOnly && cand.Typ != webrtc.ICECandidateTypeRelay {
		return // pion gathers none with the relay policy; this makes sure
	}
	data, err := json.Marshal(cand.ToJSON())
	if err != nil {
		c.log.Warn("encoding a candidate", "err", err)
		return
	}
	c.queue(&wire.CallSignal{Type: wire.SignalCandidate, Candidate: string(data)})
}

// relayOnlySDP drops every candidate line that is not a relay candidate.
func relayOnlySDP(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "a=candidate:") && !strings.Contains(l, " typ relay") {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "")
}

func (c *Call) recvLoop() {
	for {
		s, err := c.sig.Recv(c.ctx)
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			select {
			case <-c.verified:
				// Media needs no signalling once connected; ICE notices
				// a peer that vanished.
				c.log.Warn("call signalling ended", "err", err)
			default:
				c.end(&Ended{Err: ErrConnection, Reason: fmt.Sprintf("signalling: %v", err)}, "")
			}
			return
		}
		if !bytes.Equal(s.CallID, c.id) {
			c.log.Debug("a signal for another call", "type", s.Type)
			continue
		}
		c.receive(s)
	}
}

// acceptOffer checks the offer a callee answers, and makes its device the
// call's.
func (c *Call) acceptOffer(offer *wire.CallSignal) error {
	device, _, err := verifyPeer(offer, c.cfg.Peer, nil, c.bindIn, time.Now())
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.peerKey = device
	c.mu.Unlock()
	return nil
}

// receive checks a peer's signal before it is used: see verifyPeer. The
// peer's candidates that come before its answer wait for the answer's
// certificate; the answer makes its device the call's.
func (c *Call) receive(s *wire.CallSignal) {
	c.mu.Lock()
	known := c.peerKey
	if known == nil && s.Type == wire.SignalCandidate && len(s.Sig) > 0 {
		if len(c.unverified) < maxPendingCandidates {
			c.unverified = append(c.unverified, s)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	device, host, err := verifyPeer(s, c.cfg.Peer, known, c.bindIn, time.Now())
	if err != nil {
		c.tampered(err)
		return
	}
	var held []*wire.CallSignal
	if known == nil && s.Type == wire.SignalAnswer && c.role == "caller" {
		c.mu.Lock()
		c.peerKey = device
		held, c.unverified = c.unverified, nil
		c.mu.Unlock()
	}
	c.handle(s, host)
	for _, h := range held {
		c.receive(h)
	}
}

// tampered ends the call on a signal that failed its check. Only this
// side's check gets here: no peer's words do.
func (c *Call) tampered(err error) {
	c.log.Warn("a call signal failed its check", "err", err)
	c.end(&Ended{Err: ErrTampered, Reason: err.Error()}, "the "+c.role+" hung up: a call signal did not verify")
}

// handle acts on a checked signal; host says it is an unsigned Hangup or
// Reject, which a host made, not the peer's device.
func (c *Call) handle(s *wire.CallSignal, host bool) {
	c.log.Debug("signal", "type", s.Type)
	reason := cleanReason(s.Reason)
	if host && reason != "" {
		reason = "unsigned, from a host: " + reason
	}
	answered := false
	select {
	case <-c.answered:
		answered = true
	default:
	}
	switch s.Type {
	case wire.SignalAnswer:
		if c.role != "caller" || answered {
			return
		}
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.SDP}); err != nil {
			c.end(&Ended{Err: ErrConnection, Reason: fmt.Sprintf("the peer's answer is unusable: %v", err)}, "the caller hung up: unusable answer")
			return
		}
		c.remoteDescriptionSet()
		c.answerOnce.Do(func() { close(c.answered) })
	case wire.SignalCandidate:
		var init webrtc.ICECandidateInit
		if err := json.Unmarshal([]byte(s.Candidate), &init); err != nil {
			c.log.Warn("the peer sent a malformed candidate", "err", err)
			return
		}
		c.mu.Lock()
		if !c.remoteSet {
			if len(c.pending) < maxPendingCandidates {
				c.pending = append(c.pending, init)
			}
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.addCandidate(init)
	case wire.SignalHangup, wire.SignalReject:
		e := peerEnded(s, host, reason)
		if e.Err == ErrHungUp && (answered || c.role == "callee") && !c.isVerified() {
			// A call answered that never connected is a failed
			// connection on both sides: the peer's hang-up often comes
			// of its own ICE failure or timeout, a moment before this
			// side's, and must not make the two sides end apart.
			e = &Ended{Err: ErrConnection, Reason: "the peer hung up before a connection was made"}
			if reason != "" {
				e.Reason += " (" + reason + ")"
			}
		}
		c.end(e, "")
	case wire.SignalBusy:
		c.end(&Ended{Err: ErrBusy, Reason: reason}, "")
	case wire.SignalUnavailable:
		c.end(&Ended{Err: ErrUnavailable, Reason: reason}, "")
	case wire.SignalTaken:
		c.end(&Ended{Err: ErrHungUp, Reason: "another device answered"}, "")
	default:
		// Ringing extends nothing; a second offer (renegotiation) is not
		// part of a call.
	}
}

// peerEnded is how a hangup or reject ends the call: tampering the peer's
// device saw, if it signed that (a host's word is a plain hang-up), else
// a hang-up or a refusal.
func peerEnded(s *wire.CallSignal, host bool, reason string) *Ended {
	switch {
	case s.Tampered && !host:
		return &Ended{Err: ErrPeerTampered, Reason: reason}
	case s.Type == wire.SignalReject:
		return &Ended{Err: ErrRejected, Reason: reason}
	}
	return &Ended{Err: ErrHungUp, Reason: reason}
}

// remoteDescriptionSet applies the candidates that came before it.
func (c *Call) remoteDescriptionSet() {
	c.mu.Lock()
	c.remoteSet = true
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, init := range pending {
		c.addCandidate(init)
	}
}

func (c *Call) addCandidate(init webrtc.ICECandidateInit) {
	if err := c.pc.AddICECandidate(init); err != nil {
		c.log.Debug("the peer's candidate", "err", err)
	}
}
