package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smvs/lib/delivery"
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
	benchAdd(b, func(s *Store, m *Message) error {
		_, err := s.AddIncoming(m)
		return err
	})
}

// BenchmarkAddOutgoing is BenchmarkAddIncoming for messages being sent,
// each with an envelope the size a real one has in the outbox: what a
// host's submit stores.
func BenchmarkAddOutgoing(b *testing.B) {
	envelope := random(1500)
	until := time.UnixMilli(1_900_000_000_000)
	benchAdd(b, func(s *Store, m *Message) error {
		return s.AddOutgoing(m, envelope, until)
	})
}

// BenchmarkSend is what a host stores for each message it sends: the
// message and its outbox entry, the entry's end once the peer's host has
// it, the receipt. Each is a write of its own, as in the host.
func BenchmarkSend(b *testing.B) {
	envelope := random(1500)
	until := time.UnixMilli(1_900_000_000_000)
	benchAdd(b, func(s *Store, m *Message) error {
		if err := s.AddOutgoing(m, envelope, until); err != nil {
			return err
		}
		if err := s.OutboxDone(m.Seq, delivery.Sent); err != nil {
			return err
		}
		_, err := s.SetStatus(m.Peer, m.ID, delivery.Delivered)
		return err
	})
}

// benchAdd calls add with 100-byte messages with 16 peers, from 1 and 64
// concurrent callers: the group commit's throughput.
func benchAdd(b *testing.B, add func(*Store, *Message) error) {
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
						if err := add(s, benchMessage(peers[i%16])); err != nil {
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

// fill stores n benchMessages, each with a link, from peers in turn, with
// 64 concurrent callers; expires, if not 0, is their expiry.
func fill(b *testing.B, s *Store, peers [][]byte, n int, expires int64) {
	signed := chained(b, peers[0], "a signed message", nil).Signed
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				m := benchMessage(peers[int(i)%len(peers)])
				m.Signed, m.Expires = signed, expires
				if _, err := s.AddIncoming(m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkStore1000 stores 1,000 messages that expire, from 4 peers, with
// 64 concurrent callers: what BenchmarkSweep1000 deletes.
func BenchmarkStore1000(b *testing.B) {
	s := open(b, b.TempDir(), random(32), Options{})
	peers := [][]byte{random(32), random(32), random(32), random(32)}
	for b.Loop() {
		fill(b, s, peers, 1000, 1_900_000_000_000)
	}
}

// BenchmarkSweep1000 is DeleteExpired's cost per 1,000 expiring messages,
// from 4 conversations that keep 1,000 others.
func BenchmarkSweep1000(b *testing.B) {
	s := open(b, b.TempDir(), random(32), Options{})
	peers := [][]byte{random(32), random(32), random(32), random(32)}
	fill(b, s, peers, 1000, 0)
	for b.Loop() {
		b.StopTimer()
		fill(b, s, peers, 1000, 1_900_000_000_000)
		b.StartTimer()
		seqs, err := s.DeleteExpired(time.UnixMilli(1_900_000_000_000))
		if err != nil || len(seqs) != 1000 {
			b.Fatal(len(seqs), err)
		}
	}
}

// BenchmarkDeleteConversation10k deletes a conversation of 10,000 messages
// from a store that keeps 3 others of 100.
func BenchmarkDeleteConversation10k(b *testing.B) {
	s := open(b, b.TempDir(), random(32), Options{})
	fill(b, s, [][]byte{random(32), random(32), random(32)}, 300, 0)
	for b.Loop() {
		b.StopTimer()
		peer := random(32)
		fill(b, s, [][]byte{peer}, 10_000, 0)
		b.StartTimer()
		seqs, err := s.DeleteConversation(peer)
		if err != nil || len(seqs) != 10_000 {
			b.Fatal(len(seqs), err)
		}
	}
}

// BenchmarkDeleteOneOf10k deletes one message of a conversation of 10,000,
// which re-keys the 9,999 others and their links.
func BenchmarkDeleteOneOf10k(b *testing.B) {
	s := open(b, b.TempDir(), random(32), Options{})
	fill(b, s, [][]byte{random(32)}, 10_000, 0)
	for b.Loop() {
		b.StopTimer()
		ms, err := s.List(0, 1)
		if err != nil || len(ms) != 1 {
			b.Fatal(len(ms), err)
		}
		b.StartTimer()
		if err := s.Delete(ms[0].Seq); err != nil {
			b.Fatal(err)
		}
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

// BenchmarkLinks10k reads the links of a conversation of 10,000 messages:
// what checking a chain against all of them costs.
func BenchmarkLinks10k(b *testing.B) {
	s := open(b, b.TempDir(), random(32), Options{})
	peer := random(32)
	fill(b, s, [][]byte{peer}, 10_000, 0)
	for b.Loop() {
		if ls, err := s.Links(peer); err != nil || len(ls) != 10_000 {
			b.Fatal(len(ls), err)
		}
	}
}
