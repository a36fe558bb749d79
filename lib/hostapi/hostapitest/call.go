package hostapitest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/wire"
)

// callState is the fake host's call signalling. It relays nothing: a test
// reads the signals devices sent (CallSignals) and sends devices signals
// as from a peer (SendCall). Guarded by Host.mu.
type callState struct {
	sent    []CallSent
	streams map[*callStream]struct{}
	devices map[string]ed25519.PrivateKey // by peer identity: the key its device signs with
}

// userKey is the identity of the fake host's user, from a fixed seed: it
// certifies the call keys devices give.
var userKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x05}, ed25519.SeedSize))

// UserKey returns the identity key of the fake host's user.
func (h *Host) UserKey() []byte { return userKey.Public().(ed25519.PublicKey) }

// certify signs a device's call key with the user's identity, or with
// peer for a peer's device, for an hour.
func certify(identity ed25519.PrivateKey, key []byte) []byte {
	now := time.Now()
	cert, err := wire.SignDeviceCert(identity, &wire.DeviceCert{Identity: identity.Public().(ed25519.PublicKey), Device: key,
		Issued: now.UnixMilli(), Expires: now.Add(time.Hour).UnixMilli()})
	if err != nil {
		panic(err)
	}
	return cert
}

// SendCallAs sends sig as SendCall does, as from the peer whose identity
// is peer: a signal a device makes is signed, as the peer's device would
// sign it, for each stream's call (a placing stream's calls are from this
// user, an answering stream's to it).
func (h *Host) SendCallAs(peer ed25519.PrivateKey, sig *wire.CallSignal) int {
	pub := peer.Public().(ed25519.PublicKey)
	if !sig.Type.DeviceSigned() {
		return h.SendCall(pub, sig)
	}
	h.mu.Lock()
	if h.calls.devices == nil {
		h.calls.devices = make(map[string]ed25519.PrivateKey)
	}
	dev, ok := h.calls.devices[string(pub)]
	if !ok {
		_, dev, _ = ed25519.GenerateKey(rand.Reader)
		h.calls.devices[string(pub)] = dev
	}
	h.mu.Unlock()
	cert := certify(peer, dev.Public().(ed25519.PublicKey))
	return h.sendCall(pub, sig, func(s *callStream, c *wire.CallSignal) {
		b := wire.CallBinding{Caller: pub, Callee: h.UserKey(), Direction: wire.FromCaller}
		if s.peer != nil {
			b = wire.CallBinding{Caller: h.UserKey(), Callee: pub, Direction: wire.FromCallee}
		}
		if err := wire.SignCallSignal(dev, c, b, cert); err != nil {
			panic(err)
		}
	})
}

// CallSent is a signal a device sent on a call stream.
type CallSent struct {
	Conn   int    // which connection it came on, counting from 1
	Peer   []byte // the peer of a placing stream; nil on an answering one
	Signal wire.CallSignal
}

type callStream struct {
	peer   []byte // placing: the peer
	from   []byte // answering: only from this peer, if set
	events chan *hostapi.CallEvent
}

// CallSignals returns the signals devices sent, in order.
func (h *Host) CallSignals() []CallSent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]CallSent(nil), h.calls.sent...)
}

// WaitCallSignals waits up to timeout for n signals to have been sent, and
// returns those there are.
func (h *Host) WaitCallSignals(n int, timeout time.Duration) []CallSent {
	deadline := time.Now().Add(timeout)
	for {
		got := h.CallSignals()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SendCall sends sig, as from the peer key peer, to every call stream
// that would get it: those placing calls to peer, and those answering
// calls from anyone or from peer. It returns how many got it.
func (h *Host) SendCall(peer []byte, sig *wire.CallSignal) int {
	return h.sendCall(peer, sig, nil)
}

func (h *Host) sendCall(peer []byte, sig *wire.CallSignal, sign func(*callStream, *wire.CallSignal)) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	sig.V = wire.Version
	n := 0
	for s := range h.calls.streams {
		if s.peer != nil && !bytes.Equal(s.peer, peer) || s.from != nil && !bytes.Equal(s.from, peer) {
			continue
		}
		name := ""
		for nm, k := range h.contacts {
			if bytes.Equal(k, peer) {
				name = nm
			}
		}
		c := *sig
		if sign != nil {
			sign(s, &c)
		}
		select {
		case s.events <- &hostapi.CallEvent{Peer: bytes.Clone(peer), PeerName: name, ClaimedName: h.claimed(peer, name), Signal: &c}:
			n++
		default:
		}
	}
	return n
}

// call serves a call stream until the device or the host ends it.
func (h *Host) call(conn net.Conn, r *hostapi.CallRequest, n int, down chan struct{}) {
	h.mu.Lock()
	s := &callStream{events: make(chan *hostapi.CallEvent, 64)}
	first := new(hostapi.CallEvent)
	var e *hostapi.Error
	switch {
	case r.Peer != "" && h.refuse[r.Peer] != nil:
		e = h.refuse[r.Peer]
	case r.Peer != "":
		if s.peer, first.PeerName = h.resolve(r.Peer); s.peer == nil {
			e = &hostapi.Error{Code: hostapi.ErrUnknownRecipient, Message: "unknown recipient " + r.Peer}
		}
		first.Peer, first.ClaimedName = s.peer, h.claimed(s.peer, first.PeerName)
	case r.From != "":
		if s.from, first.PeerName = h.resolve(r.From); s.from == nil {
			e = &hostapi.Error{Code: hostapi.ErrUnknownRecipient, Message: "unknown contact " + r.From}
		}
		first.Peer, first.ClaimedName = s.from, h.claimed(s.from, first.PeerName)
	}
	if e == nil && r.Key != nil {
		first.Cert = certify(userKey, r.Key)
	}
	if e == nil {
		if h.calls.streams == nil {
			h.calls.streams = make(map[*callStream]struct{})
		}
		h.calls.streams[s] = struct{}{}
	}
	h.mu.Unlock()
	if e != nil {
		hostapi.WriteResponse(conn, &hostapi.Response{Err: e})
		return
	}
	defer func() {
		h.mu.Lock()
		delete(h.calls.streams, s)
		h.mu.Unlock()
	}()
	if hostapi.WriteResponse(conn, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventCall, Call: first}}) != nil {
		return
	}
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			req, err := hostapi.ReadRequest(conn, hostapi.MaxFrame)
			if err != nil || req.Op != hostapi.OpSignal {
				return
			}
			h.mu.Lock()
			h.calls.sent = append(h.calls.sent, CallSent{Conn: n, Peer: bytes.Clone(s.peer), Signal: *req.Signal})
			h.mu.Unlock()
		}
	}()
	for {
		select {
		case ev := <-s.events:
			if hostapi.WriteResponse(conn, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventCall, Call: ev}}) != nil {
				return
			}
		case <-gone:
			return
		case <-down:
			return
		}
	}
}
