package portmap

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The NAT-PMP vectors are go-nat-pmp's, recorded from a router.
func TestNATPMPVectors(t *testing.T) {
	if got, want := natpmpMapRequest(123, 456, 1200), unhex(t, "0001 0000 007b 01c8 000004b0"); !bytes.Equal(got, want) {
		t.Errorf("map request % x, want % x", got, want)
	}
	if got, want := natpmpMapRequest(123, 0, 0), unhex(t, "0001 0000 007b 0000 00000000"); !bytes.Equal(got, want) {
		t.Errorf("delete request % x, want % x", got, want)
	}
	if got, want := natpmpAddressRequest(), unhex(t, "0000"); !bytes.Equal(got, want) {
		t.Errorf("address request % x, want % x", got, want)
	}

	r, err := parseNATPMP(unhex(t, "0081 0000 0013feff 007b 01c8 000004b0"), natpmpOpMapUDP)
	if want := (natpmpReply{op: 1, epoch: 0x13feff, internal: 123, port: 456, lifetime: 1200}); err != nil || r != want {
		t.Errorf("map answer: %+v, %v, want %+v", r, err, want)
	}
	r, err = parseNATPMP(unhex(t, "0080 0000 0013f24f 498c369a"), natpmpOpAddress)
	if want := (natpmpReply{op: 0, epoch: 0x13f24f, external: netip.MustParseAddr("73.140.54.154")}); err != nil || r != want {
		t.Errorf("address answer: %+v, %v, want %+v", r, err, want)
	}
	// An error answer is read no further than its epoch.
	r, err = parseNATPMP(unhex(t, "0081 0002 00000010"), natpmpOpMapUDP)
	if want := (natpmpReply{op: 1, result: 2, epoch: 16}); err != nil || r != want {
		t.Errorf("error answer: %+v, %v, want %+v", r, err, want)
	}
	if !isNATPMPUnsupportedVersion(unhex(t, "0081 0001 00000010")) {
		t.Error("NAT-PMP's unsupported version not recognized")
	}
}

func TestPCPVectors(t *testing.T) {
	m := pcpMapping{
		nonce:    [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		protocol: pcpUDP,
		internal: 7447,
		external: netip.AddrPortFrom(netip.IPv4Unspecified(), 7447),
	}
	want := unhex(t, ""+
		"02 01 0000 00001c20 00000000000000000000ffff c0a80105"+ // version, MAP, 7200 s, 192.168.1.5
		"0102030405060708090a0b0c 11 000000 1d17 1d17"+ // nonce, UDP, 7447 to 7447
		"00000000000000000000ffff 00000000") // IPv4, no preference
	if got := pcpMapRequest(netip.MustParseAddr("192.168.1.5"), 7200, m); !bytes.Equal(got, want) {
		t.Errorf("MAP request\n% x, want\n% x", got, want)
	}

	answer := unhex(t, ""+
		"02 81 00 00 00000e10 00002710 000000000000000000000000"+ // success, 3600 s, epoch 10000
		"0102030405060708090a0b0c 11 000000 1d17 1d18"+
		"00000000000000000000ffff cb007107") // 203.0.113.7
	r, err := parsePCP(answer)
	m.external = netip.AddrPortFrom(netip.AddrFrom16(netip.MustParseAddr("203.0.113.7").As16()), 7448)
	if want := (pcpReply{lifetime: 3600, epoch: 10000, hasMapping: true, mapping: m}); err != nil || r != want {
		t.Errorf("MAP answer: %+v, %v, want %+v", r, err, want)
	}
	// Options after the mapping are framed: code, reserved, length, data
	// padded to 4 bytes.
	withOption := append(append([]byte{}, answer...), unhex(t, "80 00 0005 0102030405 000000")...)
	if _, err := parsePCP(withOption); err != nil {
		t.Errorf("MAP answer with an option: %v", err)
	}
	if !isPCPUnsupportedVersion(unhex(t, "02 80 00 01 00000000 00000000 000000000000000000000000")) {
		t.Error("PCP's unsupported version not recognized")
	}
}

func TestEpochRules(t *testing.T) {
	for _, tc := range []struct {
		rule      epochRule
		elapsed   time.Duration
		prev, cur uint32
		valid     bool
	}{
		{natpmpEpoch, 100 * time.Second, 1000, 1100, true},
		{natpmpEpoch, 100 * time.Second, 1000, 1086, true},  // 7/8 of 100, less 2: 1085.5
		{natpmpEpoch, 100 * time.Second, 1000, 1085, false}, // short by more than 2 s
		{natpmpEpoch, time.Second, 1000, 0, false},          // rebooted
		{natpmpEpoch, time.Second, 1000, 999, true},         // within 2 s
		{natpmpEpoch, time.Hour, 0, 2 * 3600, true},         // a fast clock at the gateway is no loss
		{pcpEpoch, 100 * time.Second, 1000, 1100, true},
		{pcpEpoch, time.Second, 1000, 999, true},  // back by one second is allowed
		{pcpEpoch, time.Second, 1000, 998, false}, // but not by two
		{pcpEpoch, 100 * time.Second, 1000, 1000 + 100 - 100/16 - 2, true},
		{pcpEpoch, 100 * time.Second, 1000, 1000 + 100 - 100/16 - 3, false},
		{pcpEpoch, 100 * time.Second, 1000, 1000 + 108, true}, // 108 - 108/16 = 102: 2 s and a sixteenth ahead
		{pcpEpoch, 100 * time.Second, 1000, 1000 + 109, false},
		{pcpEpoch, 100 * time.Second, 1000, 1000 + 200, false}, // ran much faster than this clock
	} {
		if got := tc.rule.valid(tc.elapsed, tc.prev, tc.cur); got != tc.valid {
			t.Errorf("rule %d: %d then %d after %v: valid %v, want %v", tc.rule, tc.prev, tc.cur, tc.elapsed, got, tc.valid)
		}
	}

	var c epochClock
	now := time.Now()
	if c.observe(natpmpEpoch, 5000, now) {
		t.Error("the first answer counted as a loss")
	}
	if c.observe(natpmpEpoch, 5060, now.Add(time.Minute)) {
		t.Error("a steady epoch counted as a loss")
	}
	if !c.observe(natpmpEpoch, 3, now.Add(2*time.Minute)) {
		t.Error("an epoch gone back did not count as a loss")
	}
}

// routeTable writes /proc/net/route with a line for each route: its
// destination, gateway, flags, metric and mask.
func routeTable(routes ...[5]string) []byte {
	var b strings.Builder
	b.WriteString("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT \n")
	for _, r := range routes {
		fmt.Fprintf(&b, "eth0\t%s\t%s\t%s\t0\t0\t%s\t%s\t0\t0\t0\n", r[0], r[1], r[2], r[3], r[4])
	}
	return []byte(b.String())
}

// procHex writes a as /proc/net/route does.
func procHex(a string) string {
	b := netip.MustParseAddr(a).As4()
	return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(b[:]))
}

func TestParseRoutes(t *testing.T) {
	zero := "00000000"
	for _, tc := range []struct {
		name   string
		table  []byte
		want   string // "" for ErrNoGateway
		errMsg string
	}{
		{"one default route", routeTable(
			[5]string{procHex("192.168.2.0"), zero, "0001", "100", procHex("255.255.255.0")},
			[5]string{zero, procHex("192.168.2.1"), "0003", "100", zero},
		), "192.168.2.1", ""},
		{"the lowest metric wins", routeTable(
			[5]string{zero, procHex("10.0.0.1"), "0003", "600", zero},
			[5]string{zero, procHex("192.168.2.1"), "0003", "100", zero},
			[5]string{zero, procHex("172.16.0.1"), "0003", "100", zero},
		), "192.168.2.1", ""},
		{"a route that is down", routeTable(
			[5]string{zero, procHex("192.168.2.1"), "0002", "100", zero},
		), "", "no default IPv4 route through a gateway"},
		{"a default route through no gateway", routeTable(
			[5]string{zero, zero, "0001", "0", zero},
		), "", "no default IPv4 route through a gateway"},
		{"no default route", routeTable(
			[5]string{procHex("192.168.2.0"), zero, "0001", "100", procHex("255.255.255.0")},
		), "", "no default IPv4 route through a gateway"},
		{"garbage", routeTable(
			[5]string{zero, "zzzzzzzz", "0003", "100", zero},
			[5]string{zero, procHex("192.168.2.1"), "0003", "-1", zero},
		), "", "no default IPv4 route through a gateway"},
		{"empty", nil, "", "the route table is empty"},
		{"no header", []byte("eth0 00000000 0102A8C0 0003 0 0 100 00000000 0 0 0\n"), "", `the route table has no column "Destination"`},
	} {
		got, err := parseRoutes(tc.table)
		switch {
		case tc.want != "" && (err != nil || got != netip.MustParseAddr(tc.want)):
			t.Errorf("%s: %v, %v, want %s", tc.name, got, err, tc.want)
		case tc.want == "" && (!errors.Is(err, ErrNoGateway) || !strings.Contains(err.Error(), tc.errMsg)):
			t.Errorf("%s: %v, %v, want ErrNoGateway: %s", tc.name, got, err, tc.errMsg)
		}
	}
}
