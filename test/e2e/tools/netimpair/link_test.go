package main

import (
	"encoding/binary"
	"flag"
	"io"
	"testing"
	"time"
)

// drive sends n numbered packets through l, one every gap, and returns
// each packet's number with its one-way delay, in the order they left.
func drive(l *Link, n int, gap time.Duration) (order []uint32, delays []time.Duration) {
	start := time.Unix(1_700_000_000, 0)
	sent := map[uint32]time.Time{}
	collect := func(now time.Time) {
		for _, pkt := range l.Due(now) {
			seq := binary.BigEndian.Uint32(pkt)
			order = append(order, seq)
			delays = append(delays, now.Sub(sent[seq]))
		}
	}
	// releaseUntil takes out every packet due by until, each at its time.
	releaseUntil := func(until time.Time) {
		for {
			next, ok := l.Next()
			if !ok || next.After(until) {
				return
			}
			collect(next)
		}
	}
	for i := range n {
		now := start.Add(time.Duration(i) * gap)
		releaseUntil(now)
		sent[uint32(i)] = now
		l.Arrive(now, binary.BigEndian.AppendUint32(nil, uint32(i)))
		releaseUntil(now)
	}
	releaseUntil(start.Add(time.Duration(n) * time.Hour))
	return order, delays
}

func params(p Params) Params {
	if p.Limit == 0 {
		p.Limit = defaultParams.Limit
	}
	if p.ReorderBy == 0 {
		p.ReorderBy = defaultParams.ReorderBy
	}
	return p
}

// inversions counts the packets that left after one numbered higher.
func inversions(order []uint32) int {
	n, highest := 0, -1
	for _, seq := range order {
		if int(seq) < highest {
			n++
		}
		highest = max(highest, int(seq))
	}
	return n
}

func TestCleanLinkPassesEverythingAtOnceInOrder(t *testing.T) {
	l := NewLink(params(Params{}), 1)
	order, delays := drive(l, 1000, time.Millisecond)
	if len(order) != 1000 || inversions(order) != 0 {
		t.Fatalf("got %d packets with %d inversions, want 1000 in order", len(order), inversions(order))
	}
	for i, d := range delays {
		if d != 0 {
			t.Fatalf("packet %d was delayed %v", order[i], d)
		}
	}
	if c := l.Counters(); c.In != 1000 || c.Out != 1000 {
		t.Errorf("counters %+v", c)
	}
}

func TestLossRate(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		l := NewLink(params(Params{Loss: 5}), seed)
		order, _ := drive(l, 10_000, time.Millisecond)
		lost := 10_000 - len(order)
		// 5% of 10,000 is 500, with a standard deviation of about 22.
		if lost < 400 || lost > 600 {
			t.Errorf("seed %d: lost %d of 10000, want about 500", seed, lost)
		}
		if c := l.Counters(); c.Lost != uint64(lost) || c.Out != uint64(len(order)) {
			t.Errorf("seed %d: counters %+v, lost %d", seed, c, lost)
		}
	}
}

func TestSameSeedSameChoices(t *testing.T) {
	p := params(Params{Loss: 10, Reorder: 10, Duplicate: 5, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond})
	a, _ := drive(NewLink(p, 7), 2000, time.Millisecond)
	b, _ := drive(NewLink(p, 7), 2000, time.Millisecond)
	if len(a) != len(b) {
		t.Fatalf("%d packets, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("packet %d: %d, then %d", i, a[i], b[i])
		}
	}
}

func TestDelayAndJitterBoundsKeepOrder(t *testing.T) {
	delay, jitter := 50*time.Millisecond, 10*time.Millisecond
	for _, gap := range []time.Duration{200 * time.Microsecond, 5 * time.Millisecond, 100 * time.Millisecond} {
		l := NewLink(params(Params{Delay: delay, Jitter: jitter}), 1)
		order, delays := drive(l, 10_000, gap)
		if len(order) != 10_000 {
			t.Fatalf("one every %v: got %d packets, want all 10000", gap, len(order))
		}
		if n := inversions(order); n != 0 {
			t.Errorf("one every %v: jitter alone reordered %d packets", gap, n)
		}
		lo, hi := delay, delay
		var sum time.Duration
		for _, d := range delays {
			lo, hi = min(lo, d), max(hi, d)
			sum += d
		}
		if lo < delay-jitter || hi > delay+jitter {
			t.Errorf("one every %v: delays from %v to %v, want within %v ± %v", gap, lo, hi, delay, jitter)
		}
		if lo > delay-jitter/2 || hi < delay+jitter/2 {
			t.Errorf("one every %v: delays from %v to %v: jitter of ± %v hardly used", gap, lo, hi, jitter)
		}
		if mean := sum / time.Duration(len(delays)); mean < delay-jitter/4 || mean > delay+jitter/4 {
			t.Errorf("one every %v: mean delay %v, want about %v", gap, mean, delay)
		}
	}
}

func TestReorderingHoldsBackSomePackets(t *testing.T) {
	l := NewLink(params(Params{Delay: 20 * time.Millisecond, Reorder: 5, ReorderBy: 10 * time.Millisecond}), 1)
	order, delays := drive(l, 10_000, time.Millisecond)
	if len(order) != 10_000 {
		t.Fatalf("got %d packets, want all 10000", len(order))
	}
	n := inversions(order)
	if n < 400 || n > 600 {
		t.Errorf("%d packets left after a later one, want about 500", n)
	}
	if c := l.Counters(); c.Reordered != uint64(n) {
		t.Errorf("counted %d reordered, saw %d", c.Reordered, n)
	}
	for i, d := range delays {
		if d != 20*time.Millisecond && d != 30*time.Millisecond {
			t.Fatalf("packet %d was delayed %v, want 20ms or 30ms", order[i], d)
		}
	}
}

func TestDuplicates(t *testing.T) {
	l := NewLink(params(Params{Duplicate: 1}), 1)
	order, _ := drive(l, 10_000, time.Millisecond)
	seen := map[uint32]int{}
	for _, seq := range order {
		seen[seq]++
	}
	dups := len(order) - len(seen)
	if len(seen) != 10_000 || dups < 60 || dups > 140 {
		t.Errorf("%d distinct packets, %d duplicates: want 10000 and about 100", len(seen), dups)
	}
	if c := l.Counters(); c.Duplicated != uint64(dups) || c.Out != uint64(len(order)) {
		t.Errorf("counters %+v, saw %d duplicates", c, dups)
	}
}

func TestPartitionDropsAllThenHeals(t *testing.T) {
	l := NewLink(params(Params{Delay: 10 * time.Millisecond}), 1)
	l.SetPartitioned(true)
	if order, _ := drive(l, 1000, time.Millisecond); len(order) != 0 {
		t.Fatalf("%d packets crossed a partition", len(order))
	}
	if c := l.Counters(); c.Partitioned != 1000 || c.Lost != 0 {
		t.Errorf("counters %+v, want 1000 partitioned", c)
	}
	l.SetPartitioned(false)
	if order, _ := drive(l, 1000, time.Millisecond); len(order) != 1000 {
		t.Fatalf("%d packets of 1000 after the partition healed", len(order))
	}
}

func TestPacketsHeldWhenPartitionStartsStillLeave(t *testing.T) {
	l := NewLink(params(Params{Delay: 10 * time.Millisecond}), 1)
	now := time.Unix(1_700_000_000, 0)
	l.Arrive(now, []byte{1})
	l.SetPartitioned(true)
	l.Arrive(now, []byte{2})
	if got := l.Due(now.Add(10 * time.Millisecond)); len(got) != 1 || got[0][0] != 1 {
		t.Errorf("got %v, want the packet sent before the partition", got)
	}
}

func TestQueueBound(t *testing.T) {
	// 1000 packets a second held 100 ms each fill 100 places; 20 are given.
	l := NewLink(params(Params{Delay: 100 * time.Millisecond, Limit: 20, Duplicate: 50}), 1)
	start := time.Unix(1_700_000_000, 0)
	most := 0
	for i := range 1000 {
		now := start.Add(time.Duration(i) * time.Millisecond)
		l.Due(now)
		l.Arrive(now, []byte{byte(i)})
		most = max(most, l.Held())
	}
	if most != 20 {
		t.Errorf("held at most %d packets, want the limit of 20", most)
	}
	c := l.Counters()
	if c.Overflow < 700 {
		t.Errorf("dropped %d of 1000 over the limit, want most", c.Overflow)
	}
	if c.In != c.Overflow+c.Out+uint64(l.Held())-c.Duplicated {
		t.Errorf("counters don't add up: %+v, %d held", c, l.Held())
	}
}

func TestSetParamsChangesLaterPackets(t *testing.T) {
	l := NewLink(params(Params{}), 1)
	now := time.Unix(1_700_000_000, 0)
	l.Arrive(now, []byte{1})
	p := l.Params()
	p.Delay = time.Second
	l.SetParams(p)
	l.Arrive(now, []byte{2})
	if got := l.Due(now); len(got) != 1 || got[0][0] != 1 {
		t.Errorf("at once: %v, want only the packet sent before the change", got)
	}
	if next, ok := l.Next(); !ok || !next.Equal(now.Add(time.Second)) {
		t.Errorf("next at %v, want a second later", next)
	}
}

func TestImpairFlags(t *testing.T) {
	var s impairSettings
	fs := newTestFlagSet(&s)
	if err := fs.Parse([]string{"--loss", "5", "--ab-loss", "10", "--delay", "50ms", "--ba-jitter", "5ms", "--limit", "7"}); err != nil {
		t.Fatal(err)
	}
	ab, ba := s.apply("ab", defaultParams), s.apply("ba", defaultParams)
	if ab.Loss != 10 || ba.Loss != 5 || ab.Delay != 50*time.Millisecond || ba.Delay != 50*time.Millisecond {
		t.Errorf("ab %+v, ba %+v", ab, ba)
	}
	if ab.Jitter != 0 || ba.Jitter != 5*time.Millisecond || ab.Limit != 7 || ab.ReorderBy != defaultParams.ReorderBy {
		t.Errorf("ab %+v, ba %+v", ab, ba)
	}
	for _, bad := range [][]string{{"--loss", "101"}, {"--delay", "-1s"}, {"--limit", "0"}, {"--ab-reorder", "x"}} {
		if err := newTestFlagSet(&impairSettings{}).Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func newTestFlagSet(s *impairSettings) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.register(fs)
	return fs
}
