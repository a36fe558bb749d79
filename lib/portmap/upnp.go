package portmap

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// UPnP IGD: the gateway is found by an SSDP search (HTTP over UDP
// multicast), which answers with the URL of its device description (XML
// over HTTP); the description names the WAN connection service and the URL
// of its SOAP control, where the mapping is asked for. goupnp does the
// search's request and answers, the description's types and the SOAP
// clients; this file keeps every step to the gateway and bounds what it
// reads.
const (
	upnpName = "UPnP IGD"
	// upnpMaxBody bounds a description or a SOAP answer: a router's are a
	// few KiB.
	upnpMaxBody = 64 << 10
	// upnpPortTries is how many external ports are asked for when the
	// gateway says the one asked for is someone else's (error 718).
	upnpPortTries   = 4
	upnpDescription = "smvs"
)

// The UPnP error codes this client acts on (IGD's WANIPConnection).
const (
	upnpNotAuthorized      = 606 // action not authorized
	upnpConflict           = 718 // ConflictInMappingEntry: the external port is taken
	upnpOnlyPermanentLease = 725 // OnlyPermanentLeasesSupported: the lease must be 0
)

// upnpServices are the WAN connection services that map ports, best first.
var upnpServices = []string{
	internetgateway2.URN_WANIPConnection_2,
	internetgateway2.URN_WANIPConnection_1,
	internetgateway2.URN_WANPPPConnection_1,
}

// igdConnection is what this client asks of a WAN connection service:
// goupnp's generated clients of each of upnpServices.
type igdConnection interface {
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	AddPortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string,
		internalPort uint16, internalClient string, enabled bool, description string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string) error
}

// upnp makes and keeps a mapping by UPnP IGD. Its requests don't go
// through the gateway's exchange: they are SSDP and HTTP.
type upnp struct {
	internal uint16
	search   netip.AddrPort // where the SSDP search goes: the multicast group
	wait     time.Duration  // for the gateway's answer to the search
	http     *http.Client

	conn      igdConnection // the gateway's service; nil to find it
	local     netip.Addr    // this host's address on the way to the gateway
	external  uint16        // the external port mapped; 0 before
	permanent bool          // the gateway grants only leases of 0
}

func newUPnP(internal uint16, cfg config) *upnp {
	return &upnp{internal: internal, search: cfg.ssdp, wait: cfg.ssdpWait, http: boundedHTTPClient(cfg.httpTimeout)}
}

func (p *upnp) String() string { return upnpName }

// request asks for the mapping with a lease of lifetime seconds, or
// deletes it with 0. It finds the gateway's service first if it hasn't
// yet, or if the last request failed on the way (a router that restarted
// may serve it on another port), and asks for the external port it had
// again.
func (p *upnp) request(ctx context.Context, g *gateway, lifetime uint32) (grant, error) {
	gw := g.addr.Addr()
	if lifetime == 0 {
		if p.external == 0 {
			return grant{}, nil
		}
		if p.conn == nil {
			if err := p.discover(ctx, gw); err != nil {
				return grant{}, err
			}
		}
		if err := p.conn.DeletePortMappingCtx(ctx, "", p.external, "UDP"); err != nil {
			return grant{}, p.failed(gw, "deleting the mapping", err)
		}
		p.external = 0
		return grant{}, nil
	}
	if p.conn == nil {
		if err := p.discover(ctx, gw); err != nil {
			return grant{}, err
		}
	}
	text, err := p.conn.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return grant{}, p.failed(gw, "asking for the external address", err)
	}
	external, err := netip.ParseAddr(text)
	if err != nil {
		return grant{}, fmt.Errorf("the UPnP IGD at %s gave %q as its external address, not an IP address", gw, truncate(text))
	}
	port, lease, err := p.add(ctx, gw, lifetime)
	if err != nil {
		return grant{}, err
	}
	if lease == 0 {
		// Permanent: renewed as often as asked, to notice a changed
		// address and a gateway that lost it.
		lease = lifetime
	}
	g.speaks = upnpName
	return grant{public: netip.AddrPortFrom(external.Unmap(), port), lifetime: lease}, nil
}

// add asks for the mapping: from the external port mapped before, or the
// internal port, or where the gateway says that one is taken, a random one
// (at most upnpPortTries ports). It returns the port and the lease.
func (p *upnp) add(ctx context.Context, gw netip.Addr, lifetime uint32) (uint16, uint32, error) {
	port := p.external
	if port == 0 {
		port = p.internal
	}
	lease := lifetime
	if p.permanent {
		lease = 0
	}
	for tries := 1; ; {
		err := p.conn.AddPortMappingCtx(ctx, "", port, "UDP", p.internal, p.local.String(), true, upnpDescription, lease)
		switch code := upnpErrorCode(err); {
		case err == nil:
			p.external = port
			return port, lease, nil
		case code == upnpOnlyPermanentLease && lease != 0:
			p.permanent, lease = true, 0
		case code == upnpConflict && tries < upnpPortTries:
			tries++
			port = uint16(1024 + rand.IntN(65536-1024))
		default:
			return 0, 0, p.failed(gw, fmt.Sprintf("mapping port %d to port %d", p.internal, port), err)
		}
	}
}

// failed turns an action's error into the request's: a *GatewayError for
// the gateway's refusal; for anything else (the gateway unreachable, an
// answer that isn't one) it forgets the service, to find it again next
// time.
func (p *upnp) failed(gw netip.Addr, doing string, err error) error {
	var fault *soap.SOAPFaultError
	if errors.As(err, &fault) {
		text := fault.Detail.UPnPError.ErrorDescription
		if text == "" {
			text = fault.FaultString
		}
		return fmt.Errorf("%s: %w", doing, &GatewayError{Gateway: gw, Protocol: upnpName, Code: fault.Detail.UPnPError.Errorcode, Text: truncate(text)})
	}
	p.conn = nil
	return fmt.Errorf("the UPnP IGD at %s, %s: %w", gw, doing, err)
}

// upnpErrorCode returns the UPnP error code of a SOAP fault, or 0.
func upnpErrorCode(err error) int {
	var fault *soap.SOAPFaultError
	if errors.As(err, &fault) {
		return fault.Detail.UPnPError.Errorcode
	}
	return 0
}

// discover finds the gateway's WAN connection service: it searches for
// each of upnpServices, takes the first answer that comes from the gateway
// itself, and reads the description it points to. Any other device on the
// network may answer, and is not listened to.
func (p *upnp) discover(ctx context.Context, gw netip.Addr) error {
	local, err := localAddrTo(gw)
	if err != nil {
		return fmt.Errorf("reaching the gateway at %s: %w", gw, err)
	}
	loc, err := p.find(ctx, gw, local)
	if err != nil {
		return err
	}
	root, err := p.describe(ctx, gw, loc)
	if err != nil {
		return err
	}
	conn, err := connection(root, loc, gw)
	if err != nil {
		return err
	}
	conn.GetServiceClient().SOAPClient.HTTPClient = *p.http
	// The external port stays: the gateway may still map it.
	p.conn, p.local = conn, local
	return nil
}

// localAddrTo returns the address this host reaches gw from.
func localAddrTo(gw netip.Addr) (netip.Addr, error) {
	// Connecting a UDP socket sends nothing: it only picks the route.
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 1900)))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// find searches for the gateway's services, all at once, and returns the
// location of the description of the first that answers.
func (p *upnp) find(parent context.Context, gw, local netip.Addr) (*url.URL, error) {
	ctx, cancel := context.WithTimeout(parent, p.wait)
	defer cancel()
	type found struct {
		loc *url.URL
		err error
	}
	results := make(chan found, len(upnpServices))
	for _, st := range upnpServices {
		go func() {
			loc, err := p.searchFor(ctx, gw, local, st)
			results <- found{loc, err}
		}()
	}
	var errs []error
	for received := 1; received <= len(upnpServices); received++ {
		r := <-results
		if r.loc != nil {
			cancel()
			// The others end at once: their sockets' deadline is now.
			for ; received < len(upnpServices); received++ {
				<-results
			}
			return r.loc, nil
		}
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("searching for a UPnP IGD at %s: %w", gw, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("searching for a UPnP IGD at %s: %w", gw, err)
	}
	return nil, &upnpNoAnswerError{gateway: gw, waited: p.wait}
}

// searchFor sends the SSDP search for service type st from local and
// returns the location the gateway answers with, nil if it doesn't within
// ctx.
func (p *upnp) searchFor(ctx context.Context, gw, local netip.Addr, st string) (*url.URL, error) {
	// Bound to the address that reaches the gateway, the search goes out
	// on that interface (Linux picks a multicast's interface by its
	// source when none is set), not on the default route's.
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c := &ssdpClient{conn: conn, to: p.search, from: gw}
	// An MX of 1: devices answer within a second.
	answers, err := ssdpRawSearch(ctx, c, st)
	if err != nil || len(answers) == 0 {
		return nil, err
	}
	loc, err := answers[0].Location()
	if err != nil {
		return nil, nil
	}
	return loc, nil
}

// upnpNoAnswerError is an SSDP search that the gateway didn't answer.
type upnpNoAnswerError struct {
	gateway netip.Addr
	waited  time.Duration
}

func (e *upnpNoAnswerError) Error() string {
	return fmt.Sprintf("no UPnP IGD answered at %s (an SSDP search for WANIPConnection and WANPPPConnection, %s)", e.gateway, e.waited)
}

func (e *upnpNoAnswerError) Is(target error) bool { return target == ErrNoAnswer }

// describe reads the device description at loc, which must be the
// gateway's.
func (p *upnp) describe(ctx context.Context, gw netip.Addr, loc *url.URL) (*goupnp.RootDevice, error) {
	if err := onGateway(loc, gw); err != nil {
		return nil, fmt.Errorf("the UPnP IGD at %s: its description's location: %w", gw, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("the UPnP IGD at %s: its description's location %q: %w", gw, truncate(loc.String()), err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the UPnP IGD at %s: reading its description: %w", gw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the UPnP IGD at %s: reading its description at %s: %s", gw, loc, resp.Status)
	}
	root := new(goupnp.RootDevice)
	d := xml.NewDecoder(resp.Body)
	d.DefaultSpace = goupnp.DeviceXMLNamespace
	if err := d.Decode(root); err != nil {
		return nil, fmt.Errorf("the UPnP IGD at %s: its description at %s: %w", gw, loc, err)
	}
	base := loc
	if root.URLBaseStr != "" {
		if base, err = url.Parse(root.URLBaseStr); err != nil {
			return nil, fmt.Errorf("the UPnP IGD at %s: its description's URLBase %q: %w", gw, truncate(root.URLBaseStr), err)
		}
	}
	root.SetURLBase(base)
	return root, nil
}

// connection returns a client of the best WAN connection service of root
// whose control URL is on the gateway.
func connection(root *goupnp.RootDevice, loc *url.URL, gw netip.Addr) (interface {
	igdConnection
	GetServiceClient() *goupnp.ServiceClient
}, error) {
	for _, st := range upnpServices {
		clients, err := goupnp.NewServiceClientsFromRootDevice(root, loc, st)
		if err != nil {
			continue
		}
		for _, c := range clients {
			if onGateway(&c.Service.ControlURL.URL, gw) != nil {
				continue
			}
			switch st {
			case internetgateway2.URN_WANIPConnection_2:
				return &internetgateway2.WANIPConnection2{ServiceClient: c}, nil
			case internetgateway2.URN_WANIPConnection_1:
				return &internetgateway2.WANIPConnection1{ServiceClient: c}, nil
			default:
				return &internetgateway2.WANPPPConnection1{ServiceClient: c}, nil
			}
		}
	}
	return nil, fmt.Errorf("the UPnP IGD at %s describes no WANIPConnection or WANPPPConnection service controlled at its address", gw)
}

// onGateway refuses a URL that isn't http: to the gateway's address.
func onGateway(u *url.URL, gw netip.Addr) error {
	if u.Scheme != "http" {
		return fmt.Errorf("%q is not an http URL", truncate(u.String()))
	}
	host, err := netip.ParseAddr(u.Hostname())
	if err != nil || host.Unmap() != gw {
		return fmt.Errorf("%q is not on the gateway %s", truncate(u.String()), gw)
	}
	return nil
}

// truncate shortens an untrusted string for an error message.
func truncate(s string) string {
	const most = 100
	if len(s) > most {
		return s[:most] + "…"
	}
	return s
}

// boundedHTTPClient is the client of a gateway's description and SOAP
// control: each request within timeout, no proxy, no redirect, no
// connection kept between renewals, and answers of at most upnpMaxBody.
func boundedHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: boundedTransport{&http.Transport{
			DisableKeepAlives:      true,
			MaxResponseHeaderBytes: 16 << 10,
			DialContext:            (&net.Dialer{Timeout: timeout}).DialContext,
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// boundedTransport fails the reading of an answer's body past upnpMaxBody.
type boundedTransport struct{ http.RoundTripper }

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: upnpMaxBody}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	left int64
}

// errTooLong is an answer's body longer than upnpMaxBody.
var errTooLong = fmt.Errorf("an answer longer than %d bytes", upnpMaxBody)

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, errTooLong
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
