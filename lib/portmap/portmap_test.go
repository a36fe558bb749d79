package portmap

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

var localhost = netip.MustParseAddr("127.0.0.1")

// mapOn maps opts.Port (7447 if 0) at gw and closes the mapping when the
// test ends.
func mapOn(t *testing.T, gw *fakeGateway, opts Options) *Mapping {
	t.Helper()
	m, err := tryMap(t, gw, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func tryMap(t *testing.T, gw *fakeGateway, opts Options) (*Mapping, error) {
	if !opts.Gateway.IsValid() {
		opts.Gateway = localhost
	}
	if opts.Port == 0 {
		opts.Port = 7447
	}
	return start(t.Context(), opts, gw.config())
}

// changes collects what OnChange is told.
type changes struct {
	c chan netip.AddrPort
}

func newChanges() *changes { return &changes{c: make(chan netip.AddrPort, 100)} }

func (c *changes) onChange(p netip.AddrPort) { c.c <- p }

// next returns the next change, failing the test if none comes within 5 s.
func (c *changes) next(t *testing.T) netip.AddrPort {
	t.Helper()
	select {
	case p := <-c.c:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("OnChange was not called within 5 s")
		return netip.AddrPort{}
	}
}

// none fails the test if OnChange was called.
func (c *changes) none(t *testing.T) {
	t.Helper()
	select {
	case p := <-c.c:
		t.Fatalf("OnChange(%v), want no call", p)
	default:
	}
}

// eventually fails the test unless cond becomes true within 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer is a log the tests read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestMapByPCP(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	m := mapOn(t, gw, Options{Port: 7447})
	if got, want := m.Public(), netip.MustParseAddrPort("203.0.113.7:7447"); got != want {
		t.Errorf("Public() = %v, want %v", got, want)
	}
	if got := m.Protocol(); got != "PCP" {
		t.Errorf("Protocol() = %q, want PCP", got)
	}
	if gw.mapping(7447) != 7447 {
		t.Errorf("the gateway has no mapping of port 7447")
	}
}

func TestMapByNATPMPWhenTheGatewaySpeaksOnlyThat(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	gw.set(func(gw *fakeGateway) { gw.pcp = false })
	m := mapOn(t, gw, Options{Port: 7447})
	if got, want := m.Public(), netip.MustParseAddrPort("203.0.113.7:7447"); got != want {
		t.Errorf("Public() = %v, want %v", got, want)
	}
	if got := m.Protocol(); got != "NAT-PMP" {
		t.Errorf("Protocol() = %q, want NAT-PMP", got)
	}
	// The PCP request was answered with NAT-PMP's unsupported version
	// and not counted; then the address, then the mapping.
	var got []string
	for _, r := range gw.requestsSoFar() {
		got = append(got, r.protocol)
	}
	if strings.Join(got, " ") != "NAT-PMP NAT-PMP" {
		t.Errorf("the gateway took requests %v, want an address and a mapping request by NAT-PMP", got)
	}
}

func TestTheGatewayMayAssignAnotherPort(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	gw.set(func(gw *fakeGateway) { gw.taken[7447] = true })
	m := mapOn(t, gw, Options{Port: 7447})
	if got, want := m.Public(), netip.MustParseAddrPort("203.0.113.7:7448"); got != want {
		t.Errorf("Public() = %v, want %v", got, want)
	}
}

func TestRenewsBeforeTheLifetimeRunsOut(t *testing.T) {
	t.Parallel()
	for _, natpmpOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "PCP", true: "NAT-PMP"}[natpmpOnly], func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			gw.set(func(gw *fakeGateway) {
				gw.pcp = !natpmpOnly
				gw.maxLifetime = 1 // renewed every 500 ms, though 200 ms is allowed
			})
			c := newChanges()
			cfg := gw.config()
			cfg.maxRefresh = time.Minute
			m, err := start(t.Context(), Options{Port: 7447, Gateway: localhost, Lifetime: time.Hour, OnChange: c.onChange}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			first := time.Now()
			before := len(gw.requestsSoFar())
			eventually(t, "three renewals", func() bool { return len(gw.requestsSoFar()) >= before+3 })
			if took := time.Since(first); took < time.Second {
				t.Errorf("three renewals within %v of a grant of 1 s: want one every 500 ms", took)
			}
			var nonces [][12]byte
			for _, r := range gw.requestsSoFar() {
				if r.op == natpmpOpAddress {
					continue
				}
				if r.lifetime != 3600 || r.internal != 7447 || r.suggest != 7447 {
					t.Errorf("request %+v, want port 7447 for 3600 s", r)
				}
				nonces = append(nonces, r.nonce)
			}
			for _, n := range nonces {
				if n != nonces[0] {
					t.Errorf("a renewal's nonce changed: %x, then %x", nonces[0], n)
				}
			}
			c.none(t)
			if gw.mapping(7447) == 0 {
				t.Error("the mapping is gone")
			}
		})
	}
}

func TestTellsAChangedPublicAddress(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	c := newChanges()
	m := mapOn(t, gw, Options{OnChange: c.onChange})
	gw.set(func(gw *fakeGateway) { gw.public = netip.MustParseAddr("198.51.100.9") })
	want := netip.MustParseAddrPort("198.51.100.9:7447")
	if got := c.next(t); got != want {
		t.Errorf("OnChange(%v), want %v", got, want)
	}
	if got := m.Public(); got != want {
		t.Errorf("Public() = %v, want %v", got, want)
	}
}

func TestMapsAgainWhenTheGatewayLostItsMappings(t *testing.T) {
	t.Parallel()
	for _, natpmpOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "PCP", true: "NAT-PMP"}[natpmpOnly], func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			gw.set(func(gw *fakeGateway) { gw.pcp = !natpmpOnly })
			var log logBuffer
			c := newChanges()
			m := mapOn(t, gw, Options{OnChange: c.onChange, Log: slog.New(slog.NewTextHandler(&log, nil))})
			// Wait for an answer with the old epoch at the client.
			before := len(gw.requestsSoFar())
			eventually(t, "a renewal", func() bool { return len(gw.requestsSoFar()) > before })

			// It forgot the mapping, and gave its port to someone else.
			gw.restart()
			want := netip.MustParseAddrPort("203.0.113.7:7448")
			if got := c.next(t); got != want {
				t.Fatalf("OnChange(%v), want %v", got, want)
			}
			if gw.mapping(7447) != 7448 || m.Public() != want {
				t.Errorf("the gateway maps port 7447 to %d, the client says %v", gw.mapping(7447), m.Public())
			}
			if !strings.Contains(log.String(), "the gateway lost its mappings") {
				t.Errorf("the log doesn't tell the restart:\n%s", log.String())
			}
		})
	}
}

func TestNoGatewayFailsWithinFourSeconds(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	gw.set(func(gw *fakeGateway) { gw.silent = true })
	cfg := gw.config()
	cfg.tries = defaults.tries
	start1 := time.Now()
	_, err := start(t.Context(), Options{Port: 7447, Gateway: localhost}, cfg)
	took := time.Since(start1)
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v, want ErrNoAnswer", err)
	}
	if took < 3750*time.Millisecond || took > 5*time.Second {
		t.Errorf("failed after %v, want about 3.75 s", took)
	}
	want := "no PCP or NAT-PMP gateway answered at 127.0.0.1 (4 tries in "
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q, want it to start %q", err, want)
	}
	if got := len(gw.requestsSoFar()); got != 0 {
		t.Errorf("the silent gateway counted %d requests", got)
	}
}

func TestAClosedPortFailsAtOnce(t *testing.T) {
	t.Parallel()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	conn.Close()
	cfg := defaults
	cfg.port = port
	// UPnP's search goes to loopback too, and waits for no answer.
	cfg.ssdp, cfg.ssdpWait = closedUDPPort(t), 100*time.Millisecond
	start1 := time.Now()
	_, err = start(t.Context(), Options{Port: 7447, Gateway: localhost}, cfg)
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "is closed") {
		t.Fatalf("err = %v, want ErrNoAnswer for a closed port", err)
	}
	if took := time.Since(start1); took > time.Second {
		t.Errorf("failed after %v, want at once", took)
	}
}

func TestCloseDeletesTheMapping(t *testing.T) {
	t.Parallel()
	for _, natpmpOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "PCP", true: "NAT-PMP"}[natpmpOnly], func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			gw.set(func(gw *fakeGateway) { gw.pcp = !natpmpOnly })
			c := newChanges()
			m := mapOn(t, gw, Options{OnChange: c.onChange})
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			reqs := gw.requestsSoFar()
			last := reqs[len(reqs)-1]
			if last.lifetime != 0 || last.internal != 7447 || (natpmpOnly && last.suggest != 0) {
				t.Errorf("the last request is %+v, want one to delete port 7447's mapping", last)
			}
			if !natpmpOnly && last.nonce != reqs[0].nonce {
				t.Errorf("the deletion's nonce %x is not the mapping's %x", last.nonce, reqs[0].nonce)
			}
			if gw.mapping(7447) != 0 {
				t.Error("the gateway still has the mapping")
			}
			if m.Public().IsValid() {
				t.Errorf("Public() = %v after Close", m.Public())
			}
			if err := m.Close(); err != nil {
				t.Errorf("a second Close: %v", err)
			}
			if got := len(gw.requestsSoFar()); got != len(reqs) {
				t.Errorf("a second Close sent %d more requests", got-len(reqs))
			}
			c.none(t)
		})
	}
}

func TestCloseUnansweredSaysSo(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	m := mapOn(t, gw, Options{})
	gw.set(func(gw *fakeGateway) { gw.silent = true })
	start1 := time.Now()
	err := m.Close()
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "it lapses by itself") {
		t.Errorf("Close: %v, want ErrNoAnswer and when the mapping lapses", err)
	}
	if took := time.Since(start1); took > time.Second {
		t.Errorf("Close took %v, want at most closeWithin (500 ms) and a little", took)
	}
}

func TestLostWhenNotRenewedAndBackWhenRenewed(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	gw.set(func(gw *fakeGateway) { gw.maxLifetime = 1 })
	c := newChanges()
	m := mapOn(t, gw, Options{OnChange: c.onChange})
	public := m.Public()
	gw.set(func(gw *fakeGateway) { gw.silent = true })
	if got := c.next(t); got.IsValid() {
		t.Fatalf("OnChange(%v), want the zero AddrPort once the lifetime ran out", got)
	}
	if m.Public().IsValid() {
		t.Errorf("Public() = %v, want the zero AddrPort", m.Public())
	}
	gw.set(func(gw *fakeGateway) { gw.silent = false })
	if got := c.next(t); got != public {
		t.Errorf("OnChange(%v), want %v again", got, public)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		pcp      bool
		result   int
		want     error
		wantText string
	}{
		{"PCP not authorized", true, pcpNotAuthorized, ErrNotAuthorized, "the PCP gateway at 127.0.0.1 refused: not authorized (result code 2)"},
		{"NAT-PMP not authorized", false, natpmpNotAuthorized, ErrNotAuthorized, "the NAT-PMP gateway at 127.0.0.1 refused: not authorized or refused (result code 2)"},
		{"NAT-PMP network failure", false, 3, nil, "the NAT-PMP gateway at 127.0.0.1 refused: network failure: the gateway has no external address (result code 3)"},
		{"PCP no resources", true, 8, nil, "the PCP gateway at 127.0.0.1 refused: no resources (result code 8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			gw.set(func(gw *fakeGateway) {
				gw.answer = func(req []byte) [][]byte {
					if tc.pcp {
						return [][]byte{marshalPCP(pcpReply{result: byte(tc.result)}, pcpOpMap)}
					}
					if req[0] != natpmpVersion {
						return [][]byte{marshalNATPMP(natpmpReply{op: req[1], result: natpmpUnsupportedVersion})}
					}
					return [][]byte{marshalNATPMP(natpmpReply{op: req[1], result: uint16(tc.result)})}
				}
			})
			_, err := tryMap(t, gw, Options{})
			var ge *GatewayError
			if !errors.As(err, &ge) || err.Error() != tc.wantText {
				t.Fatalf("err = %v, want %q", err, tc.wantText)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want it to match %v", err, tc.want)
			}
			if tc.want == nil && errors.Is(err, ErrNotAuthorized) {
				t.Errorf("err = %v matches ErrNotAuthorized", err)
			}
		})
	}
}

func TestAnExternalAddressThatIsNotPublic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		why  string // "" for an address AllowPrivate accepts
	}{
		{"192.168.1.2", ""},
		{"10.1.2.3", ""},
		{"100.64.0.1", ""},
		{"192.0.0.2", ""},
		{"0.0.0.0", "not a unicast address others can reach"},
		{"127.0.0.1", "not a unicast address others can reach"},
		{"224.0.0.1", "not a unicast address others can reach"},
		{"169.254.1.1", "not a unicast address others can reach"},
		{"255.255.255.255", "not a unicast address others can reach"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			gw.set(func(gw *fakeGateway) { gw.public = netip.MustParseAddr(tc.addr) })
			_, err := tryMap(t, gw, Options{})
			if tc.why == "" && !errors.Is(err, ErrNotPublic) {
				t.Errorf("err = %v, want ErrNotPublic", err)
			}
			if tc.why != "" && (err == nil || !strings.Contains(err.Error(), tc.why) || errors.Is(err, ErrNotPublic)) {
				t.Errorf("err = %v, want %q", err, tc.why)
			}
			if gw.mapping(7447) != 0 {
				t.Error("the mapping of no use was left at the gateway")
			}
			m, err := tryMap(t, gw, Options{AllowPrivate: true})
			if tc.why == "" && err != nil {
				t.Errorf("with AllowPrivate: %v", err)
			}
			if tc.why != "" && err == nil {
				t.Errorf("with AllowPrivate, %s was taken", tc.addr)
			}
			if m != nil {
				m.Close()
			}
		})
	}
}

func TestAnAddressNoLongerPublicIsLost(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	c := newChanges()
	m := mapOn(t, gw, Options{OnChange: c.onChange})
	gw.set(func(gw *fakeGateway) { gw.public = netip.MustParseAddr("100.64.9.9") })
	if got := c.next(t); got.IsValid() {
		t.Errorf("OnChange(%v), want the zero AddrPort", got)
	}
	if m.Public().IsValid() {
		t.Errorf("Public() = %v", m.Public())
	}
}

// TestMalformedAnswers sends the client, for every request, answers that
// aren't: it must ignore them and say what came, or refuse them.
func TestMalformedAnswers(t *testing.T) {
	t.Parallel()
	nonce := func(req []byte) [12]byte {
		if len(req) >= pcpMapSize {
			return [12]byte(req[24:36])
		}
		return [12]byte{}
	}
	good := func(req []byte) pcpReply {
		return pcpReply{lifetime: 60, hasMapping: true, mapping: pcpMapping{
			nonce: nonce(req), protocol: pcpUDP, internal: 7447,
			external: netip.AddrPortFrom(netip.AddrFrom16(netip.MustParseAddr("203.0.113.7").As16()), 7447),
		}}
	}
	for _, tc := range []struct {
		name   string
		answer func(req []byte) []byte
		want   string // in the error
		final  bool   // refused at once, not ignored
	}{
		{"empty", func([]byte) []byte { return nil }, "a PCP answer of 0 bytes: want a multiple of 4 from 24 to 1100", false},
		{"short", func([]byte) []byte { return []byte{2, 0x81, 0, 0} }, "a PCP answer of 4 bytes: want a multiple of 4 from 24 to 1100", false},
		{"not a multiple of 4", func(req []byte) []byte { return append(marshalPCP(good(req), pcpOpMap), 0) }, "a PCP answer of 61 bytes", false},
		{"too long", func(req []byte) []byte { return append(marshalPCP(good(req), pcpOpMap), make([]byte, 1100)...) }, "a PCP answer of 1160 bytes", false},
		{"version 1", func(req []byte) []byte { b := marshalPCP(good(req), pcpOpMap); b[0] = 1; return b }, "an answer of version 1 to a PCP request", false},
		{"a request", func(req []byte) []byte { return req }, "a PCP answer of opcode 0x1 to a MAP request", false},
		{"opcode announce", func(req []byte) []byte { return marshalPCP(good(req), 0) }, "a PCP answer of opcode 0x80", false},
		{"another nonce", func(req []byte) []byte { r := good(req); r.mapping.nonce[0] ^= 1; return marshalPCP(r, pcpOpMap) }, "a PCP answer about another mapping", false},
		{"another port", func(req []byte) []byte { r := good(req); r.mapping.internal = 22; return marshalPCP(r, pcpOpMap) }, "a PCP answer about another mapping", false},
		{"TCP", func(req []byte) []byte { r := good(req); r.mapping.protocol = 6; return marshalPCP(r, pcpOpMap) }, "a PCP answer about another mapping", false},
		{"only a header", func(req []byte) []byte { r := good(req); r.hasMapping = false; return marshalPCP(r, pcpOpMap) }, "a PCP answer of 24 bytes to a MAP request, too short", false},
		{"an option that runs past the end", func(req []byte) []byte {
			return append(marshalPCP(good(req), pcpOpMap), 0x80, 0, 0, 5, 1, 2, 3, 4)
		}, "a PCP answer whose option 128 runs past its end", false},
		{"an IPv6 external address", func(req []byte) []byte {
			r := good(req)
			r.mapping.external = netip.MustParseAddrPort("[2001:db8::1]:7447")
			return marshalPCP(r, pcpOpMap)
		}, "assigned the external address 2001:db8::1, not an IPv4 one", true},
		{"external port 0", func(req []byte) []byte {
			r := good(req)
			r.mapping.external = netip.AddrPortFrom(r.mapping.external.Addr(), 0)
			return marshalPCP(r, pcpOpMap)
		}, "mapped port 7447 to port 0 for 60 s", true},
		{"lifetime 0", func(req []byte) []byte { r := good(req); r.lifetime = 0; return marshalPCP(r, pcpOpMap) }, "mapped port 7447 to port 7447 for 0 s", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			gw.set(func(gw *fakeGateway) {
				gw.answer = func(req []byte) [][]byte { return [][]byte{tc.answer(req)} }
			})
			_, err := tryMap(t, gw, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q in it", err, tc.want)
			}
			if ignored := errors.Is(err, ErrNoAnswer); ignored == tc.final {
				t.Errorf("err = %v: ignored %v, want %v", err, ignored, !tc.final)
			}
		})
	}

	t.Run("a good answer after bad ones", func(t *testing.T) {
		gw := newFakeGateway(t)
		gw.set(func(gw *fakeGateway) {
			gw.answer = func(req []byte) [][]byte {
				bad := good(req)
				bad.mapping.nonce[3]++
				return [][]byte{{0}, marshalPCP(bad, pcpOpMap), marshalPCP(good(req), pcpOpMap)}
			}
		})
		m := mapOn(t, gw, Options{})
		if got := m.Public(); got != netip.MustParseAddrPort("203.0.113.7:7447") {
			t.Errorf("Public() = %v", got)
		}
	})
}

func TestMalformedNATPMPAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer func(req []byte) []byte // to NAT-PMP requests
		want   string
		final  bool
	}{
		{"a mapping answer to an address request", func(req []byte) []byte {
			return marshalNATPMP(natpmpReply{op: natpmpOpMapUDP, internal: 7447, port: 7447, lifetime: 60})
		}, "a NAT-PMP answer of opcode 129 to a request of opcode 0", false},
		{"an address answer too long", func(req []byte) []byte {
			if req[1] != natpmpOpAddress {
				return nil
			}
			return append(marshalNATPMP(natpmpReply{op: 0, external: netip.MustParseAddr("203.0.113.7")}), 0, 0, 0, 0)
		}, "a NAT-PMP address answer of 16 bytes, want 12", false},
		{"a mapping answer for another port", func(req []byte) []byte {
			if req[1] != natpmpOpMapUDP {
				return marshalNATPMP(natpmpReply{op: 0, external: netip.MustParseAddr("203.0.113.7")})
			}
			return marshalNATPMP(natpmpReply{op: natpmpOpMapUDP, internal: 22, port: 7447, lifetime: 60})
		}, "a NAT-PMP mapping answer for port 22, not 7447", false},
		{"a mapping to port 0", func(req []byte) []byte {
			if req[1] != natpmpOpMapUDP {
				return marshalNATPMP(natpmpReply{op: 0, external: netip.MustParseAddr("203.0.113.7")})
			}
			return marshalNATPMP(natpmpReply{op: natpmpOpMapUDP, internal: 7447, port: 0, lifetime: 60})
		}, "mapped port 7447 to port 0 for 60 s", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			gw.set(func(gw *fakeGateway) {
				gw.answer = func(req []byte) [][]byte {
					if req[0] != natpmpVersion {
						return [][]byte{marshalNATPMP(natpmpReply{op: req[1], result: natpmpUnsupportedVersion})}
					}
					return [][]byte{tc.answer(req)}
				}
			})
			_, err := tryMap(t, gw, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q in it", err, tc.want)
			}
			if ignored := errors.Is(err, ErrNoAnswer); ignored == tc.final {
				t.Errorf("err = %v: ignored %v, want %v", err, ignored, !tc.final)
			}
		})
	}
}

func TestOptionsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Gateway: localhost}, "no port to map"},
		{Options{Port: 1, Gateway: localhost, Lifetime: time.Millisecond}, "a mapping's lifetime is from 1 s"},
		{Options{Port: 1, Gateway: localhost, Lifetime: -time.Second}, "a mapping's lifetime is from 1 s"},
		{Options{Port: 1, Gateway: netip.MustParseAddr("fe80::1")}, "the gateway fe80::1 is not an IPv4 address"},
	} {
		_, err := Map(t.Context(), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Map(%+v): %v, want %q", tc.opts, err, tc.want)
		}
	}
}
