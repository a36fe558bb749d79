package hostapi

import (
	"context"
	"fmt"

	"smvs/lib/wire"
)

// OpPublish asks the running host to change the identity's published
// record: the one writer of the identity while it runs (smvs-register
// publish, update and rotate --kem go through it). Only the host's unix
// socket serves it; a remote device gets an *Error with ErrForbidden.
const OpPublish Op = 14

// Publish asks the host to make, sign and publish a new record: under
// Name ("" keeps the current one), with Host as the address ("" keeps the
// host's), valid for Lifetime milliseconds (0 for the host's default),
// after making a new KEM key if RotateKEM.
type Publish struct {
	Name      string `cbor:"1,keyasint,omitempty"`
	Host      string `cbor:"2,keyasint,omitempty"`
	Lifetime  int64  `cbor:"3,keyasint,omitempty"`
	RotateKEM bool   `cbor:"4,keyasint,omitempty"`
}

func (p *Publish) validate() error {
	switch {
	case len(p.Name) > wire.MaxNameLen, len(p.Host) > wire.MaxHostLen:
		return fmt.Errorf("%w: publish request: name or host too long", wire.ErrMalformed)
	case p.Lifetime < 0:
		return fmt.Errorf("%w: publish request: negative lifetime", wire.ErrMalformed)
	}
	return nil
}

// PublishResult is the record the host made, and what became of it: the
// directories that took it (Published) and the errors of those that did
// not (Failed, one line each). A record with no name is kept by the host
// (it answers look-ups of its key) but published nowhere. Conflicts
// lists, by their index in Failed, the directories that refused it for a
// conflict (the name held by another key, or a sequence number not above
// theirs), so that smvs-register exits as it does publishing itself.
type PublishResult struct {
	Record     []byte   `cbor:"1,keyasint"` // the signed record
	Published  []string `cbor:"2,keyasint,omitempty"`
	Failed     []string `cbor:"3,keyasint,omitempty"`
	KEMRotated bool     `cbor:"4,keyasint,omitempty"`
	Pruned     int      `cbor:"5,keyasint,omitempty"` // expired KEM keys destroyed
	Conflicts  []uint64 `cbor:"6,keyasint,omitempty"`
}

// Conflict reports whether Failed[i] was a conflict.
func (r *PublishResult) Conflict(i int) bool {
	for _, c := range r.Conflicts {
		if c == uint64(i) {
			return true
		}
	}
	return false
}

// Publish asks the running host to publish a new record (see Publish).
func (c *Client) Publish(ctx context.Context, p *Publish) (*PublishResult, error) {
	resp, err := c.roundTrip(ctx, &Request{Op: OpPublish, Publish: p})
	if err != nil {
		return nil, err
	}
	if resp.Published == nil {
		return nil, c.fail(fmt.Errorf("%w: a publish request was not answered with its result", ErrProtocol))
	}
	return resp.Published, nil
}
