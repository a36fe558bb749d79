package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"smvs/lib/portmap"
)

// fakeFirewall records the mappings the server makes real.
type fakeFirewall struct {
	mu   sync.Mutex
	live map[uint16]netip.AddrPort // external port → client
	fail bool
}

func (f *fakeFirewall) add(m *mapping) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("iptables failed")
	}
	if _, ok := f.live[m.external]; ok {
		return errors.New("rule added twice")
	}
	f.live[m.external] = m.client
	return nil
}

func (f *fakeFirewall) remove(m *mapping) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, m.external)
	return nil
}

func (f *fakeFirewall) rules() map[uint16]netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.live)
}

var (
	public = netip.MustParseAddr("10.231.1.1")
	bob    = netip.MustParseAddrPort("10.231.2.2:40000")
	carol  = netip.MustParseAddrPort("10.231.2.3:40000")
)

func newTestServer(pcp bool) (*server, *fakeFirewall, *bytes.Buffer) {
	fw := &fakeFirewall{live: map[uint16]netip.AddrPort{}}
	var out bytes.Buffer
	s := newServer(public, fw, &out)
	s.pcp = pcp
	s.maxLifetime = 60
	return s, fw, &out
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func natpmpMap(internal, suggest uint16, lifetime uint32) []byte {
	b := []byte{0, 1, 0, 0}
	b = binary.BigEndian.AppendUint16(b, internal)
	b = binary.BigEndian.AppendUint16(b, suggest)
	return binary.BigEndian.AppendUint32(b, lifetime)
}

func pcpMap(client netip.Addr, nonce byte, protocol byte, internal, suggest uint16, lifetime uint32) []byte {
	b := make([]byte, 60)
	b[0], b[1] = 2, 1
	binary.BigEndian.PutUint32(b[4:], lifetime)
	c := client.As16()
	copy(b[8:], c[:])
	b[24] = nonce
	b[36] = protocol
	binary.BigEndian.PutUint16(b[40:], internal)
	binary.BigEndian.PutUint16(b[42:], suggest)
	z := netip.IPv4Unspecified().As16()
	copy(b[44:], z[:])
	return b
}

func TestNATPMP(t *testing.T) {
	s, fw, out := newTestServer(false)
	now := s.epoch.Add(10 * time.Second)

	if got, want := s.handle([]byte{0, 0}, bob, now), unhex(t, "0080 0000 0000000a 0ae70101"); !bytes.Equal(got, want) {
		t.Errorf("address answer % x, want % x", got, want)
	}
	// Mapped from the port asked for, for at most 60 s.
	if got, want := s.handle(natpmpMap(7000, 7000, 3600), bob, now), unhex(t, "0081 0000 0000000a 1b58 1b58 0000003c"); !bytes.Equal(got, want) {
		t.Errorf("map answer % x, want % x", got, want)
	}
	// Carol's port 7000 gets external port 7001.
	if got, want := s.handle(natpmpMap(7000, 0, 30), carol, now), unhex(t, "0081 0000 0000000a 1b58 1b59 0000001e"); !bytes.Equal(got, want) {
		t.Errorf("carol's map answer % x, want % x", got, want)
	}
	// A renewal keeps the port and adds no rule.
	if got, want := s.handle(natpmpMap(7000, 7000, 3600), bob, now.Add(time.Second)), unhex(t, "0081 0000 0000000b 1b58 1b58 0000003c"); !bytes.Equal(got, want) {
		t.Errorf("renewal answer % x, want % x", got, want)
	}
	want := map[uint16]netip.AddrPort{7000: netip.AddrPortFrom(bob.Addr(), 7000), 7001: netip.AddrPortFrom(carol.Addr(), 7000)}
	if got := fw.rules(); !maps.Equal(got, want) {
		t.Errorf("rules %v, want %v", got, want)
	}
	// Deleted by bob; carol's expires.
	if got, want := s.handle(natpmpMap(7000, 0, 0), bob, now.Add(2*time.Second)), unhex(t, "0081 0000 0000000c 1b58 0000 00000000"); !bytes.Equal(got, want) {
		t.Errorf("delete answer % x, want % x", got, want)
	}
	s.expire(now.Add(29 * time.Second))
	if got := len(fw.rules()); got != 1 {
		t.Errorf("%d rules before carol's mapping expired, want 1", got)
	}
	s.expire(now.Add(30 * time.Second))
	if got := fw.rules(); len(got) != 0 {
		t.Errorf("rules %v left", got)
	}
	wantOut := "natpmpd: map 10.231.1.1:7000 to 10.231.2.2:7000 for 60s by NAT-PMP\n" +
		"natpmpd: map 10.231.1.1:7001 to 10.231.2.3:7000 for 30s by NAT-PMP\n" +
		"natpmpd: renew 10.231.1.1:7000 for 60s by NAT-PMP\n" +
		"natpmpd: unmap 10.231.1.1:7000 (deleted)\n" +
		"natpmpd: unmap 10.231.1.1:7001 (expired)\n"
	if out.String() != wantOut {
		t.Errorf("output:\n%s\nwant:\n%s", out, wantOut)
	}

	for _, tc := range []struct {
		name, req, want string
	}{
		{"TCP", "0002 0000 1b58 1b58 00000e10", "0082 0005 0000000a"},
		{"PCP", hex.EncodeToString(pcpMap(bob.Addr(), 1, 17, 7000, 7000, 60)), "0081 0001 0000000a"},
		{"version 1", "0100", "0080 0001 0000000a"},
		{"an answer", "0080 0000 0000000a 0ae70101", ""},
		{"short", "00", ""},
		{"a short map request", "0001 0000 1b58", ""},
	} {
		if got, want := s.handle(unhex(t, tc.req), bob, now), unhex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("%s: % x, want % x", tc.name, got, want)
		}
	}
}

func TestRestartForgetsEverything(t *testing.T) {
	s, fw, _ := newTestServer(false)
	s.handle(natpmpMap(7000, 7000, 60), bob, time.Now())
	s.restart()
	if got := fw.rules(); len(got) != 0 {
		t.Errorf("rules %v after a restart", got)
	}
	if got := s.handle([]byte{0, 0}, bob, time.Now()); binary.BigEndian.Uint32(got[4:]) != 0 {
		t.Errorf("epoch %d after a restart", binary.BigEndian.Uint32(got[4:]))
	}
}

func TestAFirewallThatFails(t *testing.T) {
	s, fw, _ := newTestServer(true)
	fw.fail = true
	if got, want := s.handle(natpmpMap(7000, 7000, 60), bob, s.epoch), unhex(t, "0081 0003 00000000 1b58 0000 00000000"); !bytes.Equal(got, want) {
		t.Errorf("NAT-PMP: % x, want % x", got, want)
	}
	if got := s.handle(pcpMap(bob.Addr(), 1, 17, 7000, 7000, 60), bob, s.epoch); got[3] != 7 {
		t.Errorf("PCP: result %d, want 7 (network failure)", got[3])
	}
}

func TestPCP(t *testing.T) {
	s, fw, _ := newTestServer(true)
	now := s.epoch.Add(10 * time.Second)
	got := s.handle(pcpMap(bob.Addr(), 1, 17, 7000, 7000, 3600), bob, now)
	want := unhex(t, ""+
		"02 81 00 00 0000003c 0000000a 000000000000000000000000"+
		"010000000000000000000000 11 000000 1b58 1b58"+
		"00000000000000000000ffff 0ae70101")
	if !bytes.Equal(got, want) {
		t.Errorf("MAP answer\n% x, want\n% x", got, want)
	}
	for _, tc := range []struct {
		name   string
		req    []byte
		result byte
	}{
		{"another nonce", pcpMap(bob.Addr(), 2, 17, 7000, 7000, 60), 2},
		{"another client address", pcpMap(carol.Addr(), 1, 17, 7001, 7001, 60), 12},
		{"TCP", pcpMap(bob.Addr(), 1, 6, 7001, 7001, 60), 9},
		{"all ports", pcpMap(bob.Addr(), 1, 17, 0, 0, 60), 3},
		{"an option", append(pcpMap(bob.Addr(), 1, 17, 7001, 7001, 60), 0x80, 0, 0, 0), 5},
		{"ANNOUNCE", append([]byte{2, 0}, make([]byte, 22)...), 4},
		{"short", append([]byte{2, 1}, make([]byte, 26)...), 3},
	} {
		got := s.handle(tc.req, bob, now)
		if len(got) < 24 || got[0] != 2 || got[1] != 0x80|tc.req[1] || got[3] != tc.result {
			t.Errorf("%s: % x, want result %d", tc.name, got, tc.result)
		}
	}
	// Deleted with its nonce.
	got = s.handle(pcpMap(bob.Addr(), 1, 17, 7000, 0, 0), bob, now)
	if len(got) != 60 || got[3] != 0 || binary.BigEndian.Uint32(got[4:]) != 0 {
		t.Errorf("delete answer % x", got)
	}
	if got := fw.rules(); len(got) != 0 {
		t.Errorf("rules %v left", got)
	}
}

// TestWithTheClient maps a port with lib/portmap through natpmpd on
// loopback, in each protocol: skipped if the port of NAT-PMP and PCP is
// taken there.
func TestWithTheClient(t *testing.T) {
	for _, withPCP := range []bool{false, true} {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5351})
		if err != nil {
			t.Skipf("port 5351 of loopback is taken: %v", err)
		}
		s, fw, _ := newTestServer(withPCP)
		s.public = netip.MustParseAddr("203.0.113.7")
		done := make(chan error, 1)
		go func() { done <- serve(conn, s, netip.MustParsePrefix("127.0.0.0/8")) }()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := portmap.Map(ctx, portmap.Options{Port: 7447, Gateway: netip.MustParseAddr("127.0.0.1")})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.Protocol(), map[bool]string{false: "NAT-PMP", true: "PCP"}[withPCP]; got != want {
			t.Errorf("protocol %s, want %s", got, want)
		}
		if got, want := m.Public(), netip.MustParseAddrPort("203.0.113.7:7447"); got != want {
			t.Errorf("public %v, want %v", got, want)
		}
		if got := slices.Collect(maps.Keys(fw.rules())); !slices.Equal(got, []uint16{7447}) {
			t.Errorf("rules for ports %v, want 7447", got)
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		if got := fw.rules(); len(got) != 0 {
			t.Errorf("rules %v after Close", got)
		}
		conn.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
