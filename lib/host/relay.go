package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"smvs/lib/contacts"
	"smvs/lib/identity"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// Relays (PROTOCOL.md 19.9). A host that nobody can dial (behind a NAT
// that maps no port) keeps a connection open to a relay: the host of a
// user it trusts, which others can dial and which agreed to relay for it
// (Config.RelayFor). Its record gives the relay's address and key (Via).
// A sender dials the relay and asks it to forward its request (OpForward);
// the relay passes the request on, unchanged, over the relayed host's
// connection (OpRelayed, naming the sender's key as the relay's handshake
// proved it), and the answer back. The envelope is sealed to the
// recipient and signed by the sender, so the relay reads nothing of it and
// can't forge one; it sees who writes to whom, when, and how much.

// Relay is a host that relays for this one.
type Relay struct {
	Key  identity.PublicKey // its user's identity key, which its handshake proves
	Addr string             // where it listens, HOST:PORT
}

// ParseRelay parses a relay as smvs-hostd --relay gives it: KEY@HOST:PORT.
func ParseRelay(s string) (*Relay, error) {
	key, addr, ok := strings.Cut(s, "@")
	if !ok {
		return nil, fmt.Errorf("%q: want the relay host's key and address, smvs1…@HOST:PORT", s)
	}
	k, err := identity.ParsePublicKey(key)
	if err != nil {
		return nil, err
	}
	if k.Kind() != identity.KindIdentity {
		return nil, fmt.Errorf("%q: a relay is a host: want its user's identity key (smvs1…), not a device key", s)
	}
	if err := contacts.CheckHost(addr); err != nil {
		return nil, err
	}
	return &Relay{Key: k, Addr: addr}, nil
}

func (r *Relay) String() string { return r.Key.String() + "@" + r.Addr }

// route is where a peer's host is reached: its address, or a relay's
// address and key (via) for a host that can't be dialled.
type route struct {
	addr string
	via  identity.PublicKey // zero when addr is the peer's host itself
}

// routeOf returns where res's host is reached: the contacts file's host=
// as it is (dialled, expecting the contact's key), else the record's host,
// through the relay its record names, if any.
func routeOf(res *contacts.Resolved) route {
	rt := route{addr: res.Host()}
	if res.Contact.Host != "" || res.Record == nil || len(res.Record.Via) == 0 {
		return rt
	}
	// The decoder checked its size: this can't fail.
	if via, err := identity.NewPublicKey(identity.KindIdentity, res.Record.Via); err == nil {
		rt.via = via
	}
	return rt
}

func (rt route) relayed() bool { return rt.via != identity.PublicKey{} }

// String is for logs: the address, and the relay's key if there is one.
func (rt route) String() string {
	if rt.relayed() {
		return rt.addr + " (relay " + rt.via.String() + ")"
	}
	return rt.addr
}

// forwardRequest wraps req, a request for the host of key, for the relay
// that passes it on.
func forwardRequest(key identity.PublicKey, req []byte) []byte {
	return (&wire.HostRequest{Op: wire.OpForward, Peer: key.Bytes(), Request: req}).Encode()
}

// relaysFor reports whether this host relays for the host of key.
func (h *Host) relaysFor(key identity.PublicKey) bool {
	for _, k := range h.cfg.RelayFor {
		if k == key {
			return true
		}
	}
	return false
}

// forward answers peer's OpForward: it passes the request on to the host
// it names, over the connection that host keeps open to this one, and
// returns its answer as it is. A host this one does not relay for, or
// that is not connected now, gets busy: the sender tries again later,
// looking the record up afresh (it may name another relay by then). A
// streamed delivery's body, on s, is passed on frame by frame as it comes.
func (h *Host) forward(ctx context.Context, peer identity.PublicKey, req *wire.HostRequest, s *transport.Stream) *wire.HostResponse {
	to, err := identity.NewPublicKey(identity.KindIdentity, req.Peer)
	if err != nil || !h.relaysFor(to) {
		h.log.Info("forward refused: this host does not relay for that key")
		return &wire.HostResponse{Status: wire.StatusBusy, Message: "this host does not relay for that key"}
	}
	// The listener serves streams before Start has kept it.
	select {
	case <-h.lnReady:
	case <-ctx.Done():
		return &wire.HostResponse{Status: wire.StatusBusy, Message: "the relay is starting"}
	}
	c := h.ln.ConnFrom(to, silentAfter)
	if c == nil {
		h.log.Info("forward postponed: the relayed host is not connected")
		h.log.Debug("relayed host not connected", "to", to)
		return &wire.HostResponse{Status: wire.StatusBusy, Message: "the host is not connected to its relay now"}
	}
	relayed := (&wire.HostRequest{Op: wire.OpRelayed, Peer: peer.Bytes(), Request: req.Request}).Encode()
	var more func(*transport.Stream) ([]byte, error)
	if s != nil {
		more = func(out *transport.Stream) ([]byte, error) { return pipeBody(s, out) }
	}
	data, err := c.Exchange(ctx, relayed, more)
	if err == nil {
		var resp *wire.HostResponse
		if resp, err = wire.DecodeHostResponse(data); err == nil {
			return resp
		}
	}
	if errors.Is(err, wire.ErrTooLarge) {
		return &wire.HostResponse{Status: wire.StatusTooLarge, Message: "over the relay's limit"}
	}
	h.log.Info("forward failed", "err", err)
	return &wire.HostResponse{Status: wire.StatusBusy, Message: "the relayed host did not answer"}
}

// relayed answers the request its relay passes on (OpRelayed): the
// request inside, as from the key the relay names. It is not a request
// of the relay's own user, whose limits and policy don't apply to it; the
// sender's do, as if it had dialled this host.
func (h *Host) relayed(ctx context.Context, req *wire.HostRequest, s *transport.Stream) *wire.HostResponse {
	from, err := identity.NewPublicKey(identity.KindIdentity, req.Peer)
	if err != nil {
		return &wire.HostResponse{Status: wire.StatusInvalid, Message: "malformed request"}
	}
	return h.handleRequest(ctx, from, req.Request, true, s)
}

// pipeBody passes a streamed delivery's body on, from the sender's stream
// in to the relayed host's out: the relayed host's first answer back, and
// if it asks for the body, every frame that follows until the sender
// finishes. It returns the relayed host's answer if that was its last.
func pipeBody(in, out *transport.Stream) ([]byte, error) {
	data, _, asked, err := bodyAsked(out)
	if err != nil || !asked {
		return data, err
	}
	if err := in.WriteFrame(data); err != nil {
		return nil, err
	}
	for {
		frame, err := in.ReadFrame()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if err := out.WriteFrame(frame); err != nil {
			return nil, err
		}
	}
}

// Connecting to the relay: the first retry's delay and the longest,
// and how long one dial may take.
const (
	relayRetryMin = time.Second
	relayDial     = 15 * time.Second
	relayRetryMax = 30 * time.Second
)

// keepRelay keeps a connection open to the relay while the host runs,
// dialling again when it is over, so that the relay can pass requests on
// over it. The pool's keep-alives keep the NAT's mapping open.
func (h *Host) keepRelay() {
	r := h.cfg.Relay
	wait := relayRetryMin
	for h.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(h.ctx, relayDial)
		c, err := h.pool.Conn(ctx, r.Addr, r.Key)
		cancel()
		if err != nil {
			if h.ctx.Err() != nil {
				return
			}
			h.log.Warn("connecting to the relay: others can't reach this host meanwhile", "relay", r.String(), "err", err, "retry in", wait)
			select {
			case <-h.ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, relayRetryMax)
			continue
		}
		wait = relayRetryMin
		h.log.Info("connected to the relay", "relay", r.String())
		release := c.Hold()
		select {
		case <-h.ctx.Done():
		case <-c.Done():
			h.log.Info("the connection to the relay is over: connecting again", "relay", r.String())
		}
		release()
	}
}

// checkRelay asks, through the relay, this host's own record, as a sender
// would: it shows that the relay takes requests and passes them on to
// this host over its connection.
func (h *Host) checkRelay(ctx context.Context) error {
	r := h.cfg.Relay
	data, err := h.pool.Request(ctx, r.Addr, r.Key, forwardRequest(h.me, (&wire.HostRequest{Op: wire.OpRecord}).Encode()))
	if err != nil {
		return fmt.Errorf("the relay %s: %w", r, err)
	}
	resp, err := wire.DecodeHostResponse(data)
	switch {
	case err != nil:
		return fmt.Errorf("the relay %s: %w", r, err)
	case resp.Status != wire.StatusStored:
		return fmt.Errorf("the relay %s answers %s: %s", r, resp.Status, resp.Message)
	}
	return nil
}
