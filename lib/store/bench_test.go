package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smvs/lib/wire"
)

// The benchmarks print their figure beside the floor it stands on, measured
// in the same run and directory: a bare write and fsync of 4 KiB.
//
//	go test -run '^$' -bench . ./lib/store

// benchMessage is a 100-byte message with signed bytes the size a real one
// has (the body plus about 200 bytes of header and signature).
func benchMessage(peer []byte) *Message {
	return &Message{
		ID: random(16), Peer: peer, Sent: 1_700_000_000_000, Kind: wire.KindText,
		ContentType: "text/plain", Body: random(100), Signed: random(300),
	}
}

// fsyncs writes 4 KiB to a file in dir and fsyncs it, n times, and returns
// the rate.
func fsyncs(tb testing.TB, dir string, n int) float64 {
	f, err := os.OpenFile(filepath.Join(dir, "fsync"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := random(4096)
	start := time.Now()
	for i := range n {
		if _, err := f.WriteAt(block, int64(i%256)*4096); err != nil {
			tb.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			tb.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkFsync is the floor: a bare 4 KiB write and fsync.
func BenchmarkFsync(b *testing.B) {
	dir := b.TempDir()
	b.ResetTimer()
	rate := fsyncs(b, dir, b.N)
	b.ReportMetric(rate, "fsyncs/s")
}

// BenchmarkAddIncoming adds durable 100-byte messages from 16 peers with 1
// and 64 concurrent callers.
func BenchmarkAddIncoming(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			dir := b.TempDir()
			floor := fsyncs(b, dir, 1000)
			s := open(b, dir, random(32), Options{})
			peers := make([][]byte, 16)
			for i := range peers {
				peers[i] = random(32)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range callers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := s.AddIncoming(benchMessage(peers[i%16])); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "msgs/s")
			b.ReportMetric(floor, "fsyncs/s")
			b.ReportMetric(rate/floor, "msgs/fsync")
		})
	}
}

// BenchmarkList reads 100 messages of 100 bytes at a time, with bodies.
func BenchmarkList(b *testing.B) {
	s := open(b, b.TempDir(), random(32), Options{})
	peers := [][]byte{random(32), random(32), random(32)}
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range 100 {
				if _, err := s.AddIncoming(benchMessage(peers[(w+i)%3])); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for i := 0; b.Loop(); i++ {
		ms, err := s.List(uint64(i%9)*100, 100)
		if err != nil || len(ms) != 100 {
			b.Fatal(len(ms), err)
		}
	}
	b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "msgs/s")
}
