package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"smvs/lib/identity"
	"smvs/lib/transport"
)

// listenHost starts a QUIC listener as a host with a new identity on
// 127.0.0.1, and returns its key and port.
func listenHost(t *testing.T) (identity.PublicKey, int) {
	t.Helper()
	id, err := identity.Generate(identity.KindIdentity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err := transport.Listen("127.0.0.1:0", id.Signer(), transport.Config{},
		transport.RequestFunc(func(context.Context, identity.PublicKey, []byte) ([]byte, error) { return []byte("ok"), nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return id.Public(), l.Addr().(*net.UDPAddr).Port
}

func TestReach(t *testing.T) {
	t.Parallel()
	// The test's client address is given by a header the directory is
	// told to trust, so that it dials 127.0.0.1 back.
	e := newEnv(t, Options{ReachCheck: true, ClientIPHeader: "X-Real-IP"})
	key, port := listenHost(t)
	other, _ := listenHost(t)
	reach := func(body string) (int, ReachResult, string) {
		w := e.do("POST", "/v1/reach", body, "X-Real-IP", "127.0.0.1")
		var res ReachResult
		json.Unmarshal(w.Body.Bytes(), &res)
		return w.Code, res, w.Body.String()
	}
	code, res, body := reach(fmt.Sprintf(`{"key": %q, "port": %d}`, key, port))
	if code != 200 || !res.Reachable || res.Address != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Errorf("the host itself: %d %s", code, body)
	}
	code, res, body = reach(fmt.Sprintf(`{"key": %q, "port": %d}`, other, port))
	if code != 200 || res.Reachable || res.Reason != "another key answers there" {
		t.Errorf("another key at the port: %d %s", code, body)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"key": "smvs1nope", "port": 7447}`, "key: not an smvs1 identity key"},
		{fmt.Sprintf(`{"key": %q, "port": 0}`, key), "port: not from 1 to 65535"},
		{fmt.Sprintf(`{"key": %q, "port": 70000}`, key), "port: not from 1 to 65535"},
		{fmt.Sprintf(`{"key": %q, "port": 1, "address": "192.0.2.1"}`, key), "malformed JSON"},
		{`not json`, "malformed JSON"},
	} {
		if code, _, body := reach(tc.body); code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 %q", tc.body, code, body, tc.want)
		}
	}
	off := newEnv(t, Options{})
	if w := off.do("POST", "/v1/reach", fmt.Sprintf(`{"key": %q, "port": %d}`, key, port)); w.Code != 404 {
		t.Errorf("with reach checks off: %d %s", w.Code, w.Body)
	}
}

// TestReachNoAnswer: a port nobody answers on is reported so, within the
// check's bound.
func TestReachNoAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{ReachCheck: true, ClientIPHeader: "X-Real-IP"})
	key, _ := listenHost(t)
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	w := e.do("POST", "/v1/reach", fmt.Sprintf(`{"key": %q, "port": %d}`, key, silent.LocalAddr().(*net.UDPAddr).Port), "X-Real-IP", "127.0.0.1")
	var res ReachResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 || res.Reachable || res.Reason != "no answer within 5s" {
		t.Errorf("a silent port: %d %s", w.Code, w.Body)
	}
}
