package host

import (
	"slices"
	"sync"
)

// deletions tells the following devices which messages were deleted. The
// store's change stream says so too, but a subscriber that falls more
// than 1024 changes behind loses it and catches up by listing what is
// new, which can't tell what is gone; and deleting a conversation of
// more than 1024 messages is one such change. So every deletion the host
// makes goes through here as well (Host.deleted), and each follower takes
// what it has not sent yet. It is safe for concurrent use.
type deletions struct {
	mu   sync.Mutex
	subs map[*deletionSub]struct{}
}

// maxDeletionBacklog bounds what one follower may have to send: one that
// falls further behind (its device does not read) loses its stream.
const maxDeletionBacklog = 1 << 20

type deletionSub struct {
	wake chan struct{} // signalled when seqs grows
	seqs []uint64
	lost bool
}

func newDeletions() *deletions { return &deletions{subs: make(map[*deletionSub]struct{})} }

// subscribe returns a subscription to every deletion from now on, and
// the function that ends it.
func (d *deletions) subscribe() (*deletionSub, func()) {
	sub := &deletionSub{wake: make(chan struct{}, 1)}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subs[sub] = struct{}{}
	return sub, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.subs, sub)
	}
}

// publish tells every subscriber that messages seqs were deleted.
func (d *deletions) publish(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for sub := range d.subs {
		if len(sub.seqs)+len(seqs) > maxDeletionBacklog {
			sub.seqs, sub.lost = nil, true
		} else if !sub.lost {
			sub.seqs = append(sub.seqs, seqs...)
		}
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}

// take returns the sequence numbers deleted since the last take, sorted,
// and false if some were lost.
func (d *deletions) take(sub *deletionSub) ([]uint64, bool) {
	d.mu.Lock()
	seqs, lost := sub.seqs, sub.lost
	sub.seqs = nil
	d.mu.Unlock()
	slices.Sort(seqs)
	return slices.Compact(seqs), !lost
}
