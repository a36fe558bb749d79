package transport

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"smvs/lib/identity"
)

// The benchmarks measure each exchange twice: through bare quic-go (the
// floor: same TLS configuration and QUIC limits, one stream per request,
// no framing, no frame limits, no buffer accounting) and through this
// package's Request API. The host's benchmarks print their figures beside
// these floors.

// requester sends one request and returns the response.
type requester func(ctx context.Context, req []byte) ([]byte, error)

// bareQUIC starts a quic-go listener whose streams are served by serve and
// returns a requester over one connection to it.
func bareQUIC(b *testing.B, serve func(s *quic.Stream)) requester {
	server, client := newIdentity(b), newIdentity(b)
	cfg, _ := Config{}.withDefaults()
	serverCert, err := newCertificate(server.Signer())
	if err != nil {
		b.Fatal(err)
	}
	clientCert, err := newCertificate(client.Signer())
	if err != nil {
		b.Fatal(err)
	}
	ql, err := quic.ListenAddr("127.0.0.1:0", serverTLS(serverCert, cfg), cfg.quicConfig(true))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ql.Close() })
	go func() {
		for {
			qc, err := ql.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				for {
					s, err := qc.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go serve(s)
				}
			}()
		}
	}()
	qc, err := quic.DialAddr(testContext(b), ql.Addr().String(), clientTLS(clientCert, ALPN, server.Public()), cfg.quicConfig(false))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { qc.CloseWithError(0, "") })
	return func(ctx context.Context, req []byte) ([]byte, error) {
		s, err := qc.OpenStreamSync(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := s.Write(req); err != nil {
			return nil, err
		}
		s.Close()
		return io.ReadAll(s)
	}
}

// bareEcho answers a stream with what it carried.
func bareEcho(s *quic.Stream) {
	req, err := io.ReadAll(s)
	if err != nil {
		s.CancelWrite(0)
		return
	}
	s.Write(req)
	s.Close()
}

// bareSink reads a stream to its end and answers "ok".
func bareSink(s *quic.Stream) {
	if _, err := io.Copy(io.Discard, s); err != nil {
		s.CancelWrite(0)
		return
	}
	s.Write([]byte("ok"))
	s.Close()
}

// viaTransport starts a Listener with handler h and returns a requester
// over one Conn to it.
func viaTransport(b *testing.B, h RequestFunc) requester {
	server, client := newIdentity(b), newIdentity(b)
	l := listen(b, server, Config{}, h)
	return dialListener(b, l, server, client, Config{}).Request
}

// sink answers every request with "ok".
var sink = RequestFunc(func(context.Context, identity.PublicKey, []byte) ([]byte, error) {
	return []byte("ok"), nil
})

// BenchmarkEcho sends 100-byte requests that come back as they are, one at
// a time ("seq") and from 16 goroutines per CPU on the same connection
// ("parallel"). It reports requests per second and the median and 99th
// percentile latency.
func BenchmarkEcho(b *testing.B) {
	req := make([]byte, 100)
	for _, f := range []struct {
		name  string
		setup func(*testing.B) requester
	}{
		{"quic", func(b *testing.B) requester { return bareQUIC(b, bareEcho) }},
		{"transport", func(b *testing.B) requester { return viaTransport(b, echo) }},
	} {
		b.Run(f.name+"/seq", func(b *testing.B) {
			do := f.setup(b)
			ctx := context.Background()
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				start := time.Now()
				if _, err := do(ctx, req); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportLatency(b, lat)
		})
		b.Run(f.name+"/parallel", func(b *testing.B) {
			do := f.setup(b)
			ctx := context.Background()
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				mine := make([]time.Duration, 0, 1<<12)
				for pb.Next() {
					start := time.Now()
					if _, err := do(ctx, req); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkBulk sends one 64 MiB request on one stream and gets a 2-byte
// answer: raw stream throughput against a whole frame received, checked and
// buffered by a Listener.
func BenchmarkBulk(b *testing.B) {
	const size = 64 << 20
	req := make([]byte, size)
	for _, f := range []struct {
		name  string
		setup func(*testing.B) requester
	}{
		{"quic", func(b *testing.B) requester { return bareQUIC(b, bareSink) }},
		{"transport", func(b *testing.B) requester { return viaTransport(b, sink) }},
	} {
		b.Run(f.name, func(b *testing.B) {
			do := f.setup(b)
			ctx := context.Background()
			b.SetBytes(size)
			for b.Loop() {
				if _, err := do(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandshake dials and closes a connection: QUIC, TLS 1.3 with
// X25519MLKEM768, and two Ed25519 certificates checked.
func BenchmarkHandshake(b *testing.B) {
	server, client := newIdentity(b), newIdentity(b)
	l := listen(b, server, Config{}, echo)
	addr := l.Addr().String()
	cert, err := newCertificate(client.Signer())
	if err != nil {
		b.Fatal(err)
	}
	cfg, _ := Config{}.withDefaults()
	ctx := context.Background()
	for b.Loop() {
		c, err := dial(ctx, addr, cert, ALPN, server.Public(), cfg, false)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conn/s")
}
