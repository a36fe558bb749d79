package server_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smvs/lib/directory"
	"smvs/lib/directory/pgstore"
	"smvs/lib/directory/pgtest"
	"smvs/lib/directory/server"
	"smvs/lib/directory/sqlitestore"
	"smvs/lib/identity"
	"smvs/lib/tlspin"
	"smvs/lib/wire"
)

// benchNames is how many records the benchmark directory holds.
const benchNames = 1000

var benchRecords = sync.OnceValue(func() [][]byte {
	now := time.Now()
	out := make([][]byte, benchNames)
	for i := range out {
		id, err := identity.Generate(identity.KindIdentity, now)
		if err != nil {
			panic(err)
		}
		kem, err := id.CurrentKEM(now)
		if err != nil {
			panic(err)
		}
		out[i], err = wire.SignRecord(id.Signer(), &wire.Record{
			Name: benchName(i), Identity: id.Public().Bytes(), KEM: kem.Public(), Host: "127.0.0.1:7447",
			Seq: 1, Issued: now.UnixMilli(), Expires: now.Add(24 * time.Hour).UnixMilli(),
		})
		if err != nil {
			panic(err)
		}
	}
	return out
})

func benchName(i int) string { return fmt.Sprintf("user%04d", i) }

// BenchmarkLookup measures look-ups by name over HTTPS (keep-alive, pinned
// self-signed certificate) at 1, 16 and 64 concurrent clients, against the
// SQLite and PostgreSQL stores, beside the floor: the same HTTPS server
// answering a fixed body of the same size without touching any store.
func BenchmarkLookup(b *testing.B) {
	backends := []struct {
		name    string
		handler func(b *testing.B) http.Handler
	}{
		{"floor", floorHandler},
		{"sqlite", func(b *testing.B) http.Handler {
			s, err := sqlitestore.Open(b.TempDir() + "/directory.db")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return filled(b, s)
		}},
		{"postgres", func(b *testing.B) http.Handler {
			s, err := pgstore.Open(b.Context(), pgtest.Start(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return filled(b, s)
		}},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			url, client := serveTLS(b, be.handler(b))
			for _, clients := range []int{1, 16, 64} {
				b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
					lookups(b, url, client, clients)
				})
			}
		})
	}
}

func filled(b *testing.B, s directory.Store) http.Handler {
	d := &directory.Directory{Store: s}
	for _, r := range benchRecords() {
		if _, err := d.Publish(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
	return server.New(d, server.Options{})
}

// floorHandler answers every look-up with a fixed body the size of a real
// answer, through the same JSON encoding, and touches no store.
func floorHandler(*testing.B) http.Handler {
	body := []byte(`{"record":"` + string(make([]byte, 4*(len(benchRecords()[0])+2)/3)) + `"}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

func serveTLS(b *testing.B, h http.Handler) (string, *http.Client) {
	certPEM, keyPEM, err := tlspin.NewSelfSigned()
	if err != nil {
		b.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	b.Cleanup(srv.Close)
	cfg, err := tlspin.ClientConfig(tlspin.Pin(srv.Certificate()))
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	return srv.URL, client
}

// lookups runs b.N look-ups of random names from clients goroutines and
// reports look-ups a second and the p50 and p99 latency.
func lookups(b *testing.B, url string, client *http.Client, clients int) {
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				start := time.Now()
				resp, err := client.Get(url + "/v1/records/name/" + benchName(rand.IntN(benchNames)))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				latencies[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}
