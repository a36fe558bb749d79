// Command upnpd is a UPnP Internet Gateway Device for the end-to-end
// tests' network lab (test/e2e/netlab.bash): run in the lab's router R,
// it answers SSDP searches on R's private side and maps UDP ports of hosts
// there to R's public address by SOAP (WANIPConnection:1's
// GetExternalIPAddress, AddPortMapping, DeletePortMapping), with the
// iptables rules natpmpd makes (test/e2e/tools/internal/forward, tagged
// "upnpd"), as a router that offers only UPnP does. It is a test tool,
// never installed.
//
//	upnpd --listen ADDR --lan-iface IFACE --public ADDR --wan IFACE [--permanent-only]
//
// It joins the SSDP group 239.255.255.250:1900 on --lan-iface (the lab's
// to-b) and answers searches from the /24 of --listen (the lab's
// 10.231.2.1) from that address; its description and SOAP control are
// served by HTTP on a port of --listen's address that the kernel picks, as
// miniupnpd's is. AddPortMapping maps the external port asked for if it
// is free or already the same client's (a renewal), and refuses it as
// taken (error 718) otherwise; only the client itself may map to its
// address or delete its mapping (error 606). A lease runs out as it says;
// with --permanent-only a lease other than 0 is refused (error 725).
//
// upnpd prints "upnpd: ready on URL" (its description's) when ready,
// then a line for each mapping made, renewed and removed:
//
//	upnpd: map 10.231.1.1:7000 to 10.231.2.2:7000 for 3600s by UPnP IGD
//	upnpd: renew 10.231.1.1:7000 for 3600s
//	upnpd: unmap 10.231.1.1:7000 (deleted)
//
// (or expired, or stopped). SIGTERM or SIGINT removes every rule and ends
// it.
//
// Exit status: 0 when stopped by a signal, 1 on an error, 2 on a usage
// error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
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
		fmt.Fprintf(os.Stderr, "upnpd: error: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "upnpd: error: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a command line upnpd can't make sense of.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// ssdpGroup is where SSDP searches go.
var ssdpGroup = netip.MustParseAddrPort("239.255.255.250:1900")

func run(args []string) error {
	fs := flag.NewFlagSet("upnpd", flag.ContinueOnError)
	listen := fs.String("listen", "", "the private `ADDRESS` to serve and answer from")
	lanIface := fs.String("lan-iface", "", "the `INTERFACE` to answer SSDP searches on")
	public := fs.String("public", "", "the external `ADDRESS` mappings are made on")
	wan := fs.String("wan", "", "the `INTERFACE` packets to the external address arrive on")
	permanentOnly := fs.Bool("permanent-only", false, "refuse leases other than 0 (error 725)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	listenAddr, err := netip.ParseAddr(*listen)
	if err != nil || !listenAddr.Is4() {
		return usageError{fmt.Errorf("--listen: want an IPv4 address, not %q", *listen)}
	}
	publicAddr, err := netip.ParseAddr(*public)
	if err != nil || !publicAddr.Is4() {
		return usageError{fmt.Errorf("--public: want an IPv4 address, not %q", *public)}
	}
	if *wan == "" || *lanIface == "" {
		return usageError{errors.New("--wan and --lan-iface are required")}
	}
	iface, err := net.InterfaceByName(*lanIface)
	if err != nil {
		return usageError{fmt.Errorf("--lan-iface: %w", err)}
	}

	ln, err := net.Listen("tcp4", netip.AddrPortFrom(listenAddr, 0).String())
	if err != nil {
		return err
	}
	group, err := net.ListenMulticastUDP("udp4", iface, net.UDPAddrFromAddrPort(ssdpGroup))
	if err != nil {
		return fmt.Errorf("joining the SSDP group on %s: %w", *lanIface, err)
	}
	replies, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(listenAddr, 0)))
	if err != nil {
		return err
	}
	s := newServer(publicAddr, &forward.Iptables{WAN: *wan, Public: publicAddr, Tag: "upnpd"}, os.Stdout)
	s.permanentOnly = *permanentOnly
	location := fmt.Sprintf("http://%s/rootDesc.xml", ln.Addr())
	lan := netip.PrefixFrom(listenAddr, 24).Masked()

	httpd := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	go httpd.Serve(ln)
	go answerSearches(group, replies, lan, location)
	sweep := time.NewTicker(100 * time.Millisecond)
	defer sweep.Stop()
	go func() {
		for range sweep.C {
			s.expire(time.Now())
		}
	}()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("upnpd: ready on %s\n", location)
	<-stop
	group.Close()
	replies.Close()
	httpd.Close()
	s.stop()
	return nil
}
