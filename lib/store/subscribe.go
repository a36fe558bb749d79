package store

import "sync"

// subscriberBuffer is how many changes a subscriber may fall behind before
// its channel is closed.
const subscriberBuffer = 1024

type subscriber struct{ ch chan Change }

// Subscribe returns a channel that receives every change committed after
// the call, in commit order, and a function that ends the subscription
// (closing the channel; calling it again does nothing).
//
// Writers never wait for a subscriber: one that falls more than 1024
// changes behind has its channel closed, as does every subscriber at Close.
// A subscriber whose channel closes while the store is open re-subscribes
// and then lists from the last Seq it has (List), which brings it up to
// date without a gap.
func (s *Store) Subscribe() (<-chan Change, func()) {
	sub := &subscriber{ch: make(chan Change, subscriberBuffer)}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.subs == nil {
		close(sub.ch)
		return sub.ch, func() {}
	}
	s.subs[sub] = struct{}{}
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.subMu.Lock()
			defer s.subMu.Unlock()
			if _, ok := s.subs[sub]; ok {
				delete(s.subs, sub)
				close(sub.ch)
			}
		})
	}
}

// publish sends committed changes to every subscriber, dropping those whose
// buffer is full.
func (s *Store) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for sub := range s.subs {
	send:
		for _, c := range changes {
			select {
			case sub.ch <- c:
			default:
				delete(s.subs, sub)
				close(sub.ch)
				break send
			}
		}
	}
}
