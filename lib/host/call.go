package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"smvs/lib/hostapi"
	"smvs/lib/identity"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// Limits of call signalling. Signals are never stored: each goes straight
// to the peer's host, and the receiving host hands it to the devices
// waiting for it or drops it.
const (
	maxCalls        = 64  // calls a host relays at once
	maxCallStreams  = 64  // devices' call streams open at once
	maxEarlySignals = 32  // a ringing call's candidates kept for the device that answers
	callQueue       = 64  // signals of a call waiting to go to the peer's host
	callEventQueue  = 256 // events waiting to go to a device: one that falls behind is dropped

	// callSignalMaxAge is how far a call message's sent time may be from
	// the host's clock; message ids are remembered for callSeenFor, longer
	// than that window both ways, so a replay is dropped either way.
	callSignalMaxAge = 2 * time.Minute
	callSeenFor      = 5 * time.Minute
	maxCallSeen      = 1 << 14

	// A peer may send this many call signals a second, and callSignalBurst
	// at once.
	callSignalRate  = 50
	callSignalBurst = 200

	// callSendTimeout bounds sending one signal to the peer's host, look-up
	// included; callStopTimeout the hang-ups of a host that is stopping.
	callSendTimeout = 5 * time.Second
	callStopTimeout = time.Second
)

// callHub relays call signalling between the user's devices and peers'
// hosts (hostapi.OpCall). A call is known by its peer and CallID. A call
// placed by a device belongs to it; an incoming offer rings every
// answering device that accepts the peer, and belongs to the first that
// answers (or is ended by the first that rejects). Only signals of the
// call's peer with the call's id reach the call's device; anything else is
// dropped. Each call has one sender, so its signals reach the peer's host
// in the order they were made. It is safe for concurrent use.
type callHub struct {
	h      *Host
	limits *peerLimits // call signals from each peer

	mu        sync.Mutex
	closed    bool
	calls     map[callKey]*call
	devices   map[*callDevice]struct{}
	seen      map[seenKey]time.Time // ids of recent call messages, until when they are remembered
	lastSweep time.Time
	wg        sync.WaitGroup // senders
}

type callKey struct {
	peer identity.PublicKey
	id   [wire.CallIDSize]byte
}

type seenKey struct {
	peer identity.PublicKey
	id   [wire.MessageIDSize]byte
}

// call is one call. Its fields are guarded by callHub.mu.
type call struct {
	key      callKey
	peerName string
	owner    *callDevice              // the device that placed or answered it; nil while ringing
	ringing  map[*callDevice]struct{} // the devices it rings, before it is answered
	early    []*wire.CallSignal       // the peer's candidates before it is answered
	out      chan *wire.CallSignal    // to the peer's host, in order; closed when the call ends
	ended    bool

	// claimedName is the name a stranger's record claims (CallEvent).
	claimedName string
}

// callDevice is one device's call stream. Its fields but events and kill
// are guarded by callHub.mu.
type callDevice struct {
	placing bool
	peer    identity.PublicKey // placing: the peer called
	from    *identity.PublicKey
	calls   map[[wire.CallIDSize]byte]*call
	left    bool

	events chan *hostapi.CallEvent
	kill   chan struct{} // closed when the device fell behind
	killed bool
}

func newCallHub(h *Host) *callHub {
	return &callHub{
		h: h, limits: newPeerLimits(callSignalRate, callSignalBurst, 1<<30),
		calls: make(map[callKey]*call), devices: make(map[*callDevice]struct{}),
		seen: make(map[seenKey]time.Time), lastSweep: time.Now(),
	}
}

// active returns how many calls ring or are under way.
func (hub *callHub) active() int {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	return len(hub.calls)
}

// close ends nothing by itself (the devices' streams end their calls as
// the device server stops), but waits for the last signals to be sent.
func (hub *callHub) close() {
	hub.mu.Lock()
	hub.closed = true
	hub.mu.Unlock()
	hub.wg.Wait()
}

// call serves a call stream: the stream's first event, then the device's
// signals (read by a goroutine of their own) and the events for it, until
// either side ends it or the host stops. Its calls end with it.
func (s *deviceServer) call(br *bufio.Reader, w *bufio.Writer, r *hostapi.CallRequest) {
	hub := s.h.calls
	dev, first, e := hub.open(s.h.ctx, r)
	if e != nil {
		s.h.log.Info("call stream refused", "code", e.Code)
		s.h.log.Debug("call stream refused", "err", e.Message)
		s.respond(w, &hostapi.Response{Err: e})
		return
	}
	defer hub.leave(dev)
	if !s.respond(w, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventCall, Call: first}}) {
		return
	}
	ended := make(chan *hostapi.Error, 1)
	go func() {
		for {
			req, err := hostapi.ReadRequest(br, s.limit)
			switch {
			case errors.Is(err, io.EOF):
				ended <- nil
				return
			case err != nil:
				ended <- badRequest(err)
				return
			case req.Op != hostapi.OpSignal:
				ended <- badRequest(fmt.Errorf("%w: only signals go on a call stream", wire.ErrMalformed))
				return
			}
			hub.fromDevice(dev, req.Signal)
		}
	}()
	for {
		select {
		case ev := <-dev.events:
			if !s.write(w, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventCall, Call: ev}}) {
				return
			}
			for more := true; more; {
				select {
				case ev := <-dev.events:
					if !s.write(w, &hostapi.Response{Event: &hostapi.Event{Kind: hostapi.EventCall, Call: ev}}) {
						return
					}
				default:
					more = false
				}
			}
			if w.Flush() != nil {
				return
			}
		case e := <-ended:
			if e != nil {
				s.h.log.Info("call stream ended: bad request")
				s.respond(w, &hostapi.Response{Err: e})
			}
			return
		case <-dev.kill:
			s.h.log.Warn("call stream ended: the device fell behind")
			s.respond(w, &hostapi.Response{Err: &hostapi.Error{
				Code: hostapi.ErrUnavailable, Message: "the device did not keep up with its call signals"}})
			return
		case <-s.h.ctx.Done():
			return
		}
	}
}

// open resolves a call request and registers the device's stream; it
// returns the stream's first event.
func (hub *callHub) open(ctx context.Context, r *hostapi.CallRequest) (*callDevice, *hostapi.CallEvent, *hostapi.Error) {
	h := hub.h
	dev := &callDevice{
		calls:  make(map[[wire.CallIDSize]byte]*call),
		events: make(chan *hostapi.CallEvent, callEventQueue), kill: make(chan struct{}),
	}
	first := new(hostapi.CallEvent)
	switch {
	case r.Peer != "":
		now := h.now()
		res, err := h.peers.resolve(ctx, r.Peer, false)
		if err == nil && res.Record != nil && !now.Before(time.UnixMilli(res.Record.KEM.Expires)) {
			res, err = h.peers.resolve(ctx, r.Peer, true)
		}
		if err != nil {
			return nil, nil, resolveError(r.Peer, err)
		}
		if e := sendable(r.Peer, res, now); e != nil {
			return nil, nil, e
		}
		if res.Contact.Key == h.me {
			return nil, nil, &hostapi.Error{Code: hostapi.ErrBadRequest, Message: fmt.Sprintf("%q is this host's own user", r.Peer)}
		}
		dev.placing, dev.peer = true, res.Contact.Key
		first.Peer, first.PeerName = res.Contact.Key.Bytes(), h.peerName(res.Contact.Key.Bytes())
		if res.InFile {
			first.PeerName = res.Contact.Name
		}
		if first.PeerName == "" {
			first.ClaimedName = h.claimedName(first.Peer)
		}
	case r.From != "":
		key, err := h.names.key(r.From)
		if err != nil {
			return nil, nil, &hostapi.Error{
				Code: hostapi.ErrUnknownRecipient, Message: fmt.Sprintf("no contact %q", r.From),
				Hint: "give a contact's name or an smvs1 key"}
		}
		dev.from = &key
		first.Peer, first.PeerName, first.ClaimedName = key.Bytes(), h.peerName(key.Bytes()), h.claimedName(key.Bytes())
	}
	if r.Key != nil {
		// The socket is the owner's and a remote device is linked (see
		// authorize): the device's call key is this user's for a day.
		now := h.now()
		cert, err := wire.SignDeviceCert(h.keys.Signer(), &wire.DeviceCert{
			Identity: h.me.Bytes(), Device: r.Key,
			Issued: now.UnixMilli(), Expires: now.Add(hostapi.CallCertLifetime).UnixMilli(),
		})
		if err != nil {
			return nil, nil, &hostapi.Error{Code: hostapi.ErrBadRequest, Message: fmt.Sprintf("the call key can't be certified: %v", err)}
		}
		first.Cert = cert
	}
	hub.mu.Lock()
	defer hub.mu.Unlock()
	switch {
	case hub.closed || h.ctx.Err() != nil:
		return nil, nil, &hostapi.Error{Code: hostapi.ErrUnavailable, Message: "the host is shutting down", Hint: "try again later"}
	case len(hub.devices) >= maxCallStreams:
		return nil, nil, &hostapi.Error{Code: hostapi.ErrUnavailable,
			Message: fmt.Sprintf("this host has %d call streams open, its limit", maxCallStreams), Hint: "try again later"}
	}
	hub.devices[dev] = struct{}{}
	return dev, first, nil
}

// leave ends a device's stream: the calls it has end with a hang-up to
// the peer, and a ringing call no device rings for any more ends with
// SignalUnavailable.
func (hub *callHub) leave(dev *callDevice) {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	dev.left = true
	delete(hub.devices, dev)
	for _, c := range dev.calls {
		switch {
		case c.owner == dev:
			hub.end(c, hub.signal(c, wire.SignalHangup, "the call ended on the device"))
		default:
			delete(c.ringing, dev)
			if len(c.ringing) == 0 {
				hub.end(c, hub.signal(c, wire.SignalUnavailable, "no device is waiting for calls any more"))
			}
		}
	}
	clear(dev.calls)
}

// fromDevice takes a signal a device sent: it places a call, answers or
// rejects a ringing one, or goes on to the call's peer. Anything else is
// dropped.
func (hub *callHub) fromDevice(dev *callDevice, sig *wire.CallSignal) {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if dev.left {
		return
	}
	id := [wire.CallIDSize]byte(sig.CallID)
	c := dev.calls[id]
	switch {
	case c == nil && dev.placing && sig.Type == wire.SignalOffer:
		hub.place(dev, id, sig)
	case c == nil:
		hub.h.log.Debug("call signal from a device dropped: no such call of the device", "type", sig.Type)
	case c.owner == dev:
		switch sig.Type {
		case wire.SignalOffer, wire.SignalAnswer, wire.SignalCandidate:
			hub.enqueue(c, sig)
		case wire.SignalHangup, wire.SignalReject:
			hub.end(c, sig)
		default:
			hub.h.log.Debug("call signal from a device dropped: a host's signal", "type", sig.Type)
		}
	default: // ringing on dev
		switch sig.Type {
		case wire.SignalAnswer:
			hub.take(c, dev, sig)
		case wire.SignalReject, wire.SignalHangup:
			for d := range c.ringing {
				if d != dev {
					hub.push(d, c, &wire.CallSignal{V: wire.Version, CallID: c.key.id[:], Type: wire.SignalHangup,
						Reason: "declined on another device"})
				}
			}
			hub.end(c, sig)
		default:
			hub.h.log.Debug("call signal from a device dropped: the call is not answered yet", "type", sig.Type)
		}
	}
}

// place begins a call a device placed with its offer. hub.mu is held.
func (hub *callHub) place(dev *callDevice, id [wire.CallIDSize]byte, offer *wire.CallSignal) {
	key := callKey{dev.peer, id}
	switch {
	case len(hub.calls) >= maxCalls || hub.closed:
		hub.h.log.Warn("call refused: too many calls", "limit", maxCalls)
		hub.pushTo(dev, dev.peer.Bytes(), "", "", &wire.CallSignal{V: wire.Version, CallID: id[:], Type: wire.SignalUnavailable,
			Reason: fmt.Sprintf("this host has %d calls, its limit", maxCalls)})
		return
	case hub.calls[key] != nil:
		hub.h.log.Debug("call offer from a device dropped: its call id is taken")
		return
	}
	c := hub.newCall(key)
	c.owner = dev
	dev.calls[id] = c
	hub.h.log.Info("call placed")
	hub.enqueue(c, offer)
}

// newCall makes a call and starts its sender. hub.mu is held, and hub is
// not closed.
func (hub *callHub) newCall(key callKey) *call {
	c := &call{key: key, peerName: hub.h.peerName(key.peer.Bytes()), claimedName: hub.h.claimedName(key.peer.Bytes()),
		out: make(chan *wire.CallSignal, callQueue)}
	hub.calls[key] = c
	hub.h.metrics.calls.Inc()
	hub.wg.Go(func() { hub.sendLoop(c) })
	return c
}

// take gives a ringing call to the device that answered it: the others
// stop ringing, the answer goes to the peer, and the device gets the
// peer's candidates that came before. hub.mu is held.
func (hub *callHub) take(c *call, dev *callDevice, answer *wire.CallSignal) {
	for d := range c.ringing {
		if d != dev {
			hub.push(d, c, &wire.CallSignal{V: wire.Version, CallID: c.key.id[:], Type: wire.SignalTaken,
				Reason: "answered on another device"})
			delete(d.calls, c.key.id)
		}
	}
	c.owner, c.ringing = dev, nil
	hub.h.log.Info("call answered")
	hub.enqueue(c, answer)
	for _, sig := range c.early {
		hub.push(dev, c, sig)
	}
	c.early = nil
}

// end ends c, after sending the peer final if not nil. hub.mu is held.
func (hub *callHub) end(c *call, final *wire.CallSignal) {
	if c.ended {
		return
	}
	if final != nil {
		hub.enqueue(c, final)
	}
	c.ended = true
	close(c.out)
	delete(hub.calls, c.key)
	if c.owner != nil {
		delete(c.owner.calls, c.key.id)
	}
	for d := range c.ringing {
		delete(d.calls, c.key.id)
	}
	hub.h.log.Info("call ended")
}

// signal makes a signal of c's the host sends itself.
func (hub *callHub) signal(c *call, t wire.SignalType, reason string) *wire.CallSignal {
	return &wire.CallSignal{V: wire.Version, CallID: c.key.id[:], Type: t, Reason: reason}
}

// enqueue queues sig for c's peer. hub.mu is held.
func (hub *callHub) enqueue(c *call, sig *wire.CallSignal) {
	if c.ended {
		return
	}
	select {
	case c.out <- sig:
	default:
		hub.h.log.Warn("call signal dropped: too many waiting for the peer's host", "type", sig.Type)
	}
}

// push sends the device the peer's signal of c. hub.mu is held.
func (hub *callHub) push(dev *callDevice, c *call, sig *wire.CallSignal) {
	hub.pushTo(dev, c.key.peer.Bytes(), c.peerName, c.claimedName, sig)
}

func (hub *callHub) pushTo(dev *callDevice, peer []byte, name, claimed string, sig *wire.CallSignal) {
	if dev.killed {
		return
	}
	select {
	case dev.events <- &hostapi.CallEvent{Peer: peer, PeerName: name, ClaimedName: claimed, Signal: sig}:
	default:
		dev.killed = true
		close(dev.kill)
	}
}

// receive takes a call message from a peer's host: it checks it is fresh
// and not seen before, then hands it to the devices of its call, rings
// for an offer, or drops it. It never stores anything, and the
// conversation's chain does not see it.
func (hub *callHub) receive(peer identity.PublicKey, m *wire.Message) (wire.HostStatus, string) {
	h := hub.h
	sig, err := wire.DecodeCallSignal(m.Body)
	if err != nil {
		h.log.Info("call signal refused: malformed")
		return wire.StatusInvalid, "malformed call signal"
	}
	// The device's signature and certificate go to the devices as they
	// came: the host can't check them (it does not know the call's device
	// keys) and must not touch them.
	sig = tamperIncoming(sig)
	if ok, over := hub.limits.begin(peer); !ok {
		h.logBusy(peer, over)
		return wire.StatusBusy, "too many call signals a second"
	}
	hub.limits.end(peer)
	if age := h.now().Sub(time.UnixMilli(m.Sent)); age > callSignalMaxAge || age < -callSignalMaxAge {
		h.log.Info("call signal dropped: its sent time is too far from this host's clock", "age", age.Round(time.Second))
		return wire.StatusInvalid, "call signal sent too long ago, or in the future"
	}
	if sig.Type == wire.SignalOffer && h.peerName(peer.Bytes()) == "" {
		// A stranger rings by the name its record claims, marked as a
		// claim: learn it first, as a stranger's first message does.
		h.peers.learnName(h.ctx, peer)
	}

	hub.mu.Lock()
	defer hub.mu.Unlock()
	if hub.closed {
		return wire.StatusBusy, "the host is stopping"
	}
	seen := seenKey{peer, [wire.MessageIDSize]byte(m.ID)}
	if _, dup := hub.seen[seen]; dup {
		h.log.Info("call signal dropped: replayed")
		return wire.StatusDuplicate, ""
	}
	if !hub.remember(seen) {
		h.log.Warn("call signal refused: too many recent call messages")
		return wire.StatusBusy, "too many call signals"
	}

	key := callKey{peer, [wire.CallIDSize]byte(sig.CallID)}
	c := hub.calls[key]
	switch {
	case c == nil && sig.Type == wire.SignalOffer:
		hub.ring(key, sig)
	case c == nil:
		h.log.Debug("call signal dropped: no such call", "peer", peer, "type", sig.Type)
	case sig.Type == wire.SignalTaken:
		h.log.Debug("call signal dropped: taken is for the host's own devices", "peer", peer)
	case c.owner != nil:
		hub.push(c.owner, c, sig)
		switch sig.Type {
		case wire.SignalHangup, wire.SignalReject, wire.SignalBusy, wire.SignalUnavailable:
			hub.end(c, nil)
		}
	case sig.Type == wire.SignalCandidate:
		if len(c.early) < maxEarlySignals {
			c.early = append(c.early, sig)
		} else {
			h.log.Debug("call candidate dropped: too many before the answer", "peer", peer)
		}
	case sig.Type == wire.SignalHangup:
		for d := range c.ringing {
			hub.push(d, c, sig)
		}
		hub.end(c, nil)
	default:
		h.log.Debug("call signal dropped: the call is not answered yet", "peer", peer, "type", sig.Type)
	}
	return wire.StatusStored, ""
}

// remember records a call message's id; it reports false if there are
// too many to remember. hub.mu is held.
func (hub *callHub) remember(k seenKey) bool {
	now := time.Now()
	if len(hub.seen) >= maxCallSeen || now.Sub(hub.lastSweep) > time.Minute {
		hub.lastSweep = now
		for k, until := range hub.seen {
			if now.After(until) {
				delete(hub.seen, k)
			}
		}
	}
	if len(hub.seen) >= maxCallSeen {
		return false
	}
	hub.seen[k] = now.Add(callSeenFor)
	return true
}

// ring rings the answering devices for an incoming offer, or answers the
// peer Busy or Unavailable on the user's behalf. hub.mu is held.
func (hub *callHub) ring(key callKey, offer *wire.CallSignal) {
	h := hub.h
	reply := func(t wire.SignalType, reason string) {
		h.log.Info("incoming call not rung", "answer", t)
		sig := &wire.CallSignal{V: wire.Version, CallID: key.id[:], Type: t, Reason: reason}
		hub.wg.Go(func() {
			if _, err := hub.send(key.peer, sig); err != nil {
				h.log.Info("call signal not sent", "type", t)
				h.log.Debug("call signal not sent", "peer", key.peer, "type", t, "err", err)
			}
		})
	}
	for _, c := range hub.calls {
		if c.owner != nil {
			reply(wire.SignalBusy, "in another call")
			return
		}
	}
	if len(hub.calls) >= maxCalls {
		reply(wire.SignalBusy, "too many calls")
		return
	}
	var devices []*callDevice
	for d := range hub.devices {
		if !d.placing && !d.killed && (d.from == nil || *d.from == key.peer) {
			devices = append(devices, d)
		}
	}
	if len(devices) == 0 {
		reply(wire.SignalUnavailable, "no device is waiting for calls")
		return
	}
	c := hub.newCall(key)
	c.ringing = make(map[*callDevice]struct{}, len(devices))
	for _, d := range devices {
		c.ringing[d] = struct{}{}
		d.calls[key.id] = c
		hub.push(d, c, offer)
	}
	h.log.Info("incoming call ringing", "devices", len(devices))
	hub.enqueue(c, hub.signal(c, wire.SignalRinging, ""))
}

// sendLoop sends c's signals to the peer's host one after another until c
// ends. When one can't be sent, the call ends, and its devices get
// SignalUnavailable saying why.
func (hub *callHub) sendLoop(c *call) {
	failed := false
	for sig := range c.out {
		if failed {
			continue
		}
		refused, err := hub.send(c.key.peer, sig)
		if err == nil {
			continue
		}
		failed = true
		name := c.peerName
		if name == "" {
			name = c.key.peer.String()
		}
		reason := fmt.Sprintf("%s's host can't be reached: %v", name, err)
		if refused {
			reason = fmt.Sprintf("%s's host refused the call: %v", name, err)
		}
		hub.h.log.Info("call signal not sent", "type", sig.Type)
		hub.h.log.Debug("call signal not sent", "peer", c.key.peer, "type", sig.Type, "err", err)
		hub.mu.Lock()
		if !c.ended {
			unavailable := hub.signal(c, wire.SignalUnavailable, reason)
			if c.owner != nil {
				hub.push(c.owner, c, unavailable)
			}
			for d := range c.ringing {
				hub.push(d, c, unavailable)
			}
			hub.end(c, nil)
		}
		hub.mu.Unlock()
	}
}

// send seals sig to peer and sends it to the peer's host at once, with
// one quick reconnect if the pooled connection was over, and once more to
// a new KEM key if the peer's host asks. refused says the peer's host
// answered, and refused it.
func (hub *callHub) send(peer identity.PublicKey, sig *wire.CallSignal) (refused bool, err error) {
	h := hub.h
	// A host that is stopping still sends its hang-ups, for a little
	// while.
	ctx, cancel := context.WithTimeout(context.Background(), callSendTimeout)
	defer cancel()
	defer context.AfterFunc(h.ctx, func() { time.AfterFunc(callStopTimeout, cancel) })()
	now := h.now()
	res, err := h.peerRecord(ctx, peer)
	if err != nil {
		return false, fmt.Errorf("its record was not found: %w", err)
	}
	m := &wire.Message{Sent: now.UnixMilli(), Kind: wire.KindCall, Body: tamperSignal(sig).Encode()}
	for attempt := 0; ; attempt++ {
		sealed, err := h.seal(res.Record, m, now)
		if err != nil {
			return false, fmt.Errorf("sealing: %w", err)
		}
		resp, err := hub.request(ctx, routeOf(res), peer, sealed.Envelope)
		if err != nil {
			return false, err
		}
		switch {
		case resp.Status.Accepted():
			return false, nil
		case resp.Status == wire.StatusStaleKEMKey && attempt == 0:
			if res, err = withHost(h.peers.byKey(ctx, peer, true)); err != nil {
				return false, fmt.Errorf("its new record was not found: %w", err)
			}
			continue
		}
		if resp.Message != "" {
			return true, fmt.Errorf("%s: %s", resp.Status, resp.Message)
		}
		return true, errors.New(resp.Status.String())
	}
}

// request sends one HostRequest to the peer's host, dialling again once
// if the pool's connection turned out to be over.
func (hub *callHub) request(ctx context.Context, rt route, peer identity.PublicKey, envelope []byte) (*wire.HostResponse, error) {
	req := (&wire.HostRequest{Op: wire.OpDeliver, Envelope: envelope}).Encode()
	data, err := hub.h.request(ctx, peer, rt, req)
	if errors.Is(err, transport.ErrClosed) && ctx.Err() == nil {
		data, err = hub.h.request(ctx, peer, rt, req)
	}
	if err != nil {
		return nil, err
	}
	return wire.DecodeHostResponse(data)
}
