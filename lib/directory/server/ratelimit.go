package server

import (
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// maxClients bounds how many client networks the limiter remembers.
const maxClients = 1 << 16

// sweepEvery is how often the limiter forgets idle clients.
const sweepEvery = time.Minute

// limiter is a token bucket per client network. A bucket holds up to burst
// tokens, gains rate tokens a second, and a request takes one. A bucket
// that has refilled is the same as no bucket, so the limiter forgets it:
// memory follows the clients active in the last burst/rate seconds, and
// never exceeds max buckets.
type limiter struct {
	rate, burst float64
	max         int

	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was counted
}

func newLimiter(rate float64, burst, max int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), max: max, buckets: make(map[netip.Prefix]*bucket)}
}

// allow takes a token from client's bucket at now and reports whether there
// was one; if not, it also returns how long until there is.
func (l *limiter) allow(client netip.Prefix, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= sweepEvery || len(l.buckets) >= l.max {
		l.forget(now)
	}
	b := l.buckets[client]
	if b == nil {
		b = &bucket{tokens: l.burst}
		l.buckets[client] = b
	} else {
		b.tokens = l.level(b, now)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// level returns how many tokens b holds at now.
func (l *limiter) level(b *bucket, now time.Time) float64 {
	return min(l.burst, b.tokens+max(0, now.Sub(b.at).Seconds())*l.rate)
}

// forget drops the buckets that have refilled. If too many remain (a flood
// from many networks), it drops others too, which only lets their clients
// start again with a full bucket.
func (l *limiter) forget(now time.Time) {
	l.swept = now
	for k, b := range l.buckets {
		if l.level(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets { // in no particular order
		if len(l.buckets) < l.max-l.max/8 {
			break
		}
		delete(l.buckets, k)
	}
}

// retryAfter is a Retry-After value for wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// client returns the address r comes from: the last address in the
// ClientIPHeader, if set and there, else the connection's remote address.
// It is the zero Addr if neither is an address.
func (h *Handler) client(r *http.Request) netip.Addr {
	if h.opts.ClientIPHeader != "" {
		if values := r.Header.Values(h.opts.ClientIPHeader); len(values) > 0 {
			last := values[len(values)-1]
			last = strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:])
			if a, err := netip.ParseAddr(last); err == nil {
				return a.Unmap().WithZone("")
			}
			if ap, err := netip.ParseAddrPort(last); err == nil {
				return ap.Addr().Unmap().WithZone("")
			}
		}
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// clientNetwork is what a client is limited by: its IPv4 address, or the
// /64 network of its IPv6 address, since one IPv6 host usually has a whole
// /64 to pick addresses from. Requests from no address share one bucket.
func clientNetwork(a netip.Addr) netip.Prefix {
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}
