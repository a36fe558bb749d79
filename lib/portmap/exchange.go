package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// A gateway is the PCP or NAT-PMP server of a mapping. Not safe for
// concurrent use: a mapping's requests go one at a time.
type gateway struct {
	addr   netip.AddrPort
	tries  []time.Duration // how long to wait for an answer after each send
	speaks string          // "PCP" or "NAT-PMP" once it has answered; "" before
	epoch  epochClock
	// restarted says that an answer's epoch showed the gateway had lost its
	// mappings since the answer before (see takeRestarted).
	restarted bool
}

func newGateway(addr netip.Addr, cfg config) *gateway {
	return &gateway{addr: netip.AddrPortFrom(addr, cfg.port), tries: cfg.tries}
}

// observe notes the epoch of an answer that has just come.
func (g *gateway) observe(rule epochRule, epoch uint32) {
	if g.epoch.observe(rule, epoch, time.Now()) {
		g.restarted = true
	}
}

// takeRestarted reports whether an answer since the last call showed the
// gateway had lost its mappings.
func (g *gateway) takeRestarted() bool {
	r := g.restarted
	g.restarted = false
	return r
}

// exchange sends the request req makes (given this side's address, as the
// gateway will see it) to the gateway until take accepts an answer: take
// returns nil to accept it, an ignoredError to wait for another, any other
// error to end the exchange with it. It sends the request once per entry of
// g.tries, waiting that long for answers each time; so it fails with an
// error matching ErrNoAnswer within their sum, or at once if the gateway's
// port is closed.
func (g *gateway) exchange(ctx context.Context, req func(local netip.Addr) []byte, take func(answer []byte) error) error {
	// A socket of its own for each exchange, connected so that only the
	// gateway's address and port can answer.
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(g.addr))
	if err != nil {
		return fmt.Errorf("reaching the gateway at %s: %w", g.addr.Addr(), err)
	}
	defer conn.Close()
	msg := req(conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap())
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()

	start := time.Now()
	silence := &noAnswerError{speaks: g.speaks, gateway: g.addr}
	buf := make([]byte, 2*pcpMaxSize) // room to tell an answer's size when too long
	for _, wait := range g.tries {
		if _, err := conn.Write(msg); err != nil {
			return g.failed(err, silence)
		}
		silence.tries++
		// Set before the check: ctx may end between the two, and the
		// AfterFunc's deadline must not be overwritten unseen.
		conn.SetReadDeadline(time.Now().Add(wait))
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("asking the gateway at %s: %w", g.addr.Addr(), err)
		}
		for {
			n, err := conn.Read(buf)
			if ctx.Err() != nil {
				return fmt.Errorf("asking the gateway at %s: %w", g.addr.Addr(), ctx.Err())
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return g.failed(err, silence)
			}
			var ignored ignoredError
			if err := take(buf[:n]); !errors.As(err, &ignored) {
				return err
			}
			silence.ignored = ignored.err
		}
	}
	silence.waited = time.Since(start)
	return silence
}

// failed turns a socket's error into the exchange's.
func (g *gateway) failed(err error, silence *noAnswerError) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		silence.closed = true
		return silence
	}
	return fmt.Errorf("asking the gateway at %s: %w", g.addr.Addr(), err)
}

// ignoredError is an answer that doesn't answer the request: malformed,
// or about another mapping. The exchange waits for another.
type ignoredError struct{ err error }

func (e ignoredError) Error() string { return e.err.Error() }

func ignoref(format string, args ...any) error {
	return ignoredError{fmt.Errorf(format, args...)}
}

// noAnswerError is an exchange that got no answer it could take.
type noAnswerError struct {
	speaks  string // what the gateway spoke before; "" if nothing yet
	gateway netip.AddrPort
	tries   int
	waited  time.Duration
	closed  bool  // the gateway's port is closed: an ICMP port unreachable came
	ignored error // why the last answer that came was ignored, if any came
}

func (e *noAnswerError) Error() string {
	speaks := e.speaks
	if speaks == "" {
		speaks = "PCP or NAT-PMP"
	}
	if e.closed {
		return fmt.Sprintf("no %s gateway at %s: its port %d is closed", speaks, e.gateway.Addr(), e.gateway.Port())
	}
	s := fmt.Sprintf("no %s gateway answered at %s (%d tries in %s)", speaks, e.gateway.Addr(), e.tries, e.waited.Round(time.Millisecond))
	if e.ignored != nil {
		s += "; what came was no answer to the request: " + e.ignored.Error()
	}
	return s
}

func (e *noAnswerError) Is(target error) bool { return target == ErrNoAnswer }
