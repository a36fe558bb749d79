package main

import (
	"bytes"
	"errors"
	"maps"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// fakeFirewall records the mappings the server makes real.
type fakeFirewall struct {
	mu   sync.Mutex
	live map[uint16]netip.AddrPort // external port → client
}

func (f *fakeFirewall) Add(external uint16, client netip.AddrPort) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.live[external]; ok {
		return errors.New("rule added twice")
	}
	f.live[external] = client
	return nil
}

func (f *fakeFirewall) Remove(external uint16, client netip.AddrPort) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, external)
	return nil
}

func (f *fakeFirewall) rules() map[uint16]netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.live)
}

// upnpCode returns the UPnP error code of err, or 0.
func upnpCode(err error) int {
	var fault *soap.SOAPFaultError
	if errors.As(err, &fault) {
		return fault.Detail.UPnPError.Errorcode
	}
	return 0
}

// TestWithGoupnp maps, renews, refuses and deletes with goupnp's client,
// the one lib/portmap uses, over loopback.
func TestWithGoupnp(t *testing.T) {
	fw := &fakeFirewall{live: map[uint16]netip.AddrPort{}}
	var out bytes.Buffer
	s := newServer(netip.MustParseAddr("10.231.1.1"), fw, &out)
	httpd := httptest.NewServer(s.handler())
	defer httpd.Close()
	loc, _ := url.Parse(httpd.URL + "/rootDesc.xml")
	clients, err := internetgateway2.NewWANIPConnection1ClientsByURLCtx(t.Context(), loc)
	if err != nil || len(clients) != 1 {
		t.Fatalf("%d clients, %v", len(clients), err)
	}
	c := clients[0]
	ctx := t.Context()

	if ip, err := c.GetExternalIPAddressCtx(ctx); err != nil || ip != "10.231.1.1" {
		t.Fatalf("GetExternalIPAddress: %q, %v", ip, err)
	}
	if err := c.AddPortMappingCtx(ctx, "", 7000, "UDP", 7000, "127.0.0.1", true, "test", 60); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPortMappingCtx(ctx, "", 7000, "UDP", 7000, "127.0.0.1", true, "test", 60); err != nil {
		t.Fatalf("a renewal: %v", err)
	}
	if err := c.AddPortMappingCtx(ctx, "", 7000, "UDP", 7001, "127.0.0.1", true, "test", 60); upnpCode(err) != errConflict {
		t.Errorf("another internal port on a taken external one: %v, want 718", err)
	}
	if err := c.AddPortMappingCtx(ctx, "", 7002, "UDP", 7002, "127.0.0.2", true, "test", 60); upnpCode(err) != errNotAuthorized {
		t.Errorf("a mapping to another client: %v, want 606", err)
	}
	if got := fw.rules(); len(got) != 1 || got[7000] != netip.MustParseAddrPort("127.0.0.1:7000") {
		t.Errorf("rules %v, want 7000 to 127.0.0.1:7000", got)
	}
	if err := c.DeletePortMappingCtx(ctx, "", 7000, "UDP"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePortMappingCtx(ctx, "", 7000, "UDP"); upnpCode(err) != errNoSuchEntry {
		t.Errorf("deleting again: %v, want 714", err)
	}
	if got := fw.rules(); len(got) != 0 {
		t.Errorf("rules %v left", got)
	}
	want := "upnpd: map 10.231.1.1:7000 to 127.0.0.1:7000 for 60s by UPnP IGD\nupnpd: renew 10.231.1.1:7000 for 60s\nupnpd: unmap 10.231.1.1:7000 (deleted)\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}

	s.permanentOnly = true
	if err := c.AddPortMappingCtx(ctx, "", 7000, "UDP", 7000, "127.0.0.1", true, "test", 60); upnpCode(err) != errOnlyPermanent {
		t.Errorf("a lease with --permanent-only: %v, want 725", err)
	}
	if err := c.AddPortMappingCtx(ctx, "", 7000, "UDP", 7000, "127.0.0.1", true, "test", 0); err != nil {
		t.Fatal(err)
	}
	s.expire(time.Now().Add(24 * time.Hour))
	if len(fw.rules()) != 1 {
		t.Error("a permanent mapping expired")
	}
}

func TestExpiry(t *testing.T) {
	fw := &fakeFirewall{live: map[uint16]netip.AddrPort{}}
	var out bytes.Buffer
	s := newServer(netip.MustParseAddr("10.231.1.1"), fw, &out)
	now := time.Now()
	args := map[string]string{"NewExternalPort": "7000", "NewInternalPort": "7000", "NewProtocol": "UDP",
		"NewInternalClient": "10.231.2.2", "NewLeaseDuration": "2"}
	if code, text := s.add(netip.MustParseAddr("10.231.2.2"), args, now); code != 0 {
		t.Fatalf("%d %s", code, text)
	}
	s.expire(now.Add(time.Second))
	if len(fw.rules()) != 1 {
		t.Fatal("expired early")
	}
	s.expire(now.Add(2 * time.Second))
	if len(fw.rules()) != 0 || !strings.HasSuffix(out.String(), "upnpd: unmap 10.231.1.1:7000 (expired)\n") {
		t.Errorf("not expired: %v\n%s", fw.rules(), out.String())
	}
}

func TestSearchAnswer(t *testing.T) {
	search := func(st string) []byte {
		return []byte("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: " + st + "\r\n\r\n")
	}
	const loc = "http://10.231.2.1:5000/rootDesc.xml"
	for _, st := range []string{serviceType, deviceType, "upnp:rootdevice", "ssdp:all"} {
		got := string(searchAnswer(search(st), loc))
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.Contains(got, "\r\nLOCATION: "+loc+"\r\n") {
			t.Errorf("the answer to %s: %q", st, got)
		}
	}
	for _, b := range [][]byte{
		search("urn:schemas-upnp-org:service:WANIPConnection:2"),
		[]byte("NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n"),
		[]byte("M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n"),
		[]byte("garbage"),
	} {
		if got := searchAnswer(b, loc); got != nil {
			t.Errorf("%q answered %q", b, got)
		}
	}
}
