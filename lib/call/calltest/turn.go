package calltest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// TURNConfig configures a TURN server.
type TURNConfig struct {
	Listen string            // UDP address, e.g. "127.0.0.1:0"
	Realm  string            // e.g. "smvs"
	Users  map[string]string // user name → password
	Log    io.Writer         // one line per allocation, and the server's warnings; nil: discard
}

// TURNServer is a TURN server over UDP that relays from the IP address it
// listens on. It is for tests and test tools: no quotas, no TLS.
type TURNServer struct {
	Addr        string // host:port it listens on
	server      *turn.Server
	allocations atomic.Int64
}

// ListenTURN starts a TURN server.
func ListenTURN(cfg TURNConfig) (*TURNServer, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	conn, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn: %w", err)
	}
	ip := conn.LocalAddr().(*net.UDPAddr).IP
	keys := make(map[string][]byte, len(cfg.Users))
	for user, pass := range cfg.Users {
		keys[user] = turn.GenerateAuthKey(user, cfg.Realm, pass)
	}
	s := &TURNServer{Addr: conn.LocalAddr().String()}
	logs := logging.NewDefaultLoggerFactory()
	logs.Writer = cfg.Log
	logs.DefaultLogLevel = logging.LogLevelWarn
	s.server, err = turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: logs,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			key, ok := keys[ra.Username]
			return ra.Username, key, ok
		},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, protocol, user, _ string, relay net.Addr, _ int) {
				s.allocations.Add(1)
				fmt.Fprintf(cfg.Log, "turnserver: allocation for %s from %s (%s), relayed at %s\n", user, src, protocol, relay)
			},
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: ip, Address: ip.String()},
		}},
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("turn: %w", err)
	}
	return s, nil
}

// Allocations returns how many relay allocations the server has made.
func (s *TURNServer) Allocations() int { return int(s.allocations.Load()) }

// Close stops the server.
func (s *TURNServer) Close() error { return s.server.Close() }

// NewTURN starts a TURN server on 127.0.0.1 with one random user, closed
// when the test ends, and returns it with that user's name and password.
func NewTURN(t testing.TB) (s *TURNServer, user, pass string) {
	t.Helper()
	secret := make([]byte, 12)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	user, pass = "smvs-test", hex.EncodeToString(secret)
	s, err := ListenTURN(TURNConfig{Listen: "127.0.0.1:0", Realm: "smvs", Users: map[string]string{user: pass}, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, user, pass
}

// StartTURN starts a TURN server on 127.0.0.1 for the test and returns its
// address and credentials.
func StartTURN(t testing.TB) (addr, user, pass string) {
	t.Helper()
	s, user, pass := NewTURN(t)
	return s.Addr, user, pass
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p))
	return len(p), nil
}
