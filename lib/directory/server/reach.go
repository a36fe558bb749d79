package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"smvs/lib/identity"
	"smvs/lib/transport"
)

// Reach checks (POST /v1/reach): a host asks whether others can reach it,
// and the directory dials it back. It dials only the address the request
// came from, so no one can make it probe a third party, and at most
// maxReachChecks at once, each bounded by reachTimeout.
const (
	maxReachChecks = 8
	reachTimeout   = 5 * time.Second
)

// prober dials hosts back for reach checks, as a key of its own made at
// start: the host checked sees a stranger's handshake, which is all a
// check needs.
type prober struct {
	id    *identity.Identity
	slots chan struct{}
}

func newProber() (*prober, error) {
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		return nil, err
	}
	return &prober{id: id, slots: make(chan struct{}, maxReachChecks)}, nil
}

type reachRequest struct {
	Key  string `json:"key"`
	Port int    `json:"port"`
}

// ReachResult is the answer to a reach check.
type ReachResult struct {
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	Reason    string `json:"reason,omitempty"`
}

func (h *Handler) reach(w http.ResponseWriter, r *http.Request) {
	if h.prober == nil {
		writeError(w, http.StatusNotFound, "this directory does not check reach")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var req reachRequest
	if err := dec.Decode(&req); err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over the limit of %d bytes", MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "malformed JSON")
		return
	}
	key, err := identity.ParsePublicKey(req.Key)
	if err != nil || key.Kind() != identity.KindIdentity {
		writeError(w, http.StatusBadRequest, "key: not an smvs1 identity key")
		return
	}
	if req.Port < 1 || req.Port > 65535 {
		writeError(w, http.StatusBadRequest, "port: not from 1 to 65535")
		return
	}
	select {
	case h.prober.slots <- struct{}{}:
		defer func() { <-h.prober.slots }()
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "too many reach checks at once")
		return
	}
	addr := netip.AddrPortFrom(h.client(r), uint16(req.Port))
	writeJSON(w, http.StatusOK, h.prober.check(r.Context(), addr, key))
}

// check dials addr, expecting key.
func (p *prober) check(ctx context.Context, addr netip.AddrPort, key identity.PublicKey) ReachResult {
	res := ReachResult{Address: addr.String()}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	c, err := transport.Dial(ctx, addr.String(), p.id.Signer(), key, transport.Config{HandshakeTimeout: reachTimeout})
	var mismatch *transport.KeyMismatchError
	switch {
	case err == nil:
		c.Close()
		res.Reachable = true
	case errors.As(err, &mismatch):
		res.Reason = "another key answers there"
	case errors.Is(err, transport.ErrTimeout), ctx.Err() != nil:
		res.Reason = fmt.Sprintf("no answer within %v", reachTimeout)
	default:
		res.Reason = "the handshake failed"
	}
	return res
}
