package portmap

import (
	"bytes"
	"net/http"
	"net/netip"
	"testing"
)

// FuzzParseNATPMP checks that what parseNATPMP takes, it reads back the
// same once written again, and that a successful answer is written back
// byte for byte.
func FuzzParseNATPMP(f *testing.F) {
	f.Add([]byte{0, 0x81, 0, 0, 0, 0x13, 0xfe, 0xff, 0, 0x7b, 1, 0xc8, 0, 0, 4, 0xb0}, byte(natpmpOpMapUDP))
	f.Add([]byte{0, 0x80, 0, 0, 0, 0x13, 0xf2, 0x4f, 0x49, 0x8c, 0x36, 0x9a}, byte(natpmpOpAddress))
	f.Add([]byte{0, 0x81, 0, 2, 0, 0, 0, 16}, byte(natpmpOpMapUDP))
	f.Add([]byte{0, 0x81, 0, 3, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0}, byte(natpmpOpMapUDP))
	f.Add([]byte{2, 0x81, 0, 1}, byte(natpmpOpMapUDP))
	f.Fuzz(func(t *testing.T, b []byte, op byte) {
		r, err := parseNATPMP(b, op)
		if err != nil {
			return
		}
		out := marshalNATPMP(r)
		again, err := parseNATPMP(out, op)
		if err != nil || again != r {
			t.Fatalf("% x read as %+v, written as % x, read again as %+v, %v", b, r, out, again, err)
		}
		if r.result == 0 && !bytes.Equal(out, b) {
			t.Fatalf("% x read as %+v, written back as % x", b, r, out)
		}
		if r.result == 0 && op == natpmpOpAddress && !r.external.Is4() {
			t.Fatalf("% x gave the external address %v", b, r.external)
		}
	})
}

// FuzzParsePCP checks that what parsePCP takes, it reads back the same
// once written again.
func FuzzParsePCP(f *testing.F) {
	answer := marshalPCP(pcpReply{lifetime: 3600, epoch: 10000, hasMapping: true, mapping: pcpMapping{
		nonce: [12]byte{1, 2, 3}, protocol: pcpUDP, internal: 7447,
		external: netip.AddrPortFrom(netip.AddrFrom16(netip.MustParseAddr("203.0.113.7").As16()), 7448),
	}}, pcpOpMap)
	f.Add(answer)
	f.Add(append(append([]byte{}, answer...), 0x80, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0))
	f.Add(append(append([]byte{}, answer...), 0x80, 0, 0, 9, 1, 2, 3, 4))
	f.Add(marshalPCP(pcpReply{result: 2, epoch: 7}, pcpOpMap))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parsePCP(b)
		if err != nil {
			return
		}
		if len(b) < pcpHeaderSize || len(b) > pcpMaxSize || len(b)%4 != 0 {
			t.Fatalf("took an answer of %d bytes", len(b))
		}
		out := marshalPCP(r, pcpOpMap)
		again, err := parsePCP(out)
		if err != nil || again != r {
			t.Fatalf("% x read as %+v, written as % x, read again as %+v, %v", b, r, out, again, err)
		}
		if r.hasMapping && !bytes.Equal(out[pcpHeaderSize:pcpHeaderSize+12], b[pcpHeaderSize:pcpHeaderSize+12]) {
			t.Fatalf("the nonce of % x read as %x", b, r.mapping.nonce)
		}
	})
}

// FuzzParseRoutes checks that parseRoutes returns only an IPv4 address
// some default route goes through, which a table of that route alone
// gives again.
func FuzzParseRoutes(f *testing.F) {
	zero := "00000000"
	f.Add(routeTable([5]string{zero, procHex("192.168.2.1"), "0003", "100", zero}))
	f.Add(routeTable(
		[5]string{zero, procHex("10.0.0.1"), "0003", "600", zero},
		[5]string{procHex("10.0.0.0"), zero, "0001", "0", procHex("255.0.0.0")},
	))
	f.Add([]byte("Destination Gateway Flags Metric Mask\n00000000 01020304 3 0 00000000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		gw, err := parseRoutes(b)
		if err != nil {
			return
		}
		if !gw.Is4() || gw.IsUnspecified() {
			t.Fatalf("gateway %v", gw)
		}
		again, err := parseRoutes(routeTable([5]string{zero, procHex(gw.String()), "0003", "0", zero}))
		if err != nil || again != gw {
			t.Fatalf("gateway %v, then %v, %v", gw, again, err)
		}
	})
}

// FuzzSSDPAnswer checks that any datagram is read as an SSDP answer or
// refused without a panic, and that one taken has the service type and a
// location.
func FuzzSSDPAnswer(f *testing.F) {
	const st = "urn:schemas-upnp-org:service:WANIPConnection:1"
	f.Add([]byte("HTTP/1.1 200 OK\r\nST: " + st + "\r\nLOCATION: http://192.168.1.1:5000/desc.xml\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nST: " + st + "\r\nLOCATION: /desc.xml\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("HTTP/1.1 404 Not Found\r\n\r\n"))
	req, err := http.NewRequest("M-SEARCH", "http://239.255.255.250:1900/", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, ok := ssdpAnswer(b, req, st)
		if !ok {
			return
		}
		if resp.Header.Get("ST") != st {
			t.Fatalf("%q taken with ST %q", b, resp.Header.Get("ST"))
		}
		if _, err := resp.Location(); err != nil {
			t.Fatalf("%q taken without a location: %v", b, err)
		}
	})
}
