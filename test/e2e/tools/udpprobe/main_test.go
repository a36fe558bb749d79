package main

import (
	"net"
	"testing"
	"time"
)

func TestSendThroughEcho(t *testing.T) {
	server, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = echo(server) }()
	defer server.Close()
	client, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	r, err := send(client, server.LocalAddr().(*net.UDPAddr), 200, 100*time.Microsecond, 100, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 200 || r.Received != 200 || r.Lost != 0 || r.Duplicated != 0 || r.Reordered != 0 {
		t.Errorf("over loopback: %+v", r)
	}
	if len(r.SeenAs) != 1 || r.SeenAs[0] != client.LocalAddr().String() {
		t.Errorf("seen as %v, want %v", r.SeenAs, client.LocalAddr())
	}
	if r.RTT == nil || r.RTT.Min <= 0 || r.RTT.Min > r.RTT.P50 || r.RTT.P50 > r.RTT.Max {
		t.Errorf("round trips %+v", r.RTT)
	}
}

func TestCounting(t *testing.T) {
	p := newProbe(5)
	// Echoes of 0, 2, 1 (reordered), 2 again (duplicate), 4; 3 lost.
	for _, seq := range []int{0, 2, 1, 2, 4} {
		p.record(seq, time.Duration(seq+1)*time.Millisecond)
	}
	r := p.result()
	if r.Received != 4 || r.Lost != 1 || r.Duplicated != 1 || r.Reordered != 1 {
		t.Errorf("got %+v", r)
	}
	if r.RTT.Min != 1 || r.RTT.Max != 5 || r.RTT.P50 != 3 {
		t.Errorf("round trips %+v, want min 1, p50 3, max 5", r.RTT)
	}
}

// FuzzParseEcho: parsing never panics, and an echo stamped again with
// what was parsed parses the same.
func FuzzParseEcho(f *testing.F) {
	probe := make([]byte, minSize)
	copy(probe, magic)
	probe[len(magic)+3] = 7
	echoed := append([]byte(nil), probe...)
	stamp(echoed, "10.231.1.1:7000")
	f.Add(probe)
	f.Add(echoed)
	f.Add([]byte("udpprobe"))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		seq, seen, ok := parseEcho(pkt)
		if !ok {
			return
		}
		again := append([]byte(nil), pkt...)
		if !stamp(again, seen) {
			t.Fatalf("parsed %q from %x but can't stamp it back", seen, pkt)
		}
		seq2, seen2, ok := parseEcho(again)
		if !ok || seq2 != seq || seen2 != seen {
			t.Fatalf("%x: %d %q, stamped again: %d %q %v", pkt, seq, seen, seq2, seen2, ok)
		}
	})
}
