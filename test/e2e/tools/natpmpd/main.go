// Command natpmpd is the NAT-PMP gateway, and with --pcp the PCP gateway,
// of the end-to-end tests' network lab (test/e2e/netlab.bash): run in the
// lab's router R, it maps UDP ports of hosts on the private side to R's
// public address with iptables rules, as a home router does. It is a test
// tool, never installed.
//
//	natpmpd --listen ADDR --public ADDR --wan IFACE [--lan PREFIX] [--pcp] [--max-lifetime DURATION]
//
// It answers requests on --listen (the lab's 10.231.2.1:5351) from
// addresses of --lan (by default, the /24 of the --listen address), and
// gives --public (10.231.1.1) as the external address. A mapping is two
// iptables rules in natpmpd's network namespace, tagged "natpmpd" (see
// test/e2e/tools/internal/forward); deleting it (lifetime 0) or its expiry
// removes both.
//
// The external port is the one asked for if free, else the internal port
// if free, else the next free one above it. A lifetime is granted up to
// --max-lifetime (default 1h). Without --pcp, a PCP request gets NAT-PMP's
// "unsupported version", as from a router that speaks only NAT-PMP; with
// it, PCP MAP requests for UDP are served too (without options).
//
// natpmpd prints "natpmpd: ready on ADDR" when ready, then a line for
// each mapping made and removed:
//
//	natpmpd: map 10.231.1.1:7000 to 10.231.2.2:7000 for 60s by NAT-PMP
//	natpmpd: unmap 10.231.1.1:7000 (deleted)
//
// (or expired, or restart). SIGHUP makes it forget every mapping and
// start its epoch again, as a router that rebooted; SIGTERM or SIGINT
// removes every rule and ends it.
//
// Exit status: 0 when stopped by a signal, 1 on an error, 2 on a usage
// error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"smvs/test/e2e/tools/internal/forward"
)

func main() {
	err := run(os.Args[1:])
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "natpmpd: error: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "natpmpd: error: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a command line natpmpd can't make sense of.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func run(args []string) error {
	fs := flag.NewFlagSet("natpmpd", flag.ContinueOnError)
	listen := fs.String("listen", "", "answer requests on `ADDR` (ip:port)")
	public := fs.String("public", "", "the external `ADDRESS` mappings are made on")
	wan := fs.String("wan", "", "the `INTERFACE` packets to the external address arrive on")
	lan := fs.String("lan", "", "answer clients of `PREFIX` only (default: the /24 of --listen)")
	withPCP := fs.Bool("pcp", false, "speak PCP as well")
	maxLifetime := fs.Duration("max-lifetime", time.Hour, "the longest lifetime granted")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	listenAddr, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return usageError{fmt.Errorf("--listen: %w", err)}
	}
	publicAddr, err := netip.ParseAddr(*public)
	if err != nil || !publicAddr.Is4() {
		return usageError{fmt.Errorf("--public: want an IPv4 address, not %q", *public)}
	}
	if *wan == "" {
		return usageError{errors.New("--wan is required")}
	}
	clients := netip.PrefixFrom(listenAddr.Addr(), 24).Masked()
	if *lan != "" {
		if clients, err = netip.ParsePrefix(*lan); err != nil {
			return usageError{fmt.Errorf("--lan: %w", err)}
		}
	}
	if *maxLifetime < time.Second {
		return usageError{errors.New("--max-lifetime must be at least 1s")}
	}

	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(listenAddr))
	if err != nil {
		return err
	}
	s := newServer(publicAddr, &iptables{forward.Iptables{WAN: *wan, Public: publicAddr, Tag: "natpmpd"}}, os.Stdout)
	s.pcp = *withPCP
	s.maxLifetime = uint32(*maxLifetime / time.Second)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for sig := range signals {
			if sig == syscall.SIGHUP {
				s.restart()
				continue
			}
			conn.Close()
			return
		}
	}()
	sweep := time.NewTicker(100 * time.Millisecond)
	defer sweep.Stop()
	go func() {
		for range sweep.C {
			s.expire(time.Now())
		}
	}()

	fmt.Printf("natpmpd: ready on %s\n", conn.LocalAddr())
	err = serve(conn, s, clients)
	s.stop()
	return err
}

// serve answers requests on conn from clients until conn is closed.
func serve(conn *net.UDPConn, s *server, clients netip.Prefix) error {
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if !clients.Contains(from.Addr()) {
			continue
		}
		if answer := s.handle(buf[:n], from, time.Now()); answer != nil {
			conn.WriteToUDPAddrPort(answer, from)
		}
	}
}
