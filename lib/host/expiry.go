package host

import (
	"errors"
	"time"

	"smvs/lib/store"
)

// expiryPoll bounds the sweeper's sleep: a message that expires while it
// sleeps (one that arrived expiring sooner than the one it waits for) is
// deleted at the next wake. A message is gone at most expiryPoll after it
// expired, plus the time its deletion takes: about 2 seconds in all, as
// smvs-hostd(8) says.
const expiryPoll = time.Second

// expiryPollMin keeps a sweeper that finds an expired message it can't delete
// from spinning.
const expiryPollMin = 10 * time.Millisecond

// sweepExpired deletes every message whose expiry has passed, by the
// protocol clock, and returns how many.
func (h *Host) sweepExpired() (int, error) {
	seqs, err := h.store.DeleteExpired(h.now())
	if err != nil {
		return 0, err
	}
	h.deleted(seqs)
	if len(seqs) > 0 {
		h.log.Info("expired messages deleted", "messages", len(seqs))
	}
	return len(seqs), nil
}

// sweeper deletes messages as they expire, until the host stops: it
// wakes when the next one expires, when sweepSoon says a message that
// expires was stored, and every expiryPoll.
func (h *Host) sweeper() {
	timer := time.NewTimer(h.sweepWait())
	defer timer.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.sweepWake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
		wait := h.sweepWait()
		if wait <= expiryPollMin {
			if _, err := h.sweepExpired(); err != nil {
				if errors.Is(err, store.ErrClosed) {
					return
				}
				h.log.Error("deleting expired messages", "err", err)
			}
			wait = h.sweepWait()
		}
		timer.Reset(max(wait, expiryPollMin))
	}
}

// sweepWait returns how long until the next message expires, at most
// expiryPoll.
func (h *Host) sweepWait() time.Duration {
	next, ok := h.store.NextExpiry()
	if !ok {
		return expiryPoll
	}
	return min(max(next.Sub(h.now()), 0), expiryPoll)
}

// sweepSoon wakes the sweeper to look at the next expiry again: a message
// that expires was just stored.
func (h *Host) sweepSoon() {
	select {
	case h.sweepWake <- struct{}{}:
	default:
	}
}
