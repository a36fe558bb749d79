package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/hostapi"
	"smvs/lib/record"
	"smvs/lib/wire"
)

// maintenance checks the KEM key and the record every maintenanceInterval,
// and retries a publish or a save that failed sooner, until the host
// stops.
func (h *Host) maintenance() {
	retryIn := time.Minute
	timer := time.NewTimer(maintenanceInterval)
	defer timer.Stop()
	for {
		h.selfMu.Lock()
		pending := h.publishPending || h.keysUnsaved
		h.selfMu.Unlock()
		wait := maintenanceInterval
		if pending {
			wait = min(retryIn, maintenanceInterval)
			retryIn *= 2
		} else {
			retryIn = time.Minute
		}
		timer.Reset(wait)
		select {
		case <-h.ctx.Done():
			return
		case <-timer.C:
		}
		h.maintain(h.ctx)
		if n := h.store.SweepPartials(partialKeep); n > 0 {
			h.log.Info("dropped bodies whose transfer stopped long ago", "count", n)
		}
	}
}

// maintain rotates the KEM key if it is due, and publishes the record if
// the key changed, the last publish failed, or it is getting old.
func (h *Host) maintain(ctx context.Context) {
	h.publishMu.Lock()
	defer h.publishMu.Unlock()
	rotated, _, _ := h.checkKEM(false)
	h.selfMu.Lock()
	due := rotated || h.publishPending || time.Since(h.published) > republishAfter
	h.selfMu.Unlock()
	if due {
		ctx, cancel := context.WithTimeout(ctx, publishTimeout)
		defer cancel()
		if _, err := h.makeRecord(ctx, publishRequest{}); err != nil {
			h.log.Error("making the record", "err", err)
		}
	}
}

// keySaver is Keys that can save what they hold again: an
// *identity.Keyring whose last save failed. (An agent saves on its own.)
type keySaver interface{ Save() error }

// checkKEM makes a new KEM key when the current one has less than
// KEMGrace left (or none is left), or always if force, and destroys the
// expired ones. The Keys save each change; one that could not be saved is
// kept (the new key serves) and saved again at the next check. It reports
// whether it made a new key and how many it destroyed; the error is the
// rotation's, or the save's. h.publishMu is held.
func (h *Host) checkKEM(force bool) (rotated bool, pruned int, err error) {
	now := h.now()
	if h.unsaved() {
		if s, ok := h.keys.(keySaver); ok {
			h.saved(s.Save())
		}
	}
	kem, err := h.keys.CurrentKEM(now)
	if force || err != nil || time.UnixMilli(kem.Expires).Sub(now) < h.cfg.KEMGrace {
		kem, err = h.keys.RotateKEM(now, h.cfg.KEMLifetime, h.cfg.KEMGrace)
		rotated = len(kem.ID) > 0
		if rotated {
			h.log.Info("new KEM key", "id", fmt.Sprintf("%x", kem.ID), "expires", time.UnixMilli(kem.Expires).UTC().Format(time.RFC3339))
		}
		if !rotated {
			h.log.Error("making a new KEM key", "err", err)
			return false, 0, fmt.Errorf("making a new KEM key: %w", err)
		}
		if !h.saved(err) {
			return rotated, 0, fmt.Errorf("saving the new KEM key: %w", err)
		}
	}
	pruned, err = h.keys.PruneKEM(now)
	if pruned > 0 {
		h.log.Info("destroyed expired KEM keys", "count", pruned)
	}
	if !h.saved(err) {
		return rotated, pruned, fmt.Errorf("destroying expired KEM keys: %w", err)
	}
	return rotated, pruned, nil
}

// saved notes whether the Keys saved their last change (err nil), logs a
// failure, and reports err == nil.
func (h *Host) saved(err error) bool {
	if err != nil {
		h.log.Error("saving the identity; will try again", "err", err)
	}
	h.selfMu.Lock()
	h.keysUnsaved = err != nil
	h.selfMu.Unlock()
	return err == nil
}

func (h *Host) unsaved() bool {
	h.selfMu.Lock()
	defer h.selfMu.Unlock()
	return h.keysUnsaved
}

// publishRequest is what the owner asks of the next record (OpPublish);
// the zero value, the maintenance loop's, keeps everything as it is.
type publishRequest struct {
	name     string        // the name to publish under from now on; "" keeps it
	host     string        // the address to advertise from now on; "" keeps it
	lifetime time.Duration // this record's; 0 is Config.RecordLifetime
}

// publish answers the owner's OpPublish: a new KEM key first if asked,
// then a new record, made, signed and published as the maintenance loop
// does. An error is the host's own (the record could not be made); a
// directory that refused it is a line of Failed.
func (h *Host) publish(ctx context.Context, p *hostapi.Publish) (*hostapi.PublishResult, *hostapi.Error) {
	h.publishMu.Lock()
	defer h.publishMu.Unlock()
	res := &hostapi.PublishResult{}
	if p.RotateKEM {
		rotated, pruned, err := h.checkKEM(true)
		res.KEMRotated, res.Pruned = rotated, pruned
		if !rotated {
			return nil, &hostapi.Error{Code: hostapi.ErrInternal, Message: err.Error()}
		}
		// A key that could not be saved still serves while the host runs,
		// and the host tries to save it again: publish it.
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	out, err := h.makeRecord(ctx, publishRequest{name: p.Name, host: p.Host, lifetime: time.Duration(p.Lifetime) * time.Millisecond})
	if err != nil {
		return nil, &hostapi.Error{Code: hostapi.ErrInternal, Message: err.Error()}
	}
	res.Record, res.Published, res.Failed, res.Conflicts = out.Record, out.Published, out.Failed, out.Conflicts
	return res, nil
}

// refreshRecord makes and publishes a new record (see makeRecord).
func (h *Host) refreshRecord(ctx context.Context, req publishRequest) (*hostapi.PublishResult, error) {
	h.publishMu.Lock()
	defer h.publishMu.Unlock()
	return h.makeRecord(ctx, req)
}

// makeRecord makes and signs a new record with the current KEM key and
// the advertised address, keeps it to answer wire.OpRecord, and publishes
// it to the directories if it has a name. A directory that fails is
// logged, reported in Failed and tried again later; only an error making
// the record is returned. h.publishMu is held.
func (h *Host) makeRecord(ctx context.Context, req publishRequest) (*hostapi.PublishResult, error) {
	h.selfMu.Lock()
	prev := h.self
	name := h.name
	h.selfMu.Unlock()
	if req.name != "" {
		name = req.name
	}
	lookupFailed := false
	if len(h.cfg.Directories) > 0 {
		cur, err := record.Current(ctx, h.cfg.Directories, h.me)
		switch {
		case err != nil:
			h.log.Warn("looking up the current record", "err", err)
			lookupFailed = true
		case cur != nil && (prev == nil || cur.Seq > prev.Seq):
			prev = cur
		}
	}
	if name == "" && prev != nil {
		name = prev.Name
	}
	addr := req.host
	if addr == "" {
		addr = h.advertise()
	}
	lifetime := h.cfg.RecordLifetime
	if req.lifetime > 0 {
		lifetime = req.lifetime
	}

	rec, err := record.New(h.keys, name, addr, prev, lifetime, h.now())
	if r := h.cfg.Relay; err == nil && r != nil && addr == r.Addr {
		rec.Via = r.Key.Bytes()
	}
	var signed []byte
	if err == nil {
		signed, err = wire.SignRecord(h.keys.Signer(), rec)
	}
	if err != nil {
		return nil, fmt.Errorf("making the record: %w", err)
	}
	h.selfMu.Lock()
	h.self, h.selfSigned = rec, signed
	if req.name != "" {
		h.name = req.name
	}
	if req.host != "" {
		h.addr = req.host
	}
	h.selfMu.Unlock()
	h.dhtChanged()
	res := &hostapi.PublishResult{Record: signed}

	if len(h.cfg.Directories) == 0 {
		return res, nil
	}
	if name == "" {
		// Without a name from a directory that answered, there is nothing
		// to publish under; one that did not answer may have it later.
		if !lookupFailed {
			h.log.Warn("the record is not published: no name to publish it under (give one with --name)")
		}
		h.selfMu.Lock()
		h.publishPending = lookupFailed
		h.selfMu.Unlock()
		return res, nil
	}
	for _, d := range h.cfg.Directories {
		err := d.Publish(ctx, signed)
		if err != nil {
			if errors.Is(err, dirclient.ErrConflict) {
				res.Conflicts = append(res.Conflicts, uint64(len(res.Failed)))
			}
			res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", d, err))
			h.log.Warn("publishing the record", "directory", d.String(), "conflict", errors.Is(err, dirclient.ErrConflict), "err", err)
			continue
		}
		res.Published = append(res.Published, d.String())
		h.log.Info("published the record", "directory", d.String(), "seq", rec.Seq,
			"expires", time.UnixMilli(rec.Expires).UTC().Format(time.RFC3339))
	}
	h.selfMu.Lock()
	h.publishPending = len(res.Failed) > 0
	if len(res.Failed) == 0 {
		h.published = time.Now()
	}
	h.selfMu.Unlock()
	return res, nil
}
