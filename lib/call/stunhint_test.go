package call

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"smvs/lib/call/calltest"
	"smvs/lib/media"
	"smvs/lib/wire"
)

func addrs(hints []netip.AddrPort) []string {
	var s []string
	for _, h := range hints {
		s = append(s, h.String())
	}
	return s
}

func TestSTUNHints(t *testing.T) {
	servers := []webrtc.ICEServer{
		{URLs: []string{"stun:192.0.2.1:3478", "stun:192.0.2.1:3478", "stuns:192.0.2.9:5349"}},
		{URLs: []string{"turn:192.0.2.2?transport=udp", "turn:192.0.2.3:443?transport=tcp", "turns:192.0.2.4"}, Username: "turn-user-7", Credential: "turn-secret-9"},
		{URLs: []string{"turn:[2001:db8::1]:3479", "stun:0.0.0.0:3478", "stun:224.0.0.1:3478", "stun:192.0.2.5:0"}},
		{URLs: []string{"stun:192.0.2.6", "stun:192.0.2.7", "stun:192.0.2.8"}},
	}
	got := addrs(stunHints(context.Background(), servers))
	want := []string{"192.0.2.1:3478", "192.0.2.2:3478", "[2001:db8::1]:3479", "192.0.2.6:3478"}
	if !slices.Equal(got, want) {
		t.Errorf("hints %q, want %q", got, want)
	}

	sdp := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
	with := withSTUNHints(sdp, stunHints(context.Background(), servers[:1]))
	if want := "t=0 0\r\na=smvs-stun:192.0.2.1:3478\r\na=group:BUNDLE 0\r\n"; !strings.Contains(with, want) {
		t.Errorf("the hint is not at the session level, after t=:\n%s", with)
	}
	if withSTUNHints(sdp, nil) != sdp {
		t.Error("no hints changed the SDP")
	}
	if got := addrs(peerSTUNHints(with)); !slices.Equal(got, []string{"192.0.2.1:3478"}) {
		t.Errorf("read back %q", got)
	}
	for credential := range strings.SplitSeq("turn-user-7 turn-secret-9", " ") {
		if strings.Contains(withSTUNHints(sdp, stunHints(context.Background(), servers)), credential) {
			t.Errorf("a TURN credential went into the offer: %q", credential)
		}
	}
}

func TestPeerSTUNHints(t *testing.T) {
	sdp := "v=0\r\nt=0 0\r\n" +
		"a=smvs-stun:192.0.2.1:3478\r\n" +
		"a=smvs-stun:stun.example.net:3478\r\n" + // names are not looked up
		"a=smvs-stun:192.0.2.2\r\n" + // no port
		"a=smvs-stun:0.0.0.0:3478\r\n" +
		"a=smvs-stun:255.255.255.255:3478\r\n" +
		"a=smvs-stun:[ff02::1]:3478\r\n" +
		"a=smvs-stun:[fe80::1%eth0]:3478\r\n" +
		"a=smvs-stun:[::ffff:192.0.2.3]:3478\r\n" +
		"a=smvs-stun:192.0.2.4:03478\r\n" + // not as the caller writes it
		"a=smvs-stun:127.0.0.1:3478\n" +
		"a=smvs-stun:[2001:db8::1]:3478\r\n" +
		"a=smvs-stun:192.0.2.5:3478\r\n" +
		"a=smvs-stun:192.0.2.6:3478\r\n" + // a fifth: over the limit
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
	want := []string{"192.0.2.1:3478", "127.0.0.1:3478", "[2001:db8::1]:3478", "192.0.2.5:3478"}
	if got := addrs(peerSTUNHints(sdp)); !slices.Equal(got, want) {
		t.Errorf("hints %q, want %q", got, want)
	}
	if got := peerSTUNHints("v=0\r\nm=video 9 RTP/AVP 96\r\na=smvs-stun:192.0.2.1:3478\r\n"); len(got) != 0 {
		t.Errorf("a media-level hint was taken: %v", got)
	}

	// Which the callee asks: none when it relays only or keeps to its own;
	// loopback only where it offers loopback candidates itself.
	for _, c := range []struct {
		cfg  Config
		want []string
	}{
		{Config{}, []string{"stun:192.0.2.1:3478", "stun:[2001:db8::1]:3478", "stun:192.0.2.5:3478"}},
		{Config{IncludeLoopback: true}, []string{"stun:192.0.2.1:3478", "stun:127.0.0.1:3478", "stun:[2001:db8::1]:3478", "stun:192.0.2.5:3478"}},
		{Config{RelayOnly: true}, nil},
		{Config{IgnorePeerSTUN: true}, nil},
	} {
		var got []string
		for _, s := range peerSTUNServers(c.cfg, sdp) {
			got = append(got, s.URLs...)
			if s.Username != "" || s.Credential != nil {
				t.Errorf("a hint with credentials: %+v", s)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: servers %q, want %q", c.cfg, got, c.want)
		}
	}
}

// TestSTUNHintVector: the offer of the call-offer-stun vector names the
// STUN server 192.0.2.1:3478 and nothing else.
func TestSTUNHintVector(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "call-offer-stun.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := wire.DecodeCallSignal(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := addrs(peerSTUNHints(s.SDP)); s.Type != wire.SignalOffer || !slices.Equal(got, []string{"192.0.2.1:3478"}) {
		t.Errorf("the vector's %s names %q", s.Type, got)
	}
}

// FuzzPeerSTUNHints: whatever an offer holds, the hints taken are at most
// four valid addresses, each written back as it was read.
func FuzzPeerSTUNHints(f *testing.F) {
	f.Add("v=0\r\nt=0 0\r\na=smvs-stun:192.0.2.1:3478\r\nm=video 9 RTP/AVP 96\r\n")
	f.Add("a=smvs-stun:[2001:db8::1]:3478\na=smvs-stun:[fe80::1%eth0]:1\n")
	f.Add("a=smvs-stun:[::ffff:1.2.3.4]:5\r\na=smvs-stun:255.255.255.255:1\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		hints := peerSTUNHints(sdp)
		if len(hints) > maxSTUNHints {
			t.Fatalf("%d hints", len(hints))
		}
		for _, h := range hints {
			if !validHint(h) || h.Addr().Is4In6() || !strings.Contains(sdp, stunHintAttr+h.String()) {
				t.Fatalf("hint %v taken from %q", h, sdp)
			}
		}
		if again := peerSTUNHints(withSTUNHints("v=0\r\nt=0 0\r\n", hints)); !slices.Equal(again, hints) {
			t.Fatalf("written and read back: %v, want %v", again, hints)
		}
	})
}

// TestRelayOnlyCallerHintsCallee: a relay-only caller's offer names its
// TURN server, never its credentials; the callee, with no server of its
// own, asks it for a server-reflexive candidate, which is what lets the
// relay reach a callee behind a NAT (test/e2e/callnet.bats has the NAT).
// The caller still sends relay candidates only.
func TestRelayOnlyCallerHintsCallee(t *testing.T) {
	t.Parallel()
	vp8, _ := streams(t)
	turnServer, user, pass := calltest.NewTURN(t)
	servers := []webrtc.ICEServer{{URLs: []string{"turn:" + turnServer.Addr + "?transport=udp"}, Username: user, Credential: pass}}
	for _, ignore := range []bool{false, true} {
		w := newRecorder()
		caller := loopback(t, Config{Video: &sliceReader{codec: media.VP8, samples: vp8[:30]}, ICEServers: servers, RelayOnly: true})
		callee := loopback(t, Config{VideoOut: w.open, IgnorePeerSTUN: ignore})
		a, b, sa, sb := dialAccept(t, caller, callee)
		if err := wait(t, a, 15*time.Second); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		wait(t, b, 5*time.Second)
		got, _, _ := w.got()
		checkReceived(t, "VP8 relayed to a callee with no server", vp8[:30], got)

		offer := sa.Sent()[0]
		if want := stunHintAttr + turnServer.Addr + "\r\n"; offer.Type != wire.SignalOffer || !strings.Contains(offer.SDP, want) {
			t.Errorf("the offer does not name the TURN server as %q:\n%s", want, offer.SDP)
		}
		if strings.Contains(offer.SDP, pass) || strings.Contains(offer.SDP, user) {
			t.Error("the offer carries the TURN credentials")
		}
		for _, s := range sa.Sent() {
			if s.Type == wire.SignalCandidate && !strings.Contains(s.Candidate, " typ relay") {
				t.Errorf("the caller trickled a candidate that is not a relay: %s", s.Candidate)
			}
		}
		srflx := false
		for _, s := range sb.Sent() {
			srflx = srflx || strings.Contains(s.Candidate, " typ srflx") || strings.Contains(s.SDP, " typ srflx")
		}
		if srflx == ignore {
			t.Errorf("IgnorePeerSTUN %v: the callee sent a server-reflexive candidate: %v", ignore, srflx)
		}
	}
}
