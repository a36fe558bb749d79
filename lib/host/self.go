package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"smvs/lib/dirclient"
	"smvs/lib/identity"
	"smvs/lib/record"
	"smvs/lib/wire"
)

// maintenance checks the KEM key and the record every maintenanceInterval,
// and retries a publish that failed sooner, until the host stops.
func (h *Host) maintenance() {
	retryIn := time.Minute
	timer := time.NewTimer(maintenanceInterval)
	defer timer.Stop()
	for {
		h.selfMu.Lock()
		pending := h.publishPending || h.identityDirty
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
	}
}

// maintain rotates the KEM key if it is due, and publishes the record if
// the key changed, the last publish failed, or it is getting old.
func (h *Host) maintain(ctx context.Context) {
	rotated := h.checkKEM()
	h.selfMu.Lock()
	due := rotated || h.publishPending || time.Since(h.published) > republishAfter
	h.selfMu.Unlock()
	if due {
		ctx, cancel := context.WithTimeout(ctx, publishTimeout)
		defer cancel()
		if err := h.refreshRecord(ctx); err != nil {
			h.log.Error("making the record", "err", err)
		}
	}
}

// checkKEM makes a new KEM key when the current one has less than
// KEMGrace left (or none is left), destroys expired ones, and saves the
// identity if it changed. It reports whether it made a new key.
func (h *Host) checkKEM() bool {
	now := h.now()
	h.idMu.Lock()
	kem, err := h.id.CurrentKEM(now)
	rotate := err != nil || kem.Expires().Sub(now) < h.cfg.KEMGrace
	if rotate {
		kem, err = h.id.RotateKEM(now, h.cfg.KEMLifetime, h.cfg.KEMGrace)
		if err != nil {
			h.idMu.Unlock()
			h.log.Error("making a new KEM key", "err", err)
			return false
		}
	}
	pruned := h.id.PruneKEM(now)
	h.idMu.Unlock()

	if rotate {
		h.log.Info("new KEM key", "id", fmt.Sprintf("%x", kem.ID()), "expires", kem.Expires().UTC().Format(time.RFC3339))
	}
	if pruned > 0 {
		h.log.Info("destroyed expired KEM keys", "count", pruned)
	}
	h.selfMu.Lock()
	dirty := h.identityDirty || rotate || pruned > 0
	h.selfMu.Unlock()
	if dirty {
		err := h.saveIdentity()
		if err != nil {
			h.log.Error("saving the identity; will try again", "file", h.cfg.IdentityPath, "err", err)
		}
		h.selfMu.Lock()
		h.identityDirty = err != nil
		h.selfMu.Unlock()
	}
	return rotate
}

// saveIdentity replaces the identity file atomically with the identity as
// it is now, protected with the passphrase it was protected with.
func (h *Host) saveIdentity() error {
	if h.cfg.IdentityPath == "" {
		return nil
	}
	h.idMu.RLock()
	text := h.id.MarshalText()
	pass := h.cfg.Passphrase
	h.idMu.RUnlock()
	defer clear(text)
	data := text
	if pass != nil {
		var err error
		if data, err = identity.Encrypt(text, pass); err != nil {
			return err
		}
	}
	return identity.ReplaceFile(h.cfg.IdentityPath, data)
}

// refreshRecord makes and signs a new record with the current KEM key and
// the advertised address, keeps it to answer wire.OpRecord, and publishes
// it to the directories if it has a name. A directory that fails is
// logged and tried again later; only an error making the record is
// returned.
func (h *Host) refreshRecord(ctx context.Context) error {
	h.selfMu.Lock()
	prev := h.self
	h.selfMu.Unlock()
	name := h.cfg.Name
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

	now := h.now()
	h.idMu.RLock()
	rec, err := record.New(identity.NewKeyring(h.id, "", nil), name, h.advertise(), prev, h.cfg.RecordLifetime, now)
	var signed []byte
	if err == nil {
		signed, err = wire.SignRecord(h.id.Signer(), rec)
	}
	h.idMu.RUnlock()
	if err != nil {
		return fmt.Errorf("making the record: %w", err)
	}
	h.selfMu.Lock()
	h.self, h.selfSigned = rec, signed
	h.selfMu.Unlock()

	if len(h.cfg.Directories) == 0 {
		return nil
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
		return nil
	}
	failed := 0
	for _, d := range h.cfg.Directories {
		err := d.Publish(ctx, signed)
		if err != nil {
			failed++
			h.log.Warn("publishing the record", "directory", d.String(), "conflict", errors.Is(err, dirclient.ErrConflict), "err", err)
			continue
		}
		h.log.Info("published the record", "directory", d.String(), "seq", rec.Seq,
			"expires", time.UnixMilli(rec.Expires).UTC().Format(time.RFC3339))
	}
	h.selfMu.Lock()
	h.publishPending = failed > 0
	if failed == 0 {
		h.published = time.Now()
	}
	h.selfMu.Unlock()
	return nil
}
