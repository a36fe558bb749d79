package portmap

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway2"
)

// mapByUPnP maps port 7447 at igd (opts.Port and Gateway if 0) and closes
// the mapping when the test ends.
func mapByUPnP(t *testing.T, igd *fakeIGD, opts Options) *Mapping {
	t.Helper()
	m, err := tryUPnP(t, igd, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func tryUPnP(t *testing.T, igd *fakeIGD, opts Options) (*Mapping, error) {
	if !opts.Gateway.IsValid() {
		opts.Gateway = localhost
	}
	if opts.Port == 0 {
		opts.Port = 7447
	}
	if opts.Lifetime == 0 {
		opts.Lifetime = time.Hour
	}
	return start(t.Context(), opts, igd.config(t))
}

func TestMapByUPnP(t *testing.T) {
	t.Parallel()
	for _, service := range upnpServices {
		t.Run(service, func(t *testing.T) {
			t.Parallel()
			igd := newFakeIGD(t)
			igd.set(func(igd *fakeIGD) { igd.service = service })
			m := mapByUPnP(t, igd, Options{})
			if got, want := m.Public(), netip.MustParseAddrPort("203.0.113.7:7447"); got != want {
				t.Errorf("Public() = %v, want %v", got, want)
			}
			if got := m.Protocol(); got != "UPnP IGD" {
				t.Errorf("Protocol() = %q, want UPnP IGD", got)
			}
			got, ok := igd.mapping(7447)
			if want := (fakeUPnPMapping{7447, "127.0.0.1", 3600}); !ok || got != want {
				t.Errorf("the gateway maps port 7447 as %+v, want %+v", got, want)
			}
		})
	}
}

func TestUPnPRenewsAndTellsAChangedAddress(t *testing.T) {
	t.Parallel()
	igd := newFakeIGD(t)
	c := newChanges()
	m := mapByUPnP(t, igd, Options{OnChange: c.onChange})
	// Renewed every 200 ms (maxRefresh), each time asked again.
	eventually(t, "three renewals", func() bool { return igd.count("AddPortMapping") >= 4 })
	for _, a := range igd.actionsSoFar() {
		if a.name == "AddPortMapping" && (a.args["NewExternalPort"] != "7447" || a.args["NewLeaseDuration"] != "3600") {
			t.Errorf("a renewal asked for %v, want port 7447 for 3600 s", a.args)
		}
	}
	c.none(t)

	igd.set(func(igd *fakeIGD) { igd.external = "198.51.100.9" })
	want := netip.MustParseAddrPort("198.51.100.9:7447")
	if got := c.next(t); got != want {
		t.Errorf("OnChange(%v), want %v", got, want)
	}
	if got := m.Public(); got != want {
		t.Errorf("Public() = %v, want %v", got, want)
	}

	// A gateway that lost the mapping gets it again at the next renewal.
	igd.set(func(igd *fakeIGD) { clear(igd.mappings) })
	eventually(t, "the mapping made again", func() bool { _, ok := igd.mapping(7447); return ok })
}

func TestUPnPOnlyPermanentLeases(t *testing.T) {
	t.Parallel()
	igd := newFakeIGD(t)
	igd.set(func(igd *fakeIGD) { igd.permanentOnly = true })
	m := mapByUPnP(t, igd, Options{})
	if got, ok := igd.mapping(7447); !ok || got.lease != 0 {
		t.Fatalf("the gateway maps port 7447 as %+v (%v), want a lease of 0", got, ok)
	}
	if !m.Public().IsValid() {
		t.Error("no public address")
	}
	// Renewals ask for 0 at once, without a refusal each time.
	before := igd.count("AddPortMapping")
	eventually(t, "two renewals", func() bool { return igd.count("AddPortMapping") >= before+2 })
	var leases []string
	for _, a := range igd.actionsSoFar() {
		if a.name == "AddPortMapping" {
			leases = append(leases, a.args["NewLeaseDuration"])
		}
	}
	if strings.Join(leases[:4], " ") != "3600 0 0 0" {
		t.Errorf("leases asked for: %v, want 3600 once and then 0", leases)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := igd.mapping(7447); ok {
		t.Error("the permanent mapping is still there after Close")
	}
}

func TestUPnPConflictTriesAnotherPort(t *testing.T) {
	t.Parallel()
	igd := newFakeIGD(t)
	igd.set(func(igd *fakeIGD) { igd.taken[7447] = true })
	m := mapByUPnP(t, igd, Options{})
	port := m.Public().Port()
	if port == 7447 || port < 1024 {
		t.Fatalf("Public() = %v, want another port than the taken 7447", m.Public())
	}
	if got, ok := igd.mapping(port); !ok || got.internal != 7447 {
		t.Errorf("the gateway maps port %d as %+v (%v), want to 7447", port, got, ok)
	}
	// Renewals keep the port given.
	before := igd.count("AddPortMapping")
	eventually(t, "a renewal", func() bool { return igd.count("AddPortMapping") > before })
	if m.Public().Port() != port {
		t.Errorf("Public() = %v after a renewal, want port %d", m.Public(), port)
	}

	t.Run("every port taken", func(t *testing.T) {
		t.Parallel()
		igd := newFakeIGD(t)
		igd.set(func(igd *fakeIGD) { igd.refuse = upnpConflict })
		_, err := tryUPnP(t, igd, Options{})
		var ge *GatewayError
		if !errors.As(err, &ge) || ge.Code != upnpConflict || ge.Protocol != "UPnP IGD" {
			t.Fatalf("err = %v, want UPnP error 718", err)
		}
		if got := igd.count("AddPortMapping"); got != upnpPortTries {
			t.Errorf("%d ports asked for, want %d", got, upnpPortTries)
		}
	})
}

func TestUPnPCloseDeletesTheMapping(t *testing.T) {
	t.Parallel()
	igd := newFakeIGD(t)
	c := newChanges()
	m := mapByUPnP(t, igd, Options{OnChange: c.onChange})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := igd.mapping(7447); ok {
		t.Error("the gateway still has the mapping")
	}
	actions := igd.actionsSoFar()
	last := actions[len(actions)-1]
	if last.name != "DeletePortMapping" || last.args["NewExternalPort"] != "7447" || last.args["NewProtocol"] != "UDP" {
		t.Errorf("the last action is %+v, want the deletion of UDP port 7447", last)
	}
	if m.Public().IsValid() {
		t.Errorf("Public() = %v after Close", m.Public())
	}
	c.none(t)
}

func TestUPnPRefusals(t *testing.T) {
	t.Parallel()
	igd := newFakeIGD(t)
	igd.set(func(igd *fakeIGD) { igd.refuse = upnpNotAuthorized })
	_, err := tryUPnP(t, igd, Options{})
	if !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("err = %v, want ErrNotAuthorized", err)
	}
	want := "mapping port 7447 to port 7447: the UPnP IGD gateway at 127.0.0.1 refused: Refused (result code 606)"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q, want it to start %q", err, want)
	}
}

func TestUPnPNotPublic(t *testing.T) {
	t.Parallel()
	igd := newFakeIGD(t)
	igd.set(func(igd *fakeIGD) { igd.external = "192.168.1.1" })
	_, err := tryUPnP(t, igd, Options{})
	if !errors.Is(err, ErrNotPublic) {
		t.Fatalf("err = %v, want ErrNotPublic", err)
	}
	if _, ok := igd.mapping(7447); ok {
		t.Error("the mapping of no use was left at the gateway")
	}
	m := mapByUPnP(t, igd, Options{AllowPrivate: true})
	if got := m.Public(); got != netip.MustParseAddrPort("192.168.1.1:7447") {
		t.Errorf("with AllowPrivate, Public() = %v", got)
	}
}

// TestUPnPHostileAnswers has the gateway (or another device) answer what
// it shouldn't: each is refused with an error that says what came.
func TestUPnPHostileAnswers(t *testing.T) {
	t.Parallel()
	description := func(controlURL string) func() string {
		return func() string {
			return `<root xmlns="urn:schemas-upnp-org:device-1-0"><device><serviceList><service>
<serviceType>` + internetgateway2.URN_WANIPConnection_1 + `</serviceType><controlURL>` + controlURL + `</controlURL>
</service></serviceList></device></root>`
		}
	}
	for _, tc := range []struct {
		name      string
		set       func(igd *fakeIGD)
		want      string
		noAnswer  bool // the error matches ErrNoAnswer
		notPublic bool
	}{
		{"garbage description", func(igd *fakeIGD) {
			igd.description = func() string { return "<root><device><<<" }
		}, "its description at http://127.0.0.1:", false, false},
		{"a description of 1 MiB", func(igd *fakeIGD) {
			igd.description = func() string {
				return `<root xmlns="urn:schemas-upnp-org:device-1-0"><device><friendlyName>` + strings.Repeat("A", 1<<20) + `</friendlyName></device></root>`
			}
		}, "an answer longer than 65536 bytes", false, false},
		{"no WAN connection service", func(igd *fakeIGD) {
			igd.description = func() string { return `<root xmlns="urn:schemas-upnp-org:device-1-0"><device/></root>` }
		}, "describes no WANIPConnection or WANPPPConnection service controlled at its address", false, false},
		{"a control URL on another host", func(igd *fakeIGD) {
			igd.description = description("http://192.0.2.1/ctl")
		}, "describes no WANIPConnection or WANPPPConnection service controlled at its address", false, false},
		{"a description on another host", func(igd *fakeIGD) {
			igd.location = "http://192.0.2.1:5000/desc.xml"
		}, `its description's location: "http://192.0.2.1:5000/desc.xml" is not on the gateway 127.0.0.1`, false, false},
		{"a description not by http", func(igd *fakeIGD) {
			igd.location = "file:///etc/passwd"
		}, `"file:///etc/passwd" is not an http URL`, false, false},
		{"garbage SOAP", func(igd *fakeIGD) {
			igd.answer = func(string) (int, string) { return http.StatusOK, "<s:Envelope><<<" }
		}, "the UPnP IGD at 127.0.0.1, asking for the external address: goupnp: error decoding response body", false, false},
		{"a SOAP answer of 1 MiB", func(igd *fakeIGD) {
			igd.answer = func(string) (int, string) {
				return http.StatusOK, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` + strings.Repeat("<a>b</a>", 1<<17)
			}
		}, "an answer longer than 65536 bytes", false, false},
		{"a fault of 1 MiB", func(igd *fakeIGD) {
			igd.answer = func(string) (int, string) {
				return http.StatusInternalServerError, soapFault(501, strings.Repeat("x", 1<<20))
			}
		}, "an answer longer than 65536 bytes", false, false},
		{"an external address that isn't one", func(igd *fakeIGD) {
			igd.external = strings.Repeat("9", 300)
		}, `gave "` + strings.Repeat("9", 100) + `…" as its external address, not an IP address`, false, false},
		{"an external address of nowhere", func(igd *fakeIGD) {
			igd.external = "0.0.0.0"
		}, "gave 0.0.0.0:7447 as the public address: not a unicast address others can reach", false, false},
		{"a private external address", func(igd *fakeIGD) {
			igd.external = "10.0.0.1"
		}, "the gateway's external address is not public: the gateway at 127.0.0.1 gave 10.0.0.1", false, true},
		{"an SSDP answer for another service", func(igd *fakeIGD) {
			igd.service = "urn:schemas-upnp-org:service:WANIPConnection:9"
		}, "no UPnP IGD answered at 127.0.0.1", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			igd := newFakeIGD(t)
			igd.set(tc.set)
			_, err := tryUPnP(t, igd, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q in it", err, tc.want)
			}
			if errors.Is(err, ErrNoAnswer) != tc.noAnswer || errors.Is(err, ErrNotPublic) != tc.notPublic {
				t.Errorf("err = %v: ErrNoAnswer %v, ErrNotPublic %v; want %v, %v", err,
					errors.Is(err, ErrNoAnswer), errors.Is(err, ErrNotPublic), tc.noAnswer, tc.notPublic)
			}
		})
	}
}

// TestUPnPOnlyTheGatewayCounts has a device at another address than the
// gateway's answer the search: it is not listened to.
func TestUPnPOnlyTheGatewayCounts(t *testing.T) {
	t.Parallel()
	igd := newFakeIGD(t) // at 127.0.0.1
	start1 := time.Now()
	_, err := tryUPnP(t, igd, Options{Gateway: netip.MustParseAddr("127.0.0.2")})
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v, want ErrNoAnswer", err)
	}
	want := "no PCP or NAT-PMP gateway at 127.0.0.2: its port"
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "; no UPnP IGD answered at 127.0.0.2 (an SSDP search") {
		t.Errorf("err = %q, want it to say neither PCP nor UPnP answered", err)
	}
	if took := time.Since(start1); took < time.Second || took > 2*time.Second {
		t.Errorf("failed after %v, want after the search's 1 s", took)
	}
	if got := igd.count("GetExternalIPAddress"); got != 0 {
		t.Errorf("the device not the gateway was asked %d times", got)
	}
}

// TestUPnPFindsTheGatewayAgain has the gateway's HTTP server move, as a
// router's does when it restarts: a failed renewal makes the client search
// again.
func TestUPnPFindsTheGatewayAgain(t *testing.T) {
	t.Parallel()
	igd := newFakeIGD(t)
	c := newChanges()
	m := mapByUPnP(t, igd, Options{OnChange: c.onChange})
	moved := newFakeIGD(t)
	moved.set(func(moved *fakeIGD) { moved.external = "198.51.100.9" })
	// The old one answers no more; searches reach the new one.
	igd.http.CloseClientConnections()
	igd.http.Close()
	igd.set(func(igd *fakeIGD) { igd.location = moved.http.URL + "/desc.xml" })
	if got, want := c.next(t), netip.MustParseAddrPort("198.51.100.9:7447"); got != want {
		t.Fatalf("OnChange(%v), want %v", got, want)
	}
	if _, ok := moved.mapping(7447); !ok || m.Protocol() != "UPnP IGD" {
		t.Errorf("the moved gateway has no mapping")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := moved.mapping(7447); ok {
		t.Error("the moved gateway still has the mapping after Close")
	}
}

func TestSSDPAnswer(t *testing.T) {
	t.Parallel()
	st := internetgateway2.URN_WANIPConnection_1
	req, err := http.NewRequest("M-SEARCH", "http://239.255.255.250:1900/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		answer string
		ok     bool
	}{
		{"HTTP/1.1 200 OK\r\nST: " + st + "\r\nLOCATION: http://192.168.1.1:5000/desc.xml\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nST: " + st + "\r\n\r\n", false},
		{"HTTP/1.1 404 Not Found\r\nST: " + st + "\r\nLOCATION: http://192.168.1.1/\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nLOCATION: http://192.168.1.1/\r\n\r\n", false},
		{"NOTIFY * HTTP/1.1\r\n\r\n", false},
		{"", false},
	} {
		if _, ok := ssdpAnswer([]byte(tc.answer), req, st); ok != tc.ok {
			t.Errorf("ssdpAnswer(%q) = %v, want %v", tc.answer, ok, tc.ok)
		}
	}
}
