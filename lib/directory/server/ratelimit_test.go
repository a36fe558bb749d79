package server

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestLimiterRefills(t *testing.T) {
	l := newLimiter(2, 4, 100) // 2 a second, 4 at once
	a := netip.MustParsePrefix("192.0.2.1/32")
	now := start
	for i := range 4 {
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow(a, now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: %v, wait %v; want refused, 500ms", ok, wait)
	}
	if got := retryAfter(wait); got != 1 {
		t.Errorf("Retry-After %d, want 1", got)
	}
	// A refused request takes nothing: half a second later there is a token.
	if ok, _ := l.allow(a, now.Add(500*time.Millisecond)); !ok {
		t.Error("refused after the wait it was told")
	}
	if ok, _ := l.allow(a, now.Add(600*time.Millisecond)); ok {
		t.Error("allowed with 0.2 tokens")
	}
	// A bucket never holds more than the burst.
	now = now.Add(time.Hour)
	for i := range 5 {
		ok, _ := l.allow(a, now)
		if ok != (i < 4) {
			t.Errorf("an hour later, request %d: allowed %v", i+1, ok)
		}
	}
}

func TestLimiterForgets(t *testing.T) {
	l := newLimiter(1, 2, 64)
	now := start
	prefix := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
	}
	busy := prefix(0)
	l.allow(busy, now)
	l.allow(busy, now) // empty now
	for i := 1; i < 40; i++ {
		l.allow(prefix(i), now)
	}
	// After a sweep interval, idle clients (refilled) are forgotten.
	now = now.Add(sweepEvery)
	l.allow(busy, now)
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets after the idle ones refilled, want 1", len(l.buckets))
	}

	// A flood of new networks never grows the map past its bound.
	l = newLimiter(0.001, 1, 64)
	l.allow(busy, now)
	for i := 1; i < 1000; i++ {
		l.allow(prefix(i), now)
		if len(l.buckets) > 64 {
			t.Fatalf("%d buckets, bound 64", len(l.buckets))
		}
	}
}

func TestClientNetwork(t *testing.T) {
	h := New(nil, Options{ClientIPHeader: "X-Real-IP"})
	for _, tt := range []struct {
		remote, header, want string
	}{
		{"192.0.2.1:1234", "", "192.0.2.1/32"},
		{"[::ffff:192.0.2.1]:1234", "", "192.0.2.1/32"},
		{"[2001:db8:1:2:3:4:5:6]:1234", "", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1234", "", "fe80::/64"},
		{"192.0.2.1:1234", "198.51.100.9", "198.51.100.9/32"},
		{"192.0.2.1:1234", "10.0.0.1, 198.51.100.9", "198.51.100.9/32"},
		{"192.0.2.1:1234", "not an address", "192.0.2.1/32"},
		{"@", "", "invalid Prefix"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.header != "" {
			r.Header.Set("X-Real-IP", tt.header)
		}
		if got := clientNetwork(h.client(r)).String(); got != tt.want {
			t.Errorf("%s, %q: %s, want %s", tt.remote, tt.header, got, tt.want)
		}
	}
}
