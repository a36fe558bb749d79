package call

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"

	"smvs/lib/media"
)

// BenchmarkCallSetup measures a call from Dial to the first frame written
// on the callee's side, on 127.0.0.1.
func BenchmarkCallSetup(b *testing.B) {
	vp8, _ := streams(b)
	for b.Loop() {
		w := newRecorder()
		caller := loopback(b, Config{Video: &sliceReader{codec: media.VP8, samples: vp8, live: true}})
		callee := loopback(b, Config{VideoOut: w.open})
		a, c, _, _ := dialAccept(b, caller, callee)
		select {
		case <-w.first:
		case <-time.After(5 * time.Second):
			b.Fatal("no frame arrived")
		}
		b.StopTimer()
		a.Hangup("done")
		c.Hangup("done")
		b.StartTimer()
	}
}

// BenchmarkCallLatency measures the time each frame takes from the
// sender's input (a live source, so pacing adds nothing) to the
// receiver's Writer, on 127.0.0.1: the median and 99th percentile. The
// stream is the tests' small one, or the IVF file $SMVS_BENCH_IVF
// (scripts/bench call gives it 720p30).
func BenchmarkCallLatency(b *testing.B) {
	vp8, _ := streams(b)
	if path := os.Getenv("SMVS_BENCH_IVF"); path != "" {
		var err error
		if vp8, err = readIVF(path); err != nil {
			b.Fatal(err)
		}
	}
	var latencies []time.Duration
	for b.Loop() {
		r, w := &sliceReader{codec: media.VP8, samples: vp8, live: true}, newRecorder()
		a, c, _, _ := dialAccept(b, loopback(b, Config{Video: r}), loopback(b, Config{VideoOut: w.open}))
		wait(b, a, time.Duration(len(vp8))*time.Second/10+10*time.Second)
		wait(b, c, 5*time.Second)
		readAt := r.times()
		got, at, _ := w.got()
		j := 0
		for i, g := range got {
			for j < len(vp8) && !bytes.Equal(vp8[j].Data, g.Data) {
				j++
			}
			if j == len(vp8) {
				b.Fatalf("frame %d is not among those sent", i)
			}
			latencies = append(latencies, at[i].Sub(readAt[j]))
		}
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "µs-median-latency")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "µs-p99-latency")
}
