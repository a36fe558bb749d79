package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	deviceType  = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	serviceType = "urn:schemas-upnp-org:service:WANIPConnection:1"
	udn         = "uuid:5b1e7c1a-0e2f-4c55-9b36-736d76737570"
)

// The UPnP error codes upnpd answers with.
const (
	errInvalidAction = 401
	errInvalidArgs   = 402
	errNotAuthorized = 606
	errNoSuchEntry   = 714
	errConflict      = 718
	errOnlyPermanent = 725
)

// A firewall makes mappings real.
type firewall interface {
	Add(external uint16, client netip.AddrPort) error
	Remove(external uint16, client netip.AddrPort) error
}

// server is the gateway's description, SOAP control and table of
// mappings. Safe for concurrent use.
type server struct {
	public        netip.Addr
	fw            firewall
	out           io.Writer // a line for each mapping made, renewed and removed
	permanentOnly bool

	mu       sync.Mutex
	mappings map[uint16]*mapping // by external port
}

type mapping struct {
	external uint16
	client   netip.AddrPort // address and internal port
	expires  time.Time      // zero for a permanent one
}

func newServer(public netip.Addr, fw firewall, out io.Writer) *server {
	return &server{public: public, fw: fw, out: out, mappings: map[uint16]*mapping{}}
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rootDesc.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		fmt.Fprintf(w, description, deviceType, udn, serviceType)
	})
	mux.HandleFunc("POST /ctl/IPConn", s.control)
	return mux
}

const description = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>%s</deviceType>
<friendlyName>netlab R</friendlyName>
<manufacturer>smvs tests</manufacturer>
<modelName>upnpd</modelName>
<UDN>%s</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<friendlyName>WANDevice</friendlyName>
<UDN>uuid:5b1e7c1a-0e2f-4c55-9b36-736d76737571</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<friendlyName>WANConnectionDevice</friendlyName>
<UDN>uuid:5b1e7c1a-0e2f-4c55-9b36-736d76737572</UDN>
<serviceList><service>
<serviceType>%s</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<SCPDURL>/WANIPCn.xml</SCPDURL>
<controlURL>/ctl/IPConn</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>
`

// control answers a SOAP action.
func (s *server) control(w http.ResponseWriter, r *http.Request) {
	action := strings.Trim(r.Header.Get("SOAPAction"), `"`)
	service, name, _ := strings.Cut(action, "#")
	args, err := soapArgs(http.MaxBytesReader(w, r.Body, 64<<10))
	from, perr := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || perr != nil || service != serviceType {
		fault(w, errInvalidAction, "Invalid Action")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case "GetExternalIPAddress":
		respond(w, name, "<NewExternalIPAddress>"+s.public.String()+"</NewExternalIPAddress>")
	case "AddPortMapping":
		code, text := s.add(from.Addr().Unmap(), args, time.Now())
		if code != 0 {
			fault(w, code, text)
			return
		}
		respond(w, name, "")
	case "DeletePortMapping":
		code, text := s.delete(from.Addr().Unmap(), args)
		if code != 0 {
			fault(w, code, text)
			return
		}
		respond(w, name, "")
	default:
		fault(w, errInvalidAction, "Invalid Action")
	}
}

// add makes or renews the mapping args ask for, from the client at from:
// it returns 0 or a UPnP error code and its text.
func (s *server) add(from netip.Addr, args map[string]string, now time.Time) (int, string) {
	ext, err1 := strconv.ParseUint(args["NewExternalPort"], 10, 16)
	internal, err2 := strconv.ParseUint(args["NewInternalPort"], 10, 16)
	lease, err3 := strconv.ParseUint(args["NewLeaseDuration"], 10, 32)
	client, err4 := netip.ParseAddr(args["NewInternalClient"])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || ext == 0 || internal == 0 || args["NewProtocol"] != "UDP" {
		return errInvalidArgs, "Invalid Args"
	}
	if client != from {
		return errNotAuthorized, "Action not authorized"
	}
	if s.permanentOnly && lease != 0 {
		return errOnlyPermanent, "OnlyPermanentLeasesSupported"
	}
	want := netip.AddrPortFrom(client, uint16(internal))
	public := netip.AddrPortFrom(s.public, uint16(ext))
	m := s.mappings[uint16(ext)]
	switch {
	case m != nil && m.client != want:
		return errConflict, "ConflictInMappingEntry"
	case m != nil:
		fmt.Fprintf(s.out, "upnpd: renew %s for %ds\n", public, lease)
	default:
		m = &mapping{external: uint16(ext), client: want}
		if err := s.fw.Add(m.external, m.client); err != nil {
			fmt.Fprintf(s.out, "upnpd: error: %v\n", err)
			return 501, "Action Failed"
		}
		s.mappings[m.external] = m
		fmt.Fprintf(s.out, "upnpd: map %s to %s for %ds by UPnP IGD\n", public, want, lease)
	}
	m.expires = time.Time{}
	if lease > 0 {
		m.expires = now.Add(time.Duration(lease) * time.Second)
	}
	return 0, ""
}

// delete removes the mapping args name, if the client at from made it.
func (s *server) delete(from netip.Addr, args map[string]string) (int, string) {
	ext, err := strconv.ParseUint(args["NewExternalPort"], 10, 16)
	if err != nil || args["NewProtocol"] != "UDP" {
		return errInvalidArgs, "Invalid Args"
	}
	m := s.mappings[uint16(ext)]
	switch {
	case m == nil:
		return errNoSuchEntry, "NoSuchEntryInArray"
	case m.client.Addr() != from:
		return errNotAuthorized, "Action not authorized"
	}
	s.remove(m, "deleted")
	return 0, ""
}

// remove deletes mapping m, for the reason why.
func (s *server) remove(m *mapping, why string) {
	if err := s.fw.Remove(m.external, m.client); err != nil {
		fmt.Fprintf(s.out, "upnpd: error: %v\n", err)
	}
	delete(s.mappings, m.external)
	fmt.Fprintf(s.out, "upnpd: unmap %s (%s)\n", netip.AddrPortFrom(s.public, m.external), why)
}

// expire removes the mappings whose lease has run out at now.
func (s *server) expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mappings {
		if !m.expires.IsZero() && !now.Before(m.expires) {
			s.remove(m, "expired")
		}
	}
}

// stop removes every mapping.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mappings {
		s.remove(m, "stopped")
	}
}

func respond(w http.ResponseWriter, action, args string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="%s">%s</u:%sResponse></s:Body></s:Envelope>
`, action, serviceType, args, action)
}

func fault(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>
`, code, text)
}

// soapArgs returns the text of each innermost element of a SOAP request.
func soapArgs(r io.Reader) (map[string]string, error) {
	args := map[string]string{}
	d := xml.NewDecoder(r)
	var name, text string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return args, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name, text = tok.Name.Local, ""
		case xml.CharData:
			text += string(tok)
		case xml.EndElement:
			if tok.Name.Local == name {
				args[name] = text
			}
			name = ""
		}
	}
}
