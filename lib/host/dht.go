package host

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"smvs/lib/bep44"
	"smvs/lib/dht"
	"smvs/lib/dirclient"
	"smvs/lib/identity"
	"smvs/lib/wire"
)

// DHTMode is what a host does with the mainline DHT (PROTOCOL.md 24).
type DHTMode int

// The DHT modes.
const (
	DHTOff     DHTMode = iota // no DHT
	DHTPublish                // publish this host's item; look nobody up there
	DHTOn                     // publish, and look up there the keys no directory has
	DHTOnly                   // publish, and look keys up there, never in a directory
)

var dhtModes = [...]string{DHTOff: "off", DHTPublish: "publish", DHTOn: "on", DHTOnly: "only"}

func (m DHTMode) String() string { return dhtModes[m] }

// ParseDHTMode parses off, publish, on or only.
func ParseDHTMode(s string) (DHTMode, error) {
	for m, name := range dhtModes {
		if s == name {
			return DHTMode(m), nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q: want off, publish, on or only", s)
}

func (m DHTMode) looksUp() bool { return m == DHTOn || m == DHTOnly }

// How often a host puts its item again: nodes drop one after about two
// hours without a put (BEP 44). A put that failed is tried again sooner.
const (
	dhtRepublish  = time.Hour
	dhtRetry      = time.Minute
	dhtPutTimeout = time.Minute
)

// dhtPublisher puts this host's item, the pointer to its current record,
// in the DHT: once the node has joined, whenever the record changes
// (dhtWake), and every dhtRepublish, until the host stops.
func (h *Host) dhtPublisher() {
	ctx := h.ctx
	if err := h.dht.Join(ctx); err != nil && ctx.Err() == nil {
		h.log.Warn("joining the DHT", "err", err)
	}
	select {
	case <-h.dhtWake: // the record Start made: the first put below takes it
	default:
	}
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.dhtWake:
		case <-time.After(wait):
		}
		if err := h.publishDHT(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Warn("publishing the record's pointer in the DHT; will try again", "err", err)
			wait = dhtRetry
			continue
		}
		wait = dhtRepublish
	}
}

// dhtChanged wakes the publisher: the record changed.
func (h *Host) dhtChanged() {
	if h.dht == nil {
		return
	}
	select {
	case h.dhtWake <- struct{}{}:
	default:
	}
}

// publishDHT puts the item pointing to the current record.
func (h *Host) publishDHT(ctx context.Context) error {
	h.selfMu.Lock()
	rec, signed := h.self, h.selfSigned
	h.selfMu.Unlock()
	if rec == nil {
		return errors.New("no record yet")
	}
	if rec.Host == "" {
		return errors.New("the record has no host address")
	}
	ctx, cancel := context.WithTimeout(ctx, dhtPutTimeout)
	defer cancel()
	v := bep44.String(wire.PointTo(rec, signed).Encode())
	if _, err := h.dht.Publish(ctx, h.keys.Signer(), []byte(wire.DHTSalt), int64(rec.Seq), v); err != nil {
		return err
	}
	h.log.Info("published the record's pointer in the DHT", "seq", rec.Seq)
	return nil
}

// dhtDirectory resolves keys through the DHT, as a directory the
// resolver asks: the item of the key, then the record from the host it
// points to, taken only if it is the one the item names (PROTOCOL.md
// 24.3). The resolver then verifies the record as any other, and refuses
// a rollback.
type dhtDirectory struct{ c *peerCache }

func (d dhtDirectory) LookupName(context.Context, string) ([]byte, error) {
	return nil, dirclient.ErrNotFound // the DHT has no names
}

func (d dhtDirectory) LookupKey(ctx context.Context, key identity.PublicKey) ([]byte, error) {
	it, err := d.c.h.dht.Lookup(ctx, ed25519.PublicKey(key.Bytes()), []byte(wire.DHTSalt))
	if errors.Is(err, dht.ErrNotFound) {
		return nil, dirclient.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	raw, err := bep44.ParseString(it.V)
	if err != nil {
		return nil, fmt.Errorf("the DHT item: %w", err)
	}
	p, err := wire.DecodeDHTPointer(raw)
	if err != nil {
		return nil, fmt.Errorf("the DHT item: %w", err)
	}
	if uint64(it.Seq) != p.RecordSeq {
		return nil, fmt.Errorf("%w: the item's seq is %d, its pointer's %d", wire.ErrDHTMismatch, it.Seq, p.RecordSeq)
	}
	rt := route{addr: p.Host}
	if len(p.Via) > 0 {
		if rt.via, err = identity.NewPublicKey(identity.KindIdentity, p.Via); err != nil {
			return nil, fmt.Errorf("the DHT item: %w", err)
		}
	}
	signed, err := d.c.fetchRecord(ctx, key, rt)
	if err != nil {
		return nil, err
	}
	rec, err := wire.VerifyRecord(signed)
	if err != nil {
		return nil, fmt.Errorf("the host at %s: %w", rt, err)
	}
	if err := p.Matches(rec, signed); err != nil {
		return nil, fmt.Errorf("the host at %s serves %w", rt, err)
	}
	return signed, nil
}

func (d dhtDirectory) String() string { return "the DHT" }
