// Command udpprobe measures a UDP path for the end-to-end tests' network
// lab (test/e2e/netlab.bats). It is a test tool, never installed.
//
//	udpprobe echo --listen ADDR
//	udpprobe send --to ADDR [--count N] [--rate PER_SECOND] [--size BYTES] [--linger DURATION]
//
// echo answers every probe datagram with a copy that also carries the
// address the probe came from, as the echo saw it (behind a NAT, the
// NAT's); it prints "udpprobe: echoing on ADDR" when ready and runs until
// SIGTERM. send sends --count numbered datagrams at --rate a second, waits
// for the echoes up to --linger after the last one is sent, and prints one
// JSON object: sent, received (distinct probes echoed), lost, duplicated
// (extra copies), reordered (echoes that came after a later-numbered one),
// the round-trip times in milliseconds (min, p50, p90, p99, max; absent
// when nothing came back) and seen_as, the addresses the echo saw.
//
// Exit status: 0 when the probe ran, whatever it measured; 1 on an error;
// 2 on a usage error.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// A probe is magic, then its number (4 bytes), then in an echo the length
// of the address the echo saw (1 byte) and that address as text, then
// padding to --size.
var magic = []byte("udpprobe")

const headerSize = 8 + 4

// minSize leaves room for the longest address an echo may write.
const minSize = headerSize + 1 + len("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%interface]:65535")

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: udpprobe echo --listen ADDR | send --to ADDR [--count N] [--rate N] [--size N] [--linger D]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "echo":
		err = runEcho(os.Args[2:])
	case "send":
		err = runSend(os.Args[2:])
	default:
		err = usageError{fmt.Errorf("unknown mode %q: want echo or send", os.Args[1])}
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "udpprobe: error: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "udpprobe: error: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func runEcho(args []string) error {
	fs := flag.NewFlagSet("udpprobe echo", flag.ContinueOnError)
	listen := fs.String("listen", "", "answer probes on `ADDR` (host:port)")
	if err := parse(fs, args); err != nil {
		return err
	}
	conn, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		conn.Close()
	}()
	fmt.Printf("udpprobe: echoing on %s\n", conn.LocalAddr())
	return echo(conn)
}

// echo answers probes on conn until it is closed.
func echo(conn net.PacketConn) error {
	buf := make([]byte, 1<<16)
	for {
		n, from, err := conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		if !stamp(buf[:n], from.String()) {
			continue // not a probe
		}
		_, _ = conn.WriteTo(buf[:n], from) // a lost echo is counted by the sender
	}
}

// stamp writes into probe pkt the address seen it came from, making it an
// echo; it reports false if pkt is not a probe or seen doesn't fit.
func stamp(pkt []byte, seen string) bool {
	if len(pkt) < minSize || !slices.Equal(pkt[:len(magic)], magic) || len(seen) > len(pkt)-headerSize-1 || len(seen) > 255 {
		return false
	}
	pkt[headerSize] = byte(len(seen))
	copy(pkt[headerSize+1:], seen)
	return true
}

// parseEcho returns the number of the probe pkt echoes and the address
// the echo saw it come from; ok is false if pkt is no echo.
func parseEcho(pkt []byte) (seq uint32, seen string, ok bool) {
	if len(pkt) < minSize || !slices.Equal(pkt[:len(magic)], magic) {
		return 0, "", false
	}
	n := int(pkt[headerSize])
	if n == 0 || headerSize+1+n > len(pkt) {
		return 0, "", false
	}
	return binary.BigEndian.Uint32(pkt[len(magic):]), string(pkt[headerSize+1 : headerSize+1+n]), true
}

// result is what send prints.
type result struct {
	Sent       int       `json:"sent"`
	Received   int       `json:"received"`
	Lost       int       `json:"lost"`
	Duplicated int       `json:"duplicated"`
	Reordered  int       `json:"reordered"`
	RTT        *rttStats `json:"rtt_ms,omitempty"`
	SeenAs     []string  `json:"seen_as"`
}

type rttStats struct {
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func runSend(args []string) error {
	fs := flag.NewFlagSet("udpprobe send", flag.ContinueOnError)
	to := fs.String("to", "", "the echo's `ADDR` (host:port)")
	count := fs.Int("count", 1000, "how many probes to send")
	rate := fs.Float64("rate", 1000, "probes a second")
	size := fs.Int("size", 100, "bytes of each probe")
	linger := fs.Duration("linger", time.Second, "how long to wait for echoes after the last probe is sent")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *to == "":
		return usageError{errors.New("--to is required")}
	case *count < 1 || *rate <= 0 || *linger < 0:
		return usageError{errors.New("--count and --rate must be above 0, --linger not below")}
	case *size < minSize || *size > 65000:
		return usageError{fmt.Errorf("--size must be from %d to 65000", minSize)}
	}
	dest, err := net.ResolveUDPAddr("udp", *to)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return err
	}
	defer conn.Close()

	r, err := send(conn, dest, *count, time.Duration(float64(time.Second) / *rate), *size, *linger)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(r)
	fmt.Printf("%s\n", out)
	return nil
}

// send sends count probes of size bytes to dest on conn, one every
// interval, and waits for their echoes up to linger after the last.
func send(conn *net.UDPConn, dest *net.UDPAddr, count int, interval time.Duration, size int, linger time.Duration) (result, error) {
	p := newProbe(count)
	done := make(chan error, 1)
	go func() { done <- p.receive(conn, dest) }()

	pkt := make([]byte, size)
	copy(pkt, magic)
	for i := range count {
		time.Sleep(time.Until(p.start.Add(time.Duration(i) * interval)))
		binary.BigEndian.PutUint32(pkt[len(magic):], uint32(i))
		p.sent[i].Store(int64(time.Since(p.start)))
		if _, err := conn.WriteToUDP(pkt, dest); err != nil {
			return result{}, fmt.Errorf("send probe %d: %w", i, err)
		}
	}
	// The receiver stops by itself once every probe is back.
	_ = conn.SetReadDeadline(time.Now().Add(linger))
	if err := <-done; err != nil {
		return result{}, err
	}
	return p.result(), nil
}

// probe is what the sender knows of its probes.
type probe struct {
	start      time.Time
	sent       []atomic.Int64  // when each probe went out, since start; 0 before
	rtts       []time.Duration // by probe number; 0 until echoed
	received   int
	duplicated int
	reordered  int
	highest    int
	seenAs     map[string]bool
}

func newProbe(count int) *probe {
	return &probe{
		start:   time.Now(),
		sent:    make([]atomic.Int64, count),
		rtts:    make([]time.Duration, count),
		highest: -1,
		seenAs:  map[string]bool{},
	}
}

// receive counts echoes from dest until all are back or the read deadline
// passes.
func (p *probe) receive(conn *net.UDPConn, dest *net.UDPAddr) error {
	buf := make([]byte, 1<<16)
	for p.received < len(p.rtts) {
		n, from, err := conn.ReadFromUDP(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return err
		}
		now := time.Since(p.start)
		if !from.IP.Equal(dest.IP) || from.Port != dest.Port {
			continue
		}
		seq, seen, ok := parseEcho(buf[:n])
		if !ok || int(seq) >= len(p.rtts) || p.sent[seq].Load() == 0 {
			continue
		}
		p.seenAs[seen] = true
		p.record(int(seq), now-time.Duration(p.sent[seq].Load()))
	}
	return nil
}

// record counts the echo of probe seq, back after rtt.
func (p *probe) record(seq int, rtt time.Duration) {
	if p.rtts[seq] != 0 {
		p.duplicated++
		return
	}
	p.rtts[seq] = max(rtt, time.Nanosecond)
	p.received++
	if seq < p.highest {
		p.reordered++
	}
	p.highest = max(p.highest, seq)
}

func (p *probe) result() result {
	r := result{
		Sent:       len(p.rtts),
		Received:   p.received,
		Lost:       len(p.rtts) - p.received,
		Duplicated: p.duplicated,
		Reordered:  p.reordered,
		SeenAs:     []string{},
	}
	for a := range p.seenAs {
		r.SeenAs = append(r.SeenAs, a)
	}
	slices.Sort(r.SeenAs)
	var rtts []time.Duration
	for _, d := range p.rtts {
		if d != 0 {
			rtts = append(rtts, d)
		}
	}
	if len(rtts) == 0 {
		return r
	}
	slices.Sort(rtts)
	ms := func(q float64) float64 {
		d := rtts[min(int(q*float64(len(rtts))), len(rtts)-1)]
		return float64(d.Microseconds()) / 1000
	}
	r.RTT = &rttStats{Min: ms(0), P50: ms(0.5), P90: ms(0.9), P99: ms(0.99), Max: ms(1)}
	return r
}
