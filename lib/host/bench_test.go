package host

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"smvs/lib/agent"
	"smvs/lib/hostapi"
	"smvs/lib/transport"
	"smvs/lib/wire"
)

// BenchmarkDeliver measures durable 100-byte messages a second from
// devices of alice's host to a follower on bob's host, end to end (submit,
// seal, store, deliver over QUIC, open, store, push to the device), and the
// latency from a submit's start to the follower seeing the message; with
// one device submitting (latency) and 32 at once (throughput). Both hosts
// run in this process, on the same cores.
//
//	go test -run '^$' -bench Deliver -benchtime 5000x ./lib/host
func BenchmarkDeliver(b *testing.B) {
	for _, senders := range []int{1, 32} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) { benchDeliver(b, senders, false) })
	}
	// Both hosts with their keys in an smvs-agent of their own, over its
	// unix socket: every signature and every opened envelope is a round
	// trip to the agent.
	b.Run("senders=32/agent", func(b *testing.B) { benchDeliver(b, 32, true) })
}

// useAgent gives u's keys to an agent served on a socket of its own, and
// makes the host use them through the agent's client.
func useAgent(b *testing.B, u *user) {
	srv, err := agent.NewServer(agent.Config{Identity: u.id})
	if err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "smvs-agent")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "agent.sock")
	l, err := agent.Listen(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, l) }()
	client, err := agent.Dial(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close(); cancel(); l.Close(); <-done; os.RemoveAll(dir) })
	u.cfg.Keys = client
}

func benchDeliver(b *testing.B, senders int, withAgent bool) {
	alice := newUser(b, "alice")
	alice.cfg.Log = nil
	bob := newUser(b, "bob")
	bob.cfg.Log = nil
	if withAgent {
		useAgent(b, alice)
		useAgent(b, bob)
	}
	alice.start()
	bob.start()
	alice.addContact(contactOf(bob, "bob"))
	bob.addContact(contactOf(alice, "alice"))

	follow := bob.device()
	if err := hostapi.WriteRequest(follow.c, &hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{Follow: true}}); err != nil {
		b.Fatal(err)
	}
	if r, err := follow.read(); err != nil || r.Event.Kind != hostapi.EventLive {
		b.Fatalf("follow: %+v, %v", r, err)
	}

	body := bytes.Repeat([]byte("x"), 100)
	var mu sync.Mutex
	started := make(map[string]time.Time, b.N)
	var latencies []time.Duration
	seen := make(chan struct{})
	go func() {
		defer close(seen)
		for n := 0; n < b.N; {
			r, err := follow.read()
			if err != nil {
				return
			}
			if r.Event.Kind != hostapi.EventMessage {
				continue
			}
			mu.Lock()
			latencies = append(latencies, time.Since(started[string(r.Event.Item.Body)]))
			mu.Unlock()
			n++
		}
	}()

	b.ResetTimer()
	cpu0 := cpuTime(b)
	var wg sync.WaitGroup
	per := (b.N + senders - 1) / senders
	for s := range senders {
		d := alice.device()
		wg.Go(func() {
			for i := s * per; i < min(b.N, (s+1)*per); i++ {
				msg := bytes.Clone(body)
				copy(msg, []byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)})
				mu.Lock()
				started[string(msg)] = time.Now()
				mu.Unlock()
				if _, err := d.do(&hostapi.Request{Op: hostapi.OpSubmit, Submit: &hostapi.Submit{To: "bob", Kind: wire.KindText, Body: msg}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-seen:
	case <-time.After(2 * time.Minute):
		b.Fatal("the follower did not see every message")
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// The CPU both hosts and their devices spent on each message: what
	// bounds the rate on a machine this busy, and steadier than it when
	// others share the machine.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/msg")
	slices.Sort(latencies)
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkDeliverLarge measures one 64 MiB message from a device of
// alice's host, streamed, until bob's follower sees it, end to end.
//
//	go test -run '^$' -bench DeliverLarge -benchtime 3x ./lib/host
func BenchmarkDeliverLarge(b *testing.B) {
	const size = 64 << 20
	alice := newUser(b, "alice")
	alice.cfg.Log = nil
	alice.cfg.MaxMessage = size
	alice.start()
	bob := newUser(b, "bob")
	bob.cfg.Log = nil
	bob.cfg.MaxMessage = size
	bob.start()
	alice.addContact(contactOf(bob, "bob"))
	bob.addContact(contactOf(alice, "alice"))

	follow := bob.device()
	if err := hostapi.WriteRequest(follow.c, &hostapi.Request{Op: hostapi.OpList, List: &hostapi.List{Follow: true}}); err != nil {
		b.Fatal(err)
	}
	if r, err := follow.read(); err != nil || r.Event.Kind != hostapi.EventLive {
		b.Fatalf("follow: %+v, %v", r, err)
	}
	send, err := hostapi.Dial(context.Background(), alice.cfg.Socket)
	if err != nil {
		b.Fatal(err)
	}
	defer send.Close()
	body := bytes.Repeat([]byte("x"), size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		body[0] = byte(i)
		if _, err := send.SubmitStream(context.Background(), &hostapi.Submit{To: "bob", Kind: wire.KindFile, FileName: "big"},
			bytes.NewReader(body), nil); err != nil {
			b.Fatal(err)
		}
		for {
			r, err := follow.read()
			if err != nil {
				b.Fatal(err)
			}
			if r.Event.Kind == hostapi.EventMessage && r.Event.Item.Size == size {
				break
			}
		}
	}
}

// BenchmarkFanout measures the cost of the user's devices: the latency
// from a message's arrival at alice's host (a peer's deliver request
// starting) to its output on every one of 0, 1, 4 and 16 remote devices
// following over QUIC. With 0 devices it is the deliver round trip alone
// (stored and answered), the floor the others are beside.
//
//	go test -run '^$' -bench Fanout -benchtime 200x ./lib/host
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{0, 1, 4, 16} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, devices int) {
	alice := newUser(b, "alice")
	alice.cfg.Log = nil
	alice.start()
	p := newPeer(b)
	conn := p.conn(alice, transport.Config{})

	seen := make(chan time.Time, devices*64)
	for range devices {
		key := newDeviceKey(b)
		if _, err := alice.owner().Devices(testCtx(b), &hostapi.DevicesRequest{Action: hostapi.DevicesAdd, Key: key.Public().Bytes()}); err != nil {
			b.Fatal(err)
		}
		stream, err := alice.remote(key).List(context.Background(), &hostapi.List{Follow: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { stream.Close() })
		if ev, err := stream.Next(); err != nil || ev.Kind != hostapi.EventLive {
			b.Fatalf("follow: %+v, %v", ev, err)
		}
		go func() {
			for {
				ev, err := stream.Next()
				if err != nil {
					return
				}
				if ev.Kind == hostapi.EventMessage {
					seen <- time.Now()
				}
			}
		}()
	}

	var first, last []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		env := p.seal(alice, fmt.Sprintf("message %d", i), time.Now())
		b.StartTimer()
		start := time.Now()
		if r := p.deliver(conn, env); r.Status != wire.StatusStored {
			b.Fatalf("deliver: %+v", r)
		}
		end := time.Now()
		var f time.Time
		for d := range devices {
			select {
			case t := <-seen:
				if d == 0 {
					f = t
				}
				end = t
			case <-time.After(waitFor):
				b.Fatalf("device output %d of %d never came", d+1, devices)
			}
		}
		if devices == 0 {
			f = end
		}
		first, last = append(first, f.Sub(start)), append(last, end.Sub(start))
	}
	b.StopTimer()
	slices.Sort(first)
	slices.Sort(last)
	b.ReportMetric(float64(first[len(first)/2].Microseconds())/1000, "first-p50-ms")
	b.ReportMetric(float64(last[len(last)/2].Microseconds())/1000, "all-p50-ms")
	b.ReportMetric(float64(last[len(last)*99/100].Microseconds())/1000, "all-p99-ms")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
