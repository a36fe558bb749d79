package host

import (
	"context"
	"slices"
	"testing"
	"time"

	"smvs/lib/dht"
)

// BenchmarkResolveKey measures resolving a peer's key to its verified
// record through a private DHT of 8 nodes on 127.0.0.1 (the item, then the
// record from the peer's host: dhtDirectory) beside a look-up of the same
// key in a directory over HTTPS, in the same run. Each resolution is one
// op; p50 and p99 are reported. A DHT look-up sends some 16 queries, and a
// node sends at most 25 a second (its limiter, as on the public DHT), so
// look-ups one after another would time the limiter: each DHT look-up
// starts after a pause (untimed) that refills it, as a host's occasional
// look-ups would.
//
//	go test -run '^$' -bench ResolveKey -benchtime 30x ./lib/host
func BenchmarkResolveKey(b *testing.B) {
	_, boot := dhtNetwork(b, 8)
	dir := newDirectory(b, nil)
	alice := newUser(b, "alice", dir)
	alice.cfg.DHT, alice.cfg.DHTNode = DHTOn, dht.Config{Listen: "127.0.0.1:0", Bootstrap: boot}
	alice.start()
	bob := newUser(b, "bob", dir)
	bob.cfg.DHT, bob.cfg.DHTNode = DHTPublish, dht.Config{Listen: "127.0.0.1:0", Bootstrap: boot}
	bob.start()
	eventually(b, "bob published", func() bool { return bob.logHas("published the record's pointer in the DHT") })
	ctx := context.Background()
	for _, via := range []struct {
		name   string
		pause  time.Duration
		lookup func() error
	}{
		{"dht", time.Second, func() error {
			_, err := dhtDirectory{alice.host.peers}.LookupKey(ctx, bob.key())
			return err
		}},
		{"directory", 0, func() error {
			_, err := dir.LookupKey(ctx, bob.key())
			return err
		}},
	} {
		b.Run(via.name, func(b *testing.B) {
			// One untimed: the first dials bob's host.
			time.Sleep(via.pause)
			if err := via.lookup(); err != nil {
				b.Fatal(err)
			}
			var took []time.Duration
			for b.Loop() {
				b.StopTimer()
				time.Sleep(via.pause)
				b.StartTimer()
				start := time.Now()
				if err := via.lookup(); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
